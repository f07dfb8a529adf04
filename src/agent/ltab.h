/* Accounting in the agent (issue 20): the live table and the counts.
 *
 * By default (MT_AGENT_F_ACCOUNT) the allocating thread does the
 * accounting itself, so that no consumer sits on the allocator's path and
 * memtrace's CPU is no limit: an allocation puts its block in the live
 * table with its stack slot and size, and counts one allocation of that
 * stack; a free takes its block out of the table and counts one free of
 * the stack that allocated it.  memtrace reads the counts when it reports
 * (inj_count.c) and never writes any of this.  What the table cannot take
 * (no room, no stack, a size of 2^40 bytes or more), and the free of a
 * block it does not hold (from before attach, or one that went through the
 * rings), go through the rings as before, so every call is accounted once.
 *
 * Like ring.h and sset.h, this header is the producer's whole code, as
 * static inlines, so that the agent and the unit tests run the same code:
 * <stdint.h> and the compiler's __atomic builtins, no lock, no system
 * call, async-signal safe.
 *
 * The live table: buckets (a power of two) of one cache line, four
 * entries each.  A block lives in its home bucket or, that one full, in
 * its second one; an entry with addr 0 is free.  The home bucket is hashed
 * from the block's granule of 256 bytes so that blocks close together
 * share lines, as the heap they describe does: a program that churns
 * through a few blocks touches a few lines of the table, not a line per
 * call.  Inserting is one compare-and-swap of a free entry's addr from 0,
 * then a store of its value; removing, a store of 0.  There are no
 * tombstones (a lookup reads both buckets), so churn never clogs it.
 *
 * Who may touch an entry: a block's insert completes before its allocation
 * returns, and its removal runs before the real free, while the block is
 * still the caller's, so no other thread inserts or removes that address
 * meanwhile; a thread freeing a block another thread allocated was handed
 * it by the program, after the insert, so it reads the value written.
 * A value is the block's size and stack slot:
 *
 *   val = size << MT_LTAB_SLOT_BITS | stack slot
 *
 * The counts: for each ring, a table of entries keyed by
 * stack slot + 1 (open addressing, never removed), written by the ring's
 * owner only (plain stores: no locked instruction, no line shared with
 * another thread), so two threads allocating from one stack do not fight
 * over a line.  A ring's table that is full sends its counts to the
 * stack's shared entry (gcounts) with atomic adds instead.  Counters only
 * grow.  An allocation's counts are stored before its free's can be (the
 * block is inserted first), so memtrace, which reads every free counter
 * before any allocation counter, never sees more frees than allocations
 * of a stack.
 */
#ifndef MT_LTAB_H
#define MT_LTAB_H

#include <stdint.h>

#define MT_LTAB_WAYS 4u
#define MT_LTAB_SHIFT 8u              /* granules of 256 bytes */
#define MT_LTAB_SLOT_BITS 24u
#define MT_LTAB_SIZE_MAX (1ULL << (64 - MT_LTAB_SLOT_BITS))   /* sizes below */
#define MT_LTAB_MAX_BUCKETS (1u << 22)
#define MT_LTAB_MAX_COUNTS 4096u      /* entries per ring */

struct mt_ltab_ent {
	uint64_t addr;                /* 0: free */
	uint64_t val;                 /* size << MT_LTAB_SLOT_BITS | slot */
};

struct mt_ltab_bucket {
	struct mt_ltab_ent e[MT_LTAB_WAYS];
};
_Static_assert(sizeof(struct mt_ltab_bucket) == 64, "a bucket is a cache line");

/* One stack's counts (a ring's entry, or the shared one of a stack). */
struct mt_ltab_count {
	uint64_t allocs, alloc_bytes;
	uint64_t frees, freed_bytes;
};

struct mt_ltab_rcount {
	uint32_t slot1;               /* stack slot + 1; 0: free entry */
	uint32_t pad;
	uint64_t pad2;
	struct mt_ltab_count c;
};
_Static_assert(sizeof(struct mt_ltab_rcount) == 48, "a ring's count entry");

/* A thread's cache of the stacks it unwound last (the agent's only, never
 * read by memtrace), at the start of its ring's area, before its count
 * table.  A call whose entry and stack pointer match an entry, and whose
 * stack still holds the return addresses the entry lists at the places it
 * lists, has that entry's stack: the unwind would read the same words and
 * apply the same rules.  Only walks whose frames were all found from the
 * stack pointer (no frame-pointer rule) are kept, and only complete ones.
 * The key includes the thread, its id and its thread pointer, so that the
 * words read are in the stack they were read from. */
#define MT_SCACHE_WAYS 4u
#define MT_SCACHE_PCS 33u             /* --depth 32 and below */

struct mt_scache_ent {
	uint64_t entry, sp;           /* the key; sp 0: empty */
	uint64_t tp;                  /* the thread's pointer: a new thread on
	                                 another stack never matches, even with
	                                 the same id and stack pointer */
	uint64_t hash;                /* the stack's, published */
	uint32_t n, slot1;            /* its pcs; its slot + 1 */
	uint32_t tid, zero_end;       /* the thread; 1: the walk ended at a 0 */
	uint64_t at[MT_SCACHE_PCS + 1];   /* where pcs[k] was read, k >= 1;
	                                     at[n]: the 0 when zero_end */
	uint64_t pcs[MT_SCACHE_PCS];
};

#define MT_SCACHE_BYTES (MT_SCACHE_WAYS * sizeof(struct mt_scache_ent))

/* Bytes of one ring's area: its stack cache, then PER_RING count entries. */
static inline uint64_t mt_ltab_area_bytes(uint32_t per_ring)
{
	return MT_SCACHE_BYTES + (uint64_t)per_ring * sizeof(struct mt_ltab_rcount);
}

static inline uint64_t mt_ltab_home(uint64_t addr, uint32_t mask)
{
	uint64_t g = addr >> MT_LTAB_SHIFT;
	/* consecutive granules, consecutive buckets; each 16 MiB window of
	 * the address space starts somewhere else */
	return (g + (((g >> 16) * 0x9e3779b97f4a7c15ULL) >> 32)) & mask;
}

static inline uint64_t mt_ltab_alt(uint64_t home, uint64_t addr, uint32_t mask)
{
	return (home + 1 + (((addr >> 4) * 0x9e3779b97f4a7c15ULL) >> 58)) & mask;
}

static inline uint64_t mt_ltab_val(uint64_t size, uint32_t slot)
{
	return size << MT_LTAB_SLOT_BITS | slot;
}

static inline uint32_t mt_ltab_val_slot(uint64_t val)
{
	return (uint32_t)(val & ((1u << MT_LTAB_SLOT_BITS) - 1));
}

static inline uint64_t mt_ltab_val_size(uint64_t val)
{
	return val >> MT_LTAB_SLOT_BITS;
}

/* Takes ADDR out of bucket B; its value in *VAL.  0: not there. */
static inline int mt_ltab_take_from(struct mt_ltab_bucket *b, uint64_t addr, uint64_t *val)
{
	for (uint32_t w = 0; w < MT_LTAB_WAYS; w++) {
		if (__atomic_load_n(&b->e[w].addr, __ATOMIC_RELAXED) == addr) {
			*val = __atomic_load_n(&b->e[w].val, __ATOMIC_RELAXED);
			__atomic_store_n(&b->e[w].addr, 0, __ATOMIC_RELEASE);
			return 1;
		}
	}
	return 0;
}

/* The free of ADDR (non-zero): its entry removed, its value in *VAL.
 * 0: the table does not hold it. */
static inline int mt_ltab_take(struct mt_ltab_bucket *t, uint32_t mask, uint64_t addr,
			       uint64_t *val)
{
	uint64_t h = mt_ltab_home(addr, mask);
	return mt_ltab_take_from(&t[h], addr, val) ||
	       mt_ltab_take_from(&t[mt_ltab_alt(h, addr, mask)], addr, val);
}

/* Claims a free entry of bucket B for ADDR; 1 when done. */
static inline int mt_ltab_claim(struct mt_ltab_bucket *b, uint64_t addr, uint64_t val)
{
	for (uint32_t w = 0; w < MT_LTAB_WAYS; w++) {
		uint64_t cur = __atomic_load_n(&b->e[w].addr, __ATOMIC_RELAXED);
		if (cur == 0 && __atomic_compare_exchange_n(&b->e[w].addr, &cur, addr, 0,
							    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			__atomic_store_n(&b->e[w].val, val, __ATOMIC_RELEASE);
			return 1;
		}
	}
	return 0;
}

/* A new block ADDR (non-zero) with value VAL.  1: in the table; 0: no
 * room (the caller records it another way).  An entry for ADDR still in
 * the table (its free was never seen: a free made while the thread was
 * inside the allocator, a signal handler's) is taken out first and its
 * value left in *STALE (else *STALE is 0), for the caller to count as
 * freed. */
static inline int mt_ltab_put(struct mt_ltab_bucket *t, uint32_t mask, uint64_t addr,
			      uint64_t val, uint64_t *stale)
{
	uint64_t h = mt_ltab_home(addr, mask);
	*stale = 0;
	uint64_t old;
	if (mt_ltab_take_from(&t[h], addr, &old))
		*stale = old | 1ULL << 63;   /* never a real value: sizes stay below 2^40 */
	return mt_ltab_claim(&t[h], addr, val) ||
	       mt_ltab_claim(&t[mt_ltab_alt(h, addr, mask)], addr, val);
}

/* The count entry of stack SLOT in ring table T (MASK + 1 entries), found
 * or claimed by its only writer; NULL when the table has no room. */
static inline struct mt_ltab_rcount *mt_ltab_rcount_of(struct mt_ltab_rcount *t, uint32_t mask,
						       uint32_t slot)
{
	uint32_t key = slot + 1;
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 40) & mask;
	for (uint32_t probe = 0; probe < 16 && probe <= mask; probe++, i = (i + 1) & mask) {
		uint32_t k = __atomic_load_n(&t[i].slot1, __ATOMIC_RELAXED);
		if (k == key)
			return &t[i];
		if (k == 0) {
			__atomic_store_n(&t[i].slot1, key, __ATOMIC_RELEASE);
			return &t[i];
		}
	}
	return 0;
}

/* Adds to a counter only its writer writes: a plain load and store. */
static inline void mt_ltab_bump(uint64_t *c, uint64_t by)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + by, __ATOMIC_RELEASE);
}

#endif
