/* util/u64map.c: puts, gets, overwrites, growth, the reserved key. */
#include <check.h>
#include <stdlib.h>

#include "util/u64map.h"

START_TEST(put_get_overwrite)
{
	struct mt_u64map m = { 0 };
	uint32_t v = 7;
	ck_assert(!mt_u64map_get(&m, 1, &v));
	ck_assert_int_eq(mt_u64map_put(&m, 1, 10), 0);
	ck_assert_int_eq(mt_u64map_put(&m, 0, 20), 0);
	ck_assert(mt_u64map_get(&m, 1, &v) && v == 10);
	ck_assert(mt_u64map_get(&m, 0, &v) && v == 20);
	ck_assert_int_eq(mt_u64map_put(&m, 1, 11), 0);
	ck_assert(mt_u64map_get(&m, 1, &v) && v == 11);
	ck_assert_uint_eq(m.n, 2);
	/* the empty marker is no key */
	ck_assert_int_eq(mt_u64map_put(&m, UINT64_MAX, 5), 0);
	ck_assert(!mt_u64map_get(&m, UINT64_MAX, &v));
	ck_assert_uint_eq(m.n, 2);
	mt_u64map_free(&m);
	ck_assert(!mt_u64map_get(&m, 1, &v));
}
END_TEST

START_TEST(grows_and_keeps_all)
{
	struct mt_u64map m = { 0 };
	for (uint64_t k = 0; k < 100000; k++)
		ck_assert_int_eq(mt_u64map_put(&m, k * 0x10001ull << 7, (uint32_t)k), 0);
	ck_assert_uint_eq(m.n, 100000);
	ck_assert(m.n * 4 <= m.cap * 3);
	for (uint64_t k = 0; k < 100000; k++) {
		uint32_t v;
		ck_assert(mt_u64map_get(&m, k * 0x10001ull << 7, &v));
		ck_assert_uint_eq(v, k);
	}
	uint32_t v;
	ck_assert(!mt_u64map_get(&m, 3, &v));
	mt_u64map_free(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("u64map");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, put_get_overwrite);
	tcase_add_test(tc, grows_and_keeps_all);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
