/* memtrace top PID: attach with a live terminal view (top_curses.h). */
#ifndef MT_CMD_TOP_H
#define MT_CMD_TOP_H

#include "session/options.h"

/* The exit status: MT_E_USAGE's when stdin or stdout is no terminal or
 * TERM cannot be drawn on, else the session's (0 when the user quit, the
 * target exited, or a signal stopped it). SIGFD as for mt_session_main. */
int mt_cmd_top(const struct mt_options *o, int sigfd, mt_options_parse_fn parse);

#endif
