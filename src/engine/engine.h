/* The hook engine interface.  An engine installs hooks at the allocator
 * entry points found by discover.c, turns what the target does into
 * mt_events for the tracker, and removes every trace of itself on detach.
 * The breakpoint engine (bp_engine.c) is the first; an in-process engine
 * (trampolines and a shared ring buffer) plugs in beside it.
 *
 * Every call is made with the target's threads in the state the comment
 * says; engines reach the target only through target.h and memio.h.
 */
#ifndef MT_ENGINE_H
#define MT_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbols/discover.h"
#include "model/event.h"
#include "target/target.h"
#include "util/errors.h"

struct mt_engine;

/* Where an engine gets the call stack of a thread stopped at an allocator's
 * first instruction: an interned stack id (stacks.h), 0 when unknown. */
struct mt_stack_source {
	uint32_t (*capture)(void *ctx, pid_t tid, const mt_regs *regs);
	void *ctx;
};

struct mt_engine_stats {
	uint64_t calls;            /* outermost allocator calls traced: events sent */
	uint64_t nested_calls;     /* allocator calls made by the allocator itself */
	uint64_t in_flight;        /* calls entered but not returned when tracing ended */
	uint64_t lost_calls;       /* calls whose result could not be caught */
	uint64_t abandoned_calls;  /* calls left without returning (longjmp) */
	int hooks_installed;
	int hooks_skipped;
	int restore_mismatches;    /* code bytes that did not match the file after restore */
	/* in-process engine: events the agent could not record (ring full, no
	 * ring, a signal handler interrupting a record) and stacks it could
	 * not complete or store, or memtrace could not keep */
	uint64_t dropped;
	uint64_t stacks_truncated;
	uint64_t stacks_lost;
	uint64_t rule_refusals;    /* of the truncated: no room for a rule */
	uint64_t rule_timeouts;    /* waits for a rule that memtrace let lapse */
	uint64_t rejected;         /* records that failed memtrace's checks */
	uint64_t order_forced;     /* records emitted without their predecessor */
	uint64_t sset_overflows;   /* sampled blocks the agent's set had no room
	                              for (their frees recorded all the same) */
	uint64_t dl_timeouts;      /* ld.so notifications memtrace did not
	                              acknowledge in time */
	uint64_t rule_skips;       /* of the truncated: no rule asked for, as
	                              memtrace was marked late */
	/* accounting in the agent (agent/ltab.h) */
	bool accounting;           /* the agent accounts calls itself */
	uint64_t accounted;        /* allocs and frees it accounted (in calls) */
	uint64_t ltab_overflows;   /* blocks its live table had no room for
	                              (recorded through the rings instead) */
	uint64_t ltab_stale;       /* allocations of an address its table
	                              still held: that block's free was unseen */
	uint64_t count_rejects;    /* stacks whose counts went down: no longer read */
	bool frees_sampled;        /* the free of a block not sampled is not sent
	                              (so nor is that of a block from before) */
	bool reused_agent;         /* the agent was already in the target */
	int hooks_adopted;         /* live hooks a killed memtrace left, taken over */
	/* CPython's allocator tables whose entries point at the agent
	 * (allocfn.h MT_FAM_PYTAB, inj_pytab.c): MT_PYTAB_* bits (allocfn.h),
	 * and where */
	uint32_t pytab;
	uint64_t pytab_at[2];      /* the OBJ table, the MEM table; 0: none */
	enum {
		MT_AGENT_REGION_KEPT,        /* the agent's own, or a new agent's */
		MT_AGENT_REGION_FORKED,      /* the agent came with a fork: new region */
		MT_AGENT_REGION_UNREACHABLE, /* its region could not be mapped: new one */
	} agent_new_region;
	uint32_t tid_offset;       /* the agent reads thread ids at %fs:tid_offset;
	                              0: it asks the kernel (gettid) */
};

struct mt_engine_ops {
	const char *name;
	/* All threads stopped, or (after a dlopen) the calling thread stopped
	 * in a watch callback.  Installs what it can of the set given at
	 * creation, skipping hooks already live, so it may be called again
	 * after the set grew; installed[i] tells which of set->hooks[i] are
	 * live; *why_not[i] says why a hook was skipped.  MT_E_OK, or the
	 * enum mt_err that stops tracing: no malloc is hooked
	 * (MT_E_NO_ALLOCATOR), the target is gone (MT_E_TARGET_LOST), the
	 * agent cannot be used (MT_E_NOT_TRACEABLE). */
	enum mt_err (*install)(struct mt_engine *e, bool *installed, const char **why_not);
	/* A SIGTRAP stop.  true when it was the engine's (and the engine has
	 * resumed the thread, or, when PARKING, left it stopped at a point
	 * where detaching is safe).  false: the target's own SIGTRAP. */
	bool (*on_trap)(struct mt_engine *e, const struct mt_stop *st, bool parking);
	void (*on_task_exit)(struct mt_engine *e, pid_t tid);
	/* A stopped thread whose PC is just past one of the engine's int3s:
	 * its SIGTRAP may still be pending (see mt_target_collect_pending). */
	bool (*past_int3)(struct mt_engine *e, pid_t tid);
	/* A notification breakpoint at ADDR (ld.so's _dl_debug_state, called
	 * around every dlopen and dlclose): CB runs while the thread waits
	 * there, then the thread goes on.  CB's TID is that thread, stopped
	 * (the other threads may run), or 0: an in-process agent holds it and
	 * every thread runs; CB stops them if it must install.  May be called
	 * while threads run.  0, or -errno. */
	int (*watch)(struct mt_engine *e, uint64_t addr,
		     void (*cb)(void *ctx, pid_t tid), void *ctx);
	/* A forked child with its own copy of memory, stopped before it ran:
	 * remove every hook from its copy. */
	int (*clean_child)(struct mt_engine *e, pid_t child);
	/* The target exec'd: its old image and our hooks are gone. */
	void (*abandon)(struct mt_engine *e);
	/* All threads stopped (parked): restore every byte, move threads out of
	 * memtrace's code, give back memory. */
	int (*remove)(struct mt_engine *e);
	/* Optional (NULL for the breakpoint engine): work while the target
	 * runs, such as draining what an in-process agent recorded.  Returns
	 * the milliseconds until it wants to be called again.  *NOTIFY is set
	 * when a watch notification waits: the caller calls notify(). */
	int (*poll)(struct mt_engine *e, bool *notify);
	/* Threads running (or all stopped by the caller): run the pending
	 * watch callbacks (with TID 0) and let the thread that raised the
	 * notification go on. */
	void (*notify)(struct mt_engine *e);
	/* Optional: a file descriptor that becomes readable when poll() has
	 * a notification to report; the caller reads it (8 bytes, it is an
	 * eventfd) and polls at once.  -1 when there is none. */
	int (*wake_fd)(const struct mt_engine *e);
	void (*stats)(const struct mt_engine *e, struct mt_engine_stats *out);
	/* Optional: what the engine counts elsewhere (an in-process agent's
	 * own accounting) reaches the sink now.  Threads running or not. */
	void (*sync)(struct mt_engine *e);
	void (*destroy)(struct mt_engine *e);
};

struct mt_engine {
	const struct mt_engine_ops *ops;
};

#endif
