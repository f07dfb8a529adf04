/* Interned call stacks.  A stack is an array of program counters, innermost
 * frame first, 1..MT_STACKS_MAX_PCS frames: the allocator's entry, then up
 * to MT_STACKS_MAX_DEPTH return addresses (--depth counts those).  Equal stacks are stored once
 * and named by a dense id (1, 2, 3, ... in order of first sight), so the
 * per-site aggregation and the live-block table carry a 32-bit id instead
 * of up to 1 KiB of frames.
 *
 * mt_stacks_intern() runs once per traced allocation: a hit costs one hash
 * of the frames, one probe sequence and one memcmp, and never allocates.
 * Pure: no I/O. */
#ifndef MT_STACKS_H
#define MT_STACKS_H

#include <stddef.h>
#include <stdint.h>

/* --depth's maximum: the return addresses unwound above the allocator's
 * entry.  Each is one frame that really ran (a "physical" frame); the
 * functions the compiler inlined at that call are shown with it, marked
 * inlined, and not counted (framecache.c).  The one place this number is
 * written: --depth's check (session/options.h), stack capture (stackcap.c)
 * and the agent's stack slots (agent_abi.h, agent.c) follow it. */
#define MT_STACKS_MAX_DEPTH 128
/* The pcs of the deepest stack: the allocator's entry and the rest. */
#define MT_STACKS_MAX_PCS (MT_STACKS_MAX_DEPTH + 1)

struct mt_stacks;

/* NULL when out of memory. */
struct mt_stacks *mt_stacks_new(void);
/* Accepts NULL. */
void mt_stacks_destroy(struct mt_stacks *t);
/* The id (>= 1) of the stack PCS[0..N), created on first sight; equal
 * stacks get the same id.  0 when out of memory (the table is unchanged),
 * and for N outside 1..MT_STACKS_MAX_PCS or a NULL PCS. */
uint32_t mt_stacks_intern(struct mt_stacks *t, const uint64_t *pcs, int n);
/* Its frames: *PCS points into the table and stays valid, unchanged, until
 * mt_stacks_destroy() (later interning never moves frames).  Returns N; 0
 * and *PCS = NULL for an id that was never returned by intern (0 included). */
int mt_stacks_get(const struct mt_stacks *t, uint32_t id, const uint64_t **pcs);
/* How many distinct stacks: the ids are exactly 1..count. */
size_t mt_stacks_count(const struct mt_stacks *t);
/* Bytes the table holds (frames, index and slack), for --verbose. */
size_t mt_stacks_memory(const struct mt_stacks *t);

#endif
