/* Unit tests for src/agent/sset.h, the agent's set of sampled live blocks
 * (the same static inlines the agent runs): insert, look up and remove;
 * a full home bucket spilling into the second one; both full marking the
 * home bucket OVER, so that a free of its blocks is still recorded; churn
 * leaving no debris behind (no tombstones); and threads inserting and
 * removing at once in a set small enough to spill and overflow, where a
 * recorded block is never missed. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/sset.h"

#define SHIFT 4u   /* granules of 16 bytes: one block each */

static struct mt_sset_bucket *set_new(uint64_t buckets)
{
	struct mt_sset_bucket *s = aligned_alloc(64, buckets * sizeof *s);
	ck_assert_ptr_nonnull(s);
	for (uint64_t i = 0; i < buckets; i++)
		s[i] = (struct mt_sset_bucket){ 0 };
	return s;
}

static uint64_t used_slots(const struct mt_sset_bucket *s, uint64_t buckets)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < buckets; i++)
		for (uint32_t k = 0; k < MT_SSET_WAYS; k++)
			n += s[i].addr[k] != 0;
	return n;
}

/* The Nth address (from FROM on, 16-byte steps) whose home bucket is HOME. */
static uint64_t addr_at_home(uint64_t home, uint64_t mask, uint64_t *from)
{
	for (uint64_t a = *from;; a += 16)
		if (mt_sset_home(a, mask, SHIFT) == home) {
			*from = a + 16;
			return a;
		}
}

START_TEST(insert_find_remove)
{
	const uint64_t mask = 63;
	struct mt_sset_bucket *s = set_new(mask + 1);
	uint64_t a = 0x7f0000001010, b = 0x7f0000002020;
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, a), 0);
	ck_assert_int_eq(mt_sset_insert(s, mask, SHIFT, a), 1);
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, a), 1);
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, b), 0);
	ck_assert_uint_eq(used_slots(s, mask + 1), 1);
	ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, b), 0);
	ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, a), 1);
	ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, a), 0);
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, a), 0);
	ck_assert_uint_eq(used_slots(s, mask + 1), 0);
	free(s);
}
END_TEST

START_TEST(alt_is_never_home)
{
	for (uint64_t mask = 1; mask < (1u << 16); mask = mask * 2 + 1)
		for (uint64_t a = 16; a < 16 * 4096; a += 16)
			ck_assert_uint_ne(mt_sset_alt(a, mask, SHIFT),
					  mt_sset_home(a, mask, SHIFT));
}
END_TEST

/* Granules: 1/64th of the mean, 16 B to 64 KiB; the blocks of one granule
 * share their buckets (a churning program's frees read few lines), the
 * granules of a heap spread over the set. */
START_TEST(granules)
{
	ck_assert_uint_eq(mt_sset_shift_for(0), 4);
	ck_assert_uint_eq(mt_sset_shift_for(1), 4);
	ck_assert_uint_eq(mt_sset_shift_for(8192), 7);
	ck_assert_uint_eq(mt_sset_shift_for(524288), 13);
	ck_assert_uint_eq(mt_sset_shift_for(1ULL << 30), 16);
	const uint64_t mask = 16383;
	uint64_t g = 0x7f1234560000ULL;
	for (uint64_t a = g; a < g + 8192; a += 16) {
		ck_assert_uint_eq(mt_sset_home(a, mask, 13), mt_sset_home(g, mask, 13));
		ck_assert_uint_eq(mt_sset_alt(a, mask, 13), mt_sset_alt(g, mask, 13));
	}
	/* 1024 consecutive granules (8 MiB of heap): most buckets distinct */
	static uint8_t seen[16384];
	uint32_t distinct = 0;
	for (uint64_t k = 0; k < 1024; k++) {
		uint64_t h = mt_sset_home(g + (k << 13), mask, 13);
		distinct += !seen[h];
		seen[h] = 1;
	}
	ck_assert_uint_gt(distinct, 990);
	/* a block in a granule's second bucket is found from any address's
	 * view of that granule, and only its own address matches */
	struct mt_sset_bucket *s = set_new(mask + 1);
	for (uint64_t a = g; a < g + 8 * 16; a += 16)
		ck_assert_int_eq(mt_sset_insert(s, mask, 13, a), 1);
	ck_assert_uint_eq(s[mt_sset_home(g, mask, 13)].flags & MT_SSET_F_BITS, MT_SSET_F_SPILL);
	ck_assert_int_eq(mt_sset_maybe(s, mask, 13, g + 7 * 16), 1);
	ck_assert_int_eq(mt_sset_maybe(s, mask, 13, g + 8 * 16), 0);
	for (uint64_t a = g; a < g + 8 * 16; a += 16)
		ck_assert_int_eq(mt_sset_remove(s, mask, 13, a), 1);
	ck_assert_uint_eq(used_slots(s, mask + 1), 0);
	free(s);
}
END_TEST

/* Eight blocks of one home bucket: the eighth goes to the second bucket,
 * and the home bucket says so. */
START_TEST(spill_to_alt)
{
	const uint64_t mask = 255;
	struct mt_sset_bucket *s = set_new(mask + 1);
	uint64_t from = 0x10000, v[MT_SSET_WAYS + 1];
	for (uint32_t i = 0; i <= MT_SSET_WAYS; i++) {
		v[i] = addr_at_home(17, mask, &from);
		ck_assert_int_eq(mt_sset_insert(s, mask, SHIFT, v[i]), 1);
	}
	ck_assert_uint_eq(s[17].flags & MT_SSET_F_BITS, MT_SSET_F_SPILL);
	uint64_t alt = mt_sset_alt(v[MT_SSET_WAYS], mask, SHIFT);
	/* each bucket counts its slots in use: the fast answer of maybe() */
	ck_assert_uint_eq(s[17].flags / MT_SSET_COUNT_ONE, MT_SSET_WAYS);
	ck_assert_uint_eq(s[alt].flags, MT_SSET_COUNT_ONE);
	ck_assert(mt_sset_has(&s[alt], v[MT_SSET_WAYS]));
	for (uint32_t i = 0; i <= MT_SSET_WAYS; i++)
		ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, v[i]), 1);
	/* an address of that home in neither bucket: looked for in both */
	uint64_t other = addr_at_home(17, mask, &from);
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, other), 0);
	ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, v[MT_SSET_WAYS]), 1);
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, v[MT_SSET_WAYS]), 0);
	for (uint32_t i = 0; i < MT_SSET_WAYS; i++)
		ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, v[i]), 1);
	ck_assert_uint_eq(used_slots(s, mask + 1), 0);
	ck_assert_uint_eq(s[17].flags, MT_SSET_F_SPILL);
	ck_assert_uint_eq(s[alt].flags, 0);
	free(s);
}
END_TEST

/* Both buckets full: the block is not indexed, its home bucket is OVER,
 * and the free of any block of that home is then recorded (maybe = 1),
 * while other homes keep their fast answer. */
START_TEST(overflow_marks_home)
{
	const uint64_t mask = 1;   /* two buckets: every alt is the other one */
	struct mt_sset_bucket *s = set_new(mask + 1);
	uint64_t from = 0x20000, v[2 * MT_SSET_WAYS];
	for (uint32_t i = 0; i < 2 * MT_SSET_WAYS; i++) {
		v[i] = addr_at_home(0, mask, &from);
		ck_assert_int_eq(mt_sset_insert(s, mask, SHIFT, v[i]), 1);
	}
	ck_assert_uint_eq(used_slots(s, mask + 1), 2 * MT_SSET_WAYS);
	ck_assert_uint_eq(s[0].flags & MT_SSET_F_BITS, MT_SSET_F_SPILL);
	uint64_t late = addr_at_home(0, mask, &from);
	ck_assert_int_eq(mt_sset_insert(s, mask, SHIFT, late), 0);
	ck_assert_uint_eq(s[0].flags & MT_SSET_F_BITS, MT_SSET_F_SPILL | MT_SSET_F_OVER);
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, late), 1);
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, addr_at_home(0, mask, &from)), 1);
	uint64_t from1 = 0x20000;
	ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, addr_at_home(1, mask, &from1)), 0);
	ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, late), 0);
	for (uint32_t i = 0; i < 2 * MT_SSET_WAYS; i++)
		ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, v[i]), 1);
	free(s);
}
END_TEST

/* A million inserts and removes, at most 300 live in 1024 buckets: every
 * live block found, every freed one gone, nothing left at the end, and
 * an absent address still answered from its home bucket alone. */
START_TEST(churn_leaves_nothing)
{
	const uint64_t mask = 1023;
	struct mt_sset_bucket *s = set_new(mask + 1);
	enum { LIVE = 300 };
	uint64_t live[LIVE] = { 0 }, x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 1000000; i++) {
		x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
		int k = (int)(x % LIVE);
		if (live[k]) {
			ck_assert_int_eq(mt_sset_maybe(s, mask, SHIFT, live[k]), 1);
			ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, live[k]), 1);
			uint64_t home = mt_sset_home(live[k], mask, SHIFT);
			ck_assert(!mt_sset_maybe(s, mask, SHIFT, live[k]) || s[home].flags);
			live[k] = 0;
		} else {
			live[k] = ((x >> 16) & 0xffffffff0ULL) + 0x100000 * (uint64_t)(k + 1);
			ck_assert_int_eq(mt_sset_insert(s, mask, SHIFT, live[k]), 1);
		}
	}
	for (int k = 0; k < LIVE; k++)
		if (live[k])
			ck_assert_int_eq(mt_sset_remove(s, mask, SHIFT, live[k]), 1);
	ck_assert_uint_eq(used_slots(s, mask + 1), 0);
	uint64_t over = 0;
	for (uint64_t i = 0; i <= mask; i++)
		over += (s[i].flags & MT_SSET_F_OVER) != 0;
	ck_assert_uint_eq(over, 0);
	free(s);
}
END_TEST

/* ---- threads ------------------------------------------------------------ */

#define THREADS 4
#define ROUNDS 200000
#define PER_THREAD 48

struct worker {
	pthread_t th;
	struct mt_sset_bucket *set;
	uint64_t mask;
	unsigned index;
	uint64_t indexed, overflowed, missed, lost;
};

static int present(const struct worker *w, uint64_t a)
{
	return mt_sset_has(&w->set[mt_sset_home(a, w->mask, SHIFT)], a) ||
	       mt_sset_has(&w->set[mt_sset_alt(a, w->mask, SHIFT)], a);
}

/* Each thread owns its addresses (as a thread owns the blocks it frees):
 * insert, look up, remove, over and over, in 8 buckets shared with the
 * others, so that buckets fill, spill and overflow under contention. */
static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t mine[PER_THREAD] = { 0 };
	int in[PER_THREAD] = { 0 };
	uint64_t x = 0x2545f4914f6cdd1dULL * (w->index + 1);
	for (int r = 0; r < ROUNDS; r++) {
		x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
		int k = (int)(x % PER_THREAD);
		if (mine[k]) {
			/* a recorded block: its free must be seen, and an
			 * indexed one really found (OVER aside) */
			if (!mt_sset_maybe(w->set, w->mask, SHIFT, mine[k]) ||
			    (in[k] && !present(w, mine[k])))
				w->missed++;
			int was = mt_sset_remove(w->set, w->mask, SHIFT, mine[k]);
			if (in[k] && !was)
				w->lost++;
			mine[k] = 0;
		} else {
			mine[k] = ((uint64_t)(w->index + 1) << 40) | ((x >> 8) & 0xfffffff0ULL) |
				  ((uint64_t)k << 32);
			in[k] = mt_sset_insert(w->set, w->mask, SHIFT, mine[k]);
			w->indexed += in[k];
			w->overflowed += !in[k];
		}
	}
	for (int k = 0; k < PER_THREAD; k++)
		if (mine[k] && mt_sset_remove(w->set, w->mask, SHIFT, mine[k]) != in[k])
			w->lost++;
	return NULL;
}

/* Threads in MASK + 1 buckets: no indexed block missed or lost; with
 * OVERFLOW, some blocks found both buckets full. */
static void run_threads(uint64_t mask, int overflow)
{
	struct mt_sset_bucket *s = set_new(mask + 1);
	struct worker w[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .set = s, .mask = mask, .index = i };
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
	}
	uint64_t indexed = 0, overflowed = 0;
	for (unsigned i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(w[i].th, NULL), 0);
		ck_assert_uint_eq(w[i].missed, 0);
		ck_assert_uint_eq(w[i].lost, 0);
		indexed += w[i].indexed;
		overflowed += w[i].overflowed;
	}
	ck_assert_uint_gt(indexed, 0);
	if (overflow)
		ck_assert_uint_gt(overflowed, 0);
	ck_assert_uint_eq(used_slots(s, mask + 1), 0);
	free(s);
}

/* 4 x 48 addresses, about half live, in 8 x 7 slots: full buckets,
 * spills and overflows all the time */
START_TEST(threads_crowded)
{
	run_threads(7, 1);
}
END_TEST

/* the same in 64 buckets: spills, and every block indexed or counted */
START_TEST(threads_roomy)
{
	run_threads(63, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sset");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, insert_find_remove);
	tcase_add_test(tc, alt_is_never_home);
	tcase_add_test(tc, granules);
	tcase_add_test(tc, spill_to_alt);
	tcase_add_test(tc, overflow_marks_home);
	tcase_add_test(tc, churn_leaves_nothing);
	tcase_add_test(tc, threads_crowded);
	tcase_add_test(tc, threads_roomy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
