/* See atomicfile.h. */
#include "util/atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int fail(char *err, size_t errlen, const char *what, const char *where, int e)
{
	if (err && errlen)
		snprintf(err, errlen, "%s%s%s: %s", what, where ? " " : "", where ? where : "",
			 strerror(e));
	return e > 0 ? -e : -EIO;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {           /* no progress and no error: give up */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mt_atomic_write(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
	size_t plen = strlen(path);
	const char *slash = strrchr(path, '/');
	/* PATH's directory: "." for "x.snap", "/" for "/x.snap". */
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : strdup(".");
	char *tmp = malloc(plen + sizeof ".tmp-XXXXXX");
	if (!dir || !tmp) {
		free(dir);
		free(tmp);
		return fail(err, errlen, "cannot write", NULL, ENOMEM);
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");

	int rc = 0, e;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = fail(err, errlen, "cannot create a temporary file in", dir, errno);
		goto out;
	}
	if (write_all(fd, data, len) < 0) {
		rc = fail(err, errlen, "cannot write", NULL, errno);
		goto unlink_tmp;
	}
	/* The data must be on disk before the name points at it, or a crash
	 * after the rename could leave PATH empty (ext4 data=writeback, xfs). */
	if (fsync(fd) < 0) {
		rc = fail(err, errlen, "cannot write", NULL, errno);
		goto unlink_tmp;
	}
	e = close(fd);
	fd = -1;
	if (e < 0) {
		rc = fail(err, errlen, "cannot write", NULL, errno);
		goto unlink_tmp;
	}
	if (rename(tmp, path) < 0) {
		rc = fail(err, errlen, "cannot rename the temporary file over it", NULL, errno);
		goto unlink_tmp;
	}

	/* The new name is in place; make it durable.  Some file systems cannot
	 * fsync a directory (EINVAL): nothing more can be done there. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = fail(err, errlen, "written, but cannot open its directory", dir, errno);
		goto out;
	}
	if (fsync(dfd) < 0 && errno != EINVAL)
		rc = fail(err, errlen, "written, but cannot sync its directory", dir, errno);
	close(dfd);
	goto out;

unlink_tmp:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(dir);
	free(tmp);
	return rc;
}
