/* The breakpoint engine: an int3 at each allocator entry; arguments read at
 * the entry stop, the result at a return trap.  Exact, but every call costs
 * ptrace round trips (tens of microseconds). */
#ifndef MT_BP_ENGINE_H
#define MT_BP_ENGINE_H

#include "engine.h"

/* STACKS may be NULL: events then carry only the caller. */
struct mt_engine *mt_bp_engine_new(struct mt_target *t, const struct mt_alloc_set *set,
				   mt_event_sink sink, void *sink_ctx,
				   const struct mt_stack_source *stacks);

/* Record only a sample of the allocations, one per ~MEAN bytes (sampler.h;
 * 0: all).  Before install.  0, or -ENOMEM. */
int mt_bp_engine_set_sampling(struct mt_engine *e, uint64_t mean);

/* Another engine that traces other allocator functions of the same
 * process (hybrid_engine.h) and counts calls nested in its own ones once:
 * the breakpoint engine asks it before it traces an outermost call, and
 * tells it when the call is over. */
struct mt_call_gate {
	/* TID enters a call this engine would trace: false when TID is
	 * inside a call the other engine traces (this one is then nested,
	 * and not traced); true, and the other engine holds TID's calls
	 * as nested until leave(). */
	bool (*enter)(void *ctx, pid_t tid);
	void (*leave)(void *ctx, pid_t tid);
	void *ctx;
};
void mt_bp_engine_set_gate(struct mt_engine *e, const struct mt_call_gate *gate);

#endif
