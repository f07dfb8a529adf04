/* The report's stream (output.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session/output.h"

bool mt_output_binary(enum mt_format format)
{
	return format == MT_FORMAT_PPROF;
}

FILE *mt_output_open(const struct mt_options *o, char *err, size_t errlen)
{
	bool binary = mt_output_binary(o->format);
	if (!o->output_path) {
		if (binary && isatty(STDOUT_FILENO)) {
			snprintf(err, errlen,
				 "--format pprof writes binary data, not for a terminal: "
				 "give -o FILE or redirect stdout to a file or a pipe");
			return NULL;
		}
		return stdout;
	}
	struct stat st;
	if (stat(o->output_path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
			 "cannot write the report to %s: it is a directory: give a "
			 "file",
			 o->output_path);
		return NULL;
	}
	FILE *f = fopen(o->output_path, "w");
	if (!f) {
		snprintf(err, errlen,
			 "cannot write the report to %s: %s: give a file memtrace may "
			 "write",
			 o->output_path, strerror(errno));
		return NULL;
	}
	if (binary && isatty(fileno(f))) {
		fclose(f);
		snprintf(err, errlen,
			 "--format pprof writes binary data, not for a terminal: "
			 "give -o a file");
		return NULL;
	}
	return f;
}

bool mt_output_rewind(FILE *f)
{
	struct stat st;
	if (f == stdout || fflush(f) != 0 || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	if (ftruncate(fileno(f), 0) < 0)
		return false;
	rewind(f);
	return true;
}

int mt_output_close(FILE *f)
{
	if (!f)
		return 0;
	if (f == stdout)
		return fflush(f) != 0 || ferror(f) ? -1 : 0;
	bool failed = ferror(f) != 0;
	if (fclose(f) != 0)
		failed = true;
	return failed ? -1 : 0;
}
