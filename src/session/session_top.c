/* memtrace top's side of the session: each interval's report handed to the
 * live view (session.h, struct mt_view), and the snapshots its key asks
 * for.  The loop (session.c) calls these; the view draws. */
#include <stdio.h>
#include <unistd.h>

#include "report/report_build.h"
#include "session/session.h"
#include "session/session_priv.h"

void mt_session_top_tick(struct session *s)
{
	struct mt_report r;
	if (mt_session_growth_report(s, &r) == 0) {
		s->view->show(s->view->ctx, &r);
		return;
	}
	mt_report_free(&r);
	s->view->status(s->view->ctx, "out of memory building the report: rows not refreshed");
}

/* A few thousand snapshots a session is plenty; past that the key says so. */
#define TOP_MAX_SNAPSHOTS 10000

void mt_session_top_snapshot(struct session *s)
{
	char path[64], msg[600], line[800];
	int n = s->top_snapshots;
	do
		snprintf(path, sizeof path, "memtrace-%d-%d.snap", (int)s->pid, ++n);
	while (n < TOP_MAX_SNAPSHOTS && access(path, F_OK) == 0);
	s->top_snapshots = n;
	if (n >= TOP_MAX_SNAPSHOTS) {
		s->view->status(s->view->ctx, "snapshot not written: memtrace-PID-N.snap exist "
					      "up to N = 9999 here: move them away");
		return;
	}
	int rc = mt_session_snapshot_quiet(s, path, msg, sizeof msg);
	if (rc)
		snprintf(line, sizeof line, "snapshot not written: %s", msg);
	else
		snprintf(line, sizeof line, "snapshot written to %s", path);
	s->view->status(s->view->ctx, line);
}
