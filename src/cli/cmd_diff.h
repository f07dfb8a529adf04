/* memtrace diff A B: compare two snapshot files. */
#ifndef MT_CMD_DIFF_H
#define MT_CMD_DIFF_H

#include "cli/cli.h"

/* Returns the exit status; messages on stderr, the diff on stdout. */
int mt_cmd_diff(const struct mt_options *o);

#endif
