/* memtrace's own messages on stderr: "memtrace: ..." lines, and the one
 * error line "memtrace: error: WHAT: WHAT TO DO" that comes with an exit
 * status (errors.h).  Only the command layer (main, session, cmd_*) prints. */
#ifndef MT_MSG_H
#define MT_MSG_H

#include "util/errors.h"

void mt_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the error line and returns E's exit status. */
int mt_fail(enum mt_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
