/* /proc/PID/status.  See procfs.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/procfs.h"

/* The file is about 1.5 KiB; the lines memtrace needs come in its first
 * 2 KiB or so on every kernel seen, but read it whole up to this. */
#define STATUS_MAX 8192

/* Field IDX (0-based) of a line's numbers, separated by blanks; a unit
 * after the last ("83412 kB") is ignored.  -1 when there is no such
 * field. */
static int64_t field(const char *rest, int idx)
{
	const char *p = rest;
	char *e;
	long long v = -1;
	for (int i = 0; i <= idx; i++, p = e) {
		errno = 0;
		v = strtoll(p, &e, 10);
		if (e == p || errno || v < 0)
			return -1;
	}
	return v;
}

/* The last number of the line (NSpid's innermost pid). */
static int64_t last_field(const char *rest)
{
	int64_t v = -1, n;
	for (int i = 0; (n = field(rest, i)) >= 0; i++)
		v = n;
	return v;
}

static int64_t kib(const char *rest)
{
	int64_t v = field(rest, 0);
	return v >= 0 && v <= INT64_MAX / 1024 ? v * 1024 : -1;
}

static void take_name(const char *rest, char *name, size_t len)
{
	rest += strspn(rest, " \t");
	size_t n = strcspn(rest, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(name, rest, n);
	name[n] = 0;
}

/* One line: KEY is its text up to the colon, REST what follows it. */
static void take_line(const char *key, size_t klen, const char *rest,
		      struct mt_procfs_status *st)
{
#define IS(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
	if (IS("Name"))
		take_name(rest, st->name, sizeof st->name);
	else if (IS("State"))
		st->state = rest[strspn(rest, " \t\n")];
	else if (IS("Tgid"))
		st->tgid = field(rest, 0);
	else if (IS("PPid"))
		st->ppid = field(rest, 0);
	else if (IS("TracerPid"))
		st->tracer_pid = field(rest, 0);
	else if (IS("Uid")) {
		st->uid = field(rest, 0);
		st->euid = field(rest, 1);
	} else if (IS("Threads"))
		st->threads = field(rest, 0);
	else if (IS("NSpid"))
		st->nspid = last_field(rest);
	else if (IS("Seccomp"))
		st->seccomp = field(rest, 0);
	else if (IS("NoNewPrivs"))
		st->no_new_privs = field(rest, 0);
	else if (IS("VmRSS"))
		st->vm_rss = kib(rest);
	else if (IS("RssAnon"))
		st->rss_anon = kib(rest);
#undef IS
}

void mt_procfs_status_parse(const char *text, struct mt_procfs_status *st)
{
	*st = (struct mt_procfs_status){
		.tgid = -1, .ppid = -1, .tracer_pid = -1, .uid = -1, .euid = -1, .threads = -1,
		.nspid = -1, .seccomp = -1, .no_new_privs = -1, .vm_rss = -1, .rss_anon = -1,
	};
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		const char *colon = memchr(line, ':', end ? (size_t)(end - line) : strlen(line));
		if (colon)
			take_line(line, (size_t)(colon - line), colon + 1, st);
		line = end ? end + 1 : NULL;
	}
}

int mt_procfs_status(pid_t pid, struct mt_procfs_status *st)
{
	char path[64], buf[STATUS_MAX];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		got += (size_t)n;
		if (n == 0 || got == sizeof buf - 1)
			break;
	}
	close(fd);
	buf[got] = 0;
	mt_procfs_status_parse(buf, st);
	return 0;
}

bool mt_procfs_rss(pid_t pid, struct mt_procfs_rss *out)
{
	struct mt_procfs_status st;
	if (mt_procfs_status(pid, &st) < 0 || st.vm_rss < 0)
		return false;
	out->rss = (uint64_t)st.vm_rss;
	out->has_anon = st.rss_anon >= 0;
	out->anon = st.rss_anon >= 0 ? (uint64_t)st.rss_anon : 0;
	return true;
}
