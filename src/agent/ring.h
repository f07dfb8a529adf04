/* The shared event rings of the in-process engine (issue 5).
 *
 * A small freestanding agent inside the target records every outermost
 * allocator call into a region of shared memory (a sealed memfd) that
 * memtrace maps too; memtrace drains it (ringdec.c).  This header is the
 * whole contract between the two sides: the layout, and the producer's
 * functions as static inlines, so the agent and the unit tests run the same
 * code.  It needs no libc: only <stdint.h> and the compiler's __atomic
 * builtins, no lock, no system call.
 *
 * The region (all offsets from its start; sizes are in the header so a
 * reader can check them against its own build):
 *
 *   0            +--------------------------------------------+
 *                | struct mt_ring_region  (128 bytes)         |
 *                |   magic "MTRINGS", version, header_size,   |
 *                |   ring_header_size, record_size, nrings,   |
 *                |   capacity, region_size, gens_cap,         |
 *                |   reader_pid, reader_heartbeat,  <- memtrace|
 *                |   dropped_noring                 <- agent  |
 *   header_size  +--------------------------------------------+
 *                | ring 0: struct mt_ring (192 bytes)         |
 *                |   line 0 (producer): owner tid, busy,      |
 *                |     head, dropped_full/_noreader/_reentered|
 *                |     and its own: nest, shut, sampler state |
 *                |   line 1 (reader):   tail                  |
 *                |   line 2 (producer's own): tail_seen,      |
 *                |     where its count table is (ltab.h)      |
 *                |   capacity x struct mt_ring_rec (64 bytes) |
 *                +--------------------------------------------+
 *                | ring 1 ...           (stride = ring_header_size
 *                |                        + capacity * record_size)
 *                +--------------------------------------------+
 *                | ring nrings-1                              |
 *   gens         +--------------------------------------------+
 *                | uint32_t gens[gens_cap]   <- agent         |
 *                |   (padded to 64 bytes)                     |
 *   region_size  +--------------------------------------------+
 *
 * One ring per thread, one producer per ring.  A thread claims a free ring
 * (owner 0) or a retired one with one compare-and-swap on its first event,
 * and keeps it; a thread that finds none drops its event and counts it in
 * dropped_noring.  head and tail are free-running 64-bit counts of records
 * published and consumed: the record at position p lives in slot
 * p & (capacity - 1) and carries seq == (uint32_t)p.  The producer writes the record,
 * then publishes head = p + 1 with release; the reader loads head with
 * acquire, copies records, then stores tail with release; the producer
 * loads tail (into tail_seen) only when the tail it saw last leaves no
 * room, so a reader that keeps up does not cost it a cache miss per push.
 * mt_ring_push never blocks: on a full ring (head - tail == capacity) it
 * drops the event and counts it, and the ring stays shut (drops every
 * event) until the reader has emptied half of it (mt_ring_open).  That
 * is the agent's default; with --lossless (MT_AGENT_F_WAIT) the agent first waits for room while the
 * reader's heartbeat moves, and stops waiting for good once it stood still
 * for 100 ms and the reader's pid is gone, or for 1 s (agent.c, wait_room
 * and "waiting for memtrace").  While no reader is attached
 * (reader_pid == 0) the producer drops at once; if memtrace dies without
 * clearing reader_pid the rings fill, then drop, and the target runs on.
 *
 * Order without a global counter: per-address generations.  Every record
 * carries gen, taken from gens[mt_ring_gen_slot(key)] with one atomic
 * increment (mt_ring_next_gen), where the key is the address the record is
 * about: ALLOC the block, FREE the block, REALLOC_BEGIN the old block,
 * REALLOC the new block (gen 0, no order, when that is 0).  The agent takes
 * it for a free (and a REALLOC_BEGIN) BEFORE the real free runs, and for an
 * allocation AFTER the real allocator returns.  So the records of one
 * address (and of the others sharing its slot) carry increasing gens in
 * the order the calls really happened, whatever threads made them: a free
 * of X gets its gen before X can be handed out again, an allocation of X
 * gets its gen before anyone can free X.  The reader emits, per slot, gen
 * after gen: a record whose gen is ahead of the next one expected waits
 * while the reader reloads the other rings' heads and drains them.  If
 * nothing then moves (its predecessor was dropped, or not yet published)
 * it emits the record anyway and counts it.  Per ring the order is always
 * kept.  Gen 0 is never taken: it means no constraint.  See ringdec.h.
 *
 * Everything in the region is untrusted to memtrace: the target can write
 * any byte at any time.  ringdec.c reads the geometry once, checks it
 * against the size it mapped, keeps its own copies of positions, copies
 * each record out before checking it, and never reads tail back.  The
 * memfd must be sealed (F_SEAL_SHRINK) before the target sees it, or a
 * shrinking ftruncate would make memtrace's reads fault.
 */
#ifndef MT_RING_H
#define MT_RING_H

#include <stdint.h>

#define MT_RING_MAGIC   0x53474E4952544DULL   /* "MTRINGS\0", little-endian */
#define MT_RING_VERSION 3u

/* Limits the reader enforces (a writer must stay within them). */
#define MT_RING_MAX_RINGS    4096u
#define MT_RING_MAX_CAPACITY (1u << 20)   /* records per ring, a power of 2 */
#define MT_RING_MAX_GENS     (1u << 22)   /* generation slots, a power of 2 */

/* The generation slots memtrace's regions have (mt_ring_region_init). */
#define MT_RING_GENS 65536u

/* mt_ring.owner: 0 never claimed; a thread id; or retired (claimable). */
#define MT_RING_OWNER_FREE    0u
#define MT_RING_OWNER_RETIRED 0xffffffffu

/* Record kinds: the same values and meanings as enum mt_event_kind. */
enum mt_ring_kind {
	MT_RING_ALLOC = 0,
	MT_RING_FREE = 1,
	MT_RING_REALLOC_BEGIN = 2,
	MT_RING_REALLOC = 3,
	MT_RING__KINDS
};

struct mt_ring_region {
	uint64_t magic;             /* MT_RING_MAGIC                           */
	uint32_t version;           /* MT_RING_VERSION                         */
	uint32_t header_size;       /* sizeof(struct mt_ring_region)           */
	uint32_t ring_header_size;  /* sizeof(struct mt_ring)                  */
	uint32_t record_size;       /* sizeof(struct mt_ring_rec)              */
	uint32_t nrings;
	uint32_t capacity;          /* records per ring, a power of two        */
	uint64_t region_size;       /* bytes, header included                  */
	int32_t reader_pid;         /* memtrace's pid while it reads, else 0   */
	uint32_t reserved0;
	uint64_t reader_heartbeat;  /* memtrace adds 1 at every drain          */
	uint64_t dropped_noring;    /* events of threads that found no ring    */
	uint32_t gens_cap;          /* generation slots, a power of two; the
	                               table follows the last ring            */
	uint32_t reserved1;
	uint64_t reserved[7];
};

struct mt_ring {
	/* written by the ring's producer */
	uint32_t owner;             /* MT_RING_OWNER_* or the producer's tid   */
	uint32_t busy;              /* a push is under way (signal re-entry)   */
	uint64_t head;              /* records published                       */
	uint64_t dropped_full;      /* events dropped: ring full               */
	uint64_t dropped_noreader;  /* events dropped: no reader attached      */
	uint64_t dropped_reentered; /* events of a push interrupted by a signal
	                               handler that allocated                  */
	/* the producer's own, never read by memtrace: */
	uint32_t nest;              /* allocator calls in flight on this thread */
	uint32_t shut;              /* found full: takes no record until the
	                               reader has emptied half (mt_ring_open) */
	int64_t sample_left;        /* bytes until the next sampled allocation */
	uint64_t rng;               /* the sampler's random state              */
	/* written by the reader */
	uint64_t tail;              /* records consumed                        */
	uint64_t pad1[7];
	/* the producer's own again, on a line the reader never writes */
	uint64_t tail_seen;         /* tail as the producer last loaded it     */
	uint64_t counts;            /* its count table (ltab.h), found once    */
	uint64_t joined;            /* calls the agent counted twice (ltab.h: a
	                               realloc is one call, its free and its
	                               allocation two counts): memtrace reads it */
	uint64_t pad2[5];
};

struct mt_ring_rec {
	uint32_t seq;       /* low 32 bits of the record's position            */
	uint32_t gen;       /* the generation of its key's slot; 0: none       */
	uint64_t addr;      /* ALLOC: the block; FREE: the block freed;
	                       REALLOC: the result (0: failed, or freed when
	                       size == 0); REALLOC_BEGIN: 0                     */
	uint64_t size;
	uint64_t old_addr;  /* REALLOC_BEGIN and REALLOC: the block passed in   */
	uint64_t caller;    /* return address of the outermost call            */
	uint64_t stack;     /* hash of the call stack, 0: none                 */
	uint32_t tid;
	uint16_t kind;      /* enum mt_ring_kind                               */
	uint16_t fn;        /* enum mt_fn (allocfn.h)                          */
	uint64_t check;     /* mt_ring_rec_check() of the fields above: a torn
	                       or scribbled-on record fails it                 */
};

_Static_assert(sizeof(struct mt_ring_region) == 128, "region header layout");
_Static_assert(sizeof(struct mt_ring) == 192, "ring header layout");
_Static_assert(sizeof(struct mt_ring_rec) == 64, "record layout");

static inline uint64_t mt_ring_rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* A cheap fold of every field: a few independent rotates and xors, no
 * multiply, so the push stays within a couple of nanoseconds.  It catches
 * a torn record or a stray write, not a deliberate forgery (nothing can:
 * the target owns the region). */
static inline uint64_t mt_ring_rec_check(const struct mt_ring_rec *r)
{
	uint64_t packed = ((uint64_t)r->tid << 32) | ((uint64_t)r->kind << 16) | r->fn;
	uint64_t seqgen = ((uint64_t)r->gen << 32) | r->seq;
	return 0x9e3779b97f4a7c15ULL ^ seqgen ^ mt_ring_rotl(r->addr, 7) ^
	       mt_ring_rotl(r->size, 17) ^ mt_ring_rotl(r->old_addr, 29) ^
	       mt_ring_rotl(r->caller, 41) ^ mt_ring_rotl(r->stack, 53) ^
	       mt_ring_rotl(packed, 11);
}

/* Offset of the generation table in a region of NRINGS rings of CAPACITY
 * records: right after the last ring (a multiple of 64). */
static inline uint64_t mt_ring_gens_offset(uint32_t nrings, uint32_t capacity)
{
	uint64_t stride = sizeof(struct mt_ring) +
			  (uint64_t)capacity * sizeof(struct mt_ring_rec);
	return sizeof(struct mt_ring_region) + (uint64_t)nrings * stride;
}

/* Bytes of a region of NRINGS rings of CAPACITY records and GENS_CAP
 * generation slots. */
static inline uint64_t mt_ring_region_bytes_gens(uint32_t nrings, uint32_t capacity,
						 uint32_t gens_cap)
{
	return mt_ring_gens_offset(nrings, capacity) +
	       ((uint64_t)gens_cap * sizeof(uint32_t) + 63) / 64 * 64;
}

/* Bytes of a region of NRINGS rings of CAPACITY records, as
 * mt_ring_region_init() lays it out (MT_RING_GENS slots). */
static inline uint64_t mt_ring_region_bytes(uint32_t nrings, uint32_t capacity)
{
	return mt_ring_region_bytes_gens(nrings, capacity, MT_RING_GENS);
}

/* Ring I of a region whose header the agent trusts (memtrace wrote it). */
static inline struct mt_ring *mt_ring_at(struct mt_ring_region *rg, uint32_t i)
{
	uint64_t stride = rg->ring_header_size + (uint64_t)rg->capacity * rg->record_size;
	return (struct mt_ring *)((char *)rg + rg->header_size + i * stride);
}

static inline struct mt_ring_rec *mt_ring_slot(struct mt_ring_region *rg,
					       struct mt_ring *r, uint64_t pos)
{
	struct mt_ring_rec *recs = (struct mt_ring_rec *)((char *)r + rg->ring_header_size);
	return &recs[pos & (rg->capacity - 1)];
}

/* Where the search for thread TID's ring among N rings starts
 * (mt_ring_claim_in), and so where that ring almost always is. */
static inline uint32_t mt_ring_home(uint32_t tid, uint32_t n)
{
	uint32_t hash = tid * 0x9e3779b1u;
	/* no division on this path (tens of cycles): memtrace makes n a
	 * power of two */
	return (n & (n - 1)) == 0 ? hash & (n - 1) : hash % n;
}

/* The ring of thread TID (non-zero) among N rings, ring i at
 * FIRST + i * STRIDE, claimed on its first call: NULL when every ring
 * belongs to another thread.  The search starts at a slot hashed from TID
 * and goes round once; it stops at the first never-claimed ring, because
 * claimed rings never become never-claimed again (retiring marks them
 * RETIRED), so TID's ring cannot lie beyond one.  A thread that finds no
 * ring pays a scan of every ring on each call.  memtrace claims a ring for
 * a thread the same way (ringdec.c), so both find the same one. */
static inline struct mt_ring *mt_ring_claim_in(char *first, uint64_t stride, uint32_t n,
					       uint32_t tid)
{
	uint32_t i = mt_ring_home(tid, n);
	struct mt_ring *retired = 0;
	for (uint32_t k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
		struct mt_ring *r = (struct mt_ring *)(first + i * stride);
		uint32_t owner = __atomic_load_n(&r->owner, __ATOMIC_ACQUIRE);
		if (owner == tid)
			return r;
		if (owner == MT_RING_OWNER_RETIRED && !retired)
			retired = r;
		if (owner != MT_RING_OWNER_FREE)
			continue;
		/* TID owns no ring: take a retired one if seen, else this */
		uint32_t want = retired ? MT_RING_OWNER_RETIRED : MT_RING_OWNER_FREE;
		struct mt_ring *take = retired ? retired : r;
		if (__atomic_compare_exchange_n(&take->owner, &want, tid, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return take;
		/* another thread took it: go on from here */
		if (take == retired)
			retired = 0;
	}
	if (retired) {
		uint32_t want = MT_RING_OWNER_RETIRED;
		if (__atomic_compare_exchange_n(&retired->owner, &want, tid, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return retired;
	}
	return 0;
}

/* The ring of thread TID in a region whose header the agent trusts. */
static inline struct mt_ring *mt_ring_claim(struct mt_ring_region *rg, uint32_t tid)
{
	uint64_t stride = rg->ring_header_size + (uint64_t)rg->capacity * rg->record_size;
	return mt_ring_claim_in((char *)rg + rg->header_size, stride, rg->nrings, tid);
}

/* The thread that owns R is exiting: another thread may claim R.  Its
 * positions go on where they are, so the reader sees one sequence. */
static inline void mt_ring_retire(struct mt_ring *r)
{
	__atomic_store_n(&r->owner, MT_RING_OWNER_RETIRED, __ATOMIC_RELEASE);
}

/* The generation slot of ADDR in a table of CAP (a power of two) slots:
 * a multiplicative hash of the 64 KiB region ADDR lies in.  Not of ADDR
 * itself: an allocator hands out blocks that overlap freed ones at other
 * addresses (a realloc growing in place over a freed neighbour, chunks
 * coalesced and split), and the live-block table holds ranges, so the free
 * of the neighbour must be read before the block that now covers it.
 * Blocks of one region are ordered together; a block that overlaps a
 * freed one starting in another region is not (the tracker counts such
 * a clash as an inconsistency).  Testcase: tests/e2e/test_thread_churn.py
 * (an in-place realloc over a block another thread had freed). */
static inline uint32_t mt_ring_gen_slot(uint64_t addr, uint32_t cap)
{
	return (uint32_t)(((addr >> 16) * 0x9e3779b97f4a7c15ULL) >> 32) & (cap - 1);
}

/* The generation after G: G + 1, skipping 0 (no constraint). */
static inline uint32_t mt_ring_gen_after(uint32_t g)
{
	return g + 1 ? g + 1 : 1;
}

/* The next generation of ADDR's slot, for a record about ADDR; never 0.
 * The agent takes it for a free before the real free, for an allocation
 * after the real allocator returned (ring.h's comment at the top). */
static inline uint32_t mt_ring_next_gen(struct mt_ring_region *rg, uint64_t addr)
{
	uint32_t cap = rg->gens_cap;
	if (!cap)
		return 0;
	uint32_t *gens = (uint32_t *)((char *)rg + rg->header_size +
				      (uint64_t)rg->nrings * (rg->ring_header_size +
							      (uint64_t)rg->capacity * rg->record_size));
	uint32_t *g = &gens[mt_ring_gen_slot(addr, cap)];
	uint32_t v = __atomic_add_fetch(g, 1, __ATOMIC_SEQ_CST);
	if (v == 0)
		v = __atomic_add_fetch(g, 1, __ATOMIC_SEQ_CST);
	return v;
}

/* Single-writer counter: only R's producer writes it. */
static inline void mt_ring_count(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static inline void mt_ring_count_n(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Whether R, the calling thread's ring, has room for one more record.
 * The reader's tail is loaded (into tail_seen) only when the tail seen
 * last leaves none (acquire: the reader has copied what it freed). */
static inline int mt_ring_room(const struct mt_ring_region *rg, struct mt_ring *r)
{
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t seen = __atomic_load_n(&r->tail_seen, __ATOMIC_RELAXED);
	if (head - seen < rg->capacity)
		return 1;
	seen = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	__atomic_store_n(&r->tail_seen, seen, __ATOMIC_RELAXED);
	return head - seen < rg->capacity;
}

/* Whether R, the calling thread's ring, takes a record now: 1 yes, 0 no
 * (full), -1 no (no reader attached).  A ring found full stays shut until
 * the reader has emptied half of it.  Were it reopened at the first free
 * slot, the producer would write every record into a line the reader had
 * just read, and each of those lines would cross between the two cores
 * twice per record; shut, it writes lines the reader read half a ring ago,
 * and its drops come in runs instead of one in every few calls. */
static inline int mt_ring_open(const struct mt_ring_region *rg, struct mt_ring *r)
{
	if (__atomic_load_n(&rg->reader_pid, __ATOMIC_RELAXED) == 0)
		return -1;
	if (!__atomic_load_n(&r->shut, __ATOMIC_RELAXED)) {
		if (mt_ring_room(rg, r))
			return 1;
		__atomic_store_n(&r->shut, 1, __ATOMIC_RELAXED);
		return 0;
	}
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	__atomic_store_n(&r->tail_seen, tail, __ATOMIC_RELAXED);
	if (head - tail > rg->capacity / 2)
		return 0;
	__atomic_store_n(&r->shut, 0, __ATOMIC_RELAXED);
	return 1;
}

/* Counts N records of R's producer as dropped: WHY as mt_ring_open said. */
static inline void mt_ring_refuse(struct mt_ring *r, int why, uint32_t n)
{
	uint64_t *c = why < 0 ? &r->dropped_noreader : &r->dropped_full;
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Publishes EV (every field but seq and check; its gen from
 * mt_ring_next_gen(), or 0) in R, the calling thread's ring from
 * mt_ring_claim(), or counts the event as dropped when R is NULL
 * (no ring), no reader is attached, R is full, or this is a signal handler
 * interrupting a push on the same ring.  Returns 1 published, 0 dropped.
 * Never blocks, never calls anything. */
static inline int mt_ring_push_keyed(struct mt_ring_region *rg, struct mt_ring *r,
				     const struct mt_ring_rec *ev, uint64_t key);

static inline int mt_ring_push(struct mt_ring_region *rg, struct mt_ring *r,
			       const struct mt_ring_rec *ev)
{
	return mt_ring_push_keyed(rg, r, ev, 0);
}

/* As mt_ring_push, but with KEY non-zero the record's gen is taken here,
 * for KEY, inside the push (busy set) and only when the record is written:
 * a reader that finds a generation missing and sees no ring busy knows it
 * was not taken by a push still under way (ringdec.c), and no generation
 * is taken for a dropped record.  busy is stored before the sequentially
 * consistent increment, which orders it on x86; an aarch64 port needs a
 * full fence between them. */
static inline int mt_ring_push_keyed(struct mt_ring_region *rg, struct mt_ring *r,
				     const struct mt_ring_rec *ev, uint64_t key)
{
	if (!r) {
		__atomic_fetch_add(&rg->dropped_noring, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (__atomic_load_n(&r->busy, __ATOMIC_RELAXED)) {
		mt_ring_count(&r->dropped_reentered);
		return 0;
	}
	__atomic_store_n(&r->busy, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);   /* a handler sees busy */
	int ok = 0;
	int open = mt_ring_open(rg, r);
	if (open <= 0) {
		mt_ring_refuse(r, open, 1);
	} else {
		uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
		/* The generation first: its locked increment waits
		   for every earlier store, and a store into the slot
		   (likely not in this core's cache: the reader read
		   it a lap ago) would make it wait for that miss. */
		uint32_t gen = key ? mt_ring_next_gen(rg, key) : ev->gen;
		/* field by field: a struct copy may become a call
		   to memcpy, which the agent does not have */
		struct mt_ring_rec *s = mt_ring_slot(rg, r, head);
		s->seq = (uint32_t)head;
		s->gen = gen;
		s->addr = ev->addr;
		s->size = ev->size;
		s->old_addr = ev->old_addr;
		s->caller = ev->caller;
		s->stack = ev->stack;
		s->tid = ev->tid;
		s->kind = ev->kind;
		s->fn = ev->fn;
		s->check = mt_ring_rec_check(s);
		__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
		/* Ask for the next slot's line now, for writing, so
		   that its miss overlaps the caller's work rather
		   than the next push's locked increment. */
		__builtin_prefetch(mt_ring_slot(rg, r, head + 1), 1, 3);
		ok = 1;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&r->busy, 0, __ATOMIC_RELAXED);
	return ok;
}

#endif
