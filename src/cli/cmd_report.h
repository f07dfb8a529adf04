/* memtrace report SNAPSHOT... [-o FILE]: an HTML page over snapshots. */
#ifndef MT_CMD_REPORT_H
#define MT_CMD_REPORT_H

#include "session/options.h"

/* The exit status (errors.h); one line on stderr for every failure. */
int mt_cmd_report(const struct mt_options *o);

#endif
