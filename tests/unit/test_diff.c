/* memtrace diff: two snapshots of one program across a restart (new PID,
 * new load addresses, modules, frames and stacks numbered differently)
 * with planted growth, a new site, a gone site and unchanged sites. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "report/diff.h"

/* ---- the fixture ---------------------------------------------------------- */

enum { F_MALLOC, F_MAIN, F_LEAK, F_LEAK2, F_STEADY, F_GONE, F_CHURN, F_STRDUP, F_NEW, NF };

static const struct {
	const char *function;
	bool libc;
	uint64_t module_offset, offset;
	int line;
} fdefs[NF] = {
	[F_MALLOC] = { "malloc", true, 0x9000, 0x0, 0 },
	[F_MAIN] = { "main", false, 0x1000, 0x40, 5 },
	[F_LEAK] = { "leak_a", false, 0x1110, 0x10, 11 },   /* the planted growth */
	[F_LEAK2] = { "leak_a", false, 0x1150, 0x50, 15 },  /* another call in leak_a */
	[F_STEADY] = { "steady", false, 0x1210, 0x10, 21 },
	[F_GONE] = { "gone_fn", false, 0x1310, 0x10, 31 },
	[F_CHURN] = { "churn", false, 0x1510, 0x10, 51 },  /* nothing live in A or B */
	[F_STRDUP] = { "strdup", true, 0x8010, 0x10, 0 },  /* a site in libc */
	[F_NEW] = { "new_fn", false, 0x1410, 0x10, 41 },
};

enum { S_LEAK, S_LEAK_VIA_GONE, S_STEADY, S_GONE, S_LEAK2, S_CHURN, S_STRDUP, S_NEW, NS };

/* innermost first; the site is frame 1 */
static const int sdefs[NS][4] = {
	[S_LEAK] = { F_MALLOC, F_LEAK, F_MAIN, -1 },
	[S_LEAK_VIA_GONE] = { F_MALLOC, F_LEAK, F_GONE, F_MAIN },
	[S_STEADY] = { F_MALLOC, F_STEADY, F_MAIN, -1 },
	[S_GONE] = { F_MALLOC, F_GONE, F_MAIN, -1 },
	[S_LEAK2] = { F_MALLOC, F_LEAK2, F_MAIN, -1 },
	[S_CHURN] = { F_MALLOC, F_CHURN, F_MAIN, -1 },
	[S_STRDUP] = { F_MALLOC, F_STRDUP, F_MAIN, -1 },
	[S_NEW] = { F_MALLOC, F_NEW, F_MAIN, -1 },
};

#define ABSENT UINT64_MAX
/* live blocks, live bytes per stack */
static const uint64_t live_a[NS][2] = {
	[S_LEAK] = { 10, 1000 }, [S_LEAK_VIA_GONE] = { 1, 100 }, [S_STEADY] = { 5, 500 },
	[S_GONE] = { 3, 300 },   [S_LEAK2] = { 2, 200 },         [S_CHURN] = { 0, 0 },
	[S_STRDUP] = { 1, 64 },  [S_NEW] = { ABSENT, ABSENT },
};
static const uint64_t live_b[NS][2] = {
	[S_LEAK] = { 30, 3000 }, [S_LEAK_VIA_GONE] = { 1, 100 }, [S_STEADY] = { 5, 500 },
	[S_GONE] = { ABSENT, ABSENT }, [S_LEAK2] = { 2, 200 },   [S_CHURN] = { 0, 0 },
	[S_STRDUP] = { 1, 64 },  [S_NEW] = { 4, 400 },
};

static const uint8_t app_id[20] = { 0xaa, 0xbb, 0x01, 0x02, 0x03 };
static const uint8_t libc_id[20] = { 0xcc, 0xdd, 0x04 };

struct fixture {
	struct mt_snapshot s;
	struct mt_snap_module mods[2];
	struct mt_snap_frame frames[NF];
	struct mt_snap_stack stacks[NS];
	uint32_t stack_frames[NS][4];
	struct mt_snap_site sites[NS];
	uint32_t stack_at[NS];  /* where stack S_x landed in stacks[] */
};

static struct fixture fa, fb;

/* A and B differ in everything a restart changes: PID, load addresses, and
 * B numbers modules, frames and stacks in the opposite order. */
static void build(struct fixture *x, bool b)
{
	memset(x, 0, sizeof *x);
	uint32_t app = b ? 1 : 0, libc = b ? 0 : 1;
	uint64_t app_base = b ? 0x563400000000 : 0x555500000000;
	uint64_t libc_base = b ? 0x7f9900000000 : 0x7f1100000000;
	x->mods[app] = (struct mt_snap_module){ .path = "/usr/bin/app", .build_id_len = 20 };
	memcpy(x->mods[app].build_id, app_id, 20);
	x->mods[libc] = (struct mt_snap_module){ .path = "/lib/x86_64-linux-gnu/libc.so.6",
						 .build_id_len = 20 };
	memcpy(x->mods[libc].build_id, libc_id, 20);
	for (int i = 0; i < NF; i++) {
		uint32_t at = b ? NF - 1 - i : i;
		bool in_libc = fdefs[i].libc;
		x->frames[at] = (struct mt_snap_frame){
			.module = (in_libc ? libc : app) + 1,
			.module_offset = fdefs[i].module_offset,
			.address = (in_libc ? libc_base : app_base) + fdefs[i].module_offset,
			.function = (char *)fdefs[i].function,
			.offset = fdefs[i].offset,
			.file = in_libc ? "" : "/src/app/app.c",
			.line = fdefs[i].line,
		};
	}
	const uint64_t(*live)[2] = b ? live_b : live_a;
	for (int s = 0; s < NS; s++) {
		uint32_t at = b ? NS - 1 - s : s;
		x->stack_at[s] = at;
		uint32_t n = 0;
		for (int k = 0; k < 4 && sdefs[s][k] >= 0; k++)
			x->stack_frames[at][n++] = b ? NF - 1 - sdefs[s][k] : sdefs[s][k];
		x->stacks[at] = (struct mt_snap_stack){ .frames = x->stack_frames[at], .nframes = n,
						       .site_frame = 1 };
	}
	uint32_t n = 0;
	for (int s = 0; s < NS; s++) {
		if (live[s][0] == ABSENT)
			continue;
		x->sites[n++] = (struct mt_snap_site){
			.stack = x->stack_at[s], .live_blocks = live[s][0], .live_bytes = live[s][1],
			.allocs = live[s][0] + 50, .frees = 50, .alloc_bytes = live[s][1] + 5000,
		};
	}
	x->s = (struct mt_snapshot){
		.format_version = 1, .memtrace_version = "0.1.0",
		.pid = b ? 200 : 100, .comm = "app", .exe = "/usr/bin/app", .exe_module = app + 1,
		.start_unix_ns = (b ? 1714557595ULL : 1714557295ULL) * 1000000000ULL,
		.time_unix_ns = (b ? 1714557600ULL : 1714557300ULL) * 1000000000ULL,
		.duration_s = 5.0, .events = b ? 2000 : 1000, .unknown_frees = 0,
		.lost_events = 0, .engine = "breakpoint", .allocator = "/lib/x86_64-linux-gnu/libc.so.6",
		.depth = 32,
		.modules = x->mods, .nmodules = 2,
		.frames = x->frames, .nframes = NF,
		.stacks = x->stacks, .nstacks = NS,
		.sites = x->sites, .nsites = n,
	};
}

static void setup(void)
{
	build(&fa, false);
	build(&fb, true);
}

static void check_row(const struct mt_diff_row *r, const char *function, uint64_t module_offset,
		      uint64_t bytes_a, uint64_t bytes_b, uint64_t blocks_a, uint64_t blocks_b,
		      enum mt_diff_status status)
{
	ck_assert_str_eq(r->function, function);
	ck_assert_uint_eq(r->module_offset, module_offset);
	ck_assert_uint_eq(r->bytes_a, bytes_a);
	ck_assert_uint_eq(r->bytes_b, bytes_b);
	ck_assert_uint_eq(r->blocks_a, blocks_a);
	ck_assert_uint_eq(r->blocks_b, blocks_b);
	ck_assert_int_eq(r->delta_bytes, (int64_t)bytes_b - (int64_t)bytes_a);
	ck_assert_int_eq(r->delta_blocks, (int64_t)blocks_b - (int64_t)blocks_a);
	ck_assert_str_eq(mt_diff_status_name(r->status), mt_diff_status_name(status));
}

/* ---- grouping and matching ------------------------------------------------ */

START_TEST(test_by_site)
{
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fa.s, &fb.s, MT_REPORT_BY_SITE, &d), 0);
	ck_assert_uint_eq(d.nrows, 7);
	/* S_LEAK and S_LEAK_VIA_GONE share the site: summed, +2000 */
	check_row(&d.rows[0], "leak_a", 0x1110, 1100, 3100, 11, 31, MT_DIFF_CHANGED);
	/* named from B, with B's largest member's stack */
	ck_assert_ptr_eq(d.rows[0].snap, &fb.s);
	ck_assert_uint_eq(d.rows[0].stack, fb.stack_at[S_LEAK]);
	ck_assert_str_eq(d.rows[0].module, "/usr/bin/app");
	ck_assert_str_eq(d.rows[0].file, "/src/app/app.c");
	ck_assert_int_eq(d.rows[0].line, 11);
	ck_assert_uint_eq(d.rows[0].offset, 0x10);
	check_row(&d.rows[1], "new_fn", 0x1410, 0, 400, 0, 4, MT_DIFF_NEW);
	/* unchanged, by bytes in B */
	check_row(&d.rows[2], "steady", 0x1210, 500, 500, 5, 5, MT_DIFF_SAME);
	check_row(&d.rows[3], "leak_a", 0x1150, 200, 200, 2, 2, MT_DIFF_SAME);
	check_row(&d.rows[4], "strdup", 0x8010, 64, 64, 1, 1, MT_DIFF_SAME);
	ck_assert_str_eq(d.rows[4].module, "/lib/x86_64-linux-gnu/libc.so.6");
	/* gone: named from A */
	check_row(&d.rows[5], "gone_fn", 0x1310, 300, 0, 3, 0, MT_DIFF_GONE);
	ck_assert_ptr_eq(d.rows[5].snap, &fa.s);
	ck_assert_uint_eq(d.rows[5].stack, fa.stack_at[S_GONE]);
	/* nothing live on either side: same, last */
	check_row(&d.rows[6], "churn", 0x1510, 0, 0, 0, 0, MT_DIFF_SAME);
	mt_diff_free(&d);
	ck_assert_ptr_null(d.rows);
	ck_assert_uint_eq(d.nrows, 0);
}
END_TEST

START_TEST(test_by_function)
{
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fa.s, &fb.s, MT_REPORT_BY_FUNCTION, &d), 0);
	ck_assert_uint_eq(d.group, MT_REPORT_BY_FUNCTION);
	ck_assert_uint_eq(d.nrows, 6);
	/* both calls in leak_a: 1300 -> 3300 */
	check_row(&d.rows[0], "leak_a", 0x1110, 1300, 3300, 13, 33, MT_DIFF_CHANGED);
	check_row(&d.rows[1], "new_fn", 0x1410, 0, 400, 0, 4, MT_DIFF_NEW);
	check_row(&d.rows[2], "steady", 0x1210, 500, 500, 5, 5, MT_DIFF_SAME);
	check_row(&d.rows[3], "strdup", 0x8010, 64, 64, 1, 1, MT_DIFF_SAME);
	check_row(&d.rows[4], "gone_fn", 0x1310, 300, 0, 3, 0, MT_DIFF_GONE);
	check_row(&d.rows[5], "churn", 0x1510, 0, 0, 0, 0, MT_DIFF_SAME);
	mt_diff_free(&d);
}
END_TEST

START_TEST(test_by_module)
{
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fa.s, &fb.s, MT_REPORT_BY_MODULE, &d), 0);
	ck_assert_uint_eq(d.nrows, 2);
	/* the app: 1000+100+500+300+200 -> 3000+100+500+200+400; named by the
	 * largest member, leak_a's first call */
	check_row(&d.rows[0], "leak_a", 0x1110, 2100, 4200, 21, 42, MT_DIFF_CHANGED);
	ck_assert_str_eq(d.rows[0].module, "/usr/bin/app");
	check_row(&d.rows[1], "strdup", 0x8010, 64, 64, 1, 1, MT_DIFF_SAME);
	mt_diff_free(&d);
}
END_TEST

START_TEST(test_by_stack)
{
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fa.s, &fb.s, MT_REPORT_BY_STACK, &d), 0);
	ck_assert_uint_eq(d.nrows, 8);
	check_row(&d.rows[0], "leak_a", 0x1110, 1000, 3000, 10, 30, MT_DIFF_CHANGED);
	ck_assert_uint_eq(d.rows[0].stack, fb.stack_at[S_LEAK]);
	check_row(&d.rows[1], "new_fn", 0x1410, 0, 400, 0, 4, MT_DIFF_NEW);
	check_row(&d.rows[2], "steady", 0x1210, 500, 500, 5, 5, MT_DIFF_SAME);
	check_row(&d.rows[3], "leak_a", 0x1150, 200, 200, 2, 2, MT_DIFF_SAME);
	/* the other stack through leak_a's first call, on its own */
	check_row(&d.rows[4], "leak_a", 0x1110, 100, 100, 1, 1, MT_DIFF_SAME);
	ck_assert_uint_eq(d.rows[4].stack, fb.stack_at[S_LEAK_VIA_GONE]);
	check_row(&d.rows[5], "strdup", 0x8010, 64, 64, 1, 1, MT_DIFF_SAME);
	check_row(&d.rows[6], "gone_fn", 0x1310, 300, 0, 3, 0, MT_DIFF_GONE);
	check_row(&d.rows[7], "churn", 0x1510, 0, 0, 0, 0, MT_DIFF_SAME);
	mt_diff_free(&d);
}
END_TEST

/* A snapshot against itself: everything the same, nothing moves. */
START_TEST(test_self)
{
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fb.s, &fb.s, MT_REPORT_BY_SITE, &d), 0);
	ck_assert_uint_eq(d.nrows, 6);
	for (size_t i = 0; i < d.nrows; i++) {
		ck_assert_int_eq(d.rows[i].status, MT_DIFF_SAME);
		ck_assert_int_eq(d.rows[i].delta_bytes, 0);
	}
	mt_diff_free(&d);

	struct mt_snapshot empty = { .pid = 1 };
	ck_assert_int_eq(mt_diff_compute(&empty, &empty, MT_REPORT_BY_STACK, &d), 0);
	ck_assert_uint_eq(d.nrows, 0);
	mt_diff_free(&d);
	/* everything new */
	ck_assert_int_eq(mt_diff_compute(&empty, &fa.s, MT_REPORT_BY_SITE, &d), 0);
	ck_assert_uint_eq(d.nrows, 6);
	ck_assert_int_eq(d.rows[0].status, MT_DIFF_NEW);
	ck_assert_int_eq(d.rows[0].delta_bytes, 1100);
	mt_diff_free(&d);
}
END_TEST

/* Modules without build-ids match by file base name; frames outside any
 * module match by function name, never by runtime address. */
START_TEST(test_no_build_ids)
{
	struct mt_snap_module ma = { .path = "/usr/lib/libx.so" }, mb = { .path = "/opt/lib/libx.so" };
	struct mt_snap_frame fra[] = {
		{ .module = 1, .module_offset = 0x10, .address = 0x7f0000000010, .function = "",
		  .file = "" },
		{ .module = 0, .address = 0x1000, .function = "jit_fn", .file = "" },
		{ .module = 0, .address = 0x3000, .function = "", .file = "" },
	};
	struct mt_snap_frame frb[] = {
		{ .module = 1, .module_offset = 0x10, .address = 0x7f5500000010, .function = "",
		  .file = "" },
		{ .module = 0, .address = 0x2000, .function = "jit_fn", .file = "" },
		{ .module = 0, .address = 0x4000, .function = "", .file = "" },
	};
	uint32_t f0[] = { 0 }, f1[] = { 1 }, f2[] = { 2 };
	struct mt_snap_stack st[] = {
		{ .frames = f0, .nframes = 1 }, { .frames = f1, .nframes = 1 },
		{ .frames = f2, .nframes = 1 },
	};
	struct mt_snap_site sa[] = {
		{ .stack = 0, .live_blocks = 1, .live_bytes = 10 },
		{ .stack = 1, .live_blocks = 1, .live_bytes = 20 },
		{ .stack = 2, .live_blocks = 1, .live_bytes = 30 },
	};
	struct mt_snap_site sb[] = {
		{ .stack = 0, .live_blocks = 2, .live_bytes = 20 },
		{ .stack = 1, .live_blocks = 2, .live_bytes = 40 },
		{ .stack = 2, .live_blocks = 1, .live_bytes = 30 },
	};
	struct mt_snapshot a = { .pid = 1, .modules = &ma, .nmodules = 1, .frames = fra, .nframes = 3,
				 .stacks = st, .nstacks = 3, .sites = sa, .nsites = 3 };
	struct mt_snapshot b = { .pid = 2, .modules = &mb, .nmodules = 1, .frames = frb, .nframes = 3,
				 .stacks = st, .nstacks = 3, .sites = sb, .nsites = 3 };
	struct mt_diff d;
	static const enum mt_report_group gs[] = { MT_REPORT_BY_SITE, MT_REPORT_BY_STACK,
						    MT_REPORT_BY_FUNCTION };
	for (size_t g = 0; g < sizeof gs / sizeof gs[0]; g++) {
		ck_assert_int_eq(mt_diff_compute(&a, &b, gs[g], &d), 0);
		ck_assert_uint_eq(d.nrows, 4);
		/* the unnamed frame at another address is another site */
		check_row(&d.rows[0], "", 0, 0, 30, 0, 1, MT_DIFF_NEW);
		check_row(&d.rows[1], "jit_fn", 0, 20, 40, 1, 2, MT_DIFF_CHANGED);
		ck_assert_str_eq(d.rows[2].module, "/opt/lib/libx.so");
		check_row(&d.rows[2], "", 0x10, 10, 20, 1, 2, MT_DIFF_CHANGED);
		check_row(&d.rows[3], "", 0, 30, 0, 1, 0, MT_DIFF_GONE);
		mt_diff_free(&d);
	}
	/* by module: the three unknown-module frames are one "module" */
	ck_assert_int_eq(mt_diff_compute(&a, &b, MT_REPORT_BY_MODULE, &d), 0);
	ck_assert_uint_eq(d.nrows, 2);
	check_row(&d.rows[0], "jit_fn", 0, 50, 70, 2, 3, MT_DIFF_CHANGED);
	check_row(&d.rows[1], "", 0x10, 10, 20, 1, 2, MT_DIFF_CHANGED);
	mt_diff_free(&d);
}
END_TEST

/* ---- same program? -------------------------------------------------------- */

START_TEST(test_same_program)
{
	char why[512] = "";
	/* a restart: new PID, new addresses */
	ck_assert(mt_diff_same_program(&fa.s, &fb.s, why, sizeof why));
	ck_assert(mt_diff_same_program(&fa.s, &fb.s, NULL, 0));

	/* rebuilt: same path, another build-id */
	fb.mods[1].build_id[19] = 0x99;
	ck_assert(!mt_diff_same_program(&fa.s, &fb.s, why, sizeof why));
	ck_assert_str_eq(why, "PID 100 ran /usr/bin/app (build-id aabb010203000000000000000000000000000000), "
			      "PID 200 ran /usr/bin/app (build-id aabb010203000000000000000000000000000099)");

	/* another program */
	fb.s.exe = "/usr/bin/other";
	ck_assert(!mt_diff_same_program(&fa.s, &fb.s, why, sizeof why));
	ck_assert_str_eq(why, "PID 100 ran /usr/bin/app, PID 200 ran /usr/bin/other");

	/* without build-ids: the file name decides, not the directory */
	fa.mods[0].build_id_len = 0;
	fb.s.exe = "/opt/app/bin/app";
	ck_assert(mt_diff_same_program(&fa.s, &fb.s, why, sizeof why));
	fb.s.exe = "/usr/bin/other";
	why[0] = 0;
	ck_assert(!mt_diff_same_program(&fa.s, &fb.s, why, sizeof why));
	ck_assert_str_eq(why, "PID 100 ran /usr/bin/app, PID 200 ran /usr/bin/other");

	/* no exe path: the executable module's path */
	fb.s.exe = NULL;
	ck_assert(mt_diff_same_program(&fa.s, &fb.s, why, sizeof why));
	/* nothing known about either executable: nothing to refuse on */
	fa.s.exe = "";
	fa.s.exe_module = 0;
	fb.s.exe_module = 0;
	ck_assert(mt_diff_same_program(&fa.s, &fb.s, why, sizeof why));
}
END_TEST

/* ---- output --------------------------------------------------------------- */

typedef int (*printer)(FILE *f, const struct mt_diff *d, int top, bool color);

static int table_plain(FILE *f, const struct mt_diff *d, int top, bool color)
{
	return mt_diff_print_table(f, &fa.s, &fb.s, d, top, color);
}

static char *print_with(printer p, enum mt_report_group g, int top, bool color)
{
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fa.s, &fb.s, g, &d), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(p(f, &d, top, color), 0);
	ck_assert_int_eq(fclose(f), 0);
	mt_diff_free(&d);
	return buf;
}

START_TEST(test_table)
{
	char *out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "A: pid 100 (app) /usr/bin/app at 2024-05-01 09:55:00 UTC, traced "
				  "5.0 s: 1000 events, 0 unknown frees, 0 lost events\n"
				  "B: pid 200 (app) /usr/bin/app at 2024-05-01 10:00:00 UTC, traced "
				  "5.0 s: 2000 events, 0 unknown frees, 0 lost events\n"
				  "live: A 22 blocks, 2.1 KiB; B 43 blocks, 4.2 KiB; change +2.1 KiB\n"
				  "by site: 1 changed, 1 new, 1 gone, 3 same\n\n") == out,
		      "%s", out);
	ck_assert_msg(strstr(out, " rank     bytes A     bytes B      Δ bytes   blocks A   blocks B"
				  "   Δ blocks  status   site\n"),
		      "%s", out);
	ck_assert_msg(strstr(out, "    1     1.1 KiB     3.0 KiB     +2.0 KiB         11         31"
				  "        +20  changed  leak_a+0x10 (app) app.c:11\n"),
		      "%s", out);
	ck_assert_msg(strstr(out, "    2         0 B       400 B       +400 B          0          4"
				  "         +4  new      new_fn+0x10 (app) app.c:41\n"),
		      "%s", out);
	ck_assert_msg(strstr(out, "    5        64 B        64 B          0 B          1          1"
				  "          0  same     strdup+0x10 (libc.so.6)\n"),
		      "%s", out);
	ck_assert_msg(strstr(out, "    6       300 B         0 B       -300 B          3          0"
				  "         -3  gone     gone_fn+0x10 (app) app.c:31\n"),
		      "%s", out);
	/* nothing live on either side: not in the table */
	ck_assert_ptr_null(strstr(out, "churn"));
	ck_assert_ptr_null(strstr(out, "    7 "));
	ck_assert_ptr_null(strstr(out, "\033["));
	free(out);

	out = print_with(table_plain, MT_REPORT_BY_SITE, 2, false);
	ck_assert_ptr_nonnull(strstr(out, "    2 "));
	ck_assert_ptr_null(strstr(out, "    3 "));
	ck_assert_msg(strstr(out, "(4 more rows; --top 0 shows all)\n"), "%s", out);
	free(out);
}
END_TEST

START_TEST(test_table_color)
{
	char *out = print_with(table_plain, MT_REPORT_BY_SITE, 0, true);
	/* growth red, shrink green, no change plain */
	ck_assert_msg(strstr(out, "\033[31m    +2.0 KiB\033[0m"), "%s", out);
	ck_assert_msg(strstr(out, " \033[31m       +20\033[0m  "), "%s", out);
	ck_assert_msg(strstr(out, "\033[31mchanged\033[0m"), "%s", out);
	ck_assert_msg(strstr(out, "\033[32m      -300 B\033[0m"), "%s", out);
	ck_assert_msg(strstr(out, "\033[32mgone   \033[0m"), "%s", out);
	ck_assert_msg(strstr(out, "         0 B          1          1          0  same     strdup"),
		      "%s", out);
	free(out);
}
END_TEST

static int json_p(FILE *f, const struct mt_diff *d, int top, bool color)
{
	return mt_diff_print_json(f, &fa.s, &fb.s, d, top);
}

static json_t *get(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	ck_assert_msg(v != NULL, "no key %s", key);
	return v;
}

START_TEST(test_json)
{
	char *out = print_with(json_p, MT_REPORT_BY_SITE, 0, false);
	json_error_t err;
	json_t *o = json_loads(out, 0, &err);
	ck_assert_msg(o != NULL, "%s: %s", err.text, out);
	ck_assert_str_eq(json_string_value(get(o, "group_by")), "site");
	ck_assert(json_is_string(get(o, "memtrace_version")));
	json_t *a = get(o, "a"), *b = get(o, "b");
	ck_assert_int_eq(json_integer_value(get(a, "pid")), 100);
	ck_assert_int_eq(json_integer_value(get(b, "pid")), 200);
	ck_assert_str_eq(json_string_value(get(b, "comm")), "app");
	ck_assert_str_eq(json_string_value(get(b, "exe")), "/usr/bin/app");
	ck_assert_str_eq(json_string_value(get(b, "build_id")), "aabb010203000000000000000000000000000000");
	ck_assert_str_eq(json_string_value(get(b, "time")), "2024-05-01T10:00:00Z");
	ck_assert_int_eq(json_integer_value(get(b, "time_unix_ns")), 1714557600000000000LL);
	ck_assert_int_eq(json_integer_value(get(b, "start_unix_ns")), 1714557595000000000LL);
	ck_assert(json_real_value(get(b, "duration_s")) == 5.0);
	ck_assert_int_eq(json_integer_value(get(b, "events")), 2000);
	ck_assert_int_eq(json_integer_value(get(b, "unknown_frees")), 0);
	ck_assert_int_eq(json_integer_value(get(b, "lost_events")), 0);
	ck_assert_str_eq(json_string_value(get(b, "engine")), "breakpoint");
	ck_assert_str_eq(json_string_value(get(b, "allocator")), "/lib/x86_64-linux-gnu/libc.so.6");
	ck_assert_int_eq(json_integer_value(get(b, "depth")), 32);
	ck_assert_str_eq(json_string_value(get(a, "memtrace_version")), "0.1.0");

	json_t *t = get(o, "totals");
	ck_assert_int_eq(json_integer_value(get(t, "bytes_a")), 2164);
	ck_assert_int_eq(json_integer_value(get(t, "bytes_b")), 4264);
	ck_assert_int_eq(json_integer_value(get(t, "delta_bytes")), 2100);
	ck_assert_int_eq(json_integer_value(get(t, "delta_blocks")), 21);

	json_t *sites = get(o, "sites");
	ck_assert_uint_eq(json_array_size(sites), 7);  /* the empty row included */
	static const char *const status[] = { "changed", "new", "same", "same", "same", "gone", "same" };
	for (size_t i = 0; i < 7; i++)
		ck_assert_str_eq(json_string_value(get(json_array_get(sites, i), "status")), status[i]);
	json_t *s = json_array_get(sites, 0);
	ck_assert_str_eq(json_string_value(get(s, "function")), "leak_a");
	ck_assert_int_eq(json_integer_value(get(s, "offset")), 0x10);
	ck_assert_str_eq(json_string_value(get(s, "module")), "/usr/bin/app");
	ck_assert_int_eq(json_integer_value(get(s, "module_offset")), 0x1110);
	ck_assert_str_eq(json_string_value(get(s, "file")), "/src/app/app.c");
	ck_assert_int_eq(json_integer_value(get(s, "line")), 11);
	ck_assert_int_eq(json_integer_value(get(s, "blocks_a")), 11);
	ck_assert_int_eq(json_integer_value(get(s, "blocks_b")), 31);
	ck_assert_int_eq(json_integer_value(get(s, "bytes_a")), 1100);
	ck_assert_int_eq(json_integer_value(get(s, "bytes_b")), 3100);
	ck_assert_int_eq(json_integer_value(get(s, "delta_blocks")), 20);
	ck_assert_int_eq(json_integer_value(get(s, "delta_bytes")), 2000);
	ck_assert_int_eq(json_integer_value(get(s, "site_frame")), 1);
	json_t *stack = get(s, "stack");
	ck_assert_uint_eq(json_array_size(stack), 3);
	static const char *const names[] = { "malloc", "leak_a", "main" };
	for (size_t i = 0; i < 3; i++) {
		json_t *fr = json_array_get(stack, i);
		ck_assert_str_eq(json_string_value(get(fr, "function")), names[i]);
		ck_assert(json_is_string(get(fr, "module")));
		ck_assert(json_is_integer(get(fr, "module_offset")));
		ck_assert(json_is_integer(get(fr, "offset")));
		ck_assert(json_is_string(get(fr, "file")));
		ck_assert(json_is_integer(get(fr, "line")));
		ck_assert(json_is_boolean(get(fr, "inlined")));
		/* the frame histo writes (mt_report_json_frame): address too */
		ck_assert(json_is_string(get(fr, "address")));
		ck_assert_uint_eq(json_object_size(fr), 8);
	}
	/* B's runtime address: leak_a+0x10 at 0x1110 in the app, loaded at
	 * 0x563400000000 in B */
	ck_assert_str_eq(json_string_value(get(json_array_get(stack, 1), "address")),
			 "0x563400001110");
	ck_assert_int_eq(json_integer_value(get(json_array_get(stack, 1), "module_offset")),
			 0x1110);
	ck_assert_str_eq(json_string_value(get(json_array_get(stack, 0), "module")),
			 "/lib/x86_64-linux-gnu/libc.so.6");
	/* a gone row, with shrinkage as a negative number */
	s = json_array_get(sites, 5);
	ck_assert_str_eq(json_string_value(get(s, "function")), "gone_fn");
	ck_assert_int_eq(json_integer_value(get(s, "delta_bytes")), -300);
	ck_assert_int_eq(json_integer_value(get(s, "delta_blocks")), -3);
	json_decref(o);
	free(out);

	out = print_with(json_p, MT_REPORT_BY_STACK, 2, false);
	o = json_loads(out, 0, &err);
	ck_assert_msg(o != NULL, "%s", err.text);
	ck_assert_str_eq(json_string_value(get(o, "group_by")), "stack");
	ck_assert_uint_eq(json_array_size(get(o, "sites")), 2);
	json_decref(o);
	free(out);
}
END_TEST

static int folded_p(FILE *f, const struct mt_diff *d, int top, bool color)
{
	return mt_diff_print_folded(f, &fb.s, d);
}

/* Sampled snapshots are labeled; different means get a note, not a refusal. */
START_TEST(test_sampling_labels)
{
	char *out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(!strstr(out, "sampled") && !strstr(out, "note:"), "%s", out);
	free(out);

	fa.s.sample_bytes = 4096;
	fa.s.unsampled_frees = 7;
	out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "A: sampled: 1 in ~4096 bytes, counts and bytes are estimates "
				  "(7 unsampled frees)\n"), "%s", out);
	ck_assert_msg(!strstr(out, "B: sampled"), "%s", out);
	ck_assert_msg(strstr(out, "note: A is 1 in ~4096 bytes, B not sampled: the changes compare "
				  "estimates, small ones are noise\n"), "%s", out);
	free(out);

	out = print_with(json_p, MT_REPORT_BY_SITE, 0, false);
	json_error_t err;
	json_t *o = json_loads(out, 0, &err);
	ck_assert_msg(o != NULL, "%s: %s", err.text, out);
	json_t *smp = get(get(o, "a"), "sampling");
	ck_assert(json_is_object(smp));
	ck_assert_int_eq(json_integer_value(get(smp, "mean_bytes")), 4096);
	ck_assert_int_eq(json_integer_value(get(get(o, "a"), "unsampled_frees")), 7);
	ck_assert(json_is_null(get(get(o, "b"), "sampling")));
	json_decref(o);
	free(out);

	/* the same mean on both sides: labeled, no note */
	fb.s.sample_bytes = 4096;
	out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "B: sampled: 1 in ~4096 bytes"), "%s", out);
	ck_assert_msg(!strstr(out, "note:"), "%s", out);
	free(out);
}
END_TEST

START_TEST(test_folded)
{
	/* B's stacks, weighted by their growth: the planted leak and the new site */
	char *out = print_with(folded_p, MT_REPORT_BY_STACK, 0, false);
	ck_assert_str_eq(out, "main;leak_a;malloc 2000\nmain;new_fn;malloc 400\n");
	free(out);
	out = print_with(folded_p, MT_REPORT_BY_SITE, 0, false);
	ck_assert_str_eq(out, "main;leak_a;malloc 2000\nmain;new_fn;malloc 400\n");
	free(out);

	/* nothing grew */
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fb.s, &fb.s, MT_REPORT_BY_STACK, &d), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(mt_diff_print_folded(f, &fb.s, &d), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(buf, "");
	free(buf);
	mt_diff_free(&d);
}
END_TEST

/* ---- censuses --------------------------------------------------------------
 * A's and B's censuses: one class grew (Session, +20 blocks), the others
 * did not; one size grew (4096, +3 blocks), the others did not.  Rows are
 * listed in different orders on each side, as two runs would. */

static struct mt_census_row types_a[] = {
	{ "Order", 0, 100, 6400 }, { "Session", 0, 10, 1280 }, { "Widget", 0, 5, 400 },
};
static struct mt_census_row types_b[] = {
	{ "Session", 0, 30, 3840 }, { "Widget", 0, 5, 400 }, { "Order", 0, 100, 6400 },
};
static struct mt_census_row sizes_a[] = {
	{ NULL, 24, 1000, 32000 }, { NULL, 4088, 2, 8192 }, { NULL, 56, 10, 640 },
};
static struct mt_census_row sizes_b[] = {
	{ NULL, 24, 1000, 32000 }, { NULL, 56, 10, 640 }, { NULL, 4088, 5, 20480 },
};

static struct mt_census_report census_a, census_b;

static void census_setup(void)
{
	setup();
	census_a = (struct mt_census_report){
		.available = true, .allocator = "glibc 2.36", .complete = true,
		.blocks = 1127, .bytes = 48912, .paused_ms = 3.5, .took_ms = 20.25,
		.types = types_a, .ntypes = 3, .sizes = sizes_a, .nsizes = 3,
		.heap = { .known = true, .rss_bytes = 8 << 20, .mapped_bytes = 1 << 20,
			  .live_bytes = 48912, .free_bytes = 100000, .trimmable_bytes = 65536,
			  .arenas = 1, .verdict = "retention" },
	};
	census_b = census_a;
	census_b.blocks = 1150;
	census_b.bytes = 63760;
	census_b.types = types_b;
	census_b.sizes = sizes_b;
	census_b.heap.live_bytes = 63760;
	census_b.heap.free_bytes = 20000;
	census_b.heap.verdict = "normal";
	census_b.heap.arenas = 2;
	fa.s.census = &census_a;
	fb.s.census = &census_b;
}

static void check_census_row(const struct mt_diff_census_row *r, const char *type,
			     uint64_t size, uint64_t blocks_a, uint64_t blocks_b,
			     uint64_t bytes_a, uint64_t bytes_b)
{
	if (type)
		ck_assert_str_eq(r->type, type);
	else
		ck_assert_ptr_null(r->type);
	ck_assert_uint_eq(r->size, size);
	ck_assert_uint_eq(r->blocks_a, blocks_a);
	ck_assert_uint_eq(r->blocks_b, blocks_b);
	ck_assert_uint_eq(r->bytes_a, bytes_a);
	ck_assert_uint_eq(r->bytes_b, bytes_b);
	ck_assert_int_eq(r->delta_blocks, (int64_t)blocks_b - (int64_t)blocks_a);
	ck_assert_int_eq(r->delta_bytes, (int64_t)bytes_b - (int64_t)bytes_a);
}

/* The planted growth, and nothing else, changed. */
START_TEST(test_census_rows)
{
	struct mt_diff d;
	ck_assert_int_eq(mt_diff_compute(&fa.s, &fb.s, MT_REPORT_BY_SITE, &d), 0);
	ck_assert(d.census);
	ck_assert_uint_eq(d.nrows, 7);   /* the traced sites as before */
	ck_assert_uint_eq(d.ntypes, 3);
	check_census_row(&d.types[0], "Session", 0, 10, 30, 1280, 3840);
	/* unchanged: largest in B first */
	check_census_row(&d.types[1], "Order", 0, 100, 100, 6400, 6400);
	check_census_row(&d.types[2], "Widget", 0, 5, 5, 400, 400);
	ck_assert_uint_eq(d.nsizes, 3);
	check_census_row(&d.sizes[0], NULL, 4088, 2, 5, 8192, 20480);
	check_census_row(&d.sizes[1], NULL, 24, 1000, 1000, 32000, 32000);
	check_census_row(&d.sizes[2], NULL, 56, 10, 10, 640, 640);
	mt_diff_free(&d);
	ck_assert(!d.census);
	ck_assert_ptr_null(d.types);

	/* a class only in A, a class only in B; the largest change either way
	 * first; a name repeated within one census is summed */
	struct mt_census_row ta[] = { { "Gone", 0, 50, 100000 }, { "Session", 0, 10, 1280 } };
	struct mt_census_row tb[] = { { "New", 0, 1, 16 }, { "Session", 0, 20, 2560 },
				      { "Session", 0, 10, 1280 } };
	census_a.types = ta;
	census_a.ntypes = 2;
	census_b.types = tb;
	census_b.ntypes = 3;
	ck_assert_int_eq(mt_diff_compute(&fa.s, &fb.s, MT_REPORT_BY_SITE, &d), 0);
	ck_assert_uint_eq(d.ntypes, 3);
	check_census_row(&d.types[0], "Gone", 0, 50, 0, 100000, 0);
	check_census_row(&d.types[1], "Session", 0, 10, 30, 1280, 3840);
	check_census_row(&d.types[2], "New", 0, 0, 1, 0, 16);
	mt_diff_free(&d);
}
END_TEST

START_TEST(test_census_table)
{
	char *out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "census A: glibc 2.36, 1127 blocks, 47.8 KiB live at attach\n"
				  "census B: glibc 2.36, 1150 blocks, 62.3 KiB live at attach\n"
				  "heap                    A            B       change\n"
				  "  rss             8.0 MiB      8.0 MiB          0 B\n"
				  "  mapped          1.0 MiB      1.0 MiB          0 B\n"
				  "  live           47.8 KiB     62.3 KiB    +14.5 KiB\n"
				  "  free           97.7 KiB     19.5 KiB    -78.1 KiB\n"
				  "  trimmable      64.0 KiB     64.0 KiB          0 B\n"
				  "  arenas                1            2\n"
				  "  verdict       retention       normal\n"
				  "live: A 22 blocks"), "%s", out);
	/* after the site table: only what changed */
	const char *t = strstr(out, "\ncensus by type: 1 changed, 2 unchanged\n"
				    " rank     bytes A     bytes B      Δ bytes   blocks A   blocks B"
				    "   Δ blocks  type\n"
				    "    1     1.2 KiB     3.8 KiB     +2.5 KiB         10         30"
				    "        +20  Session\n"
				    "\ncensus by size: 1 changed, 2 unchanged\n"
				    " rank     bytes A     bytes B      Δ bytes   blocks A   blocks B"
				    "   Δ blocks  size\n"
				    "    1     8.0 KiB    20.0 KiB    +12.0 KiB          2          5"
				    "         +3  4088\n");
	ck_assert_msg(t && t > strstr(out, "gone_fn"), "%s", out);
	ck_assert_ptr_null(strstr(out, "Order"));
	ck_assert_ptr_null(strstr(out, "Widget"));
	ck_assert_ptr_null(strstr(out, "  24\n"));
	free(out);

	/* --top: per section */
	sizes_b[0].blocks = 1001;
	sizes_b[0].bytes = 32032;
	out = print_with(table_plain, MT_REPORT_BY_SITE, 1, false);
	ck_assert_msg(strstr(out, "census by size: 2 changed, 1 unchanged\n"), "%s", out);
	ck_assert_msg(strstr(out, "+3  4088\n(1 more changed sizes; --top 0 shows all)\n"), "%s",
		      out);
	free(out);
	sizes_b[0].blocks = 1000;
	sizes_b[0].bytes = 32000;

	/* nothing changed: the counts only */
	fb.s.census = &census_a;
	out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "census by type: 0 changed, 3 unchanged\n\ncensus by size: "
				  "0 changed, 3 unchanged\n"), "%s", out);
	free(out);
}
END_TEST

/* A side without a census, or with an unavailable one: one line, no rows,
 * no zeros. */
START_TEST(test_census_missing)
{
	fb.s.census = NULL;
	char *out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "census B: none in this snapshot (taken with --no-census, or by a "
				  "memtrace without the census): no rows by type or size compared\n"),
		      "%s", out);
	ck_assert_msg(strstr(out, "  live           47.8 KiB            -\n"), "%s",
		      out);
	ck_assert_ptr_null(strstr(out, "census by"));
	free(out);
	out = print_with(json_p, MT_REPORT_BY_SITE, 0, false);
	json_error_t err;
	json_t *o = json_loads(out, 0, &err);
	ck_assert_msg(o != NULL, "%s", err.text);
	ck_assert(json_is_true(get(get(o, "census_a"), "available")));
	ck_assert(json_is_false(get(get(o, "census_b"), "available")));
	ck_assert_str_eq(json_string_value(get(get(o, "census_b"), "reason")),
			 "none in this snapshot (taken with --no-census, or by a memtrace without "
			 "the census)");
	ck_assert(json_is_null(get(o, "types")));
	ck_assert(json_is_null(get(o, "sizes")));
	json_decref(o);
	free(out);

	struct mt_census_report un = { .available = false,
				       .reason = "the process uses jemalloc: no census for it" };
	fa.s.census = &un;
	fb.s.census = &census_b;
	out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "census A: not available (the process uses jemalloc: no census "
				  "for it): no rows by type or size compared\n"
				  "census B: glibc 2.36, 1150 blocks"), "%s", out);
	ck_assert_ptr_null(strstr(out, "census by"));
	free(out);

	/* neither has one (snapshots of before the census): not a word */
	fa.s.census = fb.s.census = NULL;
	out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_ptr_null(strstr(out, "census"));
	ck_assert_ptr_null(strstr(out, "heap"));
	free(out);
}
END_TEST

/* Two snapshots of memtrace census -o, hours apart, nothing attached in
 * between: no sites, the classes that grew. */
START_TEST(test_census_only)
{
	fa.s.nsites = fb.s.nsites = 0;
	fa.s.events = fb.s.events = 0;
	fa.s.duration_s = fb.s.duration_s = 0;
	fb.s.time_unix_ns = fa.s.time_unix_ns + 3 * 3600 * 1000000000ULL;
	char *out = print_with(table_plain, MT_REPORT_BY_SITE, 0, false);
	ck_assert_msg(strstr(out, "A: pid 100 (app) /usr/bin/app at 2024-05-01 09:55:00 UTC, "
				  "census only (nothing traced)\n"
				  "B: pid 200 (app) /usr/bin/app at 2024-05-01 12:55:00 UTC, "
				  "census only (nothing traced)\n"
				  "census A:") == out, "%s", out);
	ck_assert_msg(strstr(out, "  verdict       retention       normal\n"
				  "traced: nothing in either snapshot (census only)\n\n"
				  "census by type: 1 changed, 2 unchanged\n"), "%s", out);
	ck_assert_msg(strstr(out, "+20  Session\n"), "%s", out);
	ck_assert_ptr_null(strstr(out, "live: A"));
	ck_assert_ptr_null(strstr(out, " status "));
	free(out);
}
END_TEST

START_TEST(test_census_json)
{
	char *out = print_with(json_p, MT_REPORT_BY_SITE, 0, false);
	json_error_t err;
	json_t *o = json_loads(out, JSON_PRESERVE_ORDER, &err);
	ck_assert_msg(o != NULL, "%s: %s", err.text, out);
	json_t *ca = get(o, "census_a"), *cb = get(o, "census_b");
	ck_assert(json_is_true(get(ca, "available")));
	ck_assert_str_eq(json_string_value(get(ca, "allocator")), "glibc 2.36");
	ck_assert(json_is_true(get(ca, "complete")));
	ck_assert_int_eq(json_integer_value(get(ca, "blocks")), 1127);
	ck_assert_int_eq(json_integer_value(get(cb, "bytes")), 63760);
	ck_assert(json_real_value(get(ca, "paused_ms")) == 3.5);
	ck_assert(json_real_value(get(ca, "took_ms")) == 20.25);
	ck_assert_uint_eq(json_array_size(get(ca, "warnings")), 0);
	json_t *h = get(cb, "heap");
	ck_assert_int_eq(json_integer_value(get(h, "live_bytes")), 63760);
	ck_assert_int_eq(json_integer_value(get(h, "free_bytes")), 20000);
	ck_assert_int_eq(json_integer_value(get(h, "trimmable_bytes")), 65536);
	ck_assert_int_eq(json_integer_value(get(h, "arenas")), 2);
	ck_assert_str_eq(json_string_value(get(h, "verdict")), "normal");
	ck_assert_str_eq(json_string_value(get(get(ca, "heap"), "verdict")), "retention");

	/* every row, unchanged ones too, the fields in the documented order */
	json_t *types = get(o, "types"), *sizes = get(o, "sizes");
	ck_assert_uint_eq(json_array_size(types), 3);
	ck_assert_uint_eq(json_array_size(sizes), 3);
	static const char *const keys[] = { "type", "blocks_a", "blocks_b", "delta_blocks",
					    "bytes_a", "bytes_b", "delta_bytes" };
	json_t *r = json_array_get(types, 0);
	ck_assert_uint_eq(json_object_size(r), 7);
	size_t k = 0;
	const char *key;
	json_t *v;
	json_object_foreach(r, key, v)
		ck_assert_str_eq(key, keys[k++]);
	ck_assert_str_eq(json_string_value(get(r, "type")), "Session");
	ck_assert_int_eq(json_integer_value(get(r, "blocks_a")), 10);
	ck_assert_int_eq(json_integer_value(get(r, "blocks_b")), 30);
	ck_assert_int_eq(json_integer_value(get(r, "delta_blocks")), 20);
	ck_assert_int_eq(json_integer_value(get(r, "bytes_a")), 1280);
	ck_assert_int_eq(json_integer_value(get(r, "bytes_b")), 3840);
	ck_assert_int_eq(json_integer_value(get(r, "delta_bytes")), 2560);
	ck_assert_str_eq(json_string_value(get(json_array_get(types, 2), "type")), "Widget");
	ck_assert_int_eq(json_integer_value(get(json_array_get(types, 2), "delta_bytes")), 0);
	r = json_array_get(sizes, 0);
	ck_assert_int_eq(json_integer_value(get(r, "size")), 4088);
	ck_assert_ptr_null(json_object_get(r, "type"));
	ck_assert_int_eq(json_integer_value(get(r, "delta_bytes")), 12288);
	json_decref(o);
	free(out);

	/* --top limits them like the sites */
	out = print_with(json_p, MT_REPORT_BY_SITE, 1, false);
	o = json_loads(out, 0, &err);
	ck_assert_msg(o != NULL, "%s", err.text);
	ck_assert_uint_eq(json_array_size(get(o, "types")), 1);
	ck_assert_uint_eq(json_array_size(get(o, "sizes")), 1);
	json_decref(o);
	free(out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("diff");
	TCase *tc = tcase_create("match");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_by_site);
	tcase_add_test(tc, test_by_function);
	tcase_add_test(tc, test_by_module);
	tcase_add_test(tc, test_by_stack);
	tcase_add_test(tc, test_self);
	tcase_add_test(tc, test_no_build_ids);
	tcase_add_test(tc, test_same_program);
	suite_add_tcase(s, tc);
	tc = tcase_create("output");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_table_color);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_sampling_labels);
	tcase_add_test(tc, test_folded);
	suite_add_tcase(s, tc);
	tc = tcase_create("census");
	tcase_add_checked_fixture(tc, census_setup, NULL);
	tcase_add_test(tc, test_census_rows);
	tcase_add_test(tc, test_census_table);
	tcase_add_test(tc, test_census_missing);
	tcase_add_test(tc, test_census_only);
	tcase_add_test(tc, test_census_json);
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
