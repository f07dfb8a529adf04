/* Sampling end to end without a process: events into a tracker sampling
 * one allocation per ~4096 bytes, a report built from it the way
 * mt_report_build (report_build.c) does, then the table, JSON, attach and folded outputs.
 * Each says that the numbers are estimates, and the numbers are the
 * tracker's estimates (p(s) = 1 - exp(-s/N), computed here on its own). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "report/report.h"
#include "model/tracker.h"

#define MEAN 4096
#define C1 0x555555555189ULL
#define C2 0x5555555551c4ULL
#define BASE 0x555555600000ULL

static struct mt_tracker *t;
static struct mt_report_site rows[2];
static struct mt_report rep;

/* 100 blocks of 64 bytes at C1, one of 1 MiB at C2, a free of an address
 * never sampled; the report as mt_report_build() fills it. */
static void setup(uint64_t mean)
{
	t = mt_tracker_new();
	ck_assert_ptr_nonnull(t);
	if (mean)
		mt_tracker_set_sampling(t, mean);
	struct mt_event e = { .kind = MT_EV_ALLOC, .fn = MT_FN_MALLOC, .tid = 1 };
	for (uint64_t i = 0; i < 100; i++) {
		e.addr = BASE + i * 64;
		e.size = 64;
		e.caller = C1;
		mt_tracker_event(t, &e);
	}
	e.addr = BASE + 0x100000;
	e.size = 1 << 20;
	e.caller = C2;
	mt_tracker_event(t, &e);
	struct mt_event fr = { .kind = MT_EV_FREE, .fn = MT_FN_FREE, .tid = 1,
			       .addr = BASE + 0x900000, .caller = C1 };
	mt_tracker_event(t, &fr);

	struct mt_tracker_stats ts;
	mt_tracker_stats(t, &ts);
	memset(&rep, 0, sizeof rep);
	memset(rows, 0, sizeof rows);
	rep.pid = 77;
	strcpy(rep.comm, "prog");
	strcpy(rep.allocator, "libc.so.6");
	rep.engine = "inject";
	rep.end_reason = "duration";
	rep.events = ts.events;
	rep.unknown_frees = ts.unknown_frees;
	rep.sample_bytes = ts.sample_bytes;
	rep.unsampled_frees = ts.unsampled_frees;
	rep.live_blocks = ts.est_live_blocks;
	rep.live_bytes = ts.est_live_bytes;
	rep.allocs = ts.est_allocs;
	rep.frees = ts.est_frees;
	const struct mt_sites *ss = mt_tracker_sites(t);
	ck_assert_uint_eq(mt_sites_count(ss), 2);
	for (uint32_t i = 0; i < 2; i++) {
		const struct mt_site *st = mt_sites_get_const(ss, i);
		struct mt_site_counts c;
		mt_tracker_site_counts(t, st, &c);
		struct mt_report_site *rs = &rows[rep.nsites++];
		rs->key = rs->address = st->key;
		snprintf(rs->function, sizeof rs->function, "%s", st->key == C1 ? "small" : "big");
		snprintf(rs->module, sizeof rs->module, "prog");
		rs->live_blocks = c.live_blocks;
		rs->live_bytes = c.live_bytes;
		rs->allocs = c.allocs;
		rs->frees = c.frees;
		rs->alloc_bytes = c.alloc_bytes;
		rs->sampled_live_blocks = st->live_blocks;
		rs->sampled_allocs = st->allocs;
	}
	rep.sites = rows;
	mt_report_sort(&rep);
}

static void teardown(void)
{
	mt_tracker_destroy(t);
}

typedef int (*printer)(FILE *f, const struct mt_report *r);

static int table(FILE *f, const struct mt_report *r) { return mt_report_table(f, r, 0); }
static int json(FILE *f, const struct mt_report *r) { return mt_report_json(f, r, 0); }
static int growth(FILE *f, const struct mt_report *r) { return mt_report_growth(f, r, 0, false); }
static int growth_final(FILE *f, const struct mt_report *r) { return mt_report_growth(f, r, 0, true); }
static int jsonl(FILE *f, const struct mt_report *r) { return mt_report_json_interval(f, r, 0, true); }

static char *print(printer p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(p(f, &rep), 0);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static double p_of(double s)
{
	return 1.0 - exp(-s / MEAN);
}

START_TEST(test_estimates_in_rows)
{
	setup(MEAN);
	/* rows[] sorted by live bytes: big (1 MiB) first */
	const struct mt_report_site *big = &rows[0], *small = &rows[1];
	ck_assert_str_eq(small->function, "small");
	ck_assert_uint_eq(small->live_blocks, (uint64_t)llround(100 / p_of(64)));   /* 6450 */
	ck_assert_uint_eq(small->live_bytes, (uint64_t)llround(6400 / p_of(64)));   /* 412808 */
	ck_assert_uint_eq(small->live_blocks, 6450);
	ck_assert_uint_eq(small->sampled_live_blocks, 100);
	ck_assert_uint_eq(small->sampled_allocs, 100);
	ck_assert_uint_eq(big->live_blocks, 1);
	ck_assert_uint_eq(big->live_bytes, 1 << 20);
	ck_assert_uint_eq(rep.unsampled_frees, 1);
	ck_assert_uint_eq(rep.unknown_frees, 0);
	ck_assert_uint_eq(rep.live_blocks, 6451);
	teardown();
}
END_TEST

START_TEST(test_table_says_estimates)
{
	setup(MEAN);
	char *out = print(table);
	ck_assert_msg(strstr(out, "sampled: 1 in ~4096 bytes (4.0 KiB), counts and bytes are "
			     "estimates\n"), "%s", out);
	ck_assert_msg(strstr(out, ", 1 unsampled frees"), "%s", out);
	ck_assert_msg(strstr(out, "live: ~6451 blocks"), "%s", out);
	ck_assert_msg(strstr(out, "estimated from the sampled allocations"), "%s", out);
	/* the row: rank, live blocks, live bytes, allocs, frees */
	ck_assert_msg(strstr(out, "    2         6450       412808         6450            0  "
			     "small+0x0 (prog)"), "%s", out);
	free(out);
	out = print(growth);
	ck_assert_msg(strstr(out, "sampled: 1 in ~4096 bytes"), "%s", out);
	free(out);
	out = print(growth_final);
	ck_assert_msg(strstr(out, "sampled: 1 in ~4096 bytes"), "%s", out);
	free(out);
	teardown();

	setup(0);
	out = print(table);
	ck_assert_msg(!strstr(out, "sampled") && !strstr(out, "estimate"), "%s", out);
	ck_assert_msg(strstr(out, "1 unknown frees"), "%s", out);
	ck_assert_msg(strstr(out, "live: 101 blocks"), "%s", out);
	free(out);
	teardown();
}
END_TEST

START_TEST(test_json_sampling)
{
	setup(MEAN);
	char *out = print(json);
	json_error_t err;
	json_t *o = json_loads(out, 0, &err);
	ck_assert_msg(o, "%s", err.text);
	json_t *smp = json_object_get(o, "sampling");
	ck_assert(json_is_object(smp));
	ck_assert_int_eq(json_integer_value(json_object_get(smp, "mean_bytes")), MEAN);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "unsampled_frees")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "unknown_frees")), 0);
	json_t *s = json_array_get(json_object_get(o, "sites"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(s, "function")), "small");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "live_blocks")), 6450);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "live_bytes")), 412808);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "sampled_live_blocks")), 100);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "sampled_allocs")), 100);
	json_decref(o);
	free(out);

	out = print(jsonl);
	o = json_loads(out, 0, &err);
	ck_assert_msg(o, "%s", err.text);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "sampling"),
							   "mean_bytes")), MEAN);
	json_decref(o);
	free(out);
	teardown();

	/* not sampled: "sampling": null, no sampled_* members */
	setup(0);
	out = print(json);
	o = json_loads(out, 0, &err);
	ck_assert_msg(o, "%s", err.text);
	ck_assert(json_is_null(json_object_get(o, "sampling")));
	ck_assert_ptr_null(json_object_get(o, "unsampled_frees"));
	s = json_array_get(json_object_get(o, "sites"), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "live_blocks")), 100);
	ck_assert_ptr_null(json_object_get(s, "sampled_live_blocks"));
	json_decref(o);
	free(out);
	teardown();
}
END_TEST

/* Folded: the same format, weighted by the estimated live bytes. */
START_TEST(test_folded_estimates)
{
	setup(MEAN);
	char *out = print(mt_report_folded);
	ck_assert_msg(strstr(out, " 412808\n"), "%s", out);
	ck_assert_msg(strstr(out, " 1048576\n"), "%s", out);
	ck_assert_msg(!strstr(out, "sampled"), "%s", out);
	free(out);
	teardown();
}
END_TEST

/* Grouping sums the estimates and the sampled counts alike. */
START_TEST(test_group_sums_sampled)
{
	setup(MEAN);
	strcpy(rows[0].function, "same");
	strcpy(rows[1].function, "same");
	ck_assert_int_eq(mt_report_group(&rep, MT_REPORT_BY_MODULE), 0);
	ck_assert_uint_eq(rep.nsites, 1);
	ck_assert_uint_eq(rep.sites[0].live_blocks, 6451);
	ck_assert_uint_eq(rep.sites[0].sampled_live_blocks, 101);
	ck_assert_uint_eq(rep.sites[0].sampled_allocs, 101);
	teardown();
}
END_TEST

static Suite *sampling_suite(void)
{
	Suite *s = suite_create("sampling_report");
	TCase *tc = tcase_create("report");
	tcase_add_test(tc, test_estimates_in_rows);
	tcase_add_test(tc, test_table_says_estimates);
	tcase_add_test(tc, test_json_sampling);
	tcase_add_test(tc, test_folded_estimates);
	tcase_add_test(tc, test_group_sums_sampled);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sampling_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
