/* The breakpoint engine's sampler (sampler.h): an allocation of SIZE bytes
 * is recorded with probability p(SIZE) = 1 - exp(-SIZE / MEAN), whatever
 * came before, so the tracker's weights 1/p make unbiased estimates.  The
 * random stream is seeded: the counts are the same on every run, and the
 * bounds are 5 standard deviations of the binomial law (a wrong law, such
 * as one allocation in MEAN / SIZE, misses them by far). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/sampler.h"
#include "model/tracker.h"

static void check_binomial(uint64_t hits, uint64_t n, double p)
{
	double mean = (double)n * p, sd = sqrt((double)n * p * (1 - p));
	ck_assert_msg(fabs((double)hits - mean) <= 5 * sd + 1,
		      "%llu of %llu recorded, expected %.1f +- %.1f", (unsigned long long)hits,
		      (unsigned long long)n, mean, 5 * sd);
}

START_TEST(test_off_records_all)
{
	struct mt_sampler *s = mt_sampler_new(0, 1);
	ck_assert_ptr_nonnull(s);
	for (uint64_t size = 0; size < 10000; size++)
		ck_assert(mt_sampler_take(s, size));
	mt_sampler_destroy(s);
}
END_TEST

START_TEST(test_small_blocks_at_their_probability)
{
	struct mt_sampler *s = mt_sampler_new(4096, 12345);
	ck_assert_ptr_nonnull(s);
	uint64_t n = 400000, hits = 0;
	for (uint64_t i = 0; i < n; i++)
		hits += mt_sampler_take(s, 64);
	check_binomial(hits, n, mt_sample_probability(64, 4096));
	mt_sampler_destroy(s);
}
END_TEST

/* Large blocks among small ones: each size at its own probability, and a
 * block far above the mean every time. */
START_TEST(test_mixed_sizes)
{
	struct mt_sampler *s = mt_sampler_new(4096, 777);
	ck_assert_ptr_nonnull(s);
	uint64_t n = 100000, small = 0, mid = 0, big = 0;
	for (uint64_t i = 0; i < n; i++) {
		small += mt_sampler_take(s, 16);
		mid += mt_sampler_take(s, 4096);
		big += mt_sampler_take(s, 1 << 20);
	}
	check_binomial(small, n, mt_sample_probability(16, 4096));
	check_binomial(mid, n, mt_sample_probability(4096, 4096));
	ck_assert_uint_eq(big, n);
	mt_sampler_destroy(s);
}
END_TEST

/* The estimate the tracker makes of the bytes allocated, sum of SIZE/p
 * over the recorded allocations, is within 2% of the truth. */
START_TEST(test_bytes_estimate_unbiased)
{
	struct mt_sampler *s = mt_sampler_new(8192, 99);
	ck_assert_ptr_nonnull(s);
	double truth = 0, est = 0;
	for (uint64_t i = 0; i < 500000; i++) {
		uint64_t size = 16 + (i * 2654435761u) % 4096;
		truth += (double)size;
		if (mt_sampler_take(s, size))
			est += (double)size / mt_sample_probability(size, 8192);
	}
	ck_assert_msg(fabs(est - truth) <= 0.02 * truth, "estimate %.0f, truth %.0f", est, truth);
	mt_sampler_destroy(s);
}
END_TEST

static Suite *sampler_suite(void)
{
	Suite *s = suite_create("sampler");
	TCase *tc = tcase_create("sampler");
	tcase_add_test(tc, test_off_records_all);
	tcase_add_test(tc, test_small_blocks_at_their_probability);
	tcase_add_test(tc, test_mixed_sizes);
	tcase_add_test(tc, test_bytes_estimate_unbiased);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sampler_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
