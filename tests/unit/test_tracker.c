/* Unit tests for src/model/tracker.c: event sequences in, stats and per-site
 * counters out.  The accounting rules are the ones in tracker.h (and the
 * ACCOUNTING section of memtrace(1)). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/tracker.h"

/* Callers (return addresses): two in the program, one in libc. */
#define C1 0x555555555189ULL
#define C2 0x5555555551c4ULL
#define C3 0x555555555203ULL
#define LIBC_LO 0x7ffff7d80000ULL
#define LIBC_HI 0x7ffff7f35000ULL
#define C_LIBC  0x7ffff7e1a5b2ULL

#define P 0x5555555592a0ULL
#define Q 0x5555555596c0ULL

static struct mt_tracker *t;

static void setup(void)
{
	t = mt_tracker_new();
	ck_assert_ptr_nonnull(t);
}

static void teardown(void)
{
	mt_tracker_destroy(t);
	t = NULL;
}

static void ev(enum mt_event_kind kind, pid_t tid, uint64_t addr, uint64_t size,
	       uint64_t old, uint64_t caller)
{
	static uint64_t clock_ns;
	struct mt_event e = {
		.kind = kind, .fn = MT_FN_MALLOC, .tid = tid, .addr = addr, .size = size,
		.old_addr = old, .caller = caller, .time_ns = ++clock_ns,
	};
	if (kind == MT_EV_FREE)
		e.fn = MT_FN_FREE;
	else if (kind == MT_EV_REALLOC || kind == MT_EV_REALLOC_BEGIN)
		e.fn = MT_FN_REALLOC;
	mt_tracker_event(t, &e);
}

static void alloc(pid_t tid, uint64_t addr, uint64_t size, uint64_t caller)
{
	ev(MT_EV_ALLOC, tid, addr, size, 0, caller);
}

static void dofree(pid_t tid, uint64_t addr, uint64_t caller)
{
	ev(MT_EV_FREE, tid, addr, 0, 0, caller);
}

/* The engine sends REALLOC_BEGIN only for a non-NULL old pointer. */
static void realloc_begin(pid_t tid, uint64_t old, uint64_t caller)
{
	ev(MT_EV_REALLOC_BEGIN, tid, 0, 0, old, caller);
}

static void realloc_end(pid_t tid, uint64_t old, uint64_t addr, uint64_t size, uint64_t caller)
{
	ev(MT_EV_REALLOC, tid, addr, size, old, caller);
}

static struct mt_tracker_stats stats(void)
{
	struct mt_tracker_stats st;
	mt_tracker_stats(t, &st);
	ck_assert(mt_livetable_check_invariants(mt_tracker_live(t)));
	ck_assert_uint_eq(mt_livetable_count(mt_tracker_live(t)), st.live_blocks);
	ck_assert_uint_eq(mt_livetable_bytes(mt_tracker_live(t)), st.live_bytes);
	return st;
}

/* The site whose key is CALLER, or NULL when none was created. */
static const struct mt_site *site(uint64_t caller)
{
	const struct mt_sites *s = mt_tracker_sites(t);
	for (uint32_t i = 0; i < mt_sites_count(s); i++) {
		const struct mt_site *x = mt_sites_get_const(s, i);
		if (x->key == caller)
			return x;
	}
	return NULL;
}

static void assert_site(uint64_t caller, uint64_t allocs, uint64_t alloc_bytes, uint64_t frees,
			uint64_t live_blocks, uint64_t live_bytes)
{
	const struct mt_site *s = site(caller);
	ck_assert_msg(s, "no site for %#llx", (unsigned long long)caller);
	ck_assert_uint_eq(s->allocs, allocs);
	ck_assert_uint_eq(s->alloc_bytes, alloc_bytes);
	ck_assert_uint_eq(s->frees, frees);
	ck_assert_uint_eq(s->live_blocks, live_blocks);
	ck_assert_uint_eq(s->live_bytes, live_bytes);
	ck_assert_uint_eq(s->freed_bytes, alloc_bytes - live_bytes);
}

static bool live(uint64_t addr, uint64_t *size)
{
	struct mt_block b;
	if (!mt_livetable_find_containing(mt_tracker_live(t), addr, &b) || b.addr != addr)
		return false;
	if (size)
		*size = b.size;
	return true;
}

START_TEST(test_empty)
{
	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.events, 0);
	ck_assert_uint_eq(st.allocs + st.frees + st.unknown_frees + st.inconsistencies, 0);
	ck_assert_uint_eq(mt_sites_count(mt_tracker_sites(t)), 0);
}
END_TEST

START_TEST(test_alloc_free_sites)
{
	alloc(1, P, 100, C1);
	alloc(1, P + 0x100, 200, C1);
	alloc(2, Q, 50, C2);
	alloc(2, Q + 0x100, 0, C2);    /* malloc(0): a block of its own */
	dofree(1, P, C3);              /* freed elsewhere: credited to C1 */

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.events, 5);
	ck_assert_uint_eq(st.allocs, 4);
	ck_assert_uint_eq(st.frees, 1);
	ck_assert_uint_eq(st.live_blocks, 3);
	ck_assert_uint_eq(st.live_bytes, 250);
	ck_assert_uint_eq(st.unknown_frees, 0);
	ck_assert_uint_eq(st.inconsistencies, 0);
	assert_site(C1, 2, 300, 1, 1, 200);
	assert_site(C2, 2, 50, 0, 2, 50);
	ck_assert_ptr_null(site(C3));  /* a free makes no site */
	ck_assert_uint_eq(mt_sites_count(mt_tracker_sites(t)), 2);

	dofree(1, P + 0x100, C1);
	dofree(2, Q + 0x100, C1);
	dofree(2, Q, C1);
	st = stats();
	ck_assert_uint_eq(st.frees, 4);
	ck_assert_uint_eq(st.live_blocks, 0);
	ck_assert_uint_eq(st.live_bytes, 0);
	assert_site(C1, 2, 300, 2, 0, 0);
	assert_site(C2, 2, 50, 2, 0, 0);

	/* The address is reused: a new block at the same site. */
	alloc(1, P, 64, C1);
	assert_site(C1, 3, 364, 2, 1, 64);
	ck_assert_uint_eq(stats().inconsistencies, 0);
}
END_TEST

/* The most live bytes seen at once (the coverage line's "at most"): it
 * stays when blocks are freed, moves only past itself, and a realloc
 * counts its new block (the old one freed first). */
START_TEST(test_peak_live_bytes)
{
	ck_assert_uint_eq(stats().peak_live_bytes, 0);
	alloc(1, P, 100, C1);
	alloc(1, Q, 300, C2);
	ck_assert_uint_eq(stats().peak_live_bytes, 400);
	dofree(1, Q, C1);
	alloc(1, Q, 50, C2);
	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.live_bytes, 150);
	ck_assert_uint_eq(st.peak_live_bytes, 400);
	ck_assert_uint_eq(st.est_peak_live_bytes, 400);
	realloc_begin(1, P, C1);
	realloc_end(1, P, P + 0x1000, 1000, C1);
	st = stats();
	ck_assert_uint_eq(st.live_bytes, 1050);
	ck_assert_uint_eq(st.peak_live_bytes, 1050);
	dofree(1, 0x1234, C1);  /* an unknown free moves nothing */
	ck_assert_uint_eq(stats().peak_live_bytes, 1050);
}
END_TEST

START_TEST(test_unknown_frees)
{
	alloc(1, P, 32, C1);

	/* Allocated before attach, freed by the program. */
	dofree(1, Q, C2);
	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.unknown_frees, 1);
	ck_assert_uint_eq(st.unknown_frees_internal, 0);
	ck_assert_uint_eq(st.frees, 0);

	/* Without a range, nothing is the allocator's own. */
	dofree(1, Q + 0x40, C_LIBC);
	ck_assert_uint_eq(stats().unknown_frees_internal, 0);

	/* With it: glibc flushing a dying thread's tcache. */
	mt_tracker_set_allocator_range(t, LIBC_LO, LIBC_HI);
	dofree(3, Q + 0x80, C_LIBC);
	dofree(3, Q + 0xc0, LIBC_LO);       /* the range includes LO ... */
	dofree(3, Q + 0x100, LIBC_HI);      /* ... and excludes HI */
	dofree(3, Q + 0x140, LIBC_LO - 1);
	st = stats();
	ck_assert_uint_eq(st.unknown_frees, 6);
	ck_assert_uint_eq(st.unknown_frees_internal, 2);

	/* A pointer inside a live block is not that block. */
	dofree(1, P + 8, C1);
	st = stats();
	ck_assert_uint_eq(st.unknown_frees, 7);
	ck_assert_uint_eq(st.live_blocks, 1);
	ck_assert_uint_eq(st.frees, 0);
	assert_site(C1, 1, 32, 0, 1, 32);
	ck_assert_uint_eq(mt_sites_count(mt_tracker_sites(t)), 1);
	ck_assert_uint_eq(st.inconsistencies, 0);
}
END_TEST

START_TEST(test_realloc_move)
{
	alloc(1, P, 16, C1);
	realloc_begin(1, P, C2);
	realloc_end(1, P, Q, 64, C2);

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.events, 3);
	ck_assert_uint_eq(st.allocs, 2);
	ck_assert_uint_eq(st.frees, 1);
	ck_assert_uint_eq(st.live_blocks, 1);
	ck_assert_uint_eq(st.live_bytes, 64);
	ck_assert_uint_eq(st.inconsistencies, 0);
	assert_site(C1, 1, 16, 1, 0, 0);     /* the old block's site frees it */
	assert_site(C2, 1, 64, 0, 1, 64);    /* the realloc's caller holds it */
	ck_assert(!live(P, NULL));
	uint64_t size;
	ck_assert(live(Q, &size));
	ck_assert_uint_eq(size, 64);
}
END_TEST

START_TEST(test_realloc_in_place)
{
	alloc(1, P, 16, C1);
	realloc_begin(1, P, C2);
	realloc_end(1, P, P, 48, C2);   /* grown in place */
	realloc_begin(1, P, C3);
	realloc_end(1, P, P, 8, C3);    /* shrunk in place */

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.allocs, 3);
	ck_assert_uint_eq(st.frees, 2);
	ck_assert_uint_eq(st.live_blocks, 1);
	ck_assert_uint_eq(st.live_bytes, 8);
	ck_assert_uint_eq(st.inconsistencies, 0);
	assert_site(C1, 1, 16, 1, 0, 0);
	assert_site(C2, 1, 48, 1, 0, 0);
	assert_site(C3, 1, 8, 0, 1, 8);
}
END_TEST

START_TEST(test_realloc_null_and_zero)
{
	/* realloc(NULL, 24) is an allocation (no REALLOC_BEGIN). */
	realloc_end(1, 0, P, 24, C1);
	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.allocs, 1);
	ck_assert_uint_eq(st.frees, 0);
	assert_site(C1, 1, 24, 0, 1, 24);

	/* realloc(P, 0) returning NULL is a free (glibc). */
	realloc_begin(1, P, C2);
	realloc_end(1, P, 0, 0, C2);
	st = stats();
	ck_assert_uint_eq(st.allocs, 1);
	ck_assert_uint_eq(st.frees, 1);
	ck_assert_uint_eq(st.live_blocks, 0);
	assert_site(C1, 1, 24, 1, 0, 0);
	ck_assert_ptr_null(site(C2));

	/* realloc(pre-attach block, 0): an unknown free. */
	realloc_begin(1, Q, C2);
	realloc_end(1, Q, 0, 0, C2);
	st = stats();
	ck_assert_uint_eq(st.unknown_frees, 1);
	ck_assert_uint_eq(st.frees, 1);
	ck_assert_uint_eq(st.inconsistencies, 0);
}
END_TEST

START_TEST(test_realloc_failed)
{
	alloc(1, P, 32, C1);
	realloc_begin(1, P, C2);
	realloc_end(1, P, 0, 1ULL << 46, C2);   /* ENOMEM: P stays */

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.events, 3);
	ck_assert_uint_eq(st.allocs, 1);
	ck_assert_uint_eq(st.frees, 0);
	ck_assert_uint_eq(st.live_blocks, 1);
	ck_assert_uint_eq(st.live_bytes, 32);
	ck_assert_uint_eq(st.unknown_frees, 0);
	assert_site(C1, 1, 32, 0, 1, 32);
	ck_assert_ptr_null(site(C2));

	/* That realloc is over: an allocation over P now is not excused. */
	alloc(2, P, 32, C3);
	ck_assert_uint_eq(stats().inconsistencies, 1);

	/* Failed realloc(NULL, huge): nothing at all. */
	realloc_end(1, 0, 0, 1ULL << 46, C2);
	st = stats();
	ck_assert_uint_eq(st.allocs, 2);
	ck_assert_uint_eq(st.unknown_frees, 0);
}
END_TEST

/* Thread 2 reallocs P, which moves: glibc frees P inside realloc, and
 * thread 3's malloc is handed P before thread 2's return is seen.
 *   tid 2: REALLOC_BEGIN(old=P)
 *   tid 3: ALLOC P            -> P released early, for C1, no inconsistency
 *   tid 2: REALLOC(old=P, new=Q) -> P must not be freed again          */
START_TEST(test_realloc_race_moved)
{
	alloc(1, P, 32, C1);
	realloc_begin(2, P, C2);
	alloc(3, P, 48, C3);

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.inconsistencies, 0);
	ck_assert_uint_eq(st.frees, 1);
	assert_site(C1, 1, 32, 1, 0, 0);
	assert_site(C3, 1, 48, 0, 1, 48);

	realloc_end(2, P, Q, 64, C2);
	st = stats();
	ck_assert_uint_eq(st.inconsistencies, 0);
	ck_assert_uint_eq(st.unknown_frees, 0);
	ck_assert_uint_eq(st.allocs, 3);
	ck_assert_uint_eq(st.frees, 1);
	ck_assert_uint_eq(st.live_blocks, 2);
	ck_assert_uint_eq(st.live_bytes, 48 + 64);
	assert_site(C1, 1, 32, 1, 0, 0);
	assert_site(C2, 1, 64, 0, 1, 64);
	assert_site(C3, 1, 48, 0, 1, 48);    /* thread 3's block survives */
	uint64_t size;
	ck_assert(live(P, &size));
	ck_assert_uint_eq(size, 48);

	/* Thread 3 frees it: a known free, once. */
	dofree(3, P, C3);
	st = stats();
	ck_assert_uint_eq(st.frees, 2);
	ck_assert_uint_eq(st.unknown_frees, 0);
	assert_site(C3, 1, 48, 1, 0, 0);
}
END_TEST

/* A shrink in place frees P's tail, which thread 3 gets: its block
 * overlaps P's old range without starting at P. */
START_TEST(test_realloc_race_shrunk_tail)
{
	alloc(1, P, 256, C1);
	realloc_begin(2, P, C2);
	alloc(3, P + 0x40, 32, C3);
	realloc_end(2, P, P, 32, C2);

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.inconsistencies, 0);
	ck_assert_uint_eq(st.unknown_frees, 0);
	ck_assert_uint_eq(st.allocs, 3);
	ck_assert_uint_eq(st.frees, 1);
	ck_assert_uint_eq(st.live_bytes, 32 + 32);
	assert_site(C1, 1, 256, 1, 0, 0);
	assert_site(C2, 1, 32, 0, 1, 32);
	assert_site(C3, 1, 32, 0, 1, 32);
}
END_TEST

/* The same race on a block allocated before attach: the tracker never saw
 * P, so thread 3's allocation clashes with nothing; the realloc's return
 * must still not free thread 3's block. */
START_TEST(test_realloc_race_unknown_old)
{
	realloc_begin(2, P, C2);
	alloc(3, P, 48, C3);
	realloc_end(2, P, Q, 64, C2);

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.inconsistencies, 0);
	ck_assert_uint_eq(st.unknown_frees, 1);   /* P, by the realloc */
	ck_assert_uint_eq(st.frees, 0);
	ck_assert_uint_eq(st.live_blocks, 2);
	ck_assert_uint_eq(st.live_bytes, 48 + 64);
	assert_site(C3, 1, 48, 0, 1, 48);
	assert_site(C2, 1, 64, 0, 1, 64);
	ck_assert(live(P, NULL));
}
END_TEST

/* Two threads realloc different blocks at once; each return ends its own. */
START_TEST(test_realloc_two_in_flight)
{
	alloc(1, P, 16, C1);
	alloc(1, Q, 16, C1);
	realloc_begin(2, P, C2);
	realloc_begin(3, Q, C3);
	realloc_end(3, Q, Q + 0x1000, 32, C3);
	realloc_end(2, P, P + 0x1000, 32, C2);

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.inconsistencies, 0);
	ck_assert_uint_eq(st.frees, 2);
	ck_assert_uint_eq(st.live_blocks, 2);
	assert_site(C1, 2, 32, 2, 0, 0);
	assert_site(C2, 1, 32, 0, 1, 32);
	assert_site(C3, 1, 32, 0, 1, 32);

	/* Both are over: reusing P now is an overlap with nothing, fine;
	 * but over P + 0x1000 it is not excused. */
	alloc(4, P, 8, C1);
	ck_assert_uint_eq(stats().inconsistencies, 0);
	alloc(4, P + 0x1008, 8, C1);
	ck_assert_uint_eq(stats().inconsistencies, 1);
}
END_TEST

START_TEST(test_overlap_inconsistency)
{
	alloc(1, P, 32, C1);
	alloc(2, P + 16, 8, C2);     /* no realloc in flight: never expected */

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.inconsistencies, 1);
	/* The newer block wins; the older one is gone from the table. */
	ck_assert(!live(P, NULL));
	ck_assert(live(P + 16, NULL));
	ck_assert_uint_eq(st.live_blocks, 1);
	ck_assert_uint_eq(st.live_bytes, 8);
	assert_site(C2, 1, 8, 0, 1, 8);
	const struct mt_site *s1 = site(C1);
	ck_assert_uint_eq(s1->live_blocks, 0);

	/* A realloc in flight of another block does not excuse an overlap. */
	alloc(1, Q, 32, C1);
	realloc_begin(3, P + 16, C3);
	alloc(2, Q, 32, C2);
	ck_assert_uint_eq(stats().inconsistencies, 2);

	/* One allocation over two live blocks: two inconsistencies. */
	alloc(1, P + 0x100, 16, C1);
	alloc(1, P + 0x110, 16, C1);
	alloc(2, P + 0x100, 32, C2);
	st = stats();
	ck_assert_uint_eq(st.inconsistencies, 4);
	ck_assert(live(P + 0x100, NULL));
	ck_assert(!live(P + 0x110, NULL));
}
END_TEST

/* Issue 20, honest degradation: a churning site whose frees are half
 * dropped (a full ring) must not look like it grows.  The addresses come
 * back as an allocator hands them out (the last freed first, with frees
 * memtrace never saw among them), so each block whose free was lost is
 * retired when its address is taken again: the live count stays near the
 * working set, and every retirement is counted as an inconsistency. */
START_TEST(test_dropped_frees_do_not_grow)
{
	enum { SLOTS = 64, CALLS = 200000 };
	uint64_t slot[SLOTS] = { 0 }, size[SLOTS], pool[SLOTS], rng = 0x9e3779b97f4a7c15ULL;
	int npool = SLOTS, dropped = 0;
	for (int i = 0; i < SLOTS; i++)
		pool[i] = P + 0x1000 * (uint64_t)i;  /* 4 KiB apart: blocks never straddle */
	uint64_t max_live = 0;
	for (int i = 0; i < CALLS; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		int k = (int)(rng >> 58);
		if (slot[k]) {
			if (rng & 1)
				dofree(1, slot[k], C1);
			else
				dropped++;   /* the agent found the ring full */
			pool[npool++] = slot[k];
			slot[k] = 0;
		} else {
			slot[k] = pool[--npool];
			size[k] = 16 + (rng >> 20) % 4000;
			alloc(1, slot[k], size[k], C1);
		}
		struct mt_tracker_stats st;
		mt_tracker_stats(t, &st);
		if (st.live_blocks > max_live)
			max_live = st.live_blocks;
	}
	struct mt_tracker_stats st = stats();
	ck_assert_int_gt(dropped, CALLS / 8);
	/* At most the 64 slots are live, each address once; every block the
	 * program holds is live with its own size (a lost free's block gave
	 * way to it), and the rest are lost frees not yet found out, at
	 * addresses the allocator has not handed out again. */
	ck_assert_uint_le(max_live, SLOTS);
	ck_assert_uint_le(st.live_blocks, SLOTS);
	uint64_t held = 0;
	for (int k = 0; k < SLOTS; k++) {
		uint64_t got;
		if (!slot[k])
			continue;
		held++;
		ck_assert_msg(live(slot[k], &got) && got == size[k], "slot %d", k);
	}
	ck_assert_uint_le(st.live_blocks - held, (uint64_t)npool);
	const struct mt_site *s1 = site(C1);
	ck_assert_uint_eq(s1->live_blocks, st.live_blocks);
	/* Each lost free was found out when its address came back. */
	ck_assert_uint_ge(st.inconsistencies + (uint64_t)SLOTS, (uint64_t)dropped);
}
END_TEST

/* Many blocks at many sites: totals equal the sums over sites. */
START_TEST(test_totals_match_sites)
{
	const uint64_t callers[] = { C1, C2, C3, C_LIBC };
	for (uint64_t i = 0; i < 4000; i++)
		alloc((pid_t)(1 + i % 3), 0x10000000 + i * 0x40, 1 + i % 48, callers[i % 4]);
	for (uint64_t i = 0; i < 4000; i += 3)
		dofree(1, 0x10000000 + i * 0x40, C1);

	struct mt_tracker_stats st = stats();
	uint64_t allocs = 0, frees = 0, lb = 0, lbytes = 0;
	const struct mt_sites *s = mt_tracker_sites(t);
	ck_assert_uint_eq(mt_sites_count(s), 4);
	for (uint32_t i = 0; i < mt_sites_count(s); i++) {
		const struct mt_site *x = mt_sites_get_const(s, i);
		allocs += x->allocs;
		frees += x->frees;
		lb += x->live_blocks;
		lbytes += x->live_bytes;
	}
	ck_assert_uint_eq(st.allocs, 4000);
	ck_assert_uint_eq(allocs, st.allocs);
	ck_assert_uint_eq(frees, st.frees);
	ck_assert_uint_eq(st.frees, 1334);
	ck_assert_uint_eq(lb, st.live_blocks);
	ck_assert_uint_eq(lbytes, st.live_bytes);
	ck_assert_uint_eq(st.live_blocks, 4000 - 1334);
	ck_assert_uint_eq(st.inconsistencies + st.unknown_frees, 0);
}
END_TEST

/* ---- sampling ----------------------------------------------------------- */

/* p(s) = 1 - exp(-s/N), computed here independently of the tracker. */
static double p_of(double size, double mean)
{
	return 1.0 - exp(-size / mean);
}

static double fixed(uint64_t v)
{
	return (double)v / (double)MT_EST_ONE;
}

/* N = 4096: 100 sampled blocks of 64 bytes stand for 100/p(64) blocks and
 * 6400/p(64) bytes (p(64) = 0.015504: about 6450 blocks, 412808 bytes). */
START_TEST(test_sampling_estimates)
{
	mt_tracker_set_sampling(t, 4096);
	ck_assert_uint_eq(mt_tracker_sampling(t), 4096);
	for (uint64_t i = 0; i < 100; i++)
		alloc(1, P + i * 64, 64, C1);
	const double p = p_of(64, 4096);
	ck_assert(fabs(p - 0.0155035) < 1e-6);
	const double blocks = 100 / p, bytes = 64 * 100 / p;
	const struct mt_site *s = site(C1);
	ck_assert_ptr_nonnull(s);
	/* the raw sampled counts stay exact */
	ck_assert_uint_eq(s->allocs, 100);
	ck_assert_uint_eq(s->live_blocks, 100);
	ck_assert_uint_eq(s->live_bytes, 6400);
	/* fixed point: within 100 rounding steps of 1/65536 */
	ck_assert_msg(fabs(fixed(s->est_live_blocks) - blocks) < 0.01, "%f vs %f",
		      fixed(s->est_live_blocks), blocks);
	ck_assert_msg(fabs(fixed(s->est_live_bytes) - bytes) < 0.01, "%f vs %f",
		      fixed(s->est_live_bytes), bytes);
	ck_assert(fabs(fixed(s->est_allocs) - blocks) < 0.01);
	ck_assert(fabs(fixed(s->est_alloc_bytes) - bytes) < 0.01);

	struct mt_site_counts c;
	mt_tracker_site_counts(t, s, &c);
	ck_assert_uint_eq(c.live_blocks, (uint64_t)llround(blocks));  /* 6450 */
	ck_assert_uint_eq(c.live_bytes, (uint64_t)llround(bytes));    /* 412808 */
	ck_assert_uint_eq(c.allocs, (uint64_t)llround(blocks));
	ck_assert_uint_eq(c.frees, 0);

	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.sample_bytes, 4096);
	ck_assert_uint_eq(st.allocs, 100);
	ck_assert_uint_eq(st.est_live_blocks, (uint64_t)llround(blocks));
	ck_assert_uint_eq(st.est_live_bytes, (uint64_t)llround(bytes));
	ck_assert_uint_eq(st.est_allocs, (uint64_t)llround(blocks));

	/* Free half: the estimates drop by exactly what those blocks added. */
	for (uint64_t i = 0; i < 50; i++)
		dofree(1, P + i * 64, C2);
	mt_tracker_site_counts(t, s, &c);
	ck_assert_uint_eq(s->frees, 50);
	ck_assert(fabs(fixed(s->est_live_blocks) - blocks / 2) < 0.01);
	ck_assert(fabs(fixed(s->est_frees) - blocks / 2) < 0.01);
	ck_assert(fabs(fixed(s->est_freed_bytes) - bytes / 2) < 0.01);
	ck_assert_uint_eq(s->est_live_blocks + s->est_frees, s->est_allocs);
	ck_assert_uint_eq(s->est_live_bytes + s->est_freed_bytes, s->est_alloc_bytes);
	for (uint64_t i = 50; i < 100; i++)
		dofree(1, P + i * 64, C2);
	ck_assert_uint_eq(s->est_live_blocks, 0);
	ck_assert_uint_eq(s->est_live_bytes, 0);
	st = stats();
	ck_assert_uint_eq(st.est_live_blocks, 0);
	ck_assert_uint_eq(st.est_live_bytes, 0);
	ck_assert_uint_eq(st.est_frees, (uint64_t)llround(blocks));
	ck_assert_uint_eq(st.unsampled_frees, 0);
	ck_assert_uint_eq(st.unknown_frees, 0);
}
END_TEST

/* A large block is almost surely sampled: it stands for about itself. */
START_TEST(test_sampling_large_and_mixed)
{
	mt_tracker_set_sampling(t, 4096);
	alloc(1, 0x7f0000000000ULL, 1 << 20, C1); /* p = 1 - e^-256: 1.0 */
	alloc(1, Q, 4096, C2);                /* p = 1 - 1/e */
	alloc(1, Q + 8192, 1, C2);            /* p(1) ~ 1/4096.5 */
	struct mt_site_counts c;
	mt_tracker_site_counts(t, site(C1), &c);
	ck_assert_uint_eq(c.live_blocks, 1);
	ck_assert_uint_eq(c.live_bytes, 1 << 20);
	const double p4k = p_of(4096, 4096), p1 = p_of(1, 4096);
	mt_tracker_site_counts(t, site(C2), &c);
	ck_assert_uint_eq(c.live_blocks, (uint64_t)llround(1 / p4k + 1 / p1));
	ck_assert_uint_eq(c.live_bytes, (uint64_t)llround(4096 / p4k + 1 / p1));
	ck_assert_uint_eq(c.live_blocks, 4098);  /* 1.582 + 4096.5 */
	ck_assert(fabs(mt_sample_probability(4096, 4096) - p4k) < 1e-15);
	ck_assert(mt_sample_probability(123, 0) == 1.0);
	/* size 0 is weighed as 1 byte, never as an infinite weight */
	ck_assert(mt_sample_probability(0, 4096) == mt_sample_probability(1, 4096));
}
END_TEST

/* With sampling, a free of an address not held is an unsampled free. */
START_TEST(test_sampling_unsampled_free)
{
	mt_tracker_set_sampling(t, 4096);
	alloc(1, P, 64, C1);
	dofree(1, Q, C2);            /* never sampled */
	dofree(1, Q + 64, C_LIBC);   /* even from the allocator itself */
	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.unsampled_frees, 2);
	ck_assert_uint_eq(st.unknown_frees, 0);
	ck_assert_uint_eq(st.unknown_frees_internal, 0);
	ck_assert_uint_eq(st.frees, 0);
	ck_assert_uint_eq(st.live_blocks, 1);
	/* without sampling the same free is an unknown free */
	mt_tracker_destroy(t);
	t = mt_tracker_new();
	dofree(1, Q, C2);
	st = stats();
	ck_assert_uint_eq(st.unknown_frees, 1);
	ck_assert_uint_eq(st.unsampled_frees, 0);
	ck_assert_uint_eq(st.sample_bytes, 0);
	ck_assert_uint_eq(st.est_live_blocks, 0);
}
END_TEST

/* REALLOC as event.h documents it, under sampling. */
START_TEST(test_sampling_realloc)
{
	mt_tracker_set_sampling(t, 4096);
	alloc(1, P, 64, C1);
	/* sampled old, new block not sampled: addr 0, size 0 frees the old one */
	realloc_begin(1, P, C2);
	realloc_end(1, P, 0, 0, C2);
	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.live_blocks, 0);
	ck_assert_uint_eq(st.est_live_blocks, 0);
	ck_assert_uint_eq(st.est_live_bytes, 0);
	ck_assert_uint_eq(site(C1)->frees, 1);
	ck_assert_uint_eq(st.unsampled_frees, 0);
	/* unsampled old, sampled new: an unsampled free plus a sampled block */
	realloc_begin(1, Q, C2);
	realloc_end(1, Q, P, 8192, C2);
	st = stats();
	ck_assert_uint_eq(st.unsampled_frees, 1);
	ck_assert_uint_eq(st.unknown_frees, 0);
	ck_assert_uint_eq(st.live_blocks, 1);
	ck_assert_uint_eq(st.est_live_bytes, (uint64_t)llround(8192 / p_of(8192, 4096)));
	/* a failed realloc (addr 0, size != 0) leaves the old block alone */
	realloc_begin(1, P, C2);
	realloc_end(1, P, 0, 100, C2);
	ck_assert_uint_eq(stats().live_blocks, 1);
	ck_assert_uint_eq(stats().est_live_bytes, (uint64_t)llround(8192 / p_of(8192, 4096)));
}
END_TEST

/* The mean is fixed before the first event; later calls change nothing. */
START_TEST(test_sampling_set_late)
{
	alloc(1, P, 64, C1);
	mt_tracker_set_sampling(t, 4096);
	ck_assert_uint_eq(mt_tracker_sampling(t), 0);
	dofree(1, P, C1);
	struct mt_tracker_stats st = stats();
	ck_assert_uint_eq(st.live_blocks, 0);
	ck_assert_uint_eq(st.est_live_bytes, 0);
}
END_TEST

static Suite *tracker_suite(void)
{
	Suite *s = suite_create("tracker");
	TCase *tc = tcase_create("basic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_alloc_free_sites);
	tcase_add_test(tc, test_unknown_frees);
	tcase_add_test(tc, test_totals_match_sites);
	suite_add_tcase(s, tc);
	tc = tcase_create("realloc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_realloc_move);
	tcase_add_test(tc, test_realloc_in_place);
	tcase_add_test(tc, test_realloc_null_and_zero);
	tcase_add_test(tc, test_realloc_failed);
	suite_add_tcase(s, tc);
	tc = tcase_create("races");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_realloc_race_moved);
	tcase_add_test(tc, test_realloc_race_shrunk_tail);
	tcase_add_test(tc, test_realloc_race_unknown_old);
	tcase_add_test(tc, test_realloc_two_in_flight);
	tcase_add_test(tc, test_overlap_inconsistency);
	tcase_add_test(tc, test_dropped_frees_do_not_grow);
	suite_add_tcase(s, tc);
	tc = tcase_create("sampling");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sampling_estimates);
	tcase_add_test(tc, test_sampling_large_and_mixed);
	tcase_add_test(tc, test_sampling_unsampled_free);
	tcase_add_test(tc, test_sampling_realloc);
	tcase_add_test(tc, test_sampling_set_late);
	tcase_add_test(tc, test_peak_live_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tracker_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
