/* Per-site aggregation.  A site is keyed by a 64-bit key: today the
 * allocator's caller (a return address); with call stacks, an interned
 * stack id.  Pure: no I/O. */
#ifndef MT_SITES_H
#define MT_SITES_H

#include <stddef.h>
#include <stdint.h>

struct mt_sites;

/* A site key holding a stack id has the top bit set: no user-space return
 * address does. */
#define MT_SITE_STACK_BIT (1ULL << 63)
#define MT_SITE_STACK_KEY(id) (MT_SITE_STACK_BIT | (uint64_t)(id))

/* Estimated counters (sampling, see tracker.h) are fixed point: MT_EST_ONE
 * is 1.0.  Integers, so that a block's weight added at its allocation is
 * taken away exactly at its free, whatever happened in between. */
#define MT_EST_SHIFT 16
#define MT_EST_ONE (1ULL << MT_EST_SHIFT)

struct mt_site {
	uint64_t key;          /* interned stack id, or the return address of the call
	                          into the allocator when no stack was taken */
	uint64_t live_blocks;
	uint64_t live_bytes;
	uint64_t allocs;       /* blocks this site allocated */
	uint64_t alloc_bytes;
	uint64_t frees;        /* of those, how many were freed */
	uint64_t freed_bytes;
	/* With sampling only (else 0): the counters above are the sampled
	 * blocks the tracker saw; these are the estimates of all blocks, each
	 * sampled block weighing 1/p(size) blocks and size/p(size) bytes, in
	 * MT_EST_ONE units. */
	uint64_t est_live_blocks, est_live_bytes;
	uint64_t est_allocs, est_alloc_bytes;
	uint64_t est_frees, est_freed_bytes;
};

struct mt_sites *mt_sites_new(void);
void mt_sites_destroy(struct mt_sites *s);
/* The id of KEY's site, created on first sight; UINT32_MAX when out of memory. */
uint32_t mt_sites_intern(struct mt_sites *s, uint64_t key);
struct mt_site *mt_sites_get(struct mt_sites *s, uint32_t id);
const struct mt_site *mt_sites_get_const(const struct mt_sites *s, uint32_t id);
size_t mt_sites_count(const struct mt_sites *s);

#endif
