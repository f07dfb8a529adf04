/* One tracing session.  See session.h.
 *
 *   attach/spawn -> all threads stopped -> discover allocators -> engine
 *   installs hooks -> resume -> [loop: next stop -> engine / children /
 *   exit / exec / signals / timers] -> stop all -> engine removes hooks
 *   -> detach -> report
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/bp_engine.h"
#include "engine/inj_engine.h"
#include "session/diagnose.h"
#include "util/errors.h"
#include "target/maps.h"
#include "util/msg.h"
#include "util/progress.h"
#include "target/memio.h"
#include "symbols/rtld.h"
#include "session/session.h"
#include "session/output.h"
#include "session/session_priv.h"

void mt_session_read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	buf[0] = 0;
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

/* ---- hooks ------------------------------------------------------------- */

/* Unknown frees called from the allocator's own module are told apart. */
static void set_allocator_range(struct session *s)
{
	const char *mod = NULL;
	for (int i = 0; i < s->set.n; i++)
		if (s->set.hooks[i].fn == MT_FN_FREE)
			mod = s->set.hooks[i].module;
	struct mt_maps maps;
	if (!mod || mt_maps_read(s->pid, &maps) < 0)
		return;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < maps.n; i++) {
		const struct mt_map *m = &maps.v[i];
		if (m->path && strcmp(m->path, mod) == 0) {
			lo = m->start < lo ? m->start : lo;
			hi = m->end > hi ? m->end : hi;
		}
	}
	if (hi)
		mt_tracker_set_allocator_range(s->tracker, lo, hi);
	mt_maps_free(&maps);
}

/* Symbolize every stack seen so far: a library they run through may be
 * unloaded next, and its frames keep their names. */
static void freeze_names(struct session *s)
{
	if (!s->stacks || !s->frames)
		return;
	size_t n = mt_stacks_count(s->stacks);
	for (uint32_t id = 1; id <= n; id++) {
		const uint64_t *pcs;
		const struct mt_report_frame *fr;
		int k = mt_stacks_get(s->stacks, id, &pcs);
		if (k > 0)
			mt_framecache_stack(s->frames, id, pcs, k, &fr);
	}
}

/* -v: the Python frames named so far, and the innermost Python frame of
 * the newest stack. */
static void say_python_named(struct session *s, int reads, double took)
{
	const uint64_t *pcs;
	int k = mt_stacks_get(s->stacks, s->py_named_upto, &pcs);
	struct mt_frame fr = { 0 };
	snprintf(fr.sym.function, sizeof fr.sym.function, "none");
	for (int i = 0; i < k; i++) {
		if (mt_pyframes_is_tagged(pcs[i])) {
			mt_symbolize_pc(s->sym, pcs[i], false, &fr, 1);
			break;
		}
	}
	mt_say("python: %zu frames named while pid %d runs (%d read in %.1f ms); every stack "
	       "named, the newest in %s", s->py_named, (int)s->pid, reads, took * 1000,
	       fr.sym.function);
}

/* Name the Python frames of the stacks that came since the last call
 * while their code objects are in the process (pyframes.h): the report
 * comes after the process ended with `run`, or after the code objects
 * were freed.  Bounded per call, for a large application's first
 * seconds (CPython's start alone brings some 2,000 frames in half a
 * second): at most PY_STACKS stacks looked at and PY_BUDGET_S spent
 * reading the process (a frame's few reads take some 10 to 100 us), the
 * rest at the next call.  Every PY_EVERY_S, after the agent's counts
 * were read (the stacks of the calls it accounted itself come with them,
 * those of the others through the rings, already drained): every stack
 * of a call made before is there.  -v says when it caught up, with the
 * innermost Python frame of the newest stack (tests/e2e/test_pyrun.py
 * waits for it). */
#define PY_STACKS 4096
#define PY_BUDGET_S 0.01
#define PY_EVERY_S 0.1
static void name_python(struct session *s)
{
	if (s->py.status != MT_PY_OK || !s->stacks || !s->sym || s->end ||
	    mt_clock_s() < s->py_next)
		return;
	if (s->engine && s->engine->ops->sync)
		s->engine->ops->sync(s->engine);
	s->py_next = mt_clock_s() + PY_EVERY_S;
	size_t n = mt_stacks_count(s->stacks);
	uint32_t from = s->py_named_upto;
	int reads = 0, looked = 0;
	double t0 = mt_clock_s();
	bool over = false;
	while (s->py_named_upto < n && looked++ < PY_STACKS && !over) {
		const uint64_t *pcs;
		int k = mt_stacks_get(s->stacks, s->py_named_upto + 1, &pcs);
		int i = k - 1;
		for (; i >= 0 && !(over = reads % 16 == 15 && mt_clock_s() >= t0 + PY_BUDGET_S); i--) {
			if (!mt_pyframes_is_tagged(pcs[i]))
				continue;
			int r = mt_symbolizer_learn_python(s->sym, pcs[i]);
			reads += r != 0;
			s->py_named += r > 0;
		}
		if (i >= 0)
			break;   /* the rest of this stack at the next call */
		s->py_named_upto++;
	}
	if (s->o->verbose && s->py_named_upto > from && s->py_named_upto == n)
		say_python_named(s, reads, mt_clock_s() - t0);
}

static int merge_specs(struct session *s, const struct mt_alloc_set *fresh);
static void install_added(struct session *s, int added);

/* Modules mapped now that were not before (all of them the first time). */
static int new_modules(struct session *s, char ***out)
{
	struct mt_maps maps;
	*out = NULL;
	if (mt_maps_read(s->pid, &maps) < 0)
		return 0;
	int n = 0;
	for (size_t i = 0; i < maps.n; i++) {
		const struct mt_map *m = &maps.v[i];
		if (!m->path || m->path[0] != '/' || !m->x)
			continue;
		bool seen = false;
		for (size_t k = 0; k < s->nmodules && !seen; k++)
			seen = strcmp(s->modules[k], m->path) == 0;
		if (seen)
			continue;
		if (s->nmodules == s->capmodules) {
			size_t cap = s->capmodules ? 2 * s->capmodules : 64;
			char **v = realloc(s->modules, cap * sizeof *v);
			if (!v)
				break;
			s->modules = v;
			s->capmodules = cap;
		}
		char **o = realloc(*out, (size_t)(n + 1) * sizeof *o);
		char *dup = strdup(m->path);
		if (!o || !dup) {
			free(dup);
			if (o)
				*out = o;
			break;
		}
		*out = o;
		s->modules[s->nmodules++] = dup;
		o[n++] = dup;
	}
	mt_maps_free(&maps);
	return n;
}

static bool stop_everything(struct session *s, double deadline);

/* ld.so's notification, around every dlopen and dlclose: names of what may
 * go away are kept, new modules are learnt, and the allocator entry points
 * a newly loaded library defines are hooked: its own calls (symbolic or
 * RTLD_DEEPBIND binding) and anything that looks them up reach them.
 *
 * TID is stopped in _dl_debug_state (the breakpoint engine), or 0: the
 * in-process agent holds the notifying thread in _dl_debug_state, and the
 * other threads run on.  ld.so's lock is held all along, so no module comes
 * or goes meanwhile; the threads are only stopped if hooks must be written
 * (the inject engine's jumps), and only for that, unless engine_poll
 * stopped them all already (S->held, --lossless). */
static void on_rtld(void *ctx, pid_t tid)
{
	struct session *s = ctx;
	freeze_names(s);
	if (s->sym)
		mt_symbolizer_refresh(s->sym);
	char **mods;
	int nmods = new_modules(s, &mods);
	int added = 0;
	for (int m = 0; m < nmods; m++) {
		struct mt_alloc_set fresh;
		if (mt_discover_module_allocators(s->pid, mods[m], &fresh) != MT_E_OK)
			continue;
		added += merge_specs(s, &fresh);
	}
	free(mods);
	if (!added)
		return;
	if (tid || s->held) {
		install_added(s, added);
		return;
	}
	double t0 = mt_clock_s();
	if (!stop_everything(s, t0 + 30))
		return;   /* the target ended: s->end says how */
	install_added(s, added);
	mt_target_resume_all(s->t);
	if (s->o->verbose)
		mt_say("threads were stopped %.1f ms to hook what ld.so loaded",
		    (mt_clock_s() - t0) * 1000);
}

/* Specs of FRESH not hooked yet join the session's set; how many. */
static int merge_specs(struct session *s, const struct mt_alloc_set *fresh)
{
	int added = 0;
	for (int i = 0; i < fresh->n && s->set.n < MT_MAX_HOOKS; i++) {
		bool known = false;
		for (int k = 0; k < s->set.n; k++)
			known |= s->set.hooks[k].addr == fresh->hooks[i].addr;
		if (!known) {
			s->set.hooks[s->set.n++] = fresh->hooks[i];
			added++;
		}
	}
	return added;
}

/* What install did to hooks FROM.. of the set: a warning for each one not
 * traced, kept for the report's header (its calls are unseen), and with
 * --verbose a line for each hooked one.  A function the inject engine
 * cannot patch stays unhooked: a breakpoint in its place would kill the
 * process at its next call if memtrace were killed with SIGKILL. */
static void say_hooks(struct session *s, int from, const char *const *why,
		      const char *when)
{
	for (int i = from; i < s->set.n; i++) {
		const struct mt_hook_spec *h = &s->set.hooks[i];
		snprintf(s->why_not[i], sizeof s->why_not[i], "%s",
			 s->installed[i] ? "" : why[i] ? why[i] : "not hooked");
		if (why[i])
			mt_say("warning: %s at %#" PRIx64 " in %s is not traced, its calls are not "
			    "seen: %s", h->symbol, h->addr, h->module, why[i]);
		else if (s->o->verbose)
			mt_say("hooked %s at %#" PRIx64 " (%s)%s", h->symbol, h->addr, h->module, when);
	}
}

/* --verbose: CPython's allocator tables pointed at the agent (inj_pytab.c) */
static void say_pytab(const struct session *s)
{
	struct mt_engine_stats es;
	s->engine->ops->stats(s->engine, &es);
	for (int d = 0; s->o->verbose && d < 2; d++)
		if (es.pytab & (d ? MT_PYTAB_MEM : MT_PYTAB_OBJ))
			mt_say("hooked CPython's %s allocator table at %#" PRIx64 ": its malloc, "
			       "calloc, realloc and free point at the agent (calls inlined by LTO "
			       "are seen)", d ? "MEM" : "OBJ", es.pytab_at[d]);
}

/* Hooks a memtrace killed with SIGKILL left live: the user learns that
 * it happened, and how to clean up without tracing next time. */
static void say_adopted(const struct session *s)
{
	struct mt_engine_stats es;
	s->engine->ops->stats(s->engine, &es);
	if (es.hooks_adopted)
		mt_say("note: %d hook%s of a memtrace killed with SIGKILL %s still in PID %d: taken "
		    "over (without tracing, 'memtrace detach %d' removes such leftovers)",
		    es.hooks_adopted, es.hooks_adopted == 1 ? "" : "s",
		    es.hooks_adopted == 1 ? "was" : "were", (int)s->pid, (int)s->pid);
}

static void install_added(struct session *s, int added)
{
	const char *why[MT_MAX_HOOKS];
	s->engine->ops->install(s->engine, s->installed, why);
	say_hooks(s, s->set.n - added, why, ", loaded after attach");
}

static int make_engine(struct session *s, enum mt_engine_kind kind)
{
	/* --depth 1: rows keyed by the allocator's caller alone, with either
	 * engine (the agent unwinds nothing then; name_site names the row by
	 * the frames at that return address). */
	bool stacks = s->stacks && s->wrappers && s->o->depth > 1;
	struct mt_stack_source src = { mt_stackcap_capture, s->stackcap };
	if (kind == MT_ENGINE_INJECT) {
		struct mt_inj_config cfg = {
			.depth = s->o->depth, .sample_bytes = s->o->sample_bytes,
			.lossless = s->o->lossless,
			/* leaks --duration asks the tracker where each traced
			 * block came from: every block goes through the rings */
			.account = s->o->cmd != MT_CMD_LEAKS,
			.stacks = stacks ? s->stacks : NULL,
			.debug_dirs = (const char *const *)s->o->debug_dirs,
			.ndebug_dirs = s->o->ndebug_dirs,
			.py = stacks ? &s->py : NULL,
		};
		s->engine = mt_inj_engine_new(s->t, &s->set, mt_tracker_event, s->tracker, &cfg);
	} else {
		s->engine = mt_bp_engine_new(s->t, &s->set, mt_tracker_event, s->tracker,
					     s->stackcap && stacks ? &src : NULL);
		if (s->engine && mt_bp_engine_set_sampling(s->engine, s->o->sample_bytes) < 0) {
			s->engine->ops->destroy(s->engine);
			s->engine = NULL;
		}
	}
	if (!s->engine)
		return mt_fail(MT_E_INTERNAL, "cannot open the memory of PID %d", (int)s->pid);
	return 0;
}

/* CPython in the target: its frames are named in the stacks (pyframes.h)
 * by the agent's engine, when it takes stacks; the header says what. */
static void python_of(struct session *s)
{
	mt_pyframes_detect(s->pid, &s->py);
	if (s->py.status != MT_PY_OK)
		return;
	if (s->o->engine == MT_ENGINE_BREAKPOINT || !s->stacks || s->o->depth <= 1)
		snprintf(s->py.note, sizeof s->py.note, "CPython %d.%d: Python frames not taken "
			 "(they need the inject engine and --depth above 1)", s->py.major, s->py.minor);
}

static int install_hooks(struct session *s)
{
	enum mt_err e = mt_discover_allocators_progress(s->pid, &s->set, s->progress);
	if (e != MT_E_OK) {
		if (e == MT_E_NO_ALLOCATOR)
			return mt_fail(MT_E_NO_ALLOCATOR, "no malloc/free found in PID %d (%s): a static "
				    "binary without symbols cannot be traced; rebuild it with "
				    "symbols or link the allocator dynamically", (int)s->pid, s->comm);
		if (e == MT_E_UNSUPPORTED_ARCH)
			return mt_fail(MT_E_UNSUPPORTED_ARCH, "PID %d (%s) is not an x86_64 program: "
				    "memtrace traces x86_64 processes only", (int)s->pid, s->comm);
		return mt_fail(e, "cannot read the allocator of PID %d (%s): %s", (int)s->pid,
			    s->comm, mt_err_default_message(e));
	}
	/* The heap is copied before any hook is planted: every block is then
	 * either censused or traced (session_census.c). */
	if (!s->spawned)
		mt_session_census_freeze(s);
	if (s->freeze)
		mt_tracker_census_pending(s->tracker);
	/* Stacks: the symbolizer's view of the modules serves the unwinder. */
	s->sym = mt_symbolizer_new(s->pid);
	for (int i = 0; s->sym && i < s->o->ndebug_dirs; i++)
		mt_symbolizer_add_debug_dir(s->sym, s->o->debug_dirs[i]);
	s->stacks = mt_stacks_new();
	s->wrappers = mt_wrappers_new_with(!s->o->no_default_wrappers);
	for (int i = 0; s->wrappers && i < s->o->nwrappers; i++)
		mt_wrappers_add(s->wrappers, s->o->wrappers[i]);
	if (s->sym && s->stacks)
		s->stackcap = mt_stackcap_new(s->pid, s->sym, s->stacks, s->o->depth);
	if (s->sym)
		s->frames = mt_framecache_new(s->sym);
	python_of(s);
	int rc = make_engine(s, s->o->engine);
	if (rc)
		return rc;
	const char *why[MT_MAX_HOOKS];
	e = s->engine->ops->install(s->engine, s->installed, why);
	if (e == MT_E_NOT_TRACEABLE) {
		/* Never breakpoints unasked: a SIGKILL of memtrace would leave
		 * int3s that kill the process at its next allocator call. */
		s->engine->ops->remove(s->engine);
		return mt_fail(MT_E_NOT_TRACEABLE, "memtrace's agent cannot be used in PID %d (%s): "
			    "%s; --engine breakpoint traces it without the agent (much slower, and "
			    "a SIGKILL of memtrace would then kill the process)", (int)s->pid,
			    s->comm, why[0] ? why[0] : "unknown");
	}
	say_hooks(s, 0, why, "");
	say_pytab(s);
	say_adopted(s);
	set_allocator_range(s);
	if (e == MT_E_OK) {
		char **known;
		new_modules(s, &known); /* the modules there at attach */
		free(known);
		uint64_t dbg = 0;
		if (mt_rtld_debug_state_addr(s->pid, &dbg) == 0 && dbg &&
		    s->engine->ops->watch(s->engine, dbg, on_rtld, s) < 0)
			mt_say("warning: libraries loaded after attach will not be seen: ld.so's "
			    "_dl_debug_state cannot be watched");
	}
	if (e != MT_E_OK) {
		s->engine->ops->remove(s->engine);
		return mt_fail(MT_E_NO_ALLOCATOR, "malloc in PID %d (%s) could not be hooked (see the "
			    "warnings above)", (int)s->pid, s->comm);
	}
	return 0;
}

static int hooks_installed(const struct session *s)
{
	int n = 0;
	for (int i = 0; i < s->set.n; i++)
		n += s->installed[i];
	return n;
}

/* ---- the loop ---------------------------------------------------------- */

/* Dispatch one stop.  Returns false when tracing is over (exit, exec). */
static bool dispatch(struct session *s, const struct mt_stop *st, bool parking)
{
	switch (st->kind) {
	case MT_STOP_TRAP:
		if (!s->engine || !s->engine->ops->on_trap(s->engine, st, parking))
			mt_target_resume(s->t, st->tid, SIGTRAP);
		return true;
	case MT_STOP_FORK_CHILD:
		/* The child inherited the int3 bytes: clean its copy before it runs. */
		if (s->engine && s->engine->ops->clean_child(s->engine, st->tid) < 0)
			mt_say("warning: the breakpoints in child PID %d could not all be removed",
			    (int)st->tid);
		else if (s->o->verbose)
			mt_say("child PID %d forked: breakpoints removed from its copy, released",
			    (int)st->tid);
		mt_target_release_child(s->t, st->tid);
		return true;
	case MT_STOP_EXEC:
		if (st->shared_child) {
			mt_target_release_child(s->t, st->tid);
			return true;
		}
		mt_say("pid %d executed a new program; tracing stopped", (int)s->pid);
		if (s->engine)
			s->engine->ops->abandon(s->engine);
		s->end = END_EXEC;
		return false;
	case MT_STOP_TASK_EXIT:
		if (s->engine)
			s->engine->ops->on_task_exit(s->engine, st->tid);
		return true;
	case MT_STOP_PROCESS_EXIT:
		s->exit_status = st->status;
		if (WIFSIGNALED(st->status))
			mt_say("target killed by signal %d", WTERMSIG(st->status));
		else
			mt_say("target exited with status %d", WEXITSTATUS(st->status));
		if (s->engine)
			s->engine->ops->abandon(s->engine);
		s->end = END_EXITED;
		return false;
	case MT_STOP_NONE:
		return true;
	}
	return true;
}

static int read_signal(int sigfd)
{
	struct signalfd_siginfo si;
	if (read(sigfd, &si, sizeof si) == sizeof si)
		return (int)si.ssi_signo;
	return 0;
}

struct collect {
	struct session *s;
	int collected;
};

static void collect_pending(void *ctx, pid_t tid)
{
	struct collect *c = ctx;
	struct session *s = c->s;
	if (!s->engine->ops->past_int3(s->engine, tid))
		return;
	struct mt_stop st;
	if (mt_target_collect_pending(s->t, tid, &st) == 0 && st.kind != MT_STOP_NONE)
		dispatch(s, &st, true);
	c->collected++;
}

/* Stop every thread (until DEADLINE).  False when the target ended
 * meanwhile. */
static bool stop_everything(struct session *s, double deadline)
{
	mt_target_stop_all(s->t);
	while (!mt_target_all_stopped(s->t) && mt_clock_s() < deadline) {
		struct mt_stop st;
		if (mt_target_next_stop(s->t, &st, 1000, -1) < 0)
			break;
		if (!dispatch(s, &st, true))
			return false;
	}
	return true;
}

/* The engine's regular work; a watch notification (ld.so's, from the
 * in-process agent) reaches on_rtld, which stops the threads if it must
 * write hooks.  With --lossless every thread is stopped for the whole
 * notification instead: a thread waiting for room in its ring would find
 * memtrace's heartbeat standing still while it names stacks, mark it stale
 * and drop events.  Returns when to poll again; 0 when the target ended. */
static double engine_poll(struct session *s)
{
	bool notify = false;
	int ms = s->engine->ops->poll(s->engine, &notify);
	if (notify) {
		double t0 = mt_clock_s();
		s->held = s->o->lossless;
		if (s->held && !stop_everything(s, t0 + 30))
			return 0;
		s->engine->ops->notify(s->engine);
		if (s->end == END_EXITED || s->end == END_EXEC)
			return 0;
		if (s->held) {
			mt_target_resume_all(s->t);
			s->held = false;
			if (s->o->verbose)
				mt_say("threads were stopped %.1f ms for ld.so's notification "
				    "(--lossless)", (mt_clock_s() - t0) * 1000);
		}
	}
	return mt_clock_s() + ms / 1000.0;
}

/* While the census walks the heap's copy: the target's stops, and the
 * engine's events (which the tracker holds until the census is there).
 * At most PUMP_STOPS stops a call: with the breakpoint engine, 50 busy
 * threads on a loaded machine trap faster than memtrace handles them, and
 * a pump that took stops until none was left never returned to the walk
 * (e2e/stop_times_bp: no tracing line within 120 s). */
#define PUMP_STOPS 256
static void census_pump(struct session *s)
{
	struct mt_stop st;
	for (int n = 0; n < PUMP_STOPS && !s->end &&
	     mt_target_next_stop(s->t, &st, 0, -1) == 0 && st.kind != MT_STOP_NONE; n++)
		if (!dispatch(s, &st, false))
			return;
	if (!s->end && s->engine && s->engine->ops->poll)
		engine_poll(s);
}

/* What the target recorded so far reaches the tracker (before a report,
 * a snapshot or an answer to another memtrace): all of it, or what can be
 * drained in MAX_S seconds from a target that allocates faster than
 * memtrace accounts (0: no limit, for after the detach, when nothing new
 * comes). */
static void catch_up(struct session *s, double max_s)
{
	bool notify;
	double until = mt_clock_s() + max_s;
	while (s->engine && s->engine->ops->poll && s->engine->ops->poll(s->engine, &notify) == 0)
		if (max_s > 0 && mt_clock_s() >= until)
			break;
	if (s->engine && s->engine->ops->sync)
		s->engine->ops->sync(s->engine);
}

/* Stop every thread, remove the hooks, detach.  False when the target
 * ended meanwhile. */
static bool detach(struct session *s)
{
	double t0 = mt_clock_s();
	double deadline = t0 + 30;
	if (!stop_everything(s, deadline))
		return false;
	/* A thread that executed one of our int3s as the interrupt came holds
	 * its SIGTRAP still: take that stop now, or the detached thread would
	 * die of it.  Testcase: tests/e2e/test_detach_busy.py duration. */
	for (int round = 0; round < 8 && s->engine; round++) {
		struct collect c = { s, 0 };
		mt_target_for_each_task(s->t, collect_pending, &c);
		if (!c.collected)
			break;
		while (!mt_target_all_stopped(s->t) && mt_clock_s() < deadline) {
			struct mt_stop st;
			if (mt_target_next_stop(s->t, &st, 1000, -1) < 0)
				break;
			if (!dispatch(s, &st, true))
				return false;
		}
	}
	if (!mt_target_all_stopped(s->t))
		mt_say("warning: some threads of PID %d did not stop in time; detaching anyway",
		    (int)s->pid);
	if (s->engine && s->engine->ops->remove(s->engine) < 0)
		mt_say("warning: some code bytes of PID %d differ from the file after restoring",
		    (int)s->pid);
	if (s->o->cmd == MT_CMD_LEAKS) {
		/* every event in, then the check on the heap as the trace left it */
		catch_up(s, 0);
		mt_session_leaks_take(s, mt_session_pump_plain);
		if (s->end || !stop_everything(s, mt_clock_s() + 30))
			return false;
	}
	mt_session_census_reap(s);
	mt_target_detach_all(s->t);
	if (s->o->verbose)
		mt_say("threads were stopped %.1f ms to detach", (mt_clock_s() - t0) * 1000);
	/* What an in-process agent recorded before the hooks went out. */
	catch_up(s, 0);
	mt_say("detached from pid %d", (int)s->pid);
	return true;
}

/* How often the loop reads the process's RSS: the report's coverage line
 * has the last reading when the process exits (an exited process has no
 * RSS to read). */
#define RSS_EVERY_S 0.5

/* memtrace top: what the user asked, when the view's fd woke the loop (or
 * anything else did: the view reads without waiting).  False: quit. */
static bool view_input(struct session *s)
{
	enum mt_view_action a = s->view->input(s->view->ctx);
	switch (a) {
	case MT_VIEW_QUIT:
	case MT_VIEW_HANGUP:
		mt_say("%s: stopping", a == MT_VIEW_QUIT ? "quit" : "the terminal closed");
		s->end = END_SIGNAL;
		return false;
	case MT_VIEW_SNAPSHOT:
		catch_up(s, 0.2);
		mt_session_top_snapshot(s);
		return true;
	case MT_VIEW_NONE:
		break;
	}
	return true;
}

static void trace_loop(struct session *s)
{
	double end_at = s->o->duration > 0 ? s->t_start + s->o->duration : 0;
	double interval = s->o->cmd == MT_CMD_ATTACH || s->view ? s->o->interval : 0;
	double next_tick = interval > 0 ? s->t_start + interval : 0;
	if (s->view)
		next_tick = s->t_start;  /* top: rows on the screen at once */
	double every = s->o->record_path ? s->o->snapshot_every : 0;
	double next_snap = every > 0 ? s->t_start + every : 0;
	double next_poll = s->engine && s->engine->ops->poll ? s->t_start : 0;
	double next_rss = s->t_start + RSS_EVERY_S;

	for (;;) {
		double now = mt_clock_s();
		if (now >= next_rss) {
			mt_session_read_rss(s, false);   /* what the report has if the process exits */
			next_rss = now + RSS_EVERY_S;
		}
		if (next_poll && now >= next_poll) {
			/* not `continue`: signals and requests are read below */
			next_poll = engine_poll(s);
			if (!next_poll)
				return;
			name_python(s);
			now = mt_clock_s();
		}
		if (end_at && now >= end_at) {
			s->end = END_DURATION;
			return;
		}
		if (next_snap && now >= next_snap) {
			catch_up(s, 0.2);
			mt_session_write_snapshot(s, s->o->record_path);
			if (mt_session_record_pprof(s) < 0)
				mt_say("warning: cannot write the profile to %s: %s",
				       s->o->output_path, strerror(errno));
			next_snap += every;
			if (next_snap < now)
				next_snap = now + every;
			continue;
		}
		if (next_tick && now >= next_tick) {
			catch_up(s, 0.2);
			if (s->view)
				mt_session_top_tick(s);
			else
				mt_session_print_interval(s, false);
			next_tick += interval;
			if (next_tick < now)
				next_tick = now + interval;
			continue;
		}
		double wake = end_at && end_at < next_rss ? end_at : next_rss;
		if (next_tick && (!wake || next_tick < wake))
			wake = next_tick;
		if (next_snap && (!wake || next_snap < wake))
			wake = next_snap;
		if (next_poll && (!wake || next_poll < wake))
			wake = next_poll;
		int timeout = !wake ? -1 : wake <= now ? 0 : (int)((wake - now) * 1000) + 1;
		struct mt_stop st;
		if (mt_target_next_stop(s->t, &st, timeout, s->waitfd >= 0 ? s->waitfd : s->sigfd) < 0) {
			s->end = END_SIGNAL;
			return;
		}
		if (st.kind == MT_STOP_NONE) {
			uint64_t n;
			if (s->wakefd >= 0 && read(s->wakefd, &n, sizeof n) == sizeof n && next_poll)
				next_poll = mt_clock_s();   /* the agent waits in ld.so's notification */
			int sig = read_signal(s->sigfd);
			if (sig) {
				mt_say("%s: stopping", strsignal(sig));
				s->end = END_SIGNAL;
				return;
			}
			struct mt_ctl_request req;
			while (s->ctl && mt_ctl_server_accept(s->ctl, &req) == 0) {
				catch_up(s, 0.2);
				mt_session_serve_request(s, &req);
			}
			if (s->view && !view_input(s))
				return;
			continue;
		}
		if (!dispatch(s, &st, false))
			return;
	}
}

/* ---- attach, run ------------------------------------------------------- */

static int attach_target(struct session *s)
{
	char msg[512];
	enum mt_err e = mt_diagnose_target(s->pid, msg, sizeof msg);
	if (e == MT_E_ALREADY_TRACED &&
	    (s->o->cmd == MT_CMD_HISTO || s->o->cmd == MT_CMD_SNAPSHOT)) {
		/* Another memtrace may be the tracer: ask it. */
		int status;
		if (mt_ctl_client_run(s->pid, s->o->raw_argc, s->o->raw_argv, STDOUT_FILENO,
				      120000, &status) == 0) {
			s->answered = true;
			return status;
		}
	}
	if (e != MT_E_OK)
		return mt_fail(e, "%s", msg);
	mt_session_read_comm(s->pid, s->comm, sizeof s->comm);
	mt_session_jvm_begin(s);   /* jcmd, before any thread is stopped */

	double t0 = mt_clock_s();
	struct mt_attach_diag diag;
	int err = mt_target_attach(s->pid, &s->t, &diag);
	if (err < 0) {
		e = mt_diagnose_attach_error(s->pid, err, msg, sizeof msg);
		return mt_fail(e, "%s", msg);
	}
	int rc = install_hooks(s);
	if (rc) {
		mt_session_census_free(s);   /* the copy is killed while the target is attached */
		mt_target_detach_all(s->t);
		return rc;
	}
	mt_target_resume_all(s->t);
	if (s->o->verbose)
		mt_say("threads were stopped %.1f ms to attach and hook", (mt_clock_s() - t0) * 1000);
	mt_session_census_build(s, census_pump);
	if (s->freeze == NULL && !s->census)
		mt_tracker_set_census(s->tracker, NULL);  /* frees held: unknown */
	return 0;
}

/* memtrace run: the child is stopped at its exec.  Run it to the point
 * where ld.so has mapped every library (its second _dl_debug_state call),
 * or hook at once if it is static. */
static int spawn_target(struct session *s)
{
	int err = mt_target_spawn(s->o->argv, &s->t);
	if (err < 0)
		return mt_fail(MT_E_INTERNAL, "cannot start %s: %s", s->o->argv[0], strerror(-err));
	s->spawned = true;
	s->pid = mt_target_pid(s->t);
	mt_session_read_comm(s->pid, s->comm, sizeof s->comm);
	if (mt_discover_check_arch(s->pid) == MT_E_UNSUPPORTED_ARCH) {
		kill(s->pid, SIGKILL);
		return mt_fail(MT_E_UNSUPPORTED_ARCH, "%s is not an x86_64 program", s->o->argv[0]);
	}

	uint64_t bp = 0;
	mt_rtld_debug_state_addr(s->pid, &bp);
	unsigned char orig = 0, int3 = MT_BP_BYTE;
	if (bp && (mt_mem_read(s->pid, bp, &orig, 1) < 0 || mt_mem_write(s->pid, bp, &int3, 1) < 0))
		bp = 0;
	/* Only the main thread exists while ld.so starts the program, so this
	 * one breakpoint may be lifted and stepped over. */
	while (bp) {
		mt_target_resume(s->t, s->pid, 0);
		struct mt_stop st;
		if (mt_target_next_stop(s->t, &st, -1, -1) < 0)
			return mt_fail(MT_E_INTERNAL, "lost %s while it started", s->o->argv[0]);
		if (st.kind == MT_STOP_PROCESS_EXIT) {
			s->exit_status = st.status;
			s->end = END_EXITED;
			return mt_fail(MT_E_INTERNAL, "%s exited before its libraries were loaded",
				    s->o->argv[0]);
		}
		if (st.kind != MT_STOP_TRAP || mt_regs_pc(&st.regs) != bp + MT_BP_LEN) {
			if (st.kind == MT_STOP_TRAP)
				mt_target_resume(s->t, st.tid, SIGTRAP);
			continue;
		}
		mt_regs r = st.regs;
		mt_regs_set_pc(&r, bp);
		mt_target_set_regs(s->t, st.tid, &r);
		mt_mem_write(s->pid, bp, &orig, 1);
		struct mt_alloc_set probe;
		if (mt_discover_allocators(s->pid, &probe) == 0 && strstr(probe.allocator, "/ld-") == NULL)
			break; /* the libraries are mapped: hook now, before any runs */
		mt_target_singlestep(s->t, st.tid);
		mt_mem_write(s->pid, bp, &int3, 1);
	}
	int rc = install_hooks(s);
	if (rc) {
		mt_target_detach_all(s->t);
		return rc;
	}
	return 0;
}

/* The progress line (util/progress.h): on a terminal's stderr, with a
 * table report; cut to the terminal's width. */
static struct mt_progress *progress_of(const struct mt_options *o)
{
	if (!mt_progress_wanted(isatty(STDERR_FILENO), o->format == MT_FORMAT_TABLE,
				getenv("TERM")))
		return NULL;
	struct winsize ws;
	int width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
	return mt_progress_new(STDERR_FILENO, width);
}

static void session_free(struct session *s)
{
	mt_output_close(s->out);  /* on errors: what was written stays */
	s->out = NULL;
	mt_session_leaks_free(s);
	mt_session_census_free(s);
	if (s->engine)
		s->engine->ops->destroy(s->engine);
	mt_framecache_destroy(s->frames);
	mt_progress_destroy(s->progress);
	mt_stackcap_destroy(s->stackcap);
	if (s->wrappers)
		mt_wrappers_destroy(s->wrappers);
	if (s->stacks)
		mt_stacks_destroy(s->stacks);
	if (s->sym)
		mt_symbolizer_destroy(s->sym);
	if (s->tracker)
		mt_tracker_destroy(s->tracker);
	if (s->t)
		mt_target_free(s->t);
	mt_history_destroy(s->history);
	mt_recseries_destroy(s->recseries);
	if (s->ctl)
		mt_ctl_server_destroy(s->ctl);
	if (s->waitfd > 0)
		close(s->waitfd);
	for (size_t i = 0; i < s->nmodules; i++)
		free(s->modules[i]);
	free(s->modules);
}

/* The report's stream closed, then the session freed: RC, or the exit
 * status of a failed write when RC is 0. */
static int close_output(struct session *s, int rc)
{
	if (mt_output_close(s->out) < 0 && !rc)
		rc = mt_fail(MT_E_IO, "cannot write the report: %s", strerror(errno));
	s->out = NULL;
	session_free(s);
	return rc;
}

static int session_run(const struct mt_options *o, int sigfd, mt_options_parse_fn parse,
		       const struct mt_view *view)
{
	struct session s = { .o = o, .parse = parse, .sigfd = sigfd, .pid = o->pid, .waitfd = -1,
			     .wakefd = -1, .view = view };
	s.tracker = mt_tracker_new();
	if (!s.tracker)
		return mt_fail(MT_E_INTERNAL, "out of memory");
	if (o->sample_bytes) mt_tracker_set_sampling(s.tracker, o->sample_bytes);
	/* before the process is touched: a bad -o FILE is refused first */
	if (o->cmd != MT_CMD_SNAPSHOT) {
		char oerr[600];
		s.out = mt_output_open(o, oerr, sizeof oerr);
		if (!s.out) {
			session_free(&s);
			return mt_fail(MT_E_USAGE, "%s", oerr);
		}
	}
	s.progress = progress_of(o);

	if (o->cmd == MT_CMD_CENSUS || (o->cmd == MT_CMD_LEAKS && o->duration == 0)) {
		int rc = o->cmd == MT_CMD_CENSUS ? mt_session_census_command(&s)
						 : mt_session_leaks_command(&s);
		return close_output(&s, rc);
	}
	int rc = o->cmd == MT_CMD_RUN ? spawn_target(&s) : attach_target(&s);
	if (s.answered) {
		session_free(&s);
		return rc;
	}
	if (rc) {
		if (s.spawned && s.pid > 0) {
			int st;
			kill(s.pid, SIGKILL);
			waitpid(s.pid, &st, __WALL);
		}
		session_free(&s);
		return rc;
	}
	s.t_start = mt_clock_s();
	s.start_unix_ns = mt_session_unix_ns();
	mt_session_read_rss(&s, true);
	mt_session_find_exe(&s);
	char ctlerr[256];
	s.ctl = mt_ctl_server_new(s.pid, ctlerr, sizeof ctlerr);
	if (!s.ctl && o->verbose)
		mt_say("warning: other memtraces cannot ask this session: %s", ctlerr);
	s.waitfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.waitfd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN };
		ev.data.fd = sigfd;
		epoll_ctl(s.waitfd, EPOLL_CTL_ADD, sigfd, &ev);
		if (s.ctl) {
			ev.data.fd = mt_ctl_server_fd(s.ctl);
			epoll_ctl(s.waitfd, EPOLL_CTL_ADD, ev.data.fd, &ev);
		}
		/* ld.so notifications from the agent: handled when they come */
		s.wakefd = s.engine && s.engine->ops->wake_fd ? s.engine->ops->wake_fd(s.engine) : -1;
		ev.data.fd = s.wakefd;
		if (s.wakefd >= 0 && epoll_ctl(s.waitfd, EPOLL_CTL_ADD, s.wakefd, &ev) < 0)
			s.wakefd = -1;
		ev.data.fd = view ? view->fd : -1;
		if (view && view->fd >= 0 && epoll_ctl(s.waitfd, EPOLL_CTL_ADD, view->fd, &ev) < 0) {
			close(s.waitfd);   /* a view deaf to its keys would never quit */
			s.waitfd = -1;
		}
	}
	if (view && s.waitfd < 0) {
		int err = errno;
		detach(&s);
		session_free(&s);
		return mt_fail(MT_E_INTERNAL, "cannot wait for both the keyboard and PID %d: "
			       "epoll failed (%s)", (int)o->pid, strerror(err));
	}
	if (o->cmd == MT_CMD_RUN)
		mt_target_resume_all(s.t);
	mt_say("tracing pid %d (%s): %d threads, allocator %s, %d hooks, engine %s",
	    (int)s.pid, s.comm, mt_target_thread_count(s.t), s.set.allocator, hooks_installed(&s),
	    s.engine->ops->name);

	if (!s.end)
		trace_loop(&s);
	s.t_end = mt_clock_s();
	if (s.end != END_EXITED && s.end != END_EXEC) {
		mt_session_read_rss(&s, false);   /* the coverage line's "at the end" */
		detach(&s);
	} else if (s.end == END_EXEC) {
		mt_target_detach_all(s.t);
	}
	mt_session_jvm_end(&s);
	/* What the agent accounted to the end (its region outlives the process). */
	if (s.engine && s.engine->ops->sync)
		s.engine->ops->sync(s.engine);
	/* After the detach and its final drain: the counts of the report. */
	if (o->verbose && s.engine) {
		struct mt_engine_stats es;
		s.engine->ops->stats(s.engine, &es);
		mt_say("engine: %" PRIu64 " calls, %" PRIu64 " nested, %" PRIu64 " lost, %" PRIu64
		    " abandoned", es.calls, es.nested_calls, es.lost_calls, es.abandoned_calls);
		if (mt_stackcap_lost(s.stackcap))
			mt_say("stacks: %" PRIu64 " unwound but not kept (out of memory): "
			    "those calls are counted at their caller", mt_stackcap_lost(s.stackcap));
		if (s.engine->ops->poll) {
			char tid[64] = "by gettid()";
			if (es.tid_offset)
				snprintf(tid, sizeof tid, "at %%fs:%#x", es.tid_offset);
			mt_say("agent: %" PRIu64 " events dropped, %" PRIu64 " records rejected, %" PRIu64
			    " out of order, %" PRIu64 " stacks cut short (%" PRIu64 " for want of room"
			    " for an unwind rule), %" PRIu64 " stacks not stored, %" PRIu64
			    " waits for a rule timed out, thread ids %s%s",
			    es.dropped, es.rejected, es.order_forced, es.stacks_truncated,
			    es.rule_refusals, es.stacks_lost, es.rule_timeouts, tid,
			    !es.reused_agent ? ""
			    : es.agent_new_region == MT_AGENT_REGION_FORKED
				    ? ", agent reused (inherited by fork: given rings of its own)"
			    : es.agent_new_region == MT_AGENT_REGION_UNREACHABLE
				    ? ", agent reused (its rings out of reach: given new ones)"
				    : ", agent reused");
			if (es.dl_timeouts || es.rule_skips)
				mt_say("agent: memtrace was late: %" PRIu64 " ld.so notifications "
				    "not acknowledged in time, %" PRIu64 " of the stacks cut short "
				    "asked no rule for a frame meanwhile", es.dl_timeouts, es.rule_skips);
			if (es.accounting)
				mt_say("agent: accounted %" PRIu64 " calls itself; %" PRIu64 " blocks "
				    "found no room in its live table (recorded through the rings), %"
				    PRIu64 " freed unseen, %" PRIu64 " stacks' counts rejected",
				    es.accounted, es.ltab_overflows, es.ltab_stale, es.count_rejects);
			if (es.sset_overflows)
				mt_say("agent: %" PRIu64 " sampled blocks found no room in its set "
				    "of sampled live blocks: the frees sharing their places were "
				    "all recorded", es.sset_overflows);
		}
	}

	rc = 0;
	const char *snap_path = o->cmd == MT_CMD_ATTACH ? o->record_path : o->snapshot_path;
	if (snap_path)
		rc = mt_session_write_snapshot(&s, snap_path);
	if (o->cmd == MT_CMD_LEAKS) {
		rc = s.end == END_EXITED || s.end == END_EXEC
			     ? mt_fail(MT_E_TARGET_LOST, "pid %d %s before the leak check", (int)s.pid,
				       s.end == END_EXITED ? "exited" : "ran another program")
			     : mt_session_leaks_print(&s);
		return close_output(&s, rc);
	}
	if (o->cmd != MT_CMD_SNAPSHOT && !view && mt_session_print_final(&s) < 0 && !rc)
		rc = mt_fail(MT_E_IO, "cannot write the report: %s", strerror(errno));
	if (mt_output_close(s.out) < 0 && !rc)
		rc = mt_fail(MT_E_IO, "cannot write the report: %s", strerror(errno));
	s.out = NULL;
	if (o->cmd == MT_CMD_SNAPSHOT && !rc)
		mt_say("snapshot of pid %d written to %s", (int)s.pid, snap_path);

	if (o->cmd == MT_CMD_RUN) {
		/* Like time(1): wait for the command and exit with its status. */
		int st = s.exit_status;
		if (s.end != END_EXITED) {
			while (waitpid(s.pid, &st, __WALL) < 0 && errno == EINTR)
				;
		}
		rc = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
	}
	session_free(&s);
	return rc;
}

int mt_session_main(const struct mt_options *o, int sigfd, mt_options_parse_fn parse)
{
	return session_run(o, sigfd, parse, NULL);
}

int mt_session_top(const struct mt_options *o, int sigfd, mt_options_parse_fn parse,
		   const struct mt_view *view)
{
	return session_run(o, sigfd, parse, view);
}
