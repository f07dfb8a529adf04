/* Unit tests for src/util/clock.c: the three readings are one clock in
 * three units, and it never goes back.  (No timing figures: only order
 * and the units' ratios are checked.) */
#include <check.h>
#include <stdlib.h>

#include "util/clock.h"

START_TEST(test_units)
{
	uint64_t ns0 = mt_clock_ns();
	uint64_t ms = mt_clock_ms();
	double s = mt_clock_s();
	uint64_t ns1 = mt_clock_ns();
	ck_assert_uint_le(ns0, ns1);
	/* Each reading lies between ns0 and ns1, in its unit. */
	ck_assert_uint_ge(ms, ns0 / 1000000u);
	ck_assert_uint_le(ms, ns1 / 1000000u);
	ck_assert(s >= (double)ns0 / 1e9 - 1e-6 && s <= (double)ns1 / 1e9 + 1e-6);
}
END_TEST

START_TEST(test_monotonic)
{
	uint64_t last = mt_clock_ns();
	for (int i = 0; i < 100000; i++) {
		uint64_t now = mt_clock_ns();
		ck_assert_uint_ge(now, last);
		last = now;
	}
}
END_TEST

static Suite *clock_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("clock");
	tcase_add_test(tc, test_units);
	tcase_add_test(tc, test_monotonic);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(clock_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
