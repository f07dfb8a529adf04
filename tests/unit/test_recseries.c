/* Unit tests for src/model/recseries.c: attach --record's growth series,
 * sampled from a tracker fed with events, on one time axis, bounded. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/recseries.h"
#include "model/sites.h"
#include "model/tracker.h"

#define C1 0x555555555189ULL
#define C2 0x5555555551c4ULL

static struct mt_tracker *t;
static struct mt_recseries *r;

static void setup(void)
{
	t = mt_tracker_new();
	r = mt_recseries_new();
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(r);
}

static void teardown(void)
{
	mt_recseries_destroy(r);
	mt_tracker_destroy(t);
}

static void ev(enum mt_event_kind kind, uint64_t addr, uint64_t size, uint64_t caller)
{
	static uint64_t clock_ns;
	struct mt_event e = {
		.kind = kind, .fn = kind == MT_EV_FREE ? MT_FN_FREE : MT_FN_MALLOC, .tid = 1,
		.addr = addr, .size = size, .caller = caller, .time_ns = ++clock_ns,
	};
	mt_tracker_event(t, &e);
}

/* The id of the site of CALLER (it must exist). */
static uint32_t site_of(uint64_t caller)
{
	const struct mt_sites *s = mt_tracker_sites(t);
	for (size_t i = 0; i < mt_sites_count(s); i++)
		if (mt_sites_get_const(s, (uint32_t)i)->key == caller)
			return (uint32_t)i;
	ck_abort_msg("no site for caller %#llx", (unsigned long long)caller);
	return UINT32_MAX;
}

/* Two sites, one appearing later, one freeing: every point exact, on one
 * time axis; a site born later reads 0 before. */
START_TEST(test_points_aligned)
{
	const double *tt;
	ck_assert_uint_eq(mt_recseries_times(r, &tt), 0);
	ev(MT_EV_ALLOC, 0x1000, 100, C1);
	ck_assert_int_eq(mt_recseries_sample(r, t, 1.0), 0);
	ev(MT_EV_ALLOC, 0x2000, 50, C1);
	ev(MT_EV_ALLOC, 0x3000, 7, C2);
	ck_assert_int_eq(mt_recseries_sample(r, t, 2.0), 0);
	ev(MT_EV_FREE, 0x1000, 0, C1);
	ck_assert_int_eq(mt_recseries_sample(r, t, 1.5), 0);  /* earlier: taken as 2.0 */

	ck_assert_uint_eq(mt_recseries_times(r, &tt), 3);
	ck_assert(tt[0] == 1.0 && tt[1] == 2.0 && tt[2] == 2.0);
	const uint64_t *a = mt_recseries_site(r, site_of(C1));
	const uint64_t *b = mt_recseries_site(r, site_of(C2));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(a[0], 100);
	ck_assert_uint_eq(a[1], 150);
	ck_assert_uint_eq(a[2], 50);
	ck_assert_uint_eq(b[0], 0);
	ck_assert_uint_eq(b[1], 7);
	ck_assert_uint_eq(b[2], 7);
	ck_assert_ptr_null(mt_recseries_site(r, 1000));
}
END_TEST

/* Past MT_RECSERIES_MAX_POINTS samples, every other point goes: never
 * more points than the bound, the first and the newest sample always kept,
 * the points evenly spaced between, each value the one sampled at its
 * time. */
START_TEST(test_bounded)
{
	const uint32_t n = 3 * MT_RECSERIES_MAX_POINTS + 17;
	for (uint32_t k = 1; k <= n; k++) {
		ev(MT_EV_ALLOC, 0x10000 + k * 64, 8, C1);
		ck_assert_int_eq(mt_recseries_sample(r, t, (double)k), 0);
		const double *tt;
		size_t np = mt_recseries_times(r, &tt);
		ck_assert_uint_le(np, MT_RECSERIES_MAX_POINTS);
		ck_assert(tt[np - 1] == (double)k);
	}
	const double *tt;
	size_t np = mt_recseries_times(r, &tt);
	ck_assert_uint_ge(np, MT_RECSERIES_MAX_POINTS / 2);
	const uint64_t *a = mt_recseries_site(r, site_of(C1));
	for (size_t j = 0; j < np; j++) {
		/* sample k held k blocks of 8 bytes */
		ck_assert_uint_eq(a[j], (uint64_t)tt[j] * 8);
		if (j)
			ck_assert(tt[j] > tt[j - 1]);
	}
	/* spread evenly over the whole recording */
	ck_assert(tt[0] == 1.0);
	ck_assert(tt[np - 1] == (double)n);
	for (size_t j = 2; j + 1 < np; j++)
		ck_assert(tt[j] - tt[j - 1] == tt[1] - tt[0]);
	ck_assert(tt[np - 1] - tt[np - 2] <= tt[1] - tt[0]);
}
END_TEST

static Suite *recseries_suite(void)
{
	Suite *s = suite_create("recseries");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_points_aligned);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(recseries_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
