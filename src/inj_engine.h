/* The in-process engine (issue 5): trampolines into an agent that memtrace
 * injects, and shared ring buffers it drains.  See inj_engine.c and
 * agent_abi.h. */
#ifndef MT_INJ_ENGINE_H
#define MT_INJ_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "discover.h"
#include "engine.h"
#include "event.h"
#include "stacks.h"
#include "target.h"

struct mt_inj_config {
	int depth;                 /* return addresses to record (>= 1) */
	uint64_t sample_bytes;     /* 0: every call */
	bool lossless;             /* a full ring makes the agent wait, not drop */
	struct mt_stacks *stacks;  /* where stacks are interned; NULL: callers only */
	const char *const *debug_dirs;
	int ndebug_dirs;
};

/* An engine for the stopped target T hooking SET (which must outlive it),
 * sending events to SINK.  NULL when out of memory.  Nothing is done to
 * the target before install. */
struct mt_engine *mt_inj_engine_new(struct mt_target *t, const struct mt_alloc_set *set,
				    mt_event_sink sink, void *sink_ctx,
				    const struct mt_inj_config *cfg);

/* For the hybrid engine (hybrid_engine.h), which gives the functions this
 * engine cannot patch to the breakpoint engine. */

/* Leave the hook at ADDR alone from now on: install skips it (neither
 * installed nor refused).  At most MT_MAX_HOOKS addresses. */
void mt_inj_engine_decline(struct mt_engine *e, uint64_t addr);

/* Emit everything the agent published so far (with the threads running or
 * not), so that an event of another engine that happens now comes after
 * them. */
void mt_inj_engine_sync(struct mt_engine *e);

/* Thread TID, stopped, enters or leaves a call another engine traces: see
 * mt_ringdec_call_enter().  enter is true when nothing is loaded. */
bool mt_inj_engine_call_enter(struct mt_engine *e, pid_t tid);
void mt_inj_engine_call_leave(struct mt_engine *e, pid_t tid);

#endif
