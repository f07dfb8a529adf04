/* Unit tests for src/model/sites.c: interning site keys into dense ids. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/sites.h"

START_TEST(test_intern_stable)
{
	struct mt_sites *s = mt_sites_new();
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(mt_sites_count(s), 0);
	ck_assert_ptr_null(mt_sites_get(s, 0));
	ck_assert_ptr_null(mt_sites_get_const(s, 0));

	ck_assert_uint_eq(mt_sites_intern(s, 0x555555555189), 0);
	ck_assert_uint_eq(mt_sites_intern(s, 0x5555555551c4), 1);
	ck_assert_uint_eq(mt_sites_intern(s, 0x555555555189), 0);
	ck_assert_uint_eq(mt_sites_intern(s, 0x5555555551c4), 1);
	ck_assert_uint_eq(mt_sites_count(s), 2);

	/* 0 and the top address are keys like any other. */
	ck_assert_uint_eq(mt_sites_intern(s, 0), 2);
	ck_assert_uint_eq(mt_sites_intern(s, UINT64_MAX), 3);
	ck_assert_uint_eq(mt_sites_intern(s, 0), 2);
	ck_assert_uint_eq(mt_sites_count(s), 4);

	struct mt_site *x = mt_sites_get(s, 1);
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(x->key, 0x5555555551c4);
	ck_assert_uint_eq(x->live_blocks + x->live_bytes + x->allocs + x->alloc_bytes +
			  x->frees + x->freed_bytes, 0);
	ck_assert_ptr_eq(mt_sites_get_const(s, 1), x);
	ck_assert_uint_eq(mt_sites_get_const(s, 3)->key, UINT64_MAX);
	ck_assert_ptr_null(mt_sites_get(s, 4));
	ck_assert_ptr_null(mt_sites_get(s, UINT32_MAX));
	mt_sites_destroy(s);
	mt_sites_destroy(NULL);
}
END_TEST

/* Counters written through get() belong to the site, not to the slot. */
START_TEST(test_counters_survive_growth)
{
	struct mt_sites *s = mt_sites_new();
	uint32_t id = mt_sites_intern(s, 0x401000);
	struct mt_site *x = mt_sites_get(s, id);
	x->allocs = 7;
	x->live_bytes = 4096;
	for (uint64_t k = 1; k <= 5000; k++)
		mt_sites_intern(s, 0x401000 + 5 * k);
	x = mt_sites_get(s, mt_sites_intern(s, 0x401000));
	ck_assert_uint_eq(x->key, 0x401000);
	ck_assert_uint_eq(x->allocs, 7);
	ck_assert_uint_eq(x->live_bytes, 4096);
	ck_assert_uint_eq(mt_sites_get(s, 5000)->allocs, 0);
	mt_sites_destroy(s);
}
END_TEST

/* Keys made to collide in the low bits, the high bits, and nowhere: each
 * family is interned in thousands (many table growths), then every key
 * again: the ids are 0..n-1 in first-seen order and never change. */
static uint64_t key_of(uint32_t i)
{
	switch (i % 4) {
	case 0: return 0x555555554000ULL + (uint64_t)i * 5;       /* call sites */
	case 1: return (uint64_t)i << 32;                        /* same low bits */
	case 2: return 0x7f0000000000ULL + ((uint64_t)i << 12);  /* page-aligned */
	default: return UINT64_MAX - i;
	}
}

START_TEST(test_thousands)
{
	enum { N = 100000 };
	struct mt_sites *s = mt_sites_new();
	/* One ck_assert per key would cost more than the interning (Check
	 * records each one): report the first wrong key instead. */
	uint32_t bad = UINT32_MAX, got = 0;
	for (uint32_t i = 0; i < N && bad == UINT32_MAX; i++) {
		if ((got = mt_sites_intern(s, key_of(i))) != i)
			bad = i;
		else if (i % 997 == 0 && (got = mt_sites_intern(s, key_of(i / 2))) != i / 2)
			bad = i / 2;  /* an early key, found after growths */
	}
	ck_assert_msg(bad == UINT32_MAX, "first pass: key %u got id %u", bad, got);
	ck_assert_uint_eq(mt_sites_count(s), N);
	for (uint32_t i = 0; i < N && bad == UINT32_MAX; i++)
		if ((got = mt_sites_intern(s, key_of(i))) != i ||
		    mt_sites_get_const(s, i)->key != key_of(i))
			bad = i;
	ck_assert_msg(bad == UINT32_MAX, "second pass: key %u got id %u", bad, got);
	ck_assert_uint_eq(mt_sites_count(s), N);
	ck_assert_ptr_null(mt_sites_get(s, N));
	mt_sites_destroy(s);
}
END_TEST

static Suite *sites_suite(void)
{
	Suite *s = suite_create("sites");
	TCase *tc = tcase_create("intern");
	tcase_add_test(tc, test_intern_stable);
	tcase_add_test(tc, test_counters_survive_growth);
	tcase_add_test(tc, test_thousands);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sites_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
