/* Where a command's report goes: -o FILE, or stdout.  Every report writer
 * gets the FILE * this opens, whatever its format. */
#ifndef MT_OUTPUT_H
#define MT_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "session/options.h"

/* Whether FORMAT writes binary data (pprof), which no terminal shows. */
bool mt_output_binary(enum mt_format format);

/* The report's stream for O: O's -o FILE opened (created or truncated)
 * now, before any tracing, so that a path that cannot be written is
 * refused before the process is touched; else stdout, refused for a binary
 * format when it is a terminal.  NULL with a one-line message in ERR. */
FILE *mt_output_open(const struct mt_options *o, char *err, size_t errlen);

/* Start the report over: F (a file of -o) emptied, so that it is rewritten
 * in place (attach --record with --format pprof: the profile of the last
 * snapshot).  Nothing for stdout or what cannot be truncated (a pipe).
 * true when F was emptied. */
bool mt_output_rewind(FILE *f);

/* Flush F and close it unless it is stdout.  0, or -1 when writing failed
 * (errno says why). */
int mt_output_close(FILE *f);

#endif
