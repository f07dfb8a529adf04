/* Unit tests for src/report/report_build.c: a report built from its input
 * alone (a tracker fed events, hooks, the header's figures), without a
 * session or a target.  Rows without stacks or a symbolizer are named by
 * their caller's address only. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_build.h"

#define C1 0x555555555189ULL
#define C2 0x5555555551c4ULL

static uint64_t clock_ns;

static void ev(struct mt_tracker *t, enum mt_event_kind kind, uint64_t addr, uint64_t size,
	       uint64_t caller)
{
	struct mt_event e = {
		.kind = kind, .fn = kind == MT_EV_FREE ? MT_FN_FREE : MT_FN_MALLOC, .tid = 7,
		.addr = addr, .size = size, .caller = caller, .time_ns = ++clock_ns,
	};
	mt_tracker_event(t, &e);
}

/* Three entries found: malloc and free hooked, calloc not. */
static void hook_set(struct mt_alloc_set *set, bool *installed, char (*why)[160])
{
	memset(set, 0, sizeof *set);
	static const enum mt_fn fns[] = { MT_FN_MALLOC, MT_FN_FREE, MT_FN_CALLOC };
	for (int i = 0; i < 3; i++) {
		struct mt_hook_spec *h = &set->hooks[set->n++];
		h->fn = fns[i];
		mt_fn_set_add(&h->fn_mask, fns[i]);
		snprintf(h->symbol, sizeof h->symbol, "%s", mt_fn_name(fns[i]));
		snprintf(h->module, sizeof h->module, "/usr/lib/x86_64-linux-gnu/libc.so.6");
		h->addr = 0x7f0000001000ULL + 0x100 * (uint64_t)i;
		h->file_offset = 0x1000 + 0x100 * (uint64_t)i;
		installed[i] = i < 2;
	}
	snprintf(why[2], sizeof why[2], "its first instruction cannot be moved");
	snprintf(set->allocator, sizeof set->allocator, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	snprintf(set->unhooked, sizeof set->unhooked, "xallocx");
}

static const struct mt_report_site *row(const struct mt_report *r, uint64_t key)
{
	for (size_t i = 0; i < r->nsites; i++)
		if (r->sites[i].key == key)
			return &r->sites[i];
	ck_abort_msg("no row for key %#llx", (unsigned long long)key);
	return NULL;
}

START_TEST(test_build)
{
	struct mt_tracker *t = mt_tracker_new();
	ck_assert_ptr_nonnull(t);
	ev(t, MT_EV_ALLOC, 0x1000, 100, C1);
	ev(t, MT_EV_ALLOC, 0x2000, 200, C1);
	ev(t, MT_EV_ALLOC, 0x3000, 50, C2);
	ev(t, MT_EV_FREE, 0x1000, 0, C2);
	struct mt_alloc_set set;
	bool installed[MT_MAX_HOOKS] = { false };
	char why[MT_MAX_HOOKS][160] = { { 0 } };
	hook_set(&set, installed, why);
	struct mt_report_input in = {
		.tracker = t, .set = &set, .installed = installed, .why_not = why,
		.pid = 4242, .comm = "server", .engine = "inject", .end_reason = "signal",
		.threads = 3, .duration_s = 2.5, .events = 4, .lost_events = 1, .stacks_cut = 2,
		.nested_calls = 5, .in_flight = 1, .depth = 16,
		.rss = { .known = true, .start = 1 << 20, .end = 3 << 20 },
	};
	struct mt_report r;
	ck_assert_int_eq(mt_report_build(&in, &r), 0);

	ck_assert_int_eq(r.pid, 4242);
	ck_assert_str_eq(r.comm, "server");
	ck_assert_str_eq(r.engine, "inject");
	ck_assert_str_eq(r.end_reason, "signal");
	ck_assert_str_eq(r.allocator, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	ck_assert_str_eq(r.unsupported, "xallocx");
	ck_assert_int_eq(r.threads, 3);
	ck_assert(r.duration_s == 2.5);
	ck_assert_uint_eq(r.events, 4);
	ck_assert_uint_eq(r.lost_events, 1);
	ck_assert_uint_eq(r.stacks_cut, 2);
	ck_assert_uint_eq(r.nested_calls, 5);
	ck_assert_uint_eq(r.in_flight, 1);
	ck_assert_int_eq(r.depth, 16);
	ck_assert(r.rss.known);
	ck_assert_uint_eq(r.rss.end, 3 << 20);
	ck_assert_ptr_null(r.census);
	/* the tracker's own figures */
	ck_assert_uint_eq(r.live_blocks, 2);
	ck_assert_uint_eq(r.live_bytes, 250);
	ck_assert_uint_eq(r.allocs, 3);
	ck_assert_uint_eq(r.frees, 1);
	ck_assert_uint_eq(r.peak_live_bytes, 350);
	ck_assert_uint_eq(r.sample_bytes, 0);
	/* left for whoever asked for the report */
	ck_assert_ptr_null(r.group_by);
	ck_assert(!r.show_stacks);

	ck_assert_uint_eq(r.nhooks, 2);
	ck_assert_str_eq(r.hooks[0].symbol, "malloc");
	ck_assert_str_eq(r.hooks[1].symbol, "free");
	ck_assert_str_eq(r.hooks[1].engine, "inject");
	ck_assert_uint_eq(r.hooks[1].file_offset, 0x1100);
	ck_assert_str_eq(r.hooks[1].why, "");
	ck_assert_uint_eq(r.nunhooked, 1);
	ck_assert_str_eq(r.unhooked[0].symbol, "calloc");
	ck_assert_str_eq(r.unhooked[0].names, "calloc");
	ck_assert_uint_eq(r.unhooked[0].address, 0x7f0000001200ULL);
	ck_assert_str_eq(r.unhooked[0].why, "its first instruction cannot be moved");

	/* one row per caller, named by its address alone */
	ck_assert_uint_eq(r.nsites, 2);
	const struct mt_report_site *a = row(&r, C1), *b = row(&r, C2);
	ck_assert_uint_eq(a->address, C1);
	ck_assert_str_eq(a->function, "");
	ck_assert_ptr_null(a->frames);
	ck_assert_uint_eq(a->live_blocks, 1);
	ck_assert_uint_eq(a->live_bytes, 200);
	ck_assert_uint_eq(a->allocs, 2);
	ck_assert_uint_eq(a->frees, 1);
	ck_assert_uint_eq(a->alloc_bytes, 300);
	ck_assert_int_eq(a->delta_total, 200);
	ck_assert_uint_eq(b->live_bytes, 50);
	ck_assert_uint_eq(b->frees, 0);

	/* grouping by site sorts: largest first */
	ck_assert_int_eq(mt_report_group(&r, MT_REPORT_BY_SITE), 0);
	ck_assert_uint_eq(r.sites[0].key, C1);
	mt_report_free(&r);
	mt_tracker_destroy(t);
}
END_TEST

/* No hooks, no sites: an empty report, not a failure. */
START_TEST(test_empty)
{
	struct mt_tracker *t = mt_tracker_new();
	ck_assert_ptr_nonnull(t);
	struct mt_report_input in = { .tracker = t, .engine = "breakpoint",
				      .end_reason = "duration" };
	struct mt_report r;
	ck_assert_int_eq(mt_report_build(&in, &r), 0);
	ck_assert_uint_eq(r.nsites, 0);
	ck_assert_uint_eq(r.nhooks, 0);
	ck_assert_uint_eq(r.nunhooked, 0);
	ck_assert_str_eq(r.comm, "");
	ck_assert_str_eq(r.allocator, "");
	mt_report_free(&r);
	mt_tracker_destroy(t);
}
END_TEST

/* CPython's allocator API hooked in the python executable: the report
 * names that module as pymalloc's; found but not hooked, it does not. */
START_TEST(test_pymalloc)
{
	for (int hooked = 0; hooked < 2; hooked++) {
		struct mt_tracker *t = mt_tracker_new();
		ck_assert_ptr_nonnull(t);
		struct mt_alloc_set set;
		bool installed[MT_MAX_HOOKS] = { false };
		char why[MT_MAX_HOOKS][160] = { { 0 } };
		hook_set(&set, installed, why);
		static const enum mt_fn py[] = { MT_FN_PY_OBJECT_MALLOC, MT_FN_PY_MEM_FREE };
		for (int i = 0; i < 2; i++) {
			struct mt_hook_spec *h = &set.hooks[set.n];
			h->fn = py[i];
			mt_fn_set_add(&h->fn_mask, py[i]);
			snprintf(h->symbol, sizeof h->symbol, "%s", mt_fn_name(py[i]));
			snprintf(h->module, sizeof h->module, "/usr/bin/python3.11");
			h->addr = 0x4fb350 + 0x100 * (uint64_t)i;
			installed[set.n++] = hooked;
		}
		struct mt_report_input in = { .tracker = t, .set = &set, .installed = installed,
					      .why_not = why, .engine = "inject",
					      .end_reason = "signal" };
		struct mt_report r;
		ck_assert_int_eq(mt_report_build(&in, &r), 0);
		ck_assert_str_eq(r.allocator, "/usr/lib/x86_64-linux-gnu/libc.so.6");
		ck_assert_str_eq(r.pymalloc, hooked ? "/usr/bin/python3.11" : "");
		ck_assert_uint_eq(r.nhooks, hooked ? 4 : 2);
		mt_report_free(&r);
		mt_tracker_destroy(t);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_build");
	TCase *tc = tcase_create("build");
	tcase_add_test(tc, test_build);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_pymalloc);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
