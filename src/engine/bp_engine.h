/* The breakpoint engine: an int3 at each allocator entry; arguments read at
 * the entry stop, the result at a return trap.  Exact, but every call costs
 * ptrace round trips (tens of microseconds). */
#ifndef MT_BP_ENGINE_H
#define MT_BP_ENGINE_H

#include "engine/engine.h"

/* STACKS may be NULL: events then carry only the caller. */
struct mt_engine *mt_bp_engine_new(struct mt_target *t, const struct mt_alloc_set *set,
				   mt_event_sink sink, void *sink_ctx,
				   const struct mt_stack_source *stacks);

/* Record only a sample of the allocations, one per ~MEAN bytes (sampler.h;
 * 0: all).  Before install.  0, or -ENOMEM. */
int mt_bp_engine_set_sampling(struct mt_engine *e, uint64_t mean);

#endif
