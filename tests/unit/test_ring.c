/* Unit tests for src/agent/ring.h (the agent's producer side) and src/engine/ringdec.c
 * (memtrace's reader): push and drain on one thread, drops of every kind
 * counted, claiming and retiring rings, several producer threads against a
 * draining reader (every published event exactly once, per-ring order,
 * exact drop counts), cross-ring ordering of a reused address by
 * generations, and regions and records a hostile target could write. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "model/allocfn.h"
#include "agent/ring.h"
#include "engine/ringdec.h"

/* ---- a region and a sink ---------------------------------------------- */

static void *region_new(uint32_t nrings, uint32_t cap, size_t *len)
{
	*len = mt_ring_region_bytes(nrings, cap);
	void *p = aligned_alloc(64, (*len + 63) / 64 * 64);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(mt_ring_region_init(p, *len, nrings, cap), 0);
	return p;
}

#define SINK_MAX 64
struct sink {
	struct mt_event ev[SINK_MAX];
	size_t n;
};

static void sink_emit(void *ctx, const struct mt_event *ev)
{
	struct sink *s = ctx;
	ck_assert_uint_lt(s->n, SINK_MAX);
	s->ev[s->n++] = *ev;
}

static uint32_t sink_stack(void *ctx, uint64_t hash)
{
	return (uint32_t)(hash & 0xffff) + 1;
}

static struct mt_ringdec *reader(void *rg, size_t len, struct sink *s)
{
	struct mt_ringdec_ops ops = { .emit = sink_emit, .stack = sink_stack, .ctx = s };
	struct mt_ringdec *d;
	ck_assert_int_eq(mt_ringdec_new(rg, len, &ops, &d), 0);
	mt_ringdec_set_reader(d, 4242);
	return d;
}

static struct mt_ring_rec rec(enum mt_ring_kind kind, enum mt_fn fn, uint32_t tid,
			      uint64_t addr, uint64_t size, uint64_t old)
{
	return (struct mt_ring_rec){ .kind = kind, .fn = fn, .tid = tid, .addr = addr,
		.size = size, .old_addr = old, .caller = 0x401000 + addr % 64,
		.stack = addr ? 0xabc00 + tid : 0 };
}

/* The key of a record (ring.h): the block it is about. */
static uint64_t key_of(const struct mt_ring_rec *e)
{
	return e->kind == MT_RING_REALLOC_BEGIN ? e->old_addr : e->addr;
}

/* Takes E's generation as the agent does, at the moment the call is
 * ordered (a free before the real free, an allocation after). */
static struct mt_ring_rec gen(struct mt_ring_region *rg, struct mt_ring_rec e)
{
	e.gen = key_of(&e) ? mt_ring_next_gen(rg, key_of(&e)) : 0;
	return e;
}

static struct mt_ringdec_stats stats(struct mt_ringdec *d)
{
	struct mt_ringdec_stats st;
	mt_ringdec_stats(d, &st);
	return st;
}

/* ---- one thread --------------------------------------------------------- */

START_TEST(push_and_drain)
{
	size_t len;
	struct mt_ring_region *rg = region_new(4, 16, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	ck_assert_int_eq(rg->reader_pid, 4242);
	struct mt_ring *r = mt_ring_claim(rg, 77);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq(mt_ring_claim(rg, 77), r);
	ck_assert_uint_eq(r->owner, 77);

	struct mt_ring_rec in[] = {
		rec(MT_RING_ALLOC, MT_FN_MALLOC, 77, 0x10000, 32, 0),
		rec(MT_RING_ALLOC, MT_FN_CALLOC, 77, 0x20000, 4096, 0),
		rec(MT_RING_REALLOC_BEGIN, MT_FN_REALLOC, 77, 0, 64, 0x10000),
		rec(MT_RING_REALLOC, MT_FN_REALLOC, 77, 0x30000, 64, 0x10000),
		rec(MT_RING_FREE, MT_FN_FREE, 77, 0x20000, 0, 0),
		rec(MT_RING_FREE, MT_FN_FREE_SIZED, 77, 0x30000, 64, 0),
	};
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(mt_ring_push(rg, r, &in[i]), 1);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 6);
	ck_assert_uint_eq(s.n, 6);
	static const enum mt_event_kind kinds[] = { MT_EV_ALLOC, MT_EV_ALLOC,
		MT_EV_REALLOC_BEGIN, MT_EV_REALLOC, MT_EV_FREE, MT_EV_FREE };
	for (size_t i = 0; i < 6; i++) {
		ck_assert_int_eq(s.ev[i].kind, kinds[i]);
		ck_assert_int_eq(s.ev[i].fn, in[i].fn);
		ck_assert_int_eq(s.ev[i].tid, 77);
		ck_assert_uint_eq(s.ev[i].addr, in[i].addr);
		ck_assert_uint_eq(s.ev[i].size, in[i].size);
		ck_assert_uint_eq(s.ev[i].old_addr, in[i].old_addr);
		ck_assert_uint_eq(s.ev[i].caller, in[i].caller);
		ck_assert_uint_eq(s.ev[i].stack, in[i].stack ? (in[i].stack & 0xffff) + 1 : 0);
		ck_assert_uint_gt(s.ev[i].time_ns, 0);
	}
	ck_assert_uint_eq(r->tail, 6);
	ck_assert_uint_eq(rg->reader_heartbeat, 1);
	/* nothing more */
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 0);
	ck_assert_uint_eq(rg->reader_heartbeat, 2);
	/* a budget is kept */
	for (size_t i = 0; i < 6; i++)
		mt_ring_push(rg, r, &in[i]);
	ck_assert_uint_eq(mt_ringdec_drain(d, 4), 4);
	ck_assert_uint_eq(mt_ringdec_drain(d, 4), 2);
	struct mt_ringdec_stats st = stats(d);
	ck_assert_uint_eq(st.events, 12);
	ck_assert_uint_eq(st.realloc_begins, 2);   /* one per realloc call */
	ck_assert_uint_eq(st.rejected, 0);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

START_TEST(full_ring_drops_and_counts)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *r = mt_ring_claim(rg, 5);
	int ok = 0;
	for (uint64_t i = 0; i < 20; i++) {
		struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 5, 0x1000 * (i + 1), 8, 0);
		ok += mt_ring_push(rg, r, &e);
	}
	ck_assert_int_eq(ok, 8);
	ck_assert_uint_eq(stats(d).dropped_full, 12);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 8);
	for (size_t i = 0; i < 8; i++)
		ck_assert_uint_eq(s.ev[i].addr, 0x1000 * (i + 1));   /* the first 8 */
	/* space again */
	struct mt_ring_rec e = rec(MT_RING_FREE, MT_FN_FREE, 5, 0x1000, 0, 0);
	ck_assert_int_eq(mt_ring_push(rg, r, &e), 1);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 1);
	ck_assert_uint_eq(stats(d).dropped_full, 12);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

START_TEST(other_drops)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 8, &len);
	struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 1, 0x1000, 8, 0);
	/* no reader yet: dropped at once */
	struct mt_ring *r1 = mt_ring_claim(rg, 1);
	ck_assert_int_eq(mt_ring_push(rg, r1, &e), 0);
	ck_assert_uint_eq(r1->dropped_noreader, 1);
	ck_assert_uint_eq(r1->head, 0);

	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	/* two rings, three threads */
	struct mt_ring *r2 = mt_ring_claim(rg, 2);
	ck_assert_ptr_nonnull(r2);
	ck_assert_ptr_ne(r1, r2);
	ck_assert_ptr_null(mt_ring_claim(rg, 3));
	ck_assert_int_eq(mt_ring_push(rg, NULL, &e), 0);
	ck_assert_uint_eq(rg->dropped_noring, 1);
	/* a push interrupted by a signal handler that allocates */
	r1->busy = 1;
	ck_assert_int_eq(mt_ring_push(rg, r1, &e), 0);
	r1->busy = 0;
	ck_assert_int_eq(mt_ring_push(rg, r1, &e), 1);
	/* a retired ring goes to the next thread and keeps its positions */
	mt_ring_retire(r1);
	ck_assert_ptr_eq(mt_ring_claim(rg, 3), r1);
	ck_assert_ptr_eq(mt_ring_claim(rg, 2), r2);
	struct mt_ring_rec e3 = rec(MT_RING_FREE, MT_FN_FREE, 3, 0x1000, 0, 0);
	ck_assert_int_eq(mt_ring_push(rg, r1, &e3), 1);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 2);
	ck_assert_int_eq(s.ev[0].tid, 1);
	ck_assert_int_eq(s.ev[1].tid, 3);

	struct mt_ringdec_stats st = stats(d);
	ck_assert_uint_eq(st.dropped_noreader, 1);
	ck_assert_uint_eq(st.dropped_noring, 1);
	ck_assert_uint_eq(st.dropped_reentered, 1);
	ck_assert_uint_eq(st.dropped_full, 0);
	/* detached: the agent drops again */
	mt_ringdec_set_reader(d, 0);
	ck_assert_int_eq(mt_ring_push(rg, r2, &e), 0);
	ck_assert_uint_eq(stats(d).dropped_noreader, 2);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* A ring found full stays shut until the reader has emptied half of it
 * (mt_ring_open): the producer does not chase the reader slot by slot. */
START_TEST(full_ring_reopens_at_half)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *r = mt_ring_claim(rg, 5);
	struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 5, 0x1000, 8, 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(mt_ring_push(rg, r, &e), 1);
	ck_assert_int_eq(mt_ring_open(rg, r), 0);
	ck_assert_uint_eq(r->shut, 1);
	/* 3 of 8 read: room for 3, but still shut */
	ck_assert_uint_eq(mt_ringdec_drain(d, 3), 3);
	ck_assert_int_eq(mt_ring_push(rg, r, &e), 0);
	ck_assert_uint_eq(stats(d).dropped_full, 1);
	/* 4 of 8 read: half empty, open again */
	ck_assert_uint_eq(mt_ringdec_drain(d, 1), 1);
	ck_assert_int_eq(mt_ring_push(rg, r, &e), 1);
	ck_assert_uint_eq(r->shut, 0);
	ck_assert_uint_eq(stats(d).dropped_full, 1);
	/* no reader: -1, and refuse() counts that apart */
	mt_ringdec_set_reader(d, 0);
	ck_assert_int_eq(mt_ring_open(rg, r), -1);
	mt_ring_refuse(r, -1, 2);
	ck_assert_uint_eq(stats(d).dropped_noreader, 2);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* A producer that publishes while memtrace drains (here: from the sink,
 * at the first record) is followed within the same drain, up to the
 * budget: the drain looks at the heads again before it says "empty". */
struct follow {
	struct sink s;
	struct mt_ring_region *rg;
	struct mt_ring *r;
};

static void follow_emit(void *ctx, const struct mt_event *ev)
{
	struct follow *f = ctx;
	sink_emit(&f->s, ev);
	if (f->s.n == 1) {
		for (uint64_t i = 0; i < 4; i++) {
			struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 5,
						   0x9000 + 0x100 * i, 8, 0);
			ck_assert_int_eq(mt_ring_push(f->rg, f->r, &e), 1);
		}
	}
}

START_TEST(drain_follows_a_busy_producer)
{
	size_t len;
	struct follow f = { .rg = region_new(2, 16, &len) };
	struct mt_ringdec_ops ops = { .emit = follow_emit, .stack = sink_stack, .ctx = &f };
	struct mt_ringdec *d;
	ck_assert_int_eq(mt_ringdec_new(f.rg, len, &ops, &d), 0);
	mt_ringdec_set_reader(d, 4242);
	f.r = mt_ring_claim(f.rg, 5);
	for (uint64_t i = 0; i < 3; i++) {
		struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 5, 0x1000 * (i + 1), 8, 0);
		ck_assert_int_eq(mt_ring_push(f.rg, f.r, &e), 1);
	}
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 7);
	ck_assert_uint_eq(f.s.n, 7);
	ck_assert_uint_eq(f.s.ev[6].addr, 0x9300);
	ck_assert_uint_eq(f.r->tail, 7);
	/* the budget still bounds it */
	f.s.n = 0;
	for (uint64_t i = 0; i < 3; i++) {
		struct mt_ring_rec e = rec(MT_RING_FREE, MT_FN_FREE, 5, 0x1000 * (i + 1), 0, 0);
		ck_assert_int_eq(mt_ring_push(f.rg, f.r, &e), 1);
	}
	ck_assert_uint_eq(mt_ringdec_drain(d, 5), 5);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 2);
	mt_ringdec_destroy(d);
	free(f.rg);
}
END_TEST

/* --lossless: a producer asleep on a full ring's tail (the agent's
 * wait_room) is woken once memtrace has freed half the ring, not left to
 * its timeout.  The waiter's timeout is far longer than any test. */
struct waiter {
	uint32_t *word;
	uint32_t val;
	int tid;
	int ready;
	long rc;
	int err;
};

static void *wait_on_tail(void *arg)
{
	struct waiter *w = arg;
	struct timespec ts = { 600, 0 };
	__atomic_store_n(&w->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	w->rc = syscall(SYS_futex, w->word, FUTEX_WAIT, w->val, &ts, NULL, 0);
	w->err = errno;
	return NULL;
}

/* Whether thread TID of this process sleeps (state S in its stat). */
static bool sleeping(int tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

START_TEST(full_ring_wakes_its_waiter)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *r = mt_ring_claim(rg, 5);
	struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 5, 0x1000, 8, 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(mt_ring_push(rg, r, &e), 1);
	struct waiter w = { .word = (uint32_t *)&r->tail, .val = (uint32_t)r->tail };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, wait_on_tail, &w), 0);
	/* past `ready` the waiter's only way to sleep is the futex */
	while (!__atomic_load_n(&w.ready, __ATOMIC_ACQUIRE) || !sleeping(w.tid))
		sched_yield();
	ck_assert_uint_eq(mt_ringdec_drain(d, 4), 4);
	pthread_join(th, NULL);
	ck_assert_msg(w.rc == 0, "futex wait ended with %ld, errno %d", w.rc, w.err);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* A new reader starts where the agent is: a dead reader's backlog is
 * skipped and counted, not decoded as if it were new. */
START_TEST(reattach_skips_backlog)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *r = mt_ring_claim(rg, 9);
	struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 9, 0x1000, 8, 0);
	for (int i = 0; i < 5; i++)
		mt_ring_push(rg, r, &e);
	mt_ringdec_destroy(d);   /* killed: reader_pid stays */
	struct sink s2 = { 0 };
	struct mt_ringdec *d2 = reader(rg, len, &s2);
	ck_assert_uint_eq(stats(d2).skipped_at_open, 5);
	ck_assert_uint_eq(r->tail, 5);
	ck_assert_int_eq(mt_ring_push(rg, r, &e), 1);
	ck_assert_uint_eq(mt_ringdec_drain(d2, 100), 1);
	ck_assert_uint_eq(s2.n, 1);
	mt_ringdec_destroy(d2);
	free(rg);
}
END_TEST

/* ---- cross-ring order ---------------------------------------------------- */

/* Thread 2 frees X (its generation taken before the real free), then
 * thread 1's malloc returns X (taken after); and the same for Y the other
 * way round.  Whichever ring the reader visits first, each free comes out
 * before the allocation that reuses its address, and nothing is forced. */
START_TEST(reused_address_waits_for_other_rings)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *r1 = mt_ring_claim(rg, 1), *r2 = mt_ring_claim(rg, 2);
	const uint64_t X = 0x5000, Y = 0x6000;
	struct mt_ring_rec ax = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, 2, X, 16, 0));
	struct mt_ring_rec ay = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, 1, Y, 16, 0));
	mt_ring_push(rg, r2, &ax);
	mt_ring_push(rg, r1, &ay);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 2);   /* X and Y live */

	/* in time: free(X), malloc -> X, free(Y), calloc -> Y;
	 * ring 1: malloc -> X, free(Y);  ring 2: free(X), calloc -> Y */
	struct mt_ring_rec r2a = gen(rg, rec(MT_RING_FREE, MT_FN_FREE, 2, X, 0, 0));
	struct mt_ring_rec r1a = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, 1, X, 48, 0));
	struct mt_ring_rec r1b = gen(rg, rec(MT_RING_FREE, MT_FN_FREE, 1, Y, 0, 0));
	struct mt_ring_rec r2b = gen(rg, rec(MT_RING_ALLOC, MT_FN_CALLOC, 2, Y, 96, 0));
	mt_ring_push(rg, r2, &r2a);
	mt_ring_push(rg, r1, &r1a);
	mt_ring_push(rg, r1, &r1b);
	mt_ring_push(rg, r2, &r2b);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 4);
	ck_assert_uint_eq(s.n, 6);
	int free_x = -1, alloc_x = -1, free_y = -1, alloc_y = -1;
	for (int i = 2; i < 6; i++) {
		bool fr = s.ev[i].kind == MT_EV_FREE;
		if (s.ev[i].addr == X)
			*(fr ? &free_x : &alloc_x) = i;
		else
			*(fr ? &free_y : &alloc_y) = i;
	}
	ck_assert_int_lt(free_x, alloc_x);
	ck_assert_int_lt(free_y, alloc_y);
	ck_assert_int_ge(free_x, 2);
	ck_assert_int_ge(free_y, 2);
	struct mt_ringdec_stats st = stats(d);
	ck_assert_uint_ge(st.order_waits, 1);
	ck_assert_uint_eq(st.order_forced, 0);

	/* A free of a block from before the attach, and a record without a
	 * key (a failed realloc): neither waits. */
	uint64_t waits = st.order_waits;
	struct mt_ring_rec old = gen(rg, rec(MT_RING_FREE, MT_FN_FREE, 2, 0x9000, 0, 0));
	struct mt_ring_rec failed = gen(rg, rec(MT_RING_REALLOC, MT_FN_REALLOC, 1, 0, 1, 0x9100));
	ck_assert_uint_eq(failed.gen, 0);
	mt_ring_push(rg, r2, &old);
	mt_ring_push(rg, r1, &failed);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 2);
	ck_assert_uint_eq(s.n, 8);
	st = stats(d);
	ck_assert_uint_eq(st.order_waits, waits);
	ck_assert_uint_eq(st.order_forced, 0);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* The case a live-block test gets wrong: thread A allocates X, thread B
 * frees it, thread C's allocation returns X again, each in its own ring.
 * The reader drains C's ring first; at that moment X is not live for it
 * (A's allocation is unread), so only the generations tell that C's
 * allocation must wait for both others. */
START_TEST(alloc_free_alloc_across_three_rings)
{
	size_t len;
	struct mt_ring_region *rg = region_new(3, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	/* the reader starts at ring 0: C has ring 0, B ring 1, A ring 2 */
	struct mt_ring *ring[3];
	uint32_t tid[3];
	for (uint32_t t = 1; t <= 3; t++) {
		struct mt_ring *r = mt_ring_claim(rg, t);
		for (uint32_t i = 0; i < 3; i++)
			if (mt_ring_at(rg, i) == r) {
				ring[i] = r;
				tid[i] = t;
			}
	}
	struct mt_ring *rc = ring[0], *rb = ring[1], *ra = ring[2];
	const uint64_t X = 0x7ff012345670;
	struct mt_ring_rec alloc1 = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, tid[2], X, 16, 0));
	struct mt_ring_rec fr = gen(rg, rec(MT_RING_FREE, MT_FN_FREE, tid[1], X, 0, 0));
	struct mt_ring_rec alloc2 = gen(rg, rec(MT_RING_ALLOC, MT_FN_CALLOC, tid[0], X, 64, 0));
	ck_assert_uint_eq(alloc1.gen, 1);
	ck_assert_uint_eq(fr.gen, 2);
	ck_assert_uint_eq(alloc2.gen, 3);
	/* published in the reverse order, as late as the agent may */
	ck_assert_int_eq(mt_ring_push(rg, rc, &alloc2), 1);
	ck_assert_int_eq(mt_ring_push(rg, rb, &fr), 1);
	ck_assert_int_eq(mt_ring_push(rg, ra, &alloc1), 1);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 3);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_int_eq(s.ev[0].kind, MT_EV_ALLOC);
	ck_assert_int_eq(s.ev[0].tid, tid[2]);
	ck_assert_uint_eq(s.ev[0].size, 16);
	ck_assert_int_eq(s.ev[1].kind, MT_EV_FREE);
	ck_assert_int_eq(s.ev[1].tid, tid[1]);
	ck_assert_int_eq(s.ev[2].kind, MT_EV_ALLOC);
	ck_assert_int_eq(s.ev[2].tid, tid[0]);
	ck_assert_uint_eq(s.ev[2].size, 64);
	struct mt_ringdec_stats st = stats(d);
	ck_assert_uint_ge(st.order_waits, 1);
	ck_assert_uint_eq(st.order_forced, 0);

	/* and a realloc of X in place by A, then a free by B: the realloc's
	 * begin and end are keyed on X too */
	struct mt_ring_rec rb1 = gen(rg, rec(MT_RING_REALLOC_BEGIN, MT_FN_REALLOC, tid[2], 0, 0, X));
	struct mt_ring_rec rb2 = gen(rg, rec(MT_RING_REALLOC, MT_FN_REALLOC, tid[2], X, 128, X));
	struct mt_ring_rec fr2 = gen(rg, rec(MT_RING_FREE, MT_FN_FREE, tid[1], X, 0, 0));
	ck_assert_uint_eq(fr2.gen, 6);
	mt_ring_push(rg, rb, &fr2);
	mt_ring_push(rg, ra, &rb1);
	mt_ring_push(rg, ra, &rb2);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 3);
	ck_assert_uint_eq(s.n, 6);
	ck_assert_int_eq(s.ev[3].kind, MT_EV_REALLOC_BEGIN);
	ck_assert_int_eq(s.ev[4].kind, MT_EV_REALLOC);
	ck_assert_int_eq(s.ev[5].kind, MT_EV_FREE);
	ck_assert_uint_eq(stats(d).order_forced, 0);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* A record dropped (its ring was full) leaves a gap in its slot's
 * generations: the next record of that address waits, nothing moves, and
 * it goes anyway, counted; the slot goes on from it without waiting. */
START_TEST(dropped_record_forces_once)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 2, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *r1 = mt_ring_claim(rg, 1), *r2 = mt_ring_claim(rg, 2);
	const uint64_t X = 0x8000;
	struct mt_ring_rec a = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, 1, X, 8, 0));
	struct mt_ring_rec other = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, 1, 0x9000, 8, 0));
	ck_assert_int_eq(mt_ring_push(rg, r1, &a), 1);
	ck_assert_int_eq(mt_ring_push(rg, r1, &other), 1);
	/* ring 1 is full: its free of X is dropped, generation and all */
	struct mt_ring_rec f = gen(rg, rec(MT_RING_FREE, MT_FN_FREE, 1, X, 0, 0));
	ck_assert_int_eq(mt_ring_push(rg, r1, &f), 0);
	ck_assert_uint_eq(stats(d).dropped_full, 1);
	/* thread 2 gets X again, then frees it */
	struct mt_ring_rec b = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, 2, X, 32, 0));
	struct mt_ring_rec g = gen(rg, rec(MT_RING_FREE, MT_FN_FREE, 2, X, 0, 0));
	ck_assert_uint_eq(b.gen, f.gen + 1);
	ck_assert_int_eq(mt_ring_push(rg, r2, &b), 1);
	ck_assert_int_eq(mt_ring_push(rg, r2, &g), 1);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 4);
	ck_assert_uint_eq(s.n, 4);
	/* ring order kept; X's allocations in their order */
	int ia = -1, ib = -1, ig = -1;
	for (int i = 0; i < 4; i++) {
		if (s.ev[i].addr != X)
			continue;
		if (s.ev[i].kind == MT_EV_FREE)
			ig = i;
		else if (s.ev[i].tid == 1)
			ia = i;
		else
			ib = i;
	}
	ck_assert_int_ge(ia, 0);
	ck_assert_int_lt(ia, ib);
	ck_assert_int_lt(ib, ig);
	struct mt_ringdec_stats st = stats(d);
	ck_assert_uint_eq(st.order_forced, 1);
	ck_assert_uint_ge(st.order_waits, 1);
	ck_assert_uint_eq(st.events, 4);
	/* the slot is in step again: the next record of X goes at once */
	uint64_t waits = st.order_waits;
	struct mt_ring_rec c = gen(rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, 1, X, 8, 0));
	ck_assert_int_eq(mt_ring_push(rg, r1, &c), 1);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 1);
	st = stats(d);
	ck_assert_uint_eq(st.order_waits, waits);
	ck_assert_uint_eq(st.order_forced, 1);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* ---- threads -------------------------------------------------------------- */

#define NTHREADS 8
#define PER_THREAD 200000u

struct producer {
	struct mt_ring_region *rg;
	uint32_t tid;
	uint64_t pushed, dropped;
	uint8_t *ok;   /* ok[i]: event i was published */
};

static int producers_done;

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct mt_ring *r = mt_ring_claim(p->rg, p->tid);
	for (uint32_t i = 0; i < PER_THREAD; i++) {
		/* the event's number in addr, its thread in the high bits; a
		 * generation as the agent takes it, so that the reader's
		 * cross-ring waits (slots are shared by hashing) and the
		 * gaps of dropped events are exercised too */
		struct mt_ring_rec e = gen(p->rg, rec(MT_RING_ALLOC, MT_FN_MALLOC, p->tid,
						      ((uint64_t)p->tid << 32) | ((uint64_t)i << 4),
						      i, 0));
		if (mt_ring_push(p->rg, r, &e)) {
			p->ok[i] = 1;
			p->pushed++;
		} else {
			p->dropped++;
			sched_yield();   /* let the reader catch up */
		}
	}
	__atomic_fetch_add(&producers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct checker {
	int64_t next[NTHREADS + 1];   /* last event number seen per thread */
	uint64_t got[NTHREADS + 1];
	uint8_t *seen[NTHREADS];
	int bad;
};

static void check_emit(void *ctx, const struct mt_event *ev)
{
	struct checker *c = ctx;
	uint32_t t = (uint32_t)ev->tid;
	int64_t i = (int64_t)((ev->addr & 0xffffffffu) >> 4);
	if (t < 1 || t > NTHREADS || ev->addr >> 32 != t || i <= c->next[t] ||
	    i >= PER_THREAD) {
		c->bad++;   /* out of its ring's order, or twice */
		return;
	}
	c->next[t] = i;
	c->seen[t - 1][i] = 1;   /* compared with what was published at the end */
	c->got[t]++;
}

START_TEST(threads_exactly_once)
{
	size_t len;
	struct mt_ring_region *rg = region_new(NTHREADS + 2, 1024, &len);
	struct producer prod[NTHREADS];
	struct checker c = { 0 };
	for (int t = 0; t <= NTHREADS; t++)
		c.next[t] = -1;
	struct mt_ringdec_ops ops = { .emit = check_emit, .ctx = &c };
	struct mt_ringdec *d;
	ck_assert_int_eq(mt_ringdec_new(rg, len, &ops, &d), 0);
	mt_ringdec_set_reader(d, 1);

	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		prod[t] = (struct producer){ .rg = rg, .tid = (uint32_t)t + 1 };
		prod[t].ok = calloc(PER_THREAD, 1);
		c.seen[t] = calloc(PER_THREAD, 1);
		ck_assert_ptr_nonnull(prod[t].ok);
		ck_assert_ptr_nonnull(c.seen[t]);
		ck_assert_int_eq(pthread_create(&th[t], NULL, produce, &prod[t]), 0);
	}
	/* drain while they push: small batches so the rings fill at times */
	while (__atomic_load_n(&producers_done, __ATOMIC_ACQUIRE) < NTHREADS)
		mt_ringdec_drain(d, 512);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	while (mt_ringdec_drain(d, 4096) > 0)
		;
	uint64_t pushed = 0, dropped = 0;
	for (int t = 0; t < NTHREADS; t++) {
		ck_assert_uint_eq(c.got[t + 1], prod[t].pushed);
		ck_assert_uint_eq(prod[t].pushed + prod[t].dropped, PER_THREAD);
		/* exactly the published events arrived */
		ck_assert_int_eq(memcmp(c.seen[t], prod[t].ok, PER_THREAD), 0);
		pushed += prod[t].pushed;
		dropped += prod[t].dropped;
		free(prod[t].ok);
		free(c.seen[t]);
	}
	ck_assert_int_eq(c.bad, 0);
	struct mt_ringdec_stats st = stats(d);
	ck_assert_uint_eq(st.events, pushed);
	ck_assert_uint_eq(st.dropped_full, dropped);
	ck_assert_uint_eq(st.rejected, 0);
	ck_assert_uint_eq(st.poisoned_rings, 0);
	ck_assert_uint_gt(pushed, 0);
	if (getenv("TEST_RING_VERBOSE"))
		fprintf(stderr,
			"threads: %" PRIu64 " published, %" PRIu64 " dropped, %" PRIu64
			" waits, %" PRIu64 " forced\n",
			pushed, dropped, st.order_waits, st.order_forced);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* ---- a hostile target ----------------------------------------------------- */

START_TEST(bad_regions_refused)
{
	size_t len;
	struct mt_ring_region *rg = region_new(4, 16, &len);
	struct sink s = { 0 };
	struct mt_ringdec_ops ops = { .emit = sink_emit, .ctx = &s };
	struct mt_ringdec *d;
	struct mt_ring_region good = *rg;
#define REFUSED(field, value)                                              \
	do {                                                               \
		*rg = good;                                                \
		rg->field = (value);                                       \
		ck_assert_int_eq(mt_ringdec_new(rg, len, &ops, &d), -EINVAL); \
		ck_assert_ptr_null(d);                                     \
	} while (0)
	REFUSED(magic, 0);
	REFUSED(magic, MT_RING_MAGIC + 1);
	REFUSED(version, MT_RING_VERSION + 1);
	REFUSED(version, 0);
	REFUSED(header_size, 64);
	REFUSED(ring_header_size, 256);
	REFUSED(record_size, 32);
	REFUSED(nrings, 0);
	REFUSED(nrings, 5);                   /* more rings than the region */
	REFUSED(nrings, UINT32_MAX);
	REFUSED(capacity, 0);
	REFUSED(capacity, 1);
	REFUSED(capacity, 24);                /* no power of two */
	REFUSED(capacity, 32);                /* larger than the region */
	REFUSED(capacity, 1u << 31);
	REFUSED(region_size, len + 1);        /* larger than the mapping */
	REFUSED(region_size, len - 1);        /* smaller than its rings */
	REFUSED(gens_cap, 0);
	REFUSED(gens_cap, 3);                 /* no power of two */
	REFUSED(gens_cap, MT_RING_GENS * 2);  /* the table past the region */
	REFUSED(gens_cap, MT_RING_MAX_GENS * 2);
	REFUSED(gens_cap, 1u << 31);
	*rg = good;
	ck_assert_int_eq(mt_ringdec_new(rg, sizeof *rg - 1, &ops, &d), -EINVAL);
	ck_assert_int_eq(mt_ringdec_new(rg, len - 1, &ops, &d), -EINVAL);
	ck_assert_int_eq(mt_ringdec_new((char *)rg + 8, len - 8, &ops, &d), -EINVAL);
	ck_assert_int_eq(mt_ringdec_new(rg, len, &ops, &d), 0);
	mt_ringdec_destroy(d);
	/* the writer's limits */
	ck_assert_int_eq(mt_ring_region_init(rg, len, 4, 12), -EINVAL);
	ck_assert_int_eq(mt_ring_region_init(rg, len, 0, 16), -EINVAL);
	ck_assert_int_eq(mt_ring_region_init(rg, len, 5, 16), -EINVAL);
	free(rg);
}
END_TEST

/* Writes record POS of ring R by hand, as a hostile or buggy target could. */
static void poke(struct mt_ring_region *rg, struct mt_ring *r, struct mt_ring_rec e,
		 bool fix_check)
{
	uint64_t pos = r->head;
	if (e.seq == 0)
		e.seq = pos;
	if (fix_check)
		e.check = mt_ring_rec_check(&e);
	*mt_ring_slot(rg, r, pos) = e;
	r->head = pos + 1;
}

START_TEST(bad_records_rejected)
{
	size_t len;
	struct mt_ring_region *rg = region_new(2, 64, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *r = mt_ring_claim(rg, 3);
	struct mt_ring_rec good = rec(MT_RING_ALLOC, MT_FN_MALLOC, 3, 0x7000, 8, 0);
	poke(rg, r, good, true);
	struct mt_ring_rec bad[] = {
		rec(4, MT_FN_MALLOC, 3, 0x7000, 8, 0),                 /* kind */
		rec(0xffff, MT_FN_MALLOC, 3, 0x7000, 8, 0),
		rec(MT_RING_ALLOC, MT_FN__COUNT, 3, 0x7000, 8, 0),     /* fn */
		rec(MT_RING_ALLOC, MT_FN_FREE, 3, 0x7000, 8, 0),       /* kind vs fn */
		rec(MT_RING_FREE, MT_FN_MALLOC, 3, 0x7000, 0, 0),
		rec(MT_RING_REALLOC, MT_FN_CALLOC, 3, 0x7000, 8, 0x6000),
		rec(MT_RING_REALLOC_BEGIN, MT_FN_REALLOC, 3, 0, 8, 0),  /* no old block */
		rec(MT_RING_ALLOC, MT_FN_MALLOC, 3, 0, 8, 0),          /* NULL */
		rec(MT_RING_FREE, MT_FN_FREE, 3, 0, 0, 0),
		rec(MT_RING_ALLOC, MT_FN_MALLOC, 0, 0x7000, 8, 0),     /* tid */
		rec(MT_RING_ALLOC, MT_FN_MALLOC, 0x80000000u, 0x7000, 8, 0),
		rec(MT_RING_ALLOC, MT_FN_MALLOC, 3, UINT64_MAX - 4, 8, 0), /* wraps */
		rec(MT_RING_ALLOC, MT_FN_MALLOC, 3, 0x7000, UINT64_MAX, 0),
		rec(MT_RING_ALLOC, MT_FN_MALLOC, 3, 1ULL << 60, 8, 0), /* kernel */
	};
	size_t nbad = sizeof bad / sizeof bad[0];
	for (size_t i = 0; i < nbad; i++) {
		poke(rg, r, bad[i], true);
		poke(rg, r, good, true);
	}
	/* a torn record: check word of other contents */
	struct mt_ring_rec torn = good;
	torn.check = mt_ring_rec_check(&good) ^ 1;
	poke(rg, r, torn, false);
	/* a failed realloc (no new block) with a generation */
	struct mt_ring_rec genless = rec(MT_RING_REALLOC, MT_FN_REALLOC, 3, 0, 8, 0x6000);
	poke(rg, r, genless, true);   /* gen 0: fine */
	genless.gen = 7;
	poke(rg, r, genless, true);
	/* a stale record: the seq of a lap ago */
	struct mt_ring_rec stale = good;
	stale.seq = r->head + 64 * 1000;
	poke(rg, r, stale, true);
	poke(rg, r, good, true);
	ck_assert_uint_eq(mt_ringdec_drain(d, 1000), 1 + 2 * nbad + 5);
	ck_assert_uint_eq(s.n, 1 + nbad + 2);
	for (size_t i = 0; i < s.n; i++)
		ck_assert_uint_eq(s.ev[i].addr, s.ev[i].kind == MT_EV_REALLOC ? 0 : 0x7000);
	ck_assert_uint_eq(stats(d).rejected, nbad + 3);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

START_TEST(impossible_heads_poison_the_ring)
{
	size_t len;
	struct mt_ring_region *rg = region_new(3, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	struct mt_ring *a = mt_ring_claim(rg, 1), *b = mt_ring_claim(rg, 2),
		       *c = mt_ring_claim(rg, 3);
	struct mt_ring_rec e = rec(MT_RING_ALLOC, MT_FN_MALLOC, 1, 0x1000, 8, 0);
	mt_ring_push(rg, a, &e);
	mt_ring_push(rg, b, &e);
	mt_ring_push(rg, c, &e);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 3);
	a->head = 1 + 9;          /* more than a ring ahead of the tail */
	b->head = 0;              /* backwards */
	c->head = UINT64_MAX;
	mt_ringdec_drain(d, 100);
	ck_assert_uint_eq(stats(d).poisoned_rings, 3);
	ck_assert_uint_eq(s.n, 3);
	/* the geometry scribbled on after the open changes nothing */
	rg->nrings = UINT32_MAX;
	rg->capacity = 3;
	rg->magic = 0;
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 0);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

/* Every ring full of records that must wait, with nothing to wait for: the
 * drain still ends within its budget. */
START_TEST(waiting_everywhere_terminates)
{
	size_t len;
	struct mt_ring_region *rg = region_new(4, 8, &len);
	struct sink s = { 0 };
	struct mt_ringdec *d = reader(rg, len, &s);
	for (uint32_t t = 1; t <= 4; t++) {
		struct mt_ring *r = mt_ring_claim(rg, t);
		for (int i = 0; i < 8; i++) {
			/* frees whose allocations were all dropped */
			struct mt_ring_rec e = rec(MT_RING_FREE, MT_FN_FREE, t,
						   0x100000 * t + 16 * (uint64_t)i, 0, 0);
			mt_ring_next_gen(rg, e.addr);
			e = gen(rg, e);
			ck_assert_int_eq(mt_ring_push(rg, r, &e), 1);
		}
	}
	ck_assert_uint_eq(mt_ringdec_drain(d, 10), 10);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 22);
	ck_assert_uint_eq(mt_ringdec_drain(d, 100), 0);
	ck_assert_uint_eq(s.n, 32);
	ck_assert_uint_eq(stats(d).order_forced, 32);
	mt_ringdec_destroy(d);
	free(rg);
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, push_and_drain);
	tcase_add_test(tc, full_ring_drops_and_counts);
	tcase_add_test(tc, full_ring_reopens_at_half);
	tcase_add_test(tc, drain_follows_a_busy_producer);
	tcase_add_test(tc, full_ring_wakes_its_waiter);
	tcase_add_test(tc, other_drops);
	tcase_add_test(tc, reattach_skips_backlog);
	tcase_add_test(tc, reused_address_waits_for_other_rings);
	tcase_add_test(tc, alloc_free_alloc_across_three_rings);
	tcase_add_test(tc, dropped_record_forces_once);
	tcase_add_test(tc, threads_exactly_once);
	tcase_add_test(tc, bad_regions_refused);
	tcase_add_test(tc, bad_records_rejected);
	tcase_add_test(tc, impossible_heads_poison_the_ring);
	tcase_add_test(tc, waiting_everywhere_terminates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
