#include <stdarg.h>
#include <stdio.h>

#include "util/msg.h"
#include "util/progress.h"

void mt_say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mt_progress_erase_shown();   /* a message never lands on a progress line */
	fputs("memtrace: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int mt_fail(enum mt_err e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mt_progress_erase_shown();
	fputs("memtrace: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return mt_err_exit_status(e);
}
