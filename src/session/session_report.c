/* The session's reports: rows built from the tracker and named by their
 * stacks, attach's per-row history and verdicts, snapshots, and the
 * answers to other memtraces' requests.  See session_priv.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/errors.h"
#include "target/maps.h"
#include "util/msg.h"
#include "model/series.h"
#include "session/output.h"
#include "session/session_priv.h"
#include "report/pprof.h"
#include "report/report_build.h"
#include "report/report_html.h"
#include "snapshot/snapbuild.h"
#include "snapshot/snapshot.h"

static const char *end_reason_name[] = {
	[END_NONE] = "duration", [END_DURATION] = "duration", [END_SIGNAL] = "signal",
	[END_EXITED] = "target_exited", [END_EXEC] = "target_exec",
};

/* ---- the report -------------------------------------------------------- */

void mt_session_read_rss(struct session *s, bool start)
{
	struct mt_procfs_rss now;
	if ((!start && !s->rss_started) || !mt_procfs_rss(s->pid, &now))
		return;
	if (start) {
		s->rss_start = now;
		s->rss_started = true;
	}
	s->rss_last = now;
	s->rss_last_t = mt_clock_s();
}

/* The coverage line's figures: RSS at attach and now (while tracing), or
 * at the end, or when last read before the process exited. */
static struct mt_report_rss rss_of(struct session *s)
{
	struct mt_report_rss rss = { .known = false };
	if (!s->t_end)
		mt_session_read_rss(s, false);
	if (!s->rss_started || !s->rss_last_t)
		return rss;
	rss.known = true;
	rss.start = s->rss_start.rss;
	rss.end = s->rss_last.rss;
	rss.has_anon = s->rss_start.has_anon && s->rss_last.has_anon;
	rss.anon_start = rss.has_anon ? s->rss_start.anon : 0;
	rss.anon_end = rss.has_anon ? s->rss_last.anon : 0;
	/* read just after t_end when the process was still there */
	rss.end_age_s = s->t_end > s->rss_last_t ? s->t_end - s->rss_last_t : 0;
	return rss;
}

/* What the report builder reads of the session: its trace, and only that. */
static struct mt_report_input report_input(struct session *s)
{
	struct mt_engine_stats es = { 0 };
	if (s->engine)
		s->engine->ops->stats(s->engine, &es);
	return (struct mt_report_input){
		.tracker = s->tracker, .stacks = s->stacks, .frames = s->frames,
		.wrappers = s->wrappers, .sym = s->sym, .progress = s->progress,
		.set = &s->set, .installed = s->installed, .why_not = s->why_not,
		.pid = s->pid, .comm = s->comm,
		.engine = s->engine ? s->engine->ops->name : "breakpoint",
		.end_reason = end_reason_name[s->end],
		.threads = s->t ? mt_target_max_threads(s->t) : 0,
		.duration_s = (s->t_end ? s->t_end : mt_clock_s()) - s->t_start,
		.events = es.calls, .lost_events = es.lost_calls + es.abandoned_calls,
		.stacks_cut = es.stacks_truncated, .nested_calls = es.nested_calls,
		.in_flight = es.in_flight,
		/* the trace's depth, whoever asks for the report */
		.depth = s->stacks ? s->o->depth : 0,
		.python = s->py.note,
		.pytab = es.pytab,
		.rss = rss_of(s),
		.census = s->spawned ? NULL : mt_session_census_report(s),
	};
}

/* The report options of a command line O: this session's, or a request's. */
static struct report_opts report_opts(const struct mt_options *o)
{
	return (struct report_opts){
		.format = o->format,
		.top = o->json && !o->top_given ? 0 : o->top,
		.stacks = o->stacks,
		.group_by = o->group_by,
		.no_census = o->no_census,
	};
}

/* Fill R from the trace: rows named, grouped as RO says and sorted.  The
 * target runs meanwhile: naming may download debug files (symbolize.h). */
static int build_report(struct session *s, const struct report_opts *ro, struct mt_report *r)
{
	struct mt_report_input in = report_input(s);
	mt_symbolizer_downloads(s->sym, true);
	int err = mt_report_build(&in, r);
	mt_symbolizer_downloads(s->sym, false);
	if (err)
		return err;
	r->group_by = mt_report_group_name(ro->group_by);
	r->show_stacks = ro->stacks;
	r->java = s->java[0] ? s->java : NULL;
	mt_session_hints_note_fanout(s, r);
	return mt_report_group(r, ro->group_by) < 0 ? -ENOMEM : 0;
}

int mt_session_report_rows(struct session *s, struct mt_report *r)
{
	struct mt_report_input in = report_input(s);
	mt_symbolizer_downloads(s->sym, true);
	int err = mt_report_build(&in, r);
	mt_symbolizer_downloads(s->sym, false);
	return err;
}

/* attach: each row's change since the last interval, its series, trend,
 * sparkline and churn; rows ranked by the evidence for growth. */
static void add_history(struct session *s, const struct report_opts *ro, struct mt_report *r)
{
	if (!s->history)
		s->history = mt_history_new();
	if (!s->history)
		return;
	for (size_t i = 0; i < r->nsites; i++) {
		struct mt_report_site *rs = &r->sites[i];
		char key[600];
		mt_report_row_key(rs, ro->group_by, key, sizeof key);
		struct mt_history_row *h = mt_history_get(s->history, key);
		if (!h)
			continue;
		rs->delta_interval = (int64_t)rs->live_bytes - (int64_t)h->prev_live_bytes;
		rs->delta_blocks = (int64_t)rs->live_blocks - (int64_t)h->prev_live_blocks;
		rs->churn_allocs = rs->allocs - h->prev_allocs;
		rs->churn_frees = rs->frees - h->prev_frees;
		h->prev_live_bytes = rs->live_bytes;
		h->prev_live_blocks = rs->live_blocks;
		h->prev_allocs = rs->allocs;
		h->prev_frees = rs->frees;
		mt_series_add(h->series, r->duration_s, rs->live_bytes, rs->live_blocks);
		struct mt_trend_info ti;
		mt_series_trend(h->series, &ti);
		rs->trend = mt_trend_name(ti.trend);
		rs->rate_bytes_per_min = ti.rate_bytes_per_min;
		rs->score = ti.score;
		mt_series_sparkline(h->series, 12, rs->sparkline, sizeof rs->sparkline);
	}
	mt_report_sort_growth(r);
}

/* Tables get ANSI colors on a terminal, unless NO_COLOR is set. */
static bool use_color(const struct report_opts *ro, FILE *f)
{
	return f == stdout && ro->format == MT_FORMAT_TABLE && isatty(STDOUT_FILENO) &&
	       !getenv("NO_COLOR");
}

/* --format html: each row's series of live bytes, from the history. */
static void add_series(struct session *s, const struct report_opts *ro, struct mt_report *r)
{
	for (size_t i = 0; s->history && i < r->nsites; i++) {
		struct mt_report_site *rs = &r->sites[i];
		char key[600];
		mt_report_row_key(rs, ro->group_by, key, sizeof key);
		struct mt_history_row *h = mt_history_get(s->history, key);
		if (!h)
			continue;
		rs->series_t = malloc(MT_SERIES_MAX_POINTS * sizeof *rs->series_t);
		rs->series_bytes = malloc(MT_SERIES_MAX_POINTS * sizeof *rs->series_bytes);
		if (!rs->series_t || !rs->series_bytes)
			continue;  /* mt_report_free frees either */
		rs->nseries = mt_series_points(h->series, rs->series_t, rs->series_bytes,
					       MT_SERIES_MAX_POINTS);
	}
}

static struct mt_snapshot *build_snapshot(struct session *s, bool no_census, bool record);

/* --format pprof: the live table as a snapshot, written as a profile. */
static int print_pprof(struct session *s, bool no_census, FILE *f)
{
	struct mt_snapshot *snap = build_snapshot(s, no_census, false);
	if (!snap) {
		errno = ENOMEM;
		return -1;
	}
	int err = mt_report_pprof(f, snap);
	mt_snapshot_free(snap);
	return err;
}

int mt_session_print_interval(struct session *s, bool final)
{
	const struct report_opts ro = report_opts(s->o);
	FILE *out = s->out ? s->out : stdout;
	if (ro.format == MT_FORMAT_PPROF) {
		if (!final)
			return 0;
		mt_output_rewind(out);  /* it may hold the last --record's profile */
		return print_pprof(s, ro.no_census, out);
	}
	struct mt_report r;
	int err = build_report(s, &ro, &r);
	if (err == 0) {
		r.interval = ++s->intervals;
		r.color = use_color(&ro, out);
		add_history(s, &ro, &r);
		if (ro.format == MT_FORMAT_JSON)
			err = mt_report_json_interval(out, &r, ro.top, final);
		else if (ro.format == MT_FORMAT_FOLDED)
			err = final ? mt_report_folded(out, &r) : 0;
		else if (ro.format == MT_FORMAT_HTML && final) {
			add_series(s, &ro, &r);
			err = mt_report_html(out, &r, ro.top, MT_HTML_TIME_SINCE_ATTACH);
		} else if (ro.format != MT_FORMAT_HTML)
			err = mt_report_growth(out, &r, ro.top, final);
		if (err == 0 && fflush(out) != 0)
			err = -1;
		if (err == 0)
			mt_session_hints_print(s, &r, ro.top);
	}
	mt_report_free(&r);
	return err;
}

int mt_session_record_pprof(struct session *s)
{
	if (s->o->format != MT_FORMAT_PPROF || !s->out || !mt_output_rewind(s->out))
		return 0;
	return print_pprof(s, s->o->no_census, s->out);
}

int mt_session_growth_report(struct session *s, struct mt_report *r)
{
	const struct report_opts ro = report_opts(s->o);
	int err = build_report(s, &ro, r);
	if (err == 0) {
		r->interval = ++s->intervals;
		add_history(s, &ro, r);
	}
	return err;
}

/* histo, run, and the session answering a client: one report to F. */
static int print_report(struct session *s, const struct report_opts *ro, FILE *f)
{
	if (ro->format == MT_FORMAT_PPROF)
		return print_pprof(s, ro->no_census, f);
	struct mt_report r;
	int err = build_report(s, ro, &r);
	if (err == 0) {
		r.color = use_color(ro, f);
		if (ro->format == MT_FORMAT_JSON)
			err = mt_report_json(f, &r, ro->top);
		else if (ro->format == MT_FORMAT_FOLDED)
			err = mt_report_folded(f, &r);
		else if (ro->format == MT_FORMAT_HTML)
			err = mt_report_html(f, &r, ro->top, MT_HTML_TIME_SINCE_ATTACH);
		else
			err = mt_report_table(f, &r, ro->top);
		if (err == 0 && f == s->out)
			mt_session_hints_print(s, &r, ro->top);
	}
	mt_report_free(&r);
	return err;
}

int mt_session_print_final(struct session *s)
{
	if (s->o->cmd == MT_CMD_ATTACH)
		return mt_session_print_interval(s, true);
	const struct report_opts ro = report_opts(s->o);
	return print_report(s, &ro, s->out ? s->out : stdout);
}

/* ---- snapshots --------------------------------------------------------- */

uint64_t mt_session_unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* attach --record: a point of every site's growth series at DURATION_S,
 * the series the snapshot carries; NULL when there is none (out of memory:
 * the snapshot is then written without it, as by an older memtrace). */
static const struct mt_recseries *record_series(struct session *s, double duration_s)
{
	if (!s->recseries)
		s->recseries = mt_recseries_new();
	if (!s->recseries || !s->tracker)
		return NULL;
	mt_recseries_sample(s->recseries, s->tracker, duration_s);
	return s->recseries;
}

/* The live table as a snapshot.  NO_CENSUS: --no-census of whoever asks
 * for it; RECORD: attach --record's snapshot, which carries the growth
 * series.  NULL when out of memory. */
static struct mt_snapshot *build_snapshot(struct session *s, bool no_census, bool record)
{
	struct mt_tracker_stats ts;
	struct mt_engine_stats es = { 0 };
	mt_tracker_stats(s->tracker, &ts);
	if (s->engine)
		s->engine->ops->stats(s->engine, &es);
	double duration_s = (s->t_end ? s->t_end : mt_clock_s()) - s->t_start;
	struct mt_snapbuild_input in = {
		.tracker = s->tracker, .stacks = s->stacks, .frames = s->frames,
		.wrappers = s->wrappers, .sym = s->sym, .pid = s->pid, .comm = s->comm,
		.exe = s->exe, .engine = s->engine ? s->engine->ops->name : "breakpoint", .allocator = s->set.allocator,
		.exe_load = s->exe_load, .start_unix_ns = s->start_unix_ns,
		.time_unix_ns = mt_session_unix_ns(),
		.duration_s = duration_s,
		.events = es.calls, .unknown_frees = ts.unknown_frees,
		.lost_events = es.lost_calls + es.abandoned_calls,
		.depth = s->stacks ? s->o->depth : 0,
		/* none for run (a spawned program has no past) or --no-census */
		.census = s->spawned || (!s->census && no_census) ? NULL : mt_session_census_report(s),
		.series = record ? record_series(s, duration_s) : NULL,
	};
	mt_symbolizer_downloads(s->sym, true);
	struct mt_snapshot *snap = mt_snapbuild(&in);
	mt_symbolizer_downloads(s->sym, false);
	return snap;
}

/* Write the live table as a snapshot to PATH (atomically), as
 * build_snapshot() makes it.  0, or an exit status with the reason in
 * MSG. */
static int snapshot_to(struct session *s, const char *path, bool no_census, bool record,
		       char *msg, size_t len)
{
	struct mt_snapshot *snap = build_snapshot(s, no_census, record);
	if (!snap) {
		snprintf(msg, len, "out of memory building the snapshot: free some memory");
		return mt_err_exit_status(MT_E_INTERNAL);
	}
	enum mt_err rc = mt_snapshot_write(snap, path, msg, len);
	mt_snapshot_free(snap);
	if (rc != MT_E_OK)
		return mt_err_exit_status(rc);
	return 0;
}

int mt_session_snapshot_quiet(struct session *s, const char *path, char *msg, size_t len)
{
	return snapshot_to(s, path, s->o->no_census, false, msg, len);
}

int mt_session_write_snapshot(struct session *s, const char *path)
{
	char msg[600];
	int rc = snapshot_to(s, path, s->o->no_census, s->o->cmd == MT_CMD_ATTACH, msg,
			     sizeof msg);
	if (rc) {
		fprintf(stderr, "memtrace: error: %s\n", msg);
		return rc;
	}
	if (s->o->verbose)
		mt_say("snapshot written to %s", path);
	return 0;
}

/* Another memtrace asks this session for a report or a snapshot of the
 * process (a process has one tracer: see ctlsock.h). */
void mt_session_serve_request(struct session *s, struct mt_ctl_request *req)
{
	char *argv[MT_CTL_MAX_ARGC + 2];
	int argc = 0;
	argv[argc++] = "memtrace";
	for (int i = 0; i < req->argc && argc < MT_CTL_MAX_ARGC + 1; i++)
		argv[argc++] = req->argv[i];
	argv[argc] = NULL;
	struct mt_options ro;
	char msg[700];
	char line[800];
	if (s->parse(argc, argv, &ro, msg, sizeof msg) < 0) {
		snprintf(line, sizeof line, "memtrace: error: %s", msg);
		mt_ctl_server_reply(req, mt_err_exit_status(MT_E_USAGE), line);
		return;
	}
	if ((ro.cmd != MT_CMD_HISTO && ro.cmd != MT_CMD_SNAPSHOT) || ro.pid != s->pid) {
		snprintf(line, sizeof line, "memtrace: error: the memtrace session tracing PID %d "
			 "answers histo and snapshot for it only: ask it one of those", (int)s->pid);
		mt_ctl_server_reply(req, mt_err_exit_status(MT_E_USAGE), line);
		return;
	}
	/* The client's report options; the trace (its --depth, its sampling)
	 * stays this session's. */
	const struct report_opts opts = report_opts(&ro);
	int rc = 0;
	msg[0] = 0;
	if (ro.cmd == MT_CMD_SNAPSHOT || ro.snapshot_path) {
		char path[8192];
		if (ro.snapshot_path[0] == '/')
			snprintf(path, sizeof path, "%s", ro.snapshot_path);
		else
			snprintf(path, sizeof path, "%s/%s", req->cwd, ro.snapshot_path);
		rc = snapshot_to(s, path, ro.no_census, false, msg, sizeof msg);
		if (!rc && ro.cmd == MT_CMD_SNAPSHOT)
			snprintf(msg, sizeof msg, "snapshot of pid %d written to %s by the session "
				 "tracing it", (int)s->pid, ro.snapshot_path);
	}
	if (!rc && ro.cmd == MT_CMD_HISTO) {
		/* -o FILE: the client's, from its directory, as --snapshot's */
		char path[8192] = "";
		if (ro.output_path)
			snprintf(path, sizeof path, "%s%s%s", ro.output_path[0] == '/' ? "" : req->cwd,
				 ro.output_path[0] == '/' ? "" : "/", ro.output_path);
		int fd = path[0] ? -1 : dup(req->out_fd);
		FILE *f = path[0] ? fopen(path, "w") : fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f || print_report(s, &opts, f) < 0) {
			rc = mt_err_exit_status(MT_E_IO);
			snprintf(msg, sizeof msg, "cannot write the report: check the output");
		}
		if (f)
			fclose(f);
		else if (fd >= 0)
			close(fd);
	}
	if (msg[0])
		snprintf(line, sizeof line, "memtrace: %s%s", rc ? "error: " : "", msg);
	mt_ctl_server_reply(req, rc, msg[0] ? line : NULL);
}

/* Where the main executable is: its path and an address inside it. */
void mt_session_find_exe(struct session *s)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)s->pid);
	ssize_t n = readlink(path, s->exe, sizeof s->exe - 1);
	s->exe[n > 0 ? n : 0] = 0;
	char *del = strstr(s->exe, " (deleted)");
	if (del)
		*del = 0;
	struct mt_maps maps;
	if (mt_maps_read(s->pid, &maps) < 0)
		return;
	for (size_t i = 0; i < maps.n && !s->exe_load; i++)
		if (maps.v[i].path && strcmp(maps.v[i].path, s->exe) == 0)
			s->exe_load = maps.v[i].start;
	mt_maps_free(&maps);
}

