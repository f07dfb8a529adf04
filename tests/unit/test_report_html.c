/* Unit tests for src/report/report_html.c and report_snap.c: the data the
 * HTML page renders (mt_report_html_data), built from a report in memory
 * and checked value by value; the page's escaping of the target's names;
 * and the rows and series memtrace report builds from snapshots. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "report/report.h"
#include "report/report_build.h"
#include "report/report_html.h"
#include "report/report_snap.h"
#include "snapshot/snapshot.h"

/* main -> serve -> leak_big (site) -> malloc, and main -> leak_small. */
static const struct mt_report_frame big_frames[] = {
	{ .address = 0x1000, .function = "malloc", .module = "/lib/libc.so.6", .file = "" },
	{ .address = 0x2000, .function = "leak_big", .module = "/srv/t", .file = "t.c",
	  .line = 42 },
	{ .address = 0x3000, .function = "serve", .module = "/srv/t", .file = "t.c", .line = 9 },
	{ .address = 0x4000, .function = "main", .module = "/srv/t", .file = "t.c", .line = 3 },
};
static const struct mt_report_frame small_frames[] = {
	{ .address = 0x1000, .function = "malloc", .module = "/lib/libc.so.6", .file = "" },
	{ .address = 0x5000, .function = "</script><script>alert(1)</script>", .module = "/srv/t",
	  .file = "t.c", .line = 57 },
	{ .address = 0x4010, .function = "main", .module = "/srv/t", .file = "t.c", .line = 4 },
};

static double t_big[] = { 1.0, 2.0, 3.0 };
static uint64_t b_big[] = { 1000, 2000, 3000 };

static struct mt_report_site sites[3];

static struct mt_report report(void)
{
	memset(sites, 0, sizeof sites);
	sites[0] = (struct mt_report_site){ .address = 0x2000, .function = "leak_big",
		.module = "/srv/t", .file = "t.c", .line = 42, .frames = big_frames, .nframes = 4,
		.site_frame = 1, .live_blocks = 3, .live_bytes = 3000, .allocs = 5, .frees = 2,
		.alloc_bytes = 5000, .trend = "growing", .series_t = t_big, .series_bytes = b_big,
		.nseries = 3 };
	sites[1] = (struct mt_report_site){ .address = 0x5000,
		.function = "</script><script>alert(1)</script>", .module = "/srv/t", .file = "t.c",
		.line = 57, .frames = small_frames, .nframes = 3, .site_frame = 1,
		.live_blocks = 10, .live_bytes = 160, .allocs = 10 };
	sites[2] = (struct mt_report_site){ .address = 0x6000, .function = "tiny",
		.module = "/srv/t", .live_blocks = 1, .live_bytes = 8, .allocs = 1 };
	struct mt_report r = { .pid = 4242, .engine = "inject", .duration_s = 3,
		.events = 99, .lost_events = 7, .end_reason = "duration", .live_blocks = 14,
		.live_bytes = 3168, .sites = sites, .nsites = 3 };
	strcpy(r.comm, "t");
	return r;
}

static json_int_t int_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

static json_t *child(json_t *node, const char *name)
{
	size_t i;
	json_t *k;
	json_array_foreach(json_object_get(node, "children"), i, k)
		if (strcmp(json_string_value(json_object_get(k, "name")), name) == 0)
			return k;
	ck_abort_msg("no child %s", name);
	return NULL;
}

START_TEST(data_header_sites_series)
{
	struct mt_report r = report();
	json_t *d = mt_report_html_data(&r, 2, MT_HTML_TIME_SINCE_ATTACH);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(json_string_value(json_object_get(d, "time_axis")), "since_attach");
	json_t *h = json_object_get(d, "header");
	ck_assert_int_eq(int_at(h, "pid"), 4242);
	ck_assert_int_eq(int_at(h, "lost_events"), 7);
	ck_assert_int_eq(int_at(h, "live_bytes"), 3168);
	ck_assert_str_eq(json_string_value(json_object_get(h, "engine")), "inject");
	json_t *s = json_object_get(d, "sites");
	ck_assert_int_eq(json_array_size(s), 2);  /* --top 2 */
	ck_assert_int_eq(int_at(d, "sites_total"), 3);
	json_t *s0 = json_array_get(s, 0);
	ck_assert_str_eq(json_string_value(json_object_get(s0, "function")), "leak_big");
	ck_assert_str_eq(json_string_value(json_object_get(s0, "trend")), "growing");
	ck_assert_int_eq(json_array_size(json_object_get(s0, "stack")), 4);
	json_t *ser = json_object_get(s0, "series");
	ck_assert_int_eq(json_array_size(json_object_get(ser, "t")), 3);
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(ser, "bytes"), 2)), 3000);
	ck_assert(json_real_value(json_array_get(json_object_get(ser, "t"), 1)) == 2.0);
	ck_assert(json_is_null(json_object_get(json_array_get(s, 1), "series")));
	/* run takes no census: null */
	ck_assert(json_is_null(json_object_get(d, "census")));
	json_decref(d);
}
END_TEST

/* The flame tree: outermost frame first, down to the site frame (malloc
 * left out), values summed where stacks share frames; every site, --top
 * or not. */
START_TEST(data_flame)
{
	struct mt_report r = report();
	json_t *d = mt_report_html_data(&r, 1, MT_HTML_TIME_UNIX);
	json_t *f = json_object_get(d, "flame");
	ck_assert_int_eq(int_at(f, "value"), 3168);
	ck_assert_int_eq(json_array_size(json_object_get(f, "children")), 2);  /* main, tiny */
	json_t *m = child(f, "main");
	ck_assert_int_eq(int_at(m, "value"), 3160);
	json_t *serve = child(m, "serve");
	ck_assert_int_eq(int_at(serve, "value"), 3000);
	json_t *big = child(serve, "leak_big");
	ck_assert_int_eq(int_at(big, "value"), 3000);
	ck_assert_int_eq(json_array_size(json_object_get(big, "children")), 0);
	ck_assert_int_eq(int_at(child(m, "</script><script>alert(1)</script>"), "value"), 160);
	ck_assert_int_eq(int_at(child(f, "tiny"), "value"), 8);
	json_decref(d);
}
END_TEST

/* A name holding "</script>" cannot end the data's element: the page has
 * exactly the page's own "</script" tags, and the data parses back. */
START_TEST(page_escapes_names)
{
	if (!mt_report_html_available())
		return;  /* built without web/node_modules: nothing to write */
	struct mt_report r = report();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(mt_report_html(f, &r, 0, MT_HTML_TIME_SINCE_ATTACH), 0);
	ck_assert_int_eq(fclose(f), 0);
	int closes = 0;
	for (const char *p = buf; (p = strstr(p, "</script")); p++)
		closes++;
	ck_assert_int_eq(closes, 3);  /* the data, the libraries, the page's script */
	const char *start = strstr(buf, "id=\"memtrace-data\">");
	ck_assert_ptr_nonnull(start);
	start += strlen("id=\"memtrace-data\">");
	const char *end = strstr(start, "</script>");
	json_error_t e;
	json_t *d = json_loadb(start, (size_t)(end - start), 0, &e);
	ck_assert_msg(d != NULL, "data does not parse: %s", e.text);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(d, "sites"), 1), "function")), "</script><script>alert(1)</script>");
	json_decref(d);
	free(buf);
}
END_TEST

/* Two snapshots of one program: the later one's rows, each with its live
 * bytes in both, in time order whatever order they are given in. */
static struct mt_snapshot *snap(uint64_t t_ns, uint64_t bytes_a, uint64_t bytes_b)
{
	struct mt_snapshot *s = calloc(1, sizeof *s);
	s->pid = 77;
	s->comm = strdup("svc");
	s->engine = strdup("inject");
	s->time_unix_ns = t_ns;
	s->nmodules = 1;
	s->modules = calloc(1, sizeof *s->modules);
	s->modules[0].path = strdup("/srv/svc");
	s->nframes = 2;
	s->frames = calloc(2, sizeof *s->frames);
	s->frames[0] = (struct mt_snap_frame){ .module = 1, .module_offset = 0x100,
		.function = strdup("grow"), .file = strdup("") };
	s->frames[1] = (struct mt_snap_frame){ .module = 1, .module_offset = 0x200,
		.function = strdup("steady"), .file = strdup("") };
	s->nstacks = 2;
	s->stacks = calloc(2, sizeof *s->stacks);
	for (uint32_t i = 0; i < 2; i++) {
		s->stacks[i].frames = calloc(1, sizeof(uint32_t));
		s->stacks[i].frames[0] = i;
		s->stacks[i].nframes = 1;
	}
	s->nsites = 2;
	s->sites = calloc(2, sizeof *s->sites);
	s->sites[0] = (struct mt_snap_site){ .stack = 0, .live_bytes = bytes_a, .live_blocks = 1 };
	s->sites[1] = (struct mt_snap_site){ .stack = 1, .live_bytes = bytes_b, .live_blocks = 1 };
	return s;
}

START_TEST(from_snapshots)
{
	struct mt_snapshot *v[3] = { snap(3000000000ull, 3000, 50), snap(1000000000ull, 1000, 50),
				     snap(2000000000ull, 2000, 50) };
	struct mt_report r;
	struct mt_report_frame *frames;
	ck_assert_int_eq(mt_report_from_snapshots(v, 3, &r, &frames), 0);
	ck_assert_int_eq(r.nsites, 2);
	ck_assert_int_eq(r.pid, 77);
	ck_assert_int_eq(r.live_bytes, 3050);
	ck_assert_str_eq(r.sites[0].function, "grow");
	ck_assert_int_eq(r.sites[0].nseries, 3);
	ck_assert(r.sites[0].series_t[0] == 1.0 && r.sites[0].series_t[2] == 3.0);
	ck_assert_int_eq(r.sites[0].series_bytes[0], 1000);
	ck_assert_int_eq(r.sites[0].series_bytes[1], 2000);
	ck_assert_int_eq(r.sites[0].series_bytes[2], 3000);
	ck_assert_str_eq(r.sites[1].function, "steady");
	ck_assert_int_eq(r.sites[1].series_bytes[0], 50);
	mt_report_free(&r);
	free(frames);
	for (int i = 0; i < 3; i++)
		mt_snapshot_free(v[i]);
}
END_TEST

/* attach --record's series in S (recording since START seconds): N points
 * a second apart, site 0 at GROW0 + PER * k, site 1 at 50. */
static void with_series(struct mt_snapshot *s, uint64_t start, uint32_t n, uint64_t grow0,
			uint64_t per)
{
	s->start_unix_ns = start * 1000000000ull;
	s->time_unix_ns = s->start_unix_ns + (n - 1) * 1000000000ull;
	s->nseries = n;
	s->series_t = calloc(n, sizeof *s->series_t);
	s->series_bytes = calloc(2 * (size_t)n, sizeof *s->series_bytes);
	for (uint32_t k = 0; k < n; k++) {
		s->series_t[k] = k;
		s->series_bytes[k] = grow0 + per * k;
		s->series_bytes[n + k] = 50;
	}
	s->sites[0].live_bytes = grow0 + per * (n - 1);
}

/* A file with a series gives its points; where files overlap in time the
 * newest one's points are used (an older copy of the same recording adds
 * nothing), a file without one adds its own time before them; each row gets
 * attach's verdict on its series. */
START_TEST(from_snapshots_series)
{
	struct mt_snapshot *v[3] = { snap(0, 0, 50), snap(0, 1000, 50), snap(0, 0, 50) };
	with_series(v[0], 2, 13, 2000, 100);           /* 2 s .. 14 s */
	with_series(v[2], 2, 7, 999999, 1);            /* an older copy: 2 s .. 8 s */
	v[1]->time_unix_ns = 1000000000ull;            /* no series: one point at 1 s */
	struct mt_report r;
	struct mt_report_frame *frames;
	ck_assert_int_eq(mt_report_from_snapshots(v, 3, &r, &frames), 0);
	ck_assert_int_eq(r.nsites, 2);
	const struct mt_report_site *g = &r.sites[0], *st = &r.sites[1];
	ck_assert_str_eq(g->function, "grow");
	ck_assert_int_eq(g->live_bytes, 3200);
	ck_assert_int_eq(g->nseries, 14);
	ck_assert(g->series_t[0] == 1.0);
	ck_assert_int_eq(g->series_bytes[0], 1000);
	for (size_t k = 1; k < 14; k++) {
		ck_assert(g->series_t[k] == 1.0 + (double)k);
		ck_assert_int_eq(g->series_bytes[k], 2000 + 100 * (k - 1));
		ck_assert_int_eq(st->series_bytes[k], 50);
	}
	ck_assert_str_eq(g->trend, "growing");
	ck_assert(g->rate_bytes_per_min > 5000 && g->rate_bytes_per_min < 7000);
	ck_assert(g->score > 0);
	ck_assert_str_eq(st->trend, "flat");
	mt_report_free(&r);
	free(frames);
	for (int i = 0; i < 3; i++)
		mt_snapshot_free(v[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_html");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, data_header_sites_series);
	tcase_add_test(tc, data_flame);
	tcase_add_test(tc, page_escapes_names);
	tcase_add_test(tc, from_snapshots);
	tcase_add_test(tc, from_snapshots_series);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
