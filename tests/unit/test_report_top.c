/* memtrace top's text (report_top.c): the order of the rows for each sort
 * key, a row's line and its cut at the terminal's width, the header, an
 * expanded stack, the ASCII sparkline. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_top.h"

#define APP "/srv/app/server"

static const struct mt_report_frame stack[] = {
	{ .address = 0x7f0000029000, .function = "malloc", .module = "/lib/libc.so.6", .file = "" },
	{ .address = 0x555500001234,
	  .function = "leak_steady",
	  .offset = 0x17,
	  .module = APP,
	  .file = "/src/grow.c",
	  .line = 64 },
	{ .address = 0x555500001000,
	  .function = "main",
	  .offset = 0x20,
	  .module = APP,
	  .file = "/src/main.c",
	  .line = 9,
	  .inlined = true },
};

static struct mt_report_site site(const char *fn, uint64_t addr, uint64_t live, double score,
				  double rate, uint64_t churn, int64_t di, const char *trend)
{
	struct mt_report_site s;
	memset(&s, 0, sizeof s);
	snprintf(s.function, sizeof s.function, "%s", fn);
	snprintf(s.module, sizeof s.module, "%s", APP);
	s.address = addr;
	s.live_bytes = live;
	s.score = score;
	s.rate_bytes_per_min = rate;
	s.churn_allocs = churn;
	s.churn_frees = churn;
	s.delta_interval = di;
	s.trend = trend;
	return s;
}

/* growing: most evidence, least live; steady: most live, no growth;
 * churny: most churn; shrinking: fastest fall, negative score */
static void four(struct mt_report_site v[4])
{
	v[0] = site("steady", 0x10, 900000, 0, 0, 0, 0, "flat");
	v[1] = site("churny", 0x20, 5000, 0, 100, 800, 0, "fluctuating");
	v[2] = site("shrinking", 0x30, 20000, -2, -9000, 1, -1024, "shrinking");
	v[3] = site("growing", 0x40, 3000, 5.5, 6000, 10, 512, "growing");
}

static const char *order(const struct mt_report *r, char *buf, size_t len)
{
	buf[0] = 0;
	for (size_t i = 0; i < r->nsites; i++) {
		strncat(buf, r->sites[i].function, len - strlen(buf) - 1);
		if (i + 1 < r->nsites)
			strncat(buf, ",", len - strlen(buf) - 1);
	}
	return buf;
}

START_TEST(test_sort_keys)
{
	struct mt_report_site v[4];
	four(v);
	struct mt_report r = { .sites = v, .nsites = 4 };
	char buf[256];
	mt_top_sort(&r, MT_TOP_BY_GROWTH);
	/* equal scores (0): by live bytes */
	ck_assert_str_eq(order(&r, buf, sizeof buf), "growing,steady,churny,shrinking");
	mt_top_sort(&r, MT_TOP_BY_LIVE);
	ck_assert_str_eq(order(&r, buf, sizeof buf), "steady,shrinking,churny,growing");
	mt_top_sort(&r, MT_TOP_BY_RATE);
	ck_assert_str_eq(order(&r, buf, sizeof buf), "growing,churny,steady,shrinking");
	mt_top_sort(&r, MT_TOP_BY_CHURN);
	ck_assert_str_eq(order(&r, buf, sizeof buf), "churny,growing,shrinking,steady");
	mt_top_sort(&r, MT_TOP_BY_INTERVAL);
	ck_assert_str_eq(order(&r, buf, sizeof buf), "growing,steady,churny,shrinking");
}
END_TEST

START_TEST(test_sort_names_cycle)
{
	enum mt_top_sort k = MT_TOP_BY_GROWTH;
	const char *want[] = { "growth", "live", "rate", "churn", "interval", "growth" };
	for (int i = 0; i < 6; i++) {
		ck_assert_str_eq(mt_top_sort_name(k), want[i]);
		k = mt_top_sort_next(k);
	}
	ck_assert_str_eq(mt_top_sort_name(MT_TOP_NSORTS), "?");
}
END_TEST

START_TEST(test_tones)
{
	struct mt_report_site v[4];
	four(v);
	ck_assert_int_eq(mt_top_tone(&v[0]), MT_TOP_TONE_PLAIN);
	ck_assert_int_eq(mt_top_tone(&v[2]), MT_TOP_TONE_GOOD);
	ck_assert_int_eq(mt_top_tone(&v[3]), MT_TOP_TONE_ALERT);
	v[3].trend = "plateau";
	ck_assert_int_eq(mt_top_tone(&v[3]), MT_TOP_TONE_WARN);
	v[3].trend = NULL;
	ck_assert_int_eq(mt_top_tone(&v[3]), MT_TOP_TONE_PLAIN);
}
END_TEST

START_TEST(test_row_line)
{
	struct mt_report_site s =
		site("leak_steady", 0x555500001234, 103424, 5.5, 51200, 20, 10240, "growing");
	s.churn_frees = 0;
	s.offset = 0x17;
	snprintf(s.file, sizeof s.file, "/src/grow.c");
	s.line = 64;
	/* eight cells, U+2581..U+2588 */
	snprintf(s.sparkline, sizeof s.sparkline,
		 "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588");
	char buf[512];
	mt_top_row(buf, sizeof buf, 200, 1, &s, false);
	ck_assert_str_eq(buf, "   1   101.0 KiB   +10.0 KiB    50.0 KiB        20/0  "
			      "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588        growing     "
			      "leak_steady+0x17 (server) grow.c:64");
	mt_top_row(buf, sizeof buf, 200, 1, &s, true);
	ck_assert_str_eq(buf, "   1   101.0 KiB   +10.0 KiB    50.0 KiB        20/0  "
			      "_.-:=+*#        growing     leak_steady+0x17 (server) grow.c:64");
	/* cut at 60 cells: inside the sparkline, never inside a character */
	mt_top_row(buf, sizeof buf, 60, 1, &s, false);
	ck_assert_str_eq(buf, "   1   101.0 KiB   +10.0 KiB    50.0 KiB        20/0  "
			      "\u2581\u2582\u2583\u2584\u2585\u2586");
	char cols[256];
	mt_top_columns(cols, sizeof cols, 200);
	ck_assert_str_eq(cols, "rank  live bytes    interval    rate/min   churn a/f  "
			       "live over time  verdict     site");
	mt_top_columns(cols, sizeof cols, 10);
	ck_assert_str_eq(cols, "rank  live");
}
END_TEST

START_TEST(test_header)
{
	struct mt_census_report c = { .available = true, .blocks = 7 };
	c.heap = (struct mt_heap_summary){ .known = true,
					   .mapped_bytes = 2 << 20,
					   .live_bytes = 1 << 20,
					   .free_bytes = 1 << 20,
					   .trimmable_bytes = 4096,
					   .verdict = "normal" };
	struct mt_report r = { .pid = 42,
			       .engine = "inject",
			       .duration_s = 12.34,
			       .interval = 3,
			       .live_bytes = 2048,
			       .live_blocks = 4,
			       .nsites = 2,
			       .events = 100,
			       .lost_events = 5,
			       .unknown_frees = 1,
			       .census = &c };
	snprintf(r.comm, sizeof r.comm, "grow_sites");
	char buf[512];
	mt_top_header(buf, sizeof buf, 0, 200, &r, MT_TOP_BY_CHURN, true);
	ck_assert_str_eq(buf, "memtrace top  pid 42 (grow_sites)  engine inject  12.3 s  "
			      "interval 3  sorted by churn  [paused]");
	mt_top_header(buf, sizeof buf, 1, 200, &r, MT_TOP_BY_GROWTH, false);
	ck_assert_str_eq(buf, "traced: live 2.0 KiB in 4 blocks, 2 sites, 100 events, "
			      "5 lost events, 1 unknown frees");
	mt_top_header(buf, sizeof buf, 2, 200, &r, MT_TOP_BY_GROWTH, false);
	ck_assert_str_eq(buf, "heap at attach: mapped 2.0 MiB, live 1.0 MiB, free 1.0 MiB "
			      "(trimmable 4.0 KiB), verdict normal");
	struct mt_census_report none = { .available = false };
	snprintf(none.reason, sizeof none.reason, "--no-census");
	r.census = &none;
	mt_top_header(buf, sizeof buf, 2, 200, &r, MT_TOP_BY_GROWTH, false);
	ck_assert_str_eq(buf, "heap: no census: --no-census");
	mt_top_header(buf, sizeof buf, 3, 200, &r, MT_TOP_BY_GROWTH, false);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_stack_lines)
{
	struct mt_report_site s = site("leak_steady", 0x555500001234, 1, 0, 0, 0, 0, "flat");
	s.frames = stack;
	s.nframes = 3;
	s.site_frame = 1;
	char buf[512];
	ck_assert(mt_top_stack_line(buf, sizeof buf, 200, &s, 0));
	ck_assert_str_eq(buf, "         malloc+0x0 (libc.so.6)");
	ck_assert(mt_top_stack_line(buf, sizeof buf, 200, &s, 1));
	ck_assert_str_eq(buf, "      -> leak_steady+0x17 (server) grow.c:64");
	ck_assert(mt_top_stack_line(buf, sizeof buf, 200, &s, 2));
	ck_assert_str_eq(buf, "         main+0x20 (server) main.c:9 (inlined)");
	ck_assert(!mt_top_stack_line(buf, sizeof buf, 200, &s, 3));
	ck_assert(!mt_top_stack_line(buf, sizeof buf, 200, &s, -1));
	s.nframes = 0;
	s.frames = NULL;
	ck_assert(mt_top_stack_line(buf, sizeof buf, 200, &s, 0));
	ck_assert_ptr_nonnull(strstr(buf, "no stack"));
	ck_assert(!mt_top_stack_line(buf, sizeof buf, 200, &s, 1));
}
END_TEST

START_TEST(test_spark_ascii)
{
	char buf[64];
	mt_top_spark_ascii(buf, sizeof buf, "\u2581\u2588\u2584");
	ck_assert_str_eq(buf, "_#:");
	mt_top_spark_ascii(buf, sizeof buf, "");
	ck_assert_str_eq(buf, "");
	/* another character: one '?' */
	mt_top_spark_ascii(buf, sizeof buf, "a\u00e9\u2581");
	ck_assert_str_eq(buf, "a?_");
	/* room for two characters only */
	mt_top_spark_ascii(buf, 3, "\u2581\u2582\u2583");
	ck_assert_str_eq(buf, "_.");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("report_top");
	TCase *tc = tcase_create("report_top");
	tcase_add_test(tc, test_sort_keys);
	tcase_add_test(tc, test_sort_names_cycle);
	tcase_add_test(tc, test_tones);
	tcase_add_test(tc, test_row_line);
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_stack_lines);
	tcase_add_test(tc, test_spark_ascii);
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
