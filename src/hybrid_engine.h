/* The inject engine with the breakpoint engine for the functions it cannot
 * patch (issue 5, point 2): a prologue too short for the 5-byte jump, one
 * with a branch back into the bytes the jump would cover, a trampoline
 * page out of reach.  Such a function gets an int3 instead; every other
 * function keeps its trampoline.
 *
 * One event stream: before a breakpoint event reaches the sink, what the
 * agent published so far is drained (a free is published before the real
 * free runs, an allocation after the real allocator returns, on both
 * sides, so the stream stays in order per address).  A call nested in a
 * call of the other engine counts once: the breakpoint engine asks the
 * agent's per-thread nest count before it traces a call, and raises it
 * while its own call runs (mt_ringdec_call_enter).
 *
 * The price, said to the user when it happens: a function traced with
 * breakpoints costs tens of microseconds a call, and, like the breakpoint
 * engine, it is not safe against memtrace's death: if memtrace is killed
 * with SIGKILL, the target's next call to that function dies of SIGTRAP. */
#ifndef MT_HYBRID_ENGINE_H
#define MT_HYBRID_ENGINE_H

#include "bp_engine.h"
#include "engine.h"
#include "inj_engine.h"

/* An engine that runs INJ (from mt_inj_engine_new, owned from now on) and,
 * when INJ refuses some of SET's functions, a breakpoint engine for them,
 * made like mt_bp_engine_new(T, ..., SINK, SINK_CTX, STACKS) and sampling
 * one allocation per ~SAMPLE_BYTES bytes (0: all).  NULL when out of
 * memory (INJ is destroyed then). */
struct mt_engine *mt_hybrid_engine_new(struct mt_engine *inj, struct mt_target *t,
				       const struct mt_alloc_set *set, mt_event_sink sink,
				       void *sink_ctx, const struct mt_stack_source *stacks,
				       uint64_t sample_bytes);

#endif
