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

/* memtrace top: the live view the session feeds (cli/top_curses.c), as
 * functions, so that the session never reaches up into the command layer.
 * The session traces as attach does; every interval it hands SHOW a
 * report whose rows have their history (attach's verdicts, sparklines,
 * churn); whenever FD is readable it asks INPUT what the user wants. */
struct mt_report;
enum mt_view_action {
	MT_VIEW_NONE,      /* nothing for the session (the view redrew itself) */
	MT_VIEW_QUIT,      /* detach and end, as on Ctrl-C */
	MT_VIEW_HANGUP,    /* the terminal is gone (no SIGHUP came): the same */
	MT_VIEW_SNAPSHOT,  /* write a snapshot now; STATUS gets the outcome */
};
struct mt_view {
	void *ctx;
	int fd;            /* readable when the view has input (keys, a resize) */
	/* R is the view's from now on: it frees it (mt_report_free) */
	void (*show)(void *ctx, struct mt_report *r);
	enum mt_view_action (*input)(void *ctx);
	/* one line for the view's status line */
	void (*status)(void *ctx, const char *line);
};

/* memtrace top PID: trace as attach does, feeding VIEW; no report at the
 * end.  The exit status, as mt_session_main's. */
int mt_session_top(const struct mt_options *o, int sigfd, mt_options_parse_fn parse,
		   const struct mt_view *view);

#endif
