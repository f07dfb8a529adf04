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
#include "session/session_priv.h"
#include "snapshot/snapbuild.h"
#include "snapshot/snapshot.h"

static const char *end_reason_name[] = {
	[END_NONE] = "duration", [END_DURATION] = "duration", [END_SIGNAL] = "signal",
	[END_EXITED] = "target_exited", [END_EXEC] = "target_exec",
};

/* ---- the report -------------------------------------------------------- */

static void symbolize_site(struct session *s, struct mt_report_site *rs)
{
	if (!s->sym)
		return;
	struct mt_symbol sym;
	/* A return address: the call itself is the byte before. */
	mt_symbolize(s->sym, rs->address - 1, &sym);
	snprintf(rs->function, sizeof rs->function, "%s", sym.function);
	rs->offset = sym.function[0] ? sym.offset + 1 : 0;
	snprintf(rs->module, sizeof rs->module, "%s", sym.module);
	rs->module_offset = sym.module_offset + 1;
	snprintf(rs->file, sizeof rs->file, "%s", sym.file);
	rs->line = sym.line;
}

static void names_of(const struct mt_fn_set *mask, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	for (int f = 0; f < MT_FN__COUNT; f++) {
		if (!mt_fn_set_has(mask, (enum mt_fn)f))
			continue;
		int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", mt_fn_name((enum mt_fn)f));
		if (w < 0 || (size_t)w >= len - n)
			break;
		n += (size_t)w;
	}
}

/* Name RS by its frames FR[0..NF): the first one outside the allocator and
 * its wrappers.  False when the names cannot be held. */
static bool name_by_frames(struct session *s, struct mt_report_site *rs,
			   const struct mt_report_frame *fr, int nf)
{
	const char **names = nf > 0 ? calloc((size_t)nf, sizeof *names) : NULL;
	if (!names)
		return false;
	for (int i = 0; i < nf; i++)
		names[i] = fr[i].function;
	int k = mt_wrappers_site_index(s->wrappers, names, nf);
	free(names);
	const struct mt_report_frame *f = &fr[k];
	rs->frames = fr;
	rs->nframes = nf;
	rs->site_frame = k;
	rs->address = f->address;
	snprintf(rs->function, sizeof rs->function, "%s", f->function);
	rs->offset = f->offset;
	snprintf(rs->module, sizeof rs->module, "%s", f->module);
	rs->module_offset = f->module_offset;
	snprintf(rs->file, sizeof rs->file, "%s", f->file);
	rs->line = f->line;
	return true;
}

/* Name a row by its stack: the first frame outside the allocator and its
 * wrappers.  A row keyed by a caller alone (--depth 1) is named the same
 * way by the frames at that return address, the functions inlined there
 * included, so that both engines name it alike. */
static void name_site(struct session *s, struct mt_report_site *rs)
{
	const uint64_t *pcs;
	const struct mt_report_frame *fr;
	int n, nf;
	if ((rs->key & MT_SITE_STACK_BIT) && s->stacks && s->frames &&
	    (n = mt_stacks_get(s->stacks, (uint32_t)rs->key, &pcs)) > 0) {
		nf = mt_framecache_stack(s->frames, (uint32_t)rs->key, pcs, n, &fr);
		if (name_by_frames(s, rs, fr, nf))
			return;
	}
	if (rs->key & MT_SITE_STACK_BIT)
		return;
	if (s->frames && s->wrappers && (nf = mt_framecache_caller(s->frames, rs->key, &fr)) > 0 &&
	    name_by_frames(s, rs, fr, nf))
		return;
	rs->address = rs->key;
	symbolize_site(s, rs);
}

void read_rss(struct session *s, bool start)
{
	struct mt_procfs_rss now;
	if ((!start && !s->rss_started) || !mt_procfs_rss(s->pid, &now))
		return;
	if (start) {
		s->rss_start = now;
		s->rss_started = true;
	}
	s->rss_last = now;
	s->rss_last_t = now_s();
}

/* The coverage line's figures: RSS at attach and now (while tracing), or
 * at the end, or when last read before the process exited. */
static void fill_rss(struct session *s, struct mt_report *r)
{
	if (!s->t_end)
		read_rss(s, false);
	if (!s->rss_started || !s->rss_last_t)
		return;
	r->rss.known = true;
	r->rss.start = s->rss_start.rss;
	r->rss.end = s->rss_last.rss;
	r->rss.has_anon = s->rss_start.has_anon && s->rss_last.has_anon;
	r->rss.anon_start = r->rss.has_anon ? s->rss_start.anon : 0;
	r->rss.anon_end = r->rss.has_anon ? s->rss_last.anon : 0;
	/* read just after t_end when the process was still there */
	r->rss.end_age_s = s->t_end > s->rss_last_t ? s->t_end - s->rss_last_t : 0;
}

static int build_rows(struct session *s, struct mt_report *r);

/* Fill R from the tracker: rows named, grouped and sorted.  The target
 * runs meanwhile: naming may download debug files (symbolize.h). */
int build_report(struct session *s, struct mt_report *r)
{
	mt_symbolizer_downloads(s->sym, true);
	int err = build_rows(s, r);
	mt_symbolizer_downloads(s->sym, false);
	return err;
}

static int build_rows(struct session *s, struct mt_report *r)
{
	memset(r, 0, sizeof *r);
	struct mt_tracker_stats ts;
	struct mt_engine_stats es = { 0 };
	mt_tracker_stats(s->tracker, &ts);
	if (s->engine)
		s->engine->ops->stats(s->engine, &es);

	r->pid = s->pid;
	snprintf(r->comm, sizeof r->comm, "%s", s->comm);
	r->engine = s->engine ? s->engine->ops->name : "breakpoint";
	snprintf(r->allocator, sizeof r->allocator, "%s", s->set.allocator);
	snprintf(r->unsupported, sizeof r->unsupported, "%s", s->set.unhooked);
	r->threads = s->t ? mt_target_max_threads(s->t) : 0;
	r->duration_s = (s->t_end ? s->t_end : now_s()) - s->t_start;
	r->events = es.calls;
	r->unknown_frees = ts.unknown_frees;
	r->unknown_frees_internal = ts.unknown_frees_internal;
	r->lost_events = es.lost_calls + es.abandoned_calls;
	r->stacks_cut = es.stacks_truncated;
	r->nested_calls = es.nested_calls;
	r->in_flight = es.in_flight;
	r->inconsistencies = ts.inconsistencies;
	r->end_reason = end_reason_name[s->end];
	/* The tracker's mean, which the session set from --sample-bytes: a
	 * request from another memtrace (serve_request) brings options of its
	 * own, but the trace is this session's. */
	r->sample_bytes = ts.sample_bytes;
	r->unsampled_frees = ts.unsampled_frees;
	r->live_blocks = ts.est_live_blocks;
	r->live_bytes = ts.est_live_bytes;
	r->allocs = ts.est_allocs;
	r->frees = ts.est_frees;
	r->peak_live_bytes = ts.est_peak_live_bytes;
	fill_rss(s, r);

	/* hooks: what is traced; unhooked: entries found but not hooked,
	 * whose calls are unseen (the header says so) */
	r->hooks = calloc(MT_MAX_HOOKS, sizeof *r->hooks);
	r->unhooked = calloc(MT_MAX_HOOKS, sizeof *r->unhooked);
	for (int i = 0; r->hooks && r->unhooked && i < s->set.n; i++) {
		const struct mt_hook_spec *h = &s->set.hooks[i];
		struct mt_report_hook *rh = s->installed[i] ? &r->hooks[r->nhooks++]
							    : &r->unhooked[r->nunhooked++];
		snprintf(rh->symbol, sizeof rh->symbol, "%s", h->symbol);
		names_of(&h->fn_mask, rh->names, sizeof rh->names);
		rh->address = h->addr;
		snprintf(rh->module, sizeof rh->module, "%s", h->module);
		rh->file_offset = h->file_offset;
		snprintf(rh->engine, sizeof rh->engine, "%s", r->engine);
		snprintf(rh->why, sizeof rh->why, "%s", s->installed[i] ? "" : s->why_not[i]);
	}

	const struct mt_sites *sites = mt_tracker_sites(s->tracker);
	size_t n = mt_sites_count(sites);
	r->sites = calloc(n ? n : 1, sizeof *r->sites);
	if (!r->sites || !r->hooks || !r->unhooked)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct mt_site *st = mt_sites_get_const(sites, (uint32_t)i);
		struct mt_report_site *rs = &r->sites[r->nsites++];
		struct mt_site_counts c;
		mt_tracker_site_counts(s->tracker, st, &c);
		rs->key = st->key;
		rs->live_blocks = c.live_blocks;
		rs->live_bytes = c.live_bytes;
		rs->allocs = c.allocs;
		rs->frees = c.frees;
		rs->alloc_bytes = c.alloc_bytes;
		rs->sampled_live_blocks = st->live_blocks;
		rs->sampled_allocs = st->allocs;
		rs->delta_total = (int64_t)c.live_bytes;
		name_site(s, rs);
	}
	r->depth = s->stacks ? s->o->depth : 0;
	r->group_by = mt_group_name(s->o->group_by);
	r->show_stacks = s->o->stacks;
	r->census = s->spawned ? NULL : census_report(s);
	hints_note_fanout(s, r);
	return mt_report_group(r, (enum mt_report_group)s->o->group_by) < 0 ? -ENOMEM : 0;
}

void free_report(struct mt_report *r)
{
	free(r->sites);
	free(r->hooks);
	free(r->unhooked);
}

/* attach: each row's change since the last interval, its series, trend,
 * sparkline and churn; rows ranked by the evidence for growth. */
static void add_history(struct session *s, struct mt_report *r)
{
	if (!s->history)
		s->history = mt_history_new();
	if (!s->history)
		return;
	for (size_t i = 0; i < r->nsites; i++) {
		struct mt_report_site *rs = &r->sites[i];
		char key[600];
		mt_report_row_key(rs, (enum mt_report_group)s->o->group_by, key, sizeof key);
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

static bool use_color(const struct session *s)
{
	return s->o->format == MT_FORMAT_TABLE && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
}

int print_interval(struct session *s, bool final)
{
	struct mt_report r;
	int top = s->o->json && !s->o->top_given ? 0 : s->o->top;
	int err = build_report(s, &r);
	if (err == 0) {
		r.interval = ++s->intervals;
		r.color = use_color(s);
		add_history(s, &r);
		if (s->o->format == MT_FORMAT_JSON)
			err = mt_report_json_interval(stdout, &r, top, final);
		else if (s->o->format == MT_FORMAT_FOLDED)
			err = final ? mt_report_folded(stdout, &r) : 0;
		else
			err = mt_report_growth(stdout, &r, top, final);
		if (err == 0)
			hints_print(s, &r, top);
	}
	free_report(&r);
	return err;
}

/* histo, run, and the session answering a client: one report to F. */
int print_report(struct session *s, const struct mt_options *o, FILE *f)
{
	int top = o->json && !o->top_given ? 0 : o->top;
	struct mt_report r;
	int err = build_report(s, &r);
	if (err == 0) {
		r.show_stacks = o->stacks;
		r.color = f == stdout && o->format == MT_FORMAT_TABLE && isatty(STDOUT_FILENO) &&
			  !getenv("NO_COLOR");
		if (o->format == MT_FORMAT_JSON)
			err = mt_report_json(f, &r, top);
		else if (o->format == MT_FORMAT_FOLDED)
			err = mt_report_folded(f, &r);
		else
			err = mt_report_table(f, &r, top);
		if (err == 0 && f == stdout)
			hints_print(s, &r, top);
	}
	free_report(&r);
	return err;
}

int print_final(struct session *s)
{
	if (s->o->cmd == MT_CMD_ATTACH)
		return print_interval(s, true);
	return print_report(s, s->o, stdout);
}

/* ---- snapshots --------------------------------------------------------- */

uint64_t unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Write the live table as a snapshot to PATH (atomically).  0, or an exit
 * status with the reason in MSG. */
static int snapshot_to(struct session *s, const char *path, char *msg, size_t len)
{
	struct mt_tracker_stats ts;
	struct mt_engine_stats es = { 0 };
	mt_tracker_stats(s->tracker, &ts);
	if (s->engine)
		s->engine->ops->stats(s->engine, &es);
	struct mt_snapbuild_input in = {
		.tracker = s->tracker, .stacks = s->stacks, .frames = s->frames,
		.wrappers = s->wrappers, .sym = s->sym, .pid = s->pid, .comm = s->comm,
		.exe = s->exe, .engine = s->engine ? s->engine->ops->name : "breakpoint", .allocator = s->set.allocator,
		.exe_load = s->exe_load, .start_unix_ns = s->start_unix_ns,
		.time_unix_ns = unix_ns(),
		.duration_s = (s->t_end ? s->t_end : now_s()) - s->t_start,
		.events = es.calls, .unknown_frees = ts.unknown_frees,
		.lost_events = es.lost_calls + es.abandoned_calls,
		.depth = s->stacks ? s->o->depth : 0,
		/* none for run (a spawned program has no past) or --no-census */
		.census = s->spawned || (!s->census && s->o->no_census) ? NULL : census_report(s),
	};
	mt_symbolizer_downloads(s->sym, true);
	struct mt_snapshot *snap = mt_snapbuild(&in);
	mt_symbolizer_downloads(s->sym, false);
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

int write_snapshot(struct session *s, const char *path)
{
	char msg[600];
	int rc = snapshot_to(s, path, msg, sizeof msg);
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
void serve_request(struct session *s, struct mt_ctl_request *req)
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
	const struct mt_options *own = s->o;
	/* The client's report options; the trace itself keeps this session's. */
	ro.depth = own->depth;
	int rc = 0;
	msg[0] = 0;
	s->o = &ro;
	if (ro.cmd == MT_CMD_SNAPSHOT || ro.snapshot_path) {
		char path[8192];
		if (ro.snapshot_path[0] == '/')
			snprintf(path, sizeof path, "%s", ro.snapshot_path);
		else
			snprintf(path, sizeof path, "%s/%s", req->cwd, ro.snapshot_path);
		rc = snapshot_to(s, path, msg, sizeof msg);
		if (!rc && ro.cmd == MT_CMD_SNAPSHOT)
			snprintf(msg, sizeof msg, "snapshot of pid %d written to %s by the session "
				 "tracing it", (int)s->pid, ro.snapshot_path);
	}
	if (!rc && ro.cmd == MT_CMD_HISTO) {
		int fd = dup(req->out_fd);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f || print_report(s, &ro, f) < 0) {
			rc = mt_err_exit_status(MT_E_IO);
			snprintf(msg, sizeof msg, "cannot write the report: check the output");
		}
		if (f)
			fclose(f);
		else if (fd >= 0)
			close(fd);
	}
	s->o = own;
	if (msg[0])
		snprintf(line, sizeof line, "memtrace: %s%s", rc ? "error: " : "", msg);
	mt_ctl_server_reply(req, rc, msg[0] ? line : NULL);
}

/* Where the main executable is: its path and an address inside it. */
void find_exe(struct session *s)
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

