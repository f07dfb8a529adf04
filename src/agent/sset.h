/* The set of sampled live blocks (issue 20): with --sample-bytes, the
 * addresses of the blocks the agent recorded and that are still live, so
 * that the free of any other block returns at once, without a ring, a
 * thread id or a generation, and never reaches memtrace.
 *
 * It lives in the agent's shared region (agent_abi.h: sset_off,
 * sset_buckets) and only the agent uses it; memtrace makes it (zeroed) and
 * never reads it.  Like ring.h, this header is the producer's whole code,
 * as static inlines, so that the agent and the unit tests run the same
 * code: <stdint.h> and the compiler's __atomic builtins, no lock, no
 * system call, async-signal safe.
 *
 * Layout: buckets (a power of two) of one cache line each,
 *
 *   +--------+--------+--------+-----+--------+
 *   | flags  | addr 0 | addr 1 | ... | addr 6 |   64 bytes
 *   +--------+--------+--------+-----+--------+
 *
 * An address lives in its home bucket (mt_sset_home) or, once the home
 * bucket was found full, in its second bucket (mt_sset_alt); 0 is a free
 * slot.  Both are hashed from the address's granule of 2^shift bytes, not
 * from the address: the blocks a program churns through lie close
 * together, so their frees look into a few lines of the set that stay in
 * the cache, where a hash of each address would spread them over the
 * whole set.  memtrace makes a granule much smaller than the mean bytes
 * between samples (mt_sset_shift_for), so that a granule rarely holds more
 * than one recorded live block, let alone seven.  Inserting is one
 * compare-and-swap of a free slot from 0; removing one compare-and-swap
 * back to 0.  There are no tombstones: a lookup reads
 * every slot of a bucket instead of stopping at a free one, so a removal
 * never hides another address, and the set never clogs with churn.
 *
 * flags' low bits only ever gain bits (fetch-or), each set BEFORE the
 * insert that needs it, so a free that comes after the allocation
 * returned sees it:
 *   SPILL: an address of this home bucket may be in its second bucket;
 *   OVER:  both were full once: an address of this home bucket may be in
 *          neither (its block is recorded all the same, and counted in
 *          sset_overflows), so every free of it is recorded: never is a
 *          sampled block's free lost, the only cost is speed.
 *
 * A free looks the address up (mt_sset_maybe) BEFORE the real free, while
 * the block is still the caller's: no other thread can insert or remove
 * that address at the same time.  An address may be in the set twice, or
 * stay when its block was freed unseen (a nested free, or frees while the
 * agent was not sampling): such a stale entry only makes the free of a
 * later block at that address recorded too, which memtrace counts as an
 * unsampled free.  A missing entry for a recorded block would lose its
 * free, and cannot happen: the insert completes before the allocation
 * returns, and only the free of that block removes it.  Each memtrace
 * empties the set when it starts reading, all threads stopped
 * (mt_inj_sset_clear): it knows no block recorded before.
 */
#ifndef MT_SSET_H
#define MT_SSET_H

#include <stdint.h>

#define MT_SSET_WAYS 7u            /* addresses per bucket */
#define MT_SSET_F_SPILL 1u
#define MT_SSET_F_OVER 2u
#define MT_SSET_F_BITS 0xffu         /* the flags; above them, the count */
#define MT_SSET_COUNT_ONE 0x100u     /* of the bucket's slots in use */
#define MT_SSET_MAX_BUCKETS (1u << 22)
#define MT_SSET_MIN_SHIFT 4u       /* granules of 16 bytes to 64 KiB */
#define MT_SSET_MAX_SHIFT 16u

struct mt_sset_bucket {
	uint64_t flags;                /* MT_SSET_F_*, only ever set; from
					  bit 8, the slots in use        */
	uint64_t addr[MT_SSET_WAYS];   /* 0: free                           */
};
_Static_assert(sizeof(struct mt_sset_bucket) == 64, "a bucket is a cache line");

/* The granule's shift for a mean of MEAN bytes between samples (0: every
 * allocation): 1/64th of it, so that a granule of live heap holds a
 * recorded block about once in 64, from 16 bytes (one block) to 64 KiB. */
static inline uint32_t mt_sset_shift_for(uint64_t mean)
{
	uint32_t shift = MT_SSET_MIN_SHIFT;
	while (shift < MT_SSET_MAX_SHIFT && (1ULL << (shift + 6)) < mean)
		shift++;
	return shift;
}

/* One multiply of ADDR's granule. */
static inline uint64_t mt_sset_hash(uint64_t addr, uint32_t shift)
{
	return (addr >> shift) * 0x9e3779b97f4a7c15ULL;
}

static inline uint64_t mt_sset_home(uint64_t addr, uint64_t mask, uint32_t shift)
{
	return (mt_sset_hash(addr, shift) >> 32) & mask;
}

/* The second bucket: other bits of the hash, never the home bucket. */
static inline uint64_t mt_sset_alt(uint64_t addr, uint64_t mask, uint32_t shift)
{
	uint64_t h = mt_sset_hash(addr, shift);
	uint64_t a = (h >> 10) & mask;
	return a == ((h >> 32) & mask) ? a ^ 1 : a;
}

static inline int mt_sset_has(const struct mt_sset_bucket *b, uint64_t addr)
{
#pragma GCC unroll 7
	for (uint32_t k = 0; k < MT_SSET_WAYS; k++)
		if (__atomic_load_n(&b->addr[k], __ATOMIC_RELAXED) == addr)
			return 1;
	return 0;
}

static inline int mt_sset_put(struct mt_sset_bucket *b, uint64_t addr)
{
	for (uint32_t k = 0; k < MT_SSET_WAYS; k++) {
		uint64_t want = 0;
		if (__atomic_load_n(&b->addr[k], __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&b->addr[k], &want, addr, 0, __ATOMIC_RELEASE,
						__ATOMIC_RELAXED)) {
			__atomic_fetch_add(&b->flags, MT_SSET_COUNT_ONE, __ATOMIC_RELEASE);
			return 1;
		}
	}
	return 0;
}

static inline int mt_sset_drop(struct mt_sset_bucket *b, uint64_t addr)
{
	for (uint32_t k = 0; k < MT_SSET_WAYS; k++) {
		uint64_t want = addr;
		if (__atomic_load_n(&b->addr[k], __ATOMIC_RELAXED) == addr &&
		    __atomic_compare_exchange_n(&b->addr[k], &want, 0, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			__atomic_fetch_sub(&b->flags, MT_SSET_COUNT_ONE, __ATOMIC_RELAXED);
			return 1;
		}
	}
	return 0;
}

/* Records ADDR (non-zero), the block of an allocation just recorded, in
 * the set of MASK + 1 buckets at SET, granules of 2^SHIFT bytes: 1 indexed, 0 not (both its buckets
 * full: its home bucket is marked OVER instead, so its free is recorded
 * anyway; the caller counts it). */
static inline int mt_sset_insert(struct mt_sset_bucket *set, uint64_t mask, uint32_t shift,
				     uint64_t addr)
{
	struct mt_sset_bucket *home = &set[mt_sset_home(addr, mask, shift)];
	if (mt_sset_put(home, addr))
		return 1;
	if (!(__atomic_load_n(&home->flags, __ATOMIC_RELAXED) & MT_SSET_F_SPILL))
		__atomic_fetch_or(&home->flags, MT_SSET_F_SPILL, __ATOMIC_SEQ_CST);
	if (mt_sset_put(&set[mt_sset_alt(addr, mask, shift)], addr))
		return 1;
	__atomic_fetch_or(&home->flags, MT_SSET_F_OVER, __ATOMIC_SEQ_CST);
	return 0;
}

/* Whether the free of ADDR (non-zero) must be recorded: 0 when ADDR is
 * surely no recorded live block, 1 when it is in the set, or may be (an
 * OVER home bucket).  The fast path is one word: a home bucket with no
 * slot in use and no flag (almost every one: a granule rarely holds a
 * recorded block).  The count is raised after a slot is claimed and
 * lowered after one is freed, so it is never below the slots of blocks
 * whose allocation returned before this free; memtrace's clear
 * (mt_inj_sset_clear) may leave it above, which only costs the scan. */
static inline int mt_sset_maybe(const struct mt_sset_bucket *set, uint64_t mask, uint32_t shift,
				uint64_t addr)
{
	const struct mt_sset_bucket *home = &set[mt_sset_home(addr, mask, shift)];
	uint64_t f = __atomic_load_n(&home->flags, __ATOMIC_RELAXED);
	if (__builtin_expect(f == 0, 1))
		return 0;
	if ((f & ~(uint64_t)MT_SSET_F_BITS) && mt_sset_has(home, addr))
		return 1;
	return (f & MT_SSET_F_OVER) ||
	       ((f & MT_SSET_F_SPILL) && mt_sset_has(&set[mt_sset_alt(addr, mask, shift)], addr));
}

/* Takes ADDR out of the set, when its block is freed (before the real
 * free): 1 when it was there. */
static inline int mt_sset_remove(struct mt_sset_bucket *set, uint64_t mask, uint32_t shift,
				     uint64_t addr)
{
	struct mt_sset_bucket *home = &set[mt_sset_home(addr, mask, shift)];
	if (mt_sset_drop(home, addr))
		return 1;
	if (!(__atomic_load_n(&home->flags, __ATOMIC_RELAXED) & MT_SSET_F_SPILL))
		return 0;
	return mt_sset_drop(&set[mt_sset_alt(addr, mask, shift)], addr);
}

#endif
