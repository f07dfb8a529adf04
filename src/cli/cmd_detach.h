/* memtrace detach PID: removes what a memtrace killed with SIGKILL left
 * in a process (cmd_detach.c). */
#ifndef MT_CMD_DETACH_H
#define MT_CMD_DETACH_H

#include "cli/cli.h"

/* The exit status (errors.h); prints what it did on stderr. */
int mt_cmd_detach(const struct mt_options *o);

#endif
