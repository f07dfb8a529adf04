/* memtrace's reader of the shared event rings: see ringdec.h and ring.h. */
#include "engine/ringdec.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "model/allocfn.h"
#include "arch/arch.h"
#include "util/clock.h"
#include "agent/ring.h"

/* Records read from one ring before the reader moves to the next and
 * gives the space back (tail). */
#define MT_RINGDEC_BATCH 256

/* The kernel's PID_MAX_LIMIT on 64-bit: /proc/sys/kernel/pid_max cannot
 * be set higher, so no thread id is larger. */
#define MT_TID_MAX 4194304u

/* The end of user space on x86_64 with 5-level paging (2^56; 2^47 with 4
 * levels): no block, and no return address, lies at or above it. */
#define MT_USER_END (1ULL << 56)

/* How long a held record waits for a producer preempted inside a push. */
#define MT_RINGDEC_BUSY_WAIT_NS 200000000ull

struct ringstate {
	struct mt_ring *ring;      /* in the region                          */
	struct mt_ring_rec *recs;  /* its records                            */
	uint64_t pos;              /* next record to read (ours, trusted)    */
	uint64_t head;             /* published head, as last loaded         */
	bool poisoned;
	bool full;                 /* head was a ring ahead when loaded (at
	                              full_at): its producer may be waiting
	                              for room (--lossless)                  */
	uint64_t full_at;
	bool waiting;              /* pending is held back for other rings   */
	uint32_t pending_gen;      /* its generation                         */
	uint64_t pending_epoch;    /* d->epoch when pending was read         */
	uint64_t held_ns;          /* when it was held                       */
	struct mt_event pending;
};

struct mt_ringdec {
	struct mt_ring_region *rg;
	uint32_t nrings;           /* our copies of the geometry             */
	uint32_t capacity;
	uint32_t gens_cap;
	uint32_t *last;            /* per generation slot: the last emitted,
	                              or taken before we opened (0: none)    */
	struct mt_ringdec_ops ops;
	uint64_t epoch;            /* heads reloaded this many times         */
	uint64_t heartbeat;
	uint32_t rr;               /* ring a pass starts with (fairness)     */
	bool evict;                /* mt_ringdec_set_evict(); on at first    */
	uint8_t fn_class[MT_FN__COUNT]; /* FN_FREE, FN_REALLOC, per enum mt_fn:
	                              looked up per record, computed once   */
	struct mt_ringdec_stats st;
	struct ringstate rings[];
};

int mt_ring_region_init(void *base, size_t len, uint32_t nrings, uint32_t capacity)
{
	if (!base || (uintptr_t)base % 64 != 0 || nrings == 0 ||
	    nrings > MT_RING_MAX_RINGS || capacity < 2 ||
	    capacity > MT_RING_MAX_CAPACITY || (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	uint64_t need = mt_ring_region_bytes(nrings, capacity);
	if (need > len)
		return -EINVAL;
	/* Headers and generations only: records are believed by their seq,
	 * never by being zero, and touching every record would commit the
	 * whole region. */
	memset(base, 0, sizeof(struct mt_ring_region));
	uint64_t stride = sizeof(struct mt_ring) + (uint64_t)capacity * sizeof(struct mt_ring_rec);
	for (uint32_t i = 0; i < nrings; i++)
		memset((char *)base + sizeof(struct mt_ring_region) + i * stride, 0,
		       sizeof(struct mt_ring));
	uint64_t goff = mt_ring_gens_offset(nrings, capacity);
	memset((char *)base + goff, 0, need - goff);
	struct mt_ring_region *rg = base;
	rg->magic = MT_RING_MAGIC;
	rg->version = MT_RING_VERSION;
	rg->header_size = sizeof(struct mt_ring_region);
	rg->ring_header_size = sizeof(struct mt_ring);
	rg->record_size = sizeof(struct mt_ring_rec);
	rg->nrings = nrings;
	rg->capacity = capacity;
	rg->region_size = need;
	rg->gens_cap = MT_RING_GENS;
	return 0;
}

#define FN_FREE 1u
#define FN_REALLOC 2u

/* Loads from the region: each field once, as the value it had then (the
 * compiler may not read it again behind our back). */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

int mt_ringdec_new(void *base, size_t len, const struct mt_ringdec_ops *ops,
		   struct mt_ringdec **out)
{
	*out = NULL;
	if (!base || (uintptr_t)base % 64 != 0 || len < sizeof(struct mt_ring_region) ||
	    !ops || !ops->emit)
		return -EINVAL;
	struct mt_ring_region *rg = base;
	uint64_t magic = LOAD(&rg->magic);
	uint32_t version = LOAD(&rg->version);
	uint32_t hsize = LOAD(&rg->header_size);
	uint32_t rhsize = LOAD(&rg->ring_header_size);
	uint32_t recsize = LOAD(&rg->record_size);
	uint32_t nrings = LOAD(&rg->nrings);
	uint32_t cap = LOAD(&rg->capacity);
	uint64_t rsize = LOAD(&rg->region_size);
	uint32_t gcap = LOAD(&rg->gens_cap);
	if (magic != MT_RING_MAGIC || version != MT_RING_VERSION ||
	    hsize != sizeof(struct mt_ring_region) ||
	    rhsize != sizeof(struct mt_ring) || recsize != sizeof(struct mt_ring_rec) ||
	    nrings == 0 || nrings > MT_RING_MAX_RINGS ||
	    cap < 2 || cap > MT_RING_MAX_CAPACITY || (cap & (cap - 1)) != 0 ||
	    gcap == 0 || gcap > MT_RING_MAX_GENS || (gcap & (gcap - 1)) != 0)
		return -EINVAL;
	/* no overflow: at most 4096 rings of 2^20 64-byte records, and
	 * 2^22 generations */
	uint64_t need = mt_ring_region_bytes_gens(nrings, cap, gcap);
	if (rsize > len || need > rsize)
		return -EINVAL;

	struct mt_ringdec *d = calloc(1, sizeof *d + nrings * sizeof d->rings[0]);
	if (!d)
		return -ENOMEM;
	d->last = malloc(gcap * sizeof d->last[0]);
	if (!d->last) {
		free(d);
		return -ENOMEM;
	}
	d->rg = rg;
	d->nrings = nrings;
	d->capacity = cap;
	d->gens_cap = gcap;
	d->evict = true;
	d->ops = *ops;
	for (int fn = 0; fn < MT_FN__COUNT; fn++)
		d->fn_class[fn] = (uint8_t)((mt_fn_is_free((enum mt_fn)fn) ? FN_FREE : 0) |
					    (mt_fn_is_realloc((enum mt_fn)fn) ? FN_REALLOC : 0));
	/* Where the producers are now: the records before are not read.  The
	 * values are the target's; wrong ones only steer the order. */
	const uint32_t *gens = (const uint32_t *)((char *)base + mt_ring_gens_offset(nrings, cap));
	for (uint32_t i = 0; i < gcap; i++)
		d->last[i] = LOAD(&gens[i]);
	uint64_t stride = sizeof(struct mt_ring) + (uint64_t)cap * sizeof(struct mt_ring_rec);
	for (uint32_t i = 0; i < nrings; i++) {
		struct ringstate *s = &d->rings[i];
		char *r = (char *)base + sizeof(struct mt_ring_region) + i * stride;
		s->ring = (struct mt_ring *)r;
		s->recs = (struct mt_ring_rec *)(r + sizeof(struct mt_ring));
		uint64_t head = __atomic_load_n(&s->ring->head, __ATOMIC_ACQUIRE);
		uint64_t tail = LOAD(&s->ring->tail);
		if (head - tail <= cap)
			d->st.skipped_at_open += head - tail;
		s->pos = s->head = head;
		__atomic_store_n(&s->ring->tail, head, __ATOMIC_RELEASE);
	}
	*out = d;
	return 0;
}

void mt_ringdec_destroy(struct mt_ringdec *d)
{
	if (!d)
		return;
	free(d->last);
	free(d);
}

void mt_ringdec_set_reader(struct mt_ringdec *d, pid_t pid)
{
	__atomic_store_n(&d->rg->reader_pid, (int32_t)pid, __ATOMIC_RELEASE);
}

void mt_ringdec_retire(struct mt_ringdec *d, uint32_t tid)
{
	for (uint32_t i = 0; i < d->nrings; i++) {
		uint32_t want = tid;
		if (tid && LOAD(&d->rings[i].ring->owner) == tid)
			__atomic_compare_exchange_n(&d->rings[i].ring->owner, &want,
						    MT_RING_OWNER_RETIRED, 0, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED);
	}
}

/* FN must be below MT_FN__COUNT. */
static bool is_free_fn(const struct mt_ringdec *d, uint16_t fn)
{
	return d->fn_class[fn] & FN_FREE;
}

static bool is_realloc_fn(const struct mt_ringdec *d, uint16_t fn)
{
	return d->fn_class[fn] & FN_REALLOC;
}

/* Copies the record at position POS of S out of the region and checks it;
 * true with *EV and *GEN filled when it is one the agent could have
 * written. */
static bool read_record(struct mt_ringdec *d, struct ringstate *s, uint64_t pos,
			struct mt_event *ev, uint32_t *gen)
{
	const struct mt_ring_rec *src = &s->recs[pos & (d->capacity - 1)];
	struct mt_ring_rec r = {
		.seq = LOAD(&src->seq),
		.gen = LOAD(&src->gen),
		.addr = LOAD(&src->addr),
		.size = LOAD(&src->size),
		.old_addr = LOAD(&src->old_addr),
		.caller = LOAD(&src->caller),
		.stack = LOAD(&src->stack),
		.tid = LOAD(&src->tid),
		.kind = LOAD(&src->kind),
		.fn = LOAD(&src->fn),
		.check = LOAD(&src->check),
	};
	/* from here on only the copy is looked at */
	if (r.seq != (uint32_t)pos || r.check != mt_ring_rec_check(&r))
		return false;
	if (r.tid == 0 || r.tid > MT_TID_MAX || r.fn >= MT_FN__COUNT)
		return false;
	/* A failed allocation (addr 0) may have asked for any size. */
	if (r.addr >= MT_USER_END || r.old_addr >= MT_USER_END ||
	    r.caller >= MT_USER_END || (r.addr && r.size > MT_USER_END - r.addr))
		return false;
	switch (r.kind) {
	case MT_RING_ALLOC:
		if (is_free_fn(d, r.fn) || is_realloc_fn(d, r.fn) || r.addr == 0 || r.old_addr != 0)
			return false;
		ev->kind = MT_EV_ALLOC;
		break;
	case MT_RING_FREE:
		if (!is_free_fn(d, r.fn) || r.addr == 0 || r.old_addr != 0)
			return false;
		ev->kind = MT_EV_FREE;
		break;
	case MT_RING_REALLOC_BEGIN:
		if (!is_realloc_fn(d, r.fn) || r.old_addr == 0 || r.addr != 0)
			return false;
		ev->kind = MT_EV_REALLOC_BEGIN;
		break;
	case MT_RING_REALLOC:
		/* no new block, no key: no generation */
		if (!is_realloc_fn(d, r.fn) || (r.addr == 0 && r.gen != 0))
			return false;
		ev->kind = MT_EV_REALLOC;
		break;
	default:
		return false;
	}
	ev->fn = (enum mt_fn)r.fn;
	ev->tid = (pid_t)r.tid;
	ev->addr = r.addr;
	ev->size = r.size;
	ev->old_addr = r.old_addr;
	ev->caller = r.caller;
	ev->stack = r.stack && d->ops.stack ? d->ops.stack(d->ops.ctx, r.stack) : 0;
	*gen = r.gen;
	return true;
}

/* The generation slot of EV's key (ring.h): the block it is about. */
static uint32_t slot_of(const struct mt_ringdec *d, const struct mt_event *ev)
{
	uint64_t key = ev->kind == MT_EV_REALLOC_BEGIN ? ev->old_addr : ev->addr;
	return mt_ring_gen_slot(key, d->gens_cap);
}

/* How far generation GEN of EV is ahead of the next one its slot expects:
 * 0 when it may go (the next one, an old one, or no generation).  A slot
 * still at 0 expects 1: the agent takes generations only while a reader
 * is attached, so the first record of an address since the open may be
 * read after its successors and must not be taken for a first one. */
static int32_t ahead(const struct mt_ringdec *d, const struct mt_event *ev, uint32_t gen)
{
	if (gen == 0)
		return 0;
	uint32_t last = d->last[slot_of(d, ev)];
	if (gen == mt_ring_gen_after(last))
		return 0;
	int32_t by = (int32_t)(gen - last);
	return by <= 0 ? 0 : by - 1;
}

/* Whether EV must wait for the other rings: its slot's earlier
 * generations (the free that released its block, the allocation that
 * made the block it frees) are in other rings, not emitted yet, or were
 * dropped. */
static bool must_wait(const struct mt_ringdec *d, const struct mt_event *ev, uint32_t gen)
{
	return ahead(d, ev, gen) > 0;
}

/* EV (generation GEN) is emitted: its slot moves on to GEN, unless GEN
 * is an old one.  FORCED: GEN was ahead; its predecessors are given up. */
static void advance(struct mt_ringdec *d, const struct mt_event *ev, uint32_t gen, bool forced)
{
	if (gen == 0)
		return;
	uint32_t *last = &d->last[slot_of(d, ev)];
	if (forced || gen == mt_ring_gen_after(*last))
		*last = gen;
}

/* Loads every readable ring's published head.  A head behind our position,
 * or more than a ring ahead of it (the producer cannot pass the tail we
 * gave it), is impossible: the ring is given up.  True when some ring not
 * holding a record back has records to read. */
static bool reload_heads(struct mt_ringdec *d)
{
	bool more = false;
	d->epoch++;
	for (uint32_t i = 0; i < d->nrings; i++) {
		struct ringstate *s = &d->rings[i];
		if (s->poisoned)
			continue;
		uint64_t h = __atomic_load_n(&s->ring->head, __ATOMIC_ACQUIRE);
		if (h - s->pos > d->capacity) {
			s->poisoned = true;
			s->waiting = false;
			d->st.poisoned_rings++;
			continue;
		}
		s->head = h;
		if (!s->full && h - s->pos == d->capacity) {
			s->full = true;
			s->full_at = s->pos;
		}
		more |= h != s->pos && !s->waiting;
	}
	return more;
}

/* Gives S's space back up to our position.  A producer that found the ring
 * full may be asleep on the tail's low word (--lossless: the agent's
 * wait_room, a futex wait of at most 1 ms on the value it saw): wake it
 * once half the ring is free again rather than at its timeout, or at every
 * batch (a wakeup per 256 records would cost it more than its sleep). */
static void give_back(const struct mt_ringdec *d, struct ringstate *s)
{
	__atomic_store_n(&s->ring->tail, s->pos, __ATOMIC_RELEASE);
	if (s->full && s->pos - s->full_at >= d->capacity / 2) {
		s->full = false;
		syscall(SYS_futex, (uint32_t *)&s->ring->tail, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

static void emit(struct mt_ringdec *d, struct mt_event *ev, uint32_t gen, bool forced,
		 uint64_t now)
{
	advance(d, ev, gen, forced);
	ev->time_ns = now;
	d->st.events++;
	d->st.realloc_begins += ev->kind == MT_EV_REALLOC_BEGIN;
	d->ops.emit(d->ops.ctx, ev);
}

/* Reads up to LIMIT records of S; returns how many it consumed and whether
 * it emitted anything (a held record included) in *MOVED. */
static size_t drain_ring(struct mt_ringdec *d, struct ringstate *s, size_t limit,
			 uint64_t now, bool *moved)
{
	if (s->waiting) {
		if (must_wait(d, &s->pending, s->pending_gen))
			return 0;
		s->waiting = false;
		emit(d, &s->pending, s->pending_gen, false, now);
		*moved = true;
	}
	size_t n = 0;
	while (s->pos != s->head && n < limit) {
		struct mt_event ev;
		uint32_t gen;
		bool ok = read_record(d, s, s->pos, &ev, &gen);
		if (d->evict)
			mt_arch_evict_line(&s->recs[s->pos & (d->capacity - 1)]);
		s->pos++;
		n++;
		if (!ok) {
			d->st.rejected++;
			continue;
		}
		if (must_wait(d, &ev, gen)) {
			s->pending = ev;
			s->pending_gen = gen;
			s->pending_epoch = d->epoch;
			s->held_ns = now;
			s->waiting = true;
			d->st.order_waits++;
			break;
		}
		emit(d, &ev, gen, false, now);
	}
	if (n) {
		*moved = true;
		give_back(d, s);
	}
	return n;
}

/* Nothing moved: emit a held record whose wait is over (heads were
 * reloaded after it was read, and drained), or reload the heads.  Of
 * those, the one least ahead of its slot goes first, so that a chain of
 * held records of one slot (one predecessor dropped) comes out in order.
 * False when no record is held. */
/* Whether some producer is inside a push. */
static bool rings_busy(const struct mt_ringdec *d)
{
	for (uint32_t k = 0; k < d->nrings; k++)
		if (!d->rings[k].poisoned && LOAD(&d->rings[k].ring->busy))
			return true;
	return false;
}

static bool unblock(struct mt_ringdec *d, uint64_t now)
{
	bool any = false;
	struct ringstate *best = NULL;
	int32_t best_by = 0;
	for (uint32_t k = 0; k < d->nrings; k++) {
		struct ringstate *s = &d->rings[(d->rr + k) % d->nrings];
		if (!s->waiting)
			continue;
		any = true;
		if (s->pending_epoch < d->epoch) {
			int32_t by = ahead(d, &s->pending, s->pending_gen);
			if (!best || by < best_by) {
				best = s;
				best_by = by;
			}
		}
	}
	if (best) {
		/* A producer inside a push may hold the missing generation:
		 * it takes it with its ring marked busy (mt_ring_push_keyed),
		 * and may be preempted there.  Give it time (this drain ends;
		 * the record stays held), but not forever: it may be dead. */
		if (rings_busy(d) && now - best->held_ns < MT_RINGDEC_BUSY_WAIT_NS) {
			reload_heads(d);
			return false;
		}
		/* a push that ended since the heads were loaded */
		reload_heads(d);
		for (uint32_t k = 0; k < d->nrings; k++) {
			const struct ringstate *o = &d->rings[k];
			if (!o->waiting && !o->poisoned && o->pos != o->head)
				return true;
		}
		best->waiting = false;
		d->st.order_forced++;
		emit(d, &best->pending, best->pending_gen, true, now);
		return true;
	}
	if (any)
		reload_heads(d);
	return any;
}

void mt_ringdec_set_evict(struct mt_ringdec *d, bool on)
{
	d->evict = on;
}

size_t mt_ringdec_drain(struct mt_ringdec *d, size_t budget)
{
	uint64_t now = mt_clock_ns();
	d->st.drains++;
	__atomic_store_n(&d->rg->reader_heartbeat, ++d->heartbeat, __ATOMIC_RELAXED);
	reload_heads(d);

	/* Every pass either consumes a record, emits a held one, or (through
	 * unblock) emits a held record or reloads the heads, after which the
	 * next idle pass emits one: at most a few passes per record. */
	size_t done = 0;
	while (done < budget) {
		bool moved = false;
		for (uint32_t k = 0; k < d->nrings && done < budget; k++) {
			struct ringstate *s = &d->rings[(d->rr + k) % d->nrings];
			if (s->poisoned)
				continue;
			size_t lim = budget - done < MT_RINGDEC_BATCH ? budget - done
								    : MT_RINGDEC_BATCH;
			done += drain_ring(d, s, lim, now, &moved);
		}
		d->rr = (d->rr + 1) % d->nrings;
		/* Nothing left below the heads loaded: look again, so that a
		 * busy producer is followed until the budget is spent rather
		 * than at the caller's next poll. */
		if (!moved && !unblock(d, now) && !reload_heads(d))
			break;
	}
	return done;
}

void mt_ringdec_stats(const struct mt_ringdec *d, struct mt_ringdec_stats *out)
{
	*out = d->st;
	for (uint32_t i = 0; i < d->nrings; i++) {
		const struct mt_ring *r = d->rings[i].ring;
		out->dropped_full = sat_add(out->dropped_full, LOAD(&r->dropped_full));
		out->dropped_noreader = sat_add(out->dropped_noreader, LOAD(&r->dropped_noreader));
		out->dropped_reentered = sat_add(out->dropped_reentered, LOAD(&r->dropped_reentered));
	}
	out->dropped_noring = LOAD(&d->rg->dropped_noring);
}

void mt_ringdec_geometry(const struct mt_ringdec *d, uint64_t *ring0_off, uint64_t *stride,
			 uint32_t *nrings)
{
	*ring0_off = (uint64_t)((char *)d->rings[0].ring - (char *)d->rg);
	*stride = sizeof(struct mt_ring) + (uint64_t)d->capacity * sizeof(struct mt_ring_rec);
	*nrings = d->nrings;
}
