/* --group-by: rows merged by key, counters summed, the largest member
 * naming the row and giving its stack. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static struct mt_report_frame frames_a[1], frames_b[1];

static struct mt_report_site row(uint64_t key, uint64_t address, const char *fn,
				 const char *module, uint64_t live_bytes, uint64_t allocs)
{
	struct mt_report_site s;
	memset(&s, 0, sizeof s);
	s.key = key;
	s.address = address;
	strcpy(s.function, fn);
	strcpy(s.module, module);
	s.live_bytes = live_bytes;
	s.live_blocks = live_bytes / 16;
	s.allocs = allocs;
	s.frees = allocs - s.live_blocks;
	s.alloc_bytes = allocs * 16;
	s.delta_interval = (int64_t)live_bytes / 2;
	s.delta_total = (int64_t)live_bytes;
	return s;
}

/* Three stacks: two end at the same call in f (0x1000), one at another call
 * in f (0x1010); one in g in another module. */
static struct mt_report make(struct mt_report_site *v)
{
	v[0] = row(1, 0x1000, "f", "/bin/a", 160, 20);
	v[0].frames = frames_a;
	v[0].nframes = 1;
	v[1] = row(2, 0x1000, "f", "/bin/a", 320, 30);
	v[1].frames = frames_b;
	v[1].nframes = 1;
	v[2] = row(3, 0x1010, "f", "/bin/a", 32, 5);
	v[3] = row(4, 0x2000, "g", "/lib/b.so", 64, 4);
	struct mt_report r;
	memset(&r, 0, sizeof r);
	r.sites = v;
	r.nsites = 4;
	return r;
}

START_TEST(test_by_site)
{
	struct mt_report_site v[4];
	struct mt_report r = make(v);
	ck_assert_int_eq(mt_report_group(&r, MT_REPORT_BY_SITE), 0);
	ck_assert_uint_eq(r.nsites, 3);
	/* largest first: f@0x1000 (160+320), then g, then f@0x1010 */
	ck_assert_uint_eq(r.sites[0].address, 0x1000);
	ck_assert_uint_eq(r.sites[0].live_bytes, 480);
	ck_assert_uint_eq(r.sites[0].live_blocks, 30);
	ck_assert_uint_eq(r.sites[0].allocs, 50);
	ck_assert_uint_eq(r.sites[0].frees, 20);
	ck_assert_uint_eq(r.sites[0].alloc_bytes, 800);
	ck_assert_int_eq(r.sites[0].delta_interval, 240);
	ck_assert_int_eq(r.sites[0].delta_total, 480);
	ck_assert_ptr_eq(r.sites[0].frames, frames_b); /* the larger member's stack */
	ck_assert_uint_eq(r.sites[0].key, 2);
	ck_assert_str_eq(r.sites[1].function, "g");
	ck_assert_uint_eq(r.sites[2].address, 0x1010);
}
END_TEST

START_TEST(test_by_function_and_module)
{
	struct mt_report_site v[4];
	struct mt_report r = make(v);
	ck_assert_int_eq(mt_report_group(&r, MT_REPORT_BY_FUNCTION), 0);
	ck_assert_uint_eq(r.nsites, 2);
	ck_assert_str_eq(r.sites[0].function, "f");
	ck_assert_uint_eq(r.sites[0].live_bytes, 512);
	ck_assert_uint_eq(r.sites[0].allocs, 55);

	r = make(v);
	v[3].module[0] = 0; /* unknown module groups on its own */
	strcpy(v[2].module, "/lib/b.so");
	ck_assert_int_eq(mt_report_group(&r, MT_REPORT_BY_MODULE), 0);
	ck_assert_uint_eq(r.nsites, 3);
	ck_assert_str_eq(r.sites[0].module, "/bin/a");
	ck_assert_uint_eq(r.sites[0].live_bytes, 480);
}
END_TEST

START_TEST(test_by_stack_and_unnamed)
{
	struct mt_report_site v[4];
	struct mt_report r = make(v);
	ck_assert_int_eq(mt_report_group(&r, MT_REPORT_BY_STACK), 0);
	ck_assert_uint_eq(r.nsites, 4);
	ck_assert_uint_eq(r.sites[0].live_bytes, 320);

	/* Functions without a name group by module+offset, not all together. */
	r = make(v);
	v[0].function[0] = v[1].function[0] = v[2].function[0] = 0;
	v[0].module_offset = v[1].module_offset = 0x1000;
	v[2].module_offset = 0x1010;
	ck_assert_int_eq(mt_report_group(&r, MT_REPORT_BY_FUNCTION), 0);
	ck_assert_uint_eq(r.nsites, 3);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("report_group");
	TCase *tc = tcase_create("group");
	tcase_add_test(tc, test_by_site);
	tcase_add_test(tc, test_by_function_and_module);
	tcase_add_test(tc, test_by_stack_and_unnamed);
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
