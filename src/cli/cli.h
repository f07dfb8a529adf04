/* The command line, parsed.  Pure: no I/O; errors come back as text for
 * main.c to print. */
#ifndef MT_CLI_H
#define MT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "session/options.h"

/* 0, or -1 with a one-line message in ERR (without "memtrace: error: "). */
int mt_cli_parse(int argc, char **argv, struct mt_options *o, char *err, size_t errlen);
/* Parse a PID the way the command line does: 1..INT_MAX decimal digits only. */
int mt_cli_parse_pid(const char *s, pid_t *out);
/* The usage text for CMD (MT_CMD_NONE: general): a command's synopsis,
 * then its options from the same table the parser reads. */
const char *mt_cli_usage(enum mt_cmd cmd);

#endif
