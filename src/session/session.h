/* One tracing session: attach (or spawn), discover, hook, trace, detach,
 * report.  The commands in main.c are thin wrappers around it. */
#ifndef MT_SESSION_H
#define MT_SESSION_H

#include "session/options.h"

/* Runs the command in O.  Returns the process exit status; messages go to
 * stderr, the report to stdout. SIGFD: a signalfd for SIGINT, SIGTERM and
 * SIGHUP (blocked by the caller).  PARSE reads the command line of a
 * request from another memtrace (mt_cli_parse). */
int mt_session_main(const struct mt_options *o, int sigfd, mt_options_parse_fn parse);

#endif
