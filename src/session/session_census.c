/* The census at attach, and the census command.  See session_priv.h.
 *
 *   histo, attach, snapshot:
 *     attach (all stopped) -> discover -> mt_session_census_freeze: mt_freeze_take
 *     -> hooks installed -> resume -> mt_session_census_build: walk the frozen copy
 *     -> mt_freeze_release -> the tracker matches frees against it
 *
 * The copy is taken before any hook is planted and read after: every block
 * is either in the census (allocated before) or traced (after), never both.
 * While the copy is walked the threads run; their stops (a signal, a new
 * thread) are taken between stretches of the walk (PUMP).
 *
 *   memtrace census PID:
 *     attach -> discover -> freeze -> resume -> walk -> release -> detach
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "census/census.h"
#include "session/diagnose.h"
#include "util/errors.h"
#include "census/heapfreeze.h"
#include "util/msg.h"
#include "util/progress.h"
#include "session/session_priv.h"
#include "report/pprof.h"
#include "snapshot/snapbuild.h"
#include "snapshot/snapshot.h"

/* While the copy is walked and released, the target's stops and the
 * agent's events are taken at least every PUMP_MS: a process allocating
 * all the time fills the agent's rings in tens of milliseconds, and the
 * walk of even a small heap (the clone's teardown included) takes that
 * long.  Once e2e/prefork's storming worker lost 47,959 events, among
 * them the burst the test counts, to a 55 ms census without a drain.  The
 * clock is read every PUMP_CHECK chunks. */
#define PUMP_MS 1.0
#define PUMP_CHECK 64

/* $XDG_CACHE_HOME/memtrace or ~/.cache/memtrace, made 0700; NULL when it
 * cannot be: the cache is an optimisation, its failures are silent. */
const char *mt_session_cache_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char base[4096];
	if (xdg && xdg[0] == '/')
		snprintf(base, sizeof base, "%s", xdg);
	else if (home && home[0] == '/')
		snprintf(base, sizeof base, "%s/.cache", home);
	else
		return NULL;
	mkdir(base, 0700);
	if ((size_t)snprintf(buf, len, "%s/memtrace", base) >= len)
		return NULL;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return NULL;
	return access(buf, W_OK) == 0 ? buf : NULL;
}

void mt_session_census_freeze(struct session *s)
{
	if (s->o->no_census) {
		snprintf(s->census_reason, sizeof s->census_reason, "not taken: --no-census");
		return;
	}
	s->census_t0 = mt_clock_s();
	char why[256];
	const char *other = mt_census_allocator_refusal(s->set.allocator, why, sizeof why);
	if (!other) {
		char dir[4200];
		int err = mt_freeze_take(s->t, mt_session_cache_dir(dir, sizeof dir), &s->freeze, why,
					 sizeof why);
		if (err == 0) {
			struct mt_procfs_rss rss;
			if (mt_procfs_rss(s->pid, &rss))
				s->census_rss = rss.rss;
			return;
		}
		s->freeze = NULL;
	}
	/* said by mt_session_census_build, once the hooks are in: a session that fails
	 * to hook says only why */
	snprintf(s->census_reason, sizeof s->census_reason, "%s", why);
}

struct walk {
	struct session *s;
	struct mt_census *c;
	census_pump_fn pump;
	uint64_t chunks;
	int err;
	double pumped;         /* when the last pump ran */
};

static void pump_if_due(struct walk *w)
{
	double t = mt_clock_s();
	if (w->pump && t - w->pumped >= PUMP_MS / 1000) {
		w->pump(w->s);
		w->pumped = mt_clock_s();
	}
}

static int walk_chunk(void *ctx, const struct mt_glheap_chunk *ch)
{
	struct walk *w = ctx;
	if (++w->chunks % PUMP_CHECK == 0 || w->chunks == 1) {
		mt_progress_update(w->s->progress, mt_clock_s(), "census: walking the heap",
				   w->chunks, 0, "chunks");
		pump_if_due(w);
	}
	return mt_census_chunk(w->c, ch);
}

static void walk_warn(void *ctx, const char *msg)
{
	struct walk *w = ctx;
	mt_census_warn(w->c, msg);
}

/* The symbol of a vtable, for a class built without RTTI. */
static bool vtable_symbol(void *ctx, uint64_t addr, char *out, size_t len)
{
	struct mt_symbol sym;
	mt_symbolize(ctx, addr, &sym);
	snprintf(out, len, "%s", sym.function);
	return sym.function[0] != 0;
}

/* Walk the copy into a census: 0, or -errno with WHY. */
int mt_session_census_walk(struct session *s, census_pump_fn pump, char *why, size_t len)
{
	const struct mt_memsrc *src = mt_freeze_memsrc(s->freeze);
	const struct mt_maps *maps = mt_freeze_maps(s->freeze);
	struct mt_census_config cfg = { src, maps, mt_demangle, s->sym ? vtable_symbol : NULL,
					s->sym };
	struct mt_census *c = mt_census_new(&cfg);
	if (!c) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	struct walk w = { s, c, pump, 0, 0, mt_clock_s() };
	struct mt_glheap_cb cb = { walk_chunk, walk_warn, &w };
	struct mt_glheap_stats st;
	memset(&st, 0, sizeof st);
	int err = mt_glheap_walk(mt_freeze_glheap(s->freeze), src, maps, &cb, &st);
	mt_progress_end(s->progress);
	if (err == 0)
		err = mt_census_finish(c, &st);
	if (err) {
		snprintf(why, len, "%s", err == -ENOMEM ? "out of memory for the census"
			 : "the heap walk could not start");
		mt_census_destroy(c);
		return err < 0 ? err : -EIO;
	}
	s->census = c;
	return 0;
}

void mt_session_census_kill(struct session *s, census_pump_fn pump)
{
	if (pump)
		pump(s);
	/* The copy dies now (its memory goes); its zombie, a child of the
	 * target, is reaped at detach.  Reaping needs a thread of the target
	 * to run wait4(): one interrupted now, with the breakpoint engine's
	 * int3s in place, may hold a SIGTRAP the interrupt came before, and a
	 * syscall injected then surfaced it away from the breakpoint, where
	 * it killed the target (e2e/cycles_bp, once in 100 cycles).  At detach
	 * every thread is stopped and such traps are collected first. */
	mt_freeze_kill(s->freeze, s->t);
	s->freeze_dead = s->freeze;
	s->freeze = NULL;
	if (pump)
		pump(s);
}

void mt_session_census_build(struct session *s, census_pump_fn pump)
{
	if (!s->freeze) {
		if (s->census_reason[0] && !s->o->no_census && s->o->cmd != MT_CMD_CENSUS)
			mt_say("census: not available: %s", s->census_reason);
		return;
	}
	char why[256];
	struct mt_freeze_stats fs;
	mt_freeze_stats(s->freeze, &fs);
	s->census_paused_ms = fs.paused_ms;
	snprintf(s->census_allocator, sizeof s->census_allocator, "glibc %s",
		 mt_glheap_version(mt_freeze_glheap(s->freeze)));
	int err = mt_session_census_walk(s, pump, why, sizeof why);
	mt_session_census_kill(s, pump);
	s->census_took_ms = (mt_clock_s() - s->census_t0) * 1000;
	if (err) {
		snprintf(s->census_reason, sizeof s->census_reason, "%s", why);
		if (s->o->cmd != MT_CMD_CENSUS)
			mt_say("census: not available: %s", why);
		return;
	}
	struct mt_prior_blocks prior = s->census ? mt_census_prior(s->census)
						 : (struct mt_prior_blocks){ 0 };
	mt_tracker_set_census(s->tracker, s->census ? &prior : NULL);
	if (s->o->verbose)
		mt_say("census: threads paused %.1f ms (%d quiescence checks), census took %.1f ms, "
		    "%.1f bytes of memtrace's memory per censused block", fs.paused_ms, fs.tries,
		    s->census_took_ms, mt_census_bytes_per_block(s->census));
}

const struct mt_census_report *mt_session_census_report(struct session *s)
{
	mt_census_report_free(&s->census_rep);
	if (s->census) {
		if (mt_census_report(s->census, s->census_allocator, s->census_paused_ms,
				     s->census_took_ms, s->census_rss, &s->census_rep) == 0) {
			/* sampling in the agent: the censused blocks were not
			 * sampled, their frees mostly not sent */
			struct mt_engine_stats es = { 0 };
			if (s->engine)
				s->engine->ops->stats(s->engine, &es);
			s->census_rep.frees_unseen = es.frees_sampled;
			return &s->census_rep;
		}
		mt_census_report_unavailable(&s->census_rep, "out of memory for the census report");
		return &s->census_rep;
	}
	mt_census_report_unavailable(&s->census_rep, s->census_reason[0] ? s->census_reason
							  : "not taken");
	return &s->census_rep;
}

void mt_session_census_reap(struct session *s)
{
	if (s->freeze_dead && s->t)
		mt_freeze_release(s->freeze_dead, s->t);
	s->freeze_dead = NULL;
}

void mt_session_census_free(struct session *s)
{
	if (s->freeze && s->t)
		mt_freeze_release(s->freeze, s->t);
	s->freeze = NULL;
	mt_session_census_reap(s);   /* detached or gone: nothing to reap with, only freed */
	mt_census_destroy(s->census);
	s->census = NULL;
	mt_census_report_free(&s->census_rep);
}

/* ---- memtrace census PID ---------------------------------------------- */

/* The census command's stops while it walks: nothing is hooked, so every
 * trap is the target's own and a forked child is let go as it is. */
void mt_session_pump_plain(struct session *s)
{
	struct mt_stop st;
	while (mt_target_next_stop(s->t, &st, 0, -1) == 0 && st.kind != MT_STOP_NONE) {
		if (st.kind == MT_STOP_TRAP)
			mt_target_resume(s->t, st.tid, SIGTRAP);
		else if (st.kind == MT_STOP_FORK_CHILD)
			mt_target_release_child(s->t, st.tid);
		else if (st.kind == MT_STOP_EXEC && st.shared_child)
			mt_target_release_child(s->t, st.tid);
		else if (st.kind == MT_STOP_PROCESS_EXIT || st.kind == MT_STOP_EXEC)
			s->end = st.kind == MT_STOP_EXEC ? END_EXEC : END_EXITED;
		if (s->end)
			return;
	}
}

/* Stop every thread and detach (PTRACE_DETACH wants a stopped task).  A
 * stop taken meanwhile is handled as in mt_session_pump_plain: while stopping all,
 * target.c keeps what it resumes for delivery at the detach. */
void mt_session_census_detach(struct session *s)
{
	double deadline = mt_clock_s() + 30;
	mt_target_stop_all(s->t);
	while (!s->end && !mt_target_all_stopped(s->t) && mt_clock_s() < deadline) {
		struct mt_stop st;
		if (mt_target_next_stop(s->t, &st, 1000, -1) < 0)
			break;
		if (st.kind == MT_STOP_TRAP)
			mt_target_resume(s->t, st.tid, SIGTRAP);
		else if (st.kind == MT_STOP_FORK_CHILD ||
			 (st.kind == MT_STOP_EXEC && st.shared_child))
			mt_target_release_child(s->t, st.tid);
		else if (st.kind == MT_STOP_PROCESS_EXIT || st.kind == MT_STOP_EXEC)
			s->end = st.kind == MT_STOP_EXEC ? END_EXEC : END_EXITED;
	}
	if (s->end != END_EXITED) {
		mt_session_census_reap(s);
		mt_target_detach_all(s->t);
	}
}

int mt_session_census_attach(struct session *s)
{
	char msg[512];
	enum mt_err e = mt_diagnose_target(s->pid, msg, sizeof msg);
	if (e != MT_E_OK)
		return mt_fail(e, "%s", msg);
	mt_session_read_comm(s->pid, s->comm, sizeof s->comm);
	struct mt_attach_diag diag;
	int err = mt_target_attach(s->pid, &s->t, &diag);
	if (err < 0) {
		e = mt_diagnose_attach_error(s->pid, err, msg, sizeof msg);
		return mt_fail(e, "%s", msg);
	}
	if (mt_discover_allocators_progress(s->pid, &s->set, s->progress) != MT_E_OK)
		s->set.allocator[0] = 0;   /* no malloc found: said as the reason */
	/* names the vtables of classes built without RTTI */
	s->sym = mt_symbolizer_new(s->pid);
	return 0;
}

/* A snapshot holding only the census R (census --snapshot, --format
 * pprof); NULL when out of memory. */
static struct mt_snapshot *census_snapshot(struct session *s, const struct mt_census_report *r)
{
	mt_session_find_exe(s);
	struct mt_snapbuild_input in = {
		.pid = s->pid, .comm = s->comm, .exe = s->exe, .engine = "none",
		.allocator = s->set.allocator, .exe_load = s->exe_load,
		.start_unix_ns = s->start_unix_ns, .time_unix_ns = s->start_unix_ns,
		.census = r,
	};
	return mt_snapbuild(&in);
}

/* The report in the chosen format to the session's stream: 0 or -1. */
static int census_print(struct session *s, const struct mt_census_report *r)
{
	const struct mt_options *o = s->o;
	if (o->format == MT_FORMAT_PPROF) {
		struct mt_snapshot *snap = census_snapshot(s, r);
		int err = snap ? mt_report_pprof(s->out, snap) : -1;
		mt_snapshot_free(snap);
		return err;
	}
	return o->json ? mt_report_census_json(s->out, (int)s->pid, s->comm, r)
		       : mt_report_census_table(s->out, r, o->top);
}

static int census_output(struct session *s, const struct mt_census_report *r)
{
	const struct mt_options *o = s->o;
	if (!r->available) {
		int rc = mt_fail(MT_E_CENSUS_UNAVAILABLE, "census: not available: %s", r->reason);
		if (o->json && mt_report_census_json(s->out, (int)s->pid, s->comm, r) < 0)
			return mt_fail(MT_E_IO, "cannot write the report: %s", strerror(errno));
		return rc;
	}
	if (census_print(s, r) < 0)
		return mt_fail(MT_E_IO, "cannot write the report: %s", strerror(errno));
	if (!o->snapshot_path)
		return 0;
	struct mt_snapshot *snap = census_snapshot(s, r);
	if (!snap)
		return mt_fail(MT_E_INTERNAL, "out of memory building the snapshot: free some memory");
	char msg[600];
	enum mt_err rc = mt_snapshot_write(snap, o->snapshot_path, msg, sizeof msg);
	mt_snapshot_free(snap);
	if (rc != MT_E_OK)
		return mt_fail(rc, "%s", msg);
	mt_say("census of pid %d written to %s", (int)s->pid, o->snapshot_path);
	return 0;
}

int mt_session_census_command(struct session *s)
{
	int rc = mt_session_census_attach(s);
	if (rc)
		return rc;
	s->start_unix_ns = mt_session_unix_ns();
	mt_session_census_freeze(s);
	mt_target_resume_all(s->t);
	mt_session_census_build(s, mt_session_pump_plain);
	mt_session_census_detach(s);
	rc = census_output(s, mt_session_census_report(s));
	return rc;
}
