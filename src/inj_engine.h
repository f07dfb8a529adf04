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

#endif
