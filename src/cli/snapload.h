/* A snapshot file read for a command that takes snapshots (diff, report). */
#ifndef MT_SNAPLOAD_H
#define MT_SNAPLOAD_H

#include "snapshot/snapshot.h"

/* PATH read into *OUT: 0, or the exit status (errors.h) after one line on
 * stderr saying what is wrong with the file and what to do. */
int mt_cli_load_snapshot(const char *path, struct mt_snapshot **out);

#endif
