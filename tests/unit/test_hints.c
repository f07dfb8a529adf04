/* Unit tests for src/report/hints.c (the fan-out and missing-symbols hints) and
 * src/symbols/fdetab.c (function starts from .eh_frame_hdr). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/fdetab.h"
#include "report/hints.h"

START_TEST(test_fanout_counts_distinct_callers)
{
	/* zmalloc: 12 rows, from 10 distinct return addresses; parse: 3. */
	struct mt_fanout_row rows[16];
	size_t n = 0;
	rows[n++] = (struct mt_fanout_row){ "parse", 0x100 };
	for (int i = 0; i < 12; i++)
		rows[n++] = (struct mt_fanout_row){ "zmalloc", 0x2000 + (uint64_t)(i % 10) * 16 };
	rows[n++] = (struct mt_fanout_row){ "parse", 0x200 };
	rows[n++] = (struct mt_fanout_row){ "parse", 0x300 };
	rows[n++] = (struct mt_fanout_row){ "", 0x400 };
	size_t callers = 0;
	long i = mt_hint_fanout(rows, n, MT_HINT_FANOUT_MIN, &callers);
	ck_assert_int_eq(i, 1);
	ck_assert_str_eq(rows[i].function, "zmalloc");
	ck_assert_uint_eq(callers, 10);
	/* The threshold: 10 distinct callers are enough, 11 needed: none. */
	ck_assert_int_eq(mt_hint_fanout(rows, n, 11, &callers), -1);
	/* A lower one finds the most called first. */
	ck_assert_int_eq(mt_hint_fanout(rows, n, 3, &callers), 1);
	ck_assert_int_eq(mt_hint_fanout(rows, 0, 1, &callers), -1);
}
END_TEST

START_TEST(test_fanout_ignores_unknown)
{
	struct mt_fanout_row rows[24];
	for (int i = 0; i < 12; i++) {
		rows[i] = (struct mt_fanout_row){ i % 2 ? "" : NULL, 0x1000 + (uint64_t)i };
		rows[12 + i] = (struct mt_fanout_row){ "leaf", 0 };   /* no caller */
	}
	size_t callers = 0;
	ck_assert_int_eq(mt_hint_fanout(rows, 24, 1, &callers), -1);
}
END_TEST

START_TEST(test_fanout_ties_go_to_the_first_row)
{
	struct mt_fanout_row rows[] = {
		{ "b", 1 }, { "a", 1 }, { "a", 2 }, { "b", 2 },
	};
	size_t callers = 0;
	ck_assert_int_eq(mt_hint_fanout(rows, 4, 2, &callers), 0);
	ck_assert_uint_eq(callers, 2);
}
END_TEST

START_TEST(test_fanout_line)
{
	char line[700];
	mt_hint_fanout_line(line, sizeof line, "zmalloc", 214);
	ck_assert_str_eq(line, "zmalloc is called from 214 places; try --wrapper zmalloc");
	mt_hint_fanout_line(line, sizeof line, "postgres+0x5c7800", 12);
	ck_assert_str_eq(line, "postgres+0x5c7800 is called from 12 places; "
			 "try --wrapper postgres+0x5c7800");
	mt_hint_fanout_line(line, sizeof line, "Pool::get(unsigned long)", 10);
	ck_assert_str_eq(line, "Pool::get(unsigned long) is called from 10 places; "
			 "try --wrapper 'Pool::get(unsigned long)'");
}
END_TEST

START_TEST(test_fde_names)
{
	ck_assert(mt_hint_is_fde_name("postgres+0x5c7800", "/usr/lib/postgresql/15/bin/postgres"));
	ck_assert(mt_hint_is_fde_name("postgres+0x5c7800", "postgres"));
	ck_assert(!mt_hint_is_fde_name("postgres+0x", "/bin/postgres"));
	ck_assert(!mt_hint_is_fde_name("postgres+0x5C7800", "/bin/postgres"));
	ck_assert(!mt_hint_is_fde_name("postgres+0x5c7800z", "/bin/postgres"));
	ck_assert(!mt_hint_is_fde_name("nginx+0x10", "/bin/postgres"));
	ck_assert(!mt_hint_is_fde_name("AllocSetAlloc", "/bin/postgres"));
	ck_assert(!mt_hint_is_fde_name("", "/bin/postgres"));
	ck_assert(!mt_hint_is_fde_name(NULL, "/bin/postgres"));
	ck_assert(!mt_hint_is_fde_name("x+0x1", "/dir/"));
}
END_TEST

static bool pkg_of(const char *out, char *pkg)
{
	return mt_hint_dpkg_package(out, strlen(out), pkg, 64);
}

START_TEST(test_dpkg_answers)
{
	char pkg[64];
	ck_assert(pkg_of("postgresql-15: /usr/lib/postgresql/15/bin/postgres\n", pkg));
	ck_assert_str_eq(pkg, "postgresql-15");
	ck_assert(pkg_of("libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6\n", pkg));
	ck_assert_str_eq(pkg, "libc6");
	ck_assert(pkg_of("libfoo1:amd64, libfoo1:i386: /usr/share/doc/libfoo1\n", pkg));
	ck_assert_str_eq(pkg, "libfoo1");
	ck_assert(pkg_of("libstdc++6:amd64: /usr/lib/x86_64-linux-gnu/libstdc++.so.6", pkg));
	ck_assert_str_eq(pkg, "libstdc++6");
	ck_assert(!pkg_of("diversion by dash from: /bin/sh\n", pkg));
	ck_assert(!pkg_of("dpkg-query: no path found matching pattern /x\n", pkg));
	ck_assert(!pkg_of("", pkg));
	ck_assert(!pkg_of(": /usr/bin/x\n", pkg));
	ck_assert(!pkg_of("Bad_Name: /usr/bin/x\n", pkg));
	char small[4];
	ck_assert(!mt_hint_dpkg_package("postgresql-15: /x", 17, small, sizeof small));
}
END_TEST

START_TEST(test_no_symbols_line)
{
	char line[1200];
	const uint8_t id[] = { 0x3b, 0x5c, 0x01, 0xff };
	mt_hint_no_symbols(line, sizeof line, "/usr/lib/postgresql/15/bin/postgres", id, 4,
			   "postgresql-15", false);
	ck_assert_str_eq(line, "/usr/lib/postgresql/15/bin/postgres has no symbols "
			 "(build-id 3b5c01ff): its functions are named FILE+0xSTART; install "
			 "postgresql-15-dbgsym (Debian's debug archive), set DEBUGINFOD_URLS, or "
			 "give --debug-dir DIR holding .build-id/3b/5c01ff.debug");
	mt_hint_no_symbols(line, sizeof line, "/lib/x86_64-linux-gnu/libc.so.6", id, 2, "libc6",
			   false);
	ck_assert_str_eq(line, "/lib/x86_64-linux-gnu/libc.so.6 has no symbols (build-id 3b5c): "
			 "its functions are named FILE+0xSTART; install libc6-dbg, set "
			 "DEBUGINFOD_URLS, or give --debug-dir DIR holding .build-id/3b/5c.debug");
	mt_hint_no_symbols(line, sizeof line, "/opt/app", NULL, 0, NULL, false);
	ck_assert_str_eq(line, "/opt/app has no symbols: its functions are named FILE+0xSTART; "
			 "set DEBUGINFOD_URLS, or give --debug-dir DIR");
	mt_hint_no_symbols(line, sizeof line, "/opt/app", NULL, 0, "", true);
	ck_assert_str_eq(line, "/opt/app has no symbols: its functions are named FILE+0xSTART; "
			 "check DEBUGINFOD_URLS (its servers had none), or give --debug-dir DIR");
}
END_TEST

/* An .eh_frame_hdr as GNU ld writes it, at ELF address 0x2000: version 1,
 * eh_frame_ptr pcrel|sdata4, fde_count udata4, table datarel|sdata4. */
static size_t make_hdr(uint8_t *b, const int32_t *locs, uint32_t n, uint8_t table_enc)
{
	size_t k = 0;
	b[k++] = 1;
	b[k++] = 0x1b;
	b[k++] = 0x03;
	b[k++] = table_enc;
	for (int i = 0; i < 4; i++)
		b[k++] = 0x40;       /* eh_frame_ptr: not read */
	for (int i = 0; i < 4; i++)
		b[k++] = (uint8_t)(n >> (8 * i));
	for (uint32_t e = 0; e < n; e++) {
		for (int i = 0; i < 4; i++)
			b[k++] = (uint8_t)((uint32_t)locs[e] >> (8 * i));
		for (int i = 0; i < 4; i++)
			b[k++] = 0;  /* fde address: not read */
	}
	return k;
}

START_TEST(test_fdetab_find)
{
	/* Functions at 0x1000 (= 0x2000 - 0x1000), 0x1040, 0x10a0 and 0x3000. */
	const int32_t locs[] = { -0x1000, -0xfc0, -0xf60, 0x1000 };
	uint8_t b[256];
	size_t len = make_hdr(b, locs, 4, 0x3b);
	uint64_t start = 0;
	ck_assert_int_eq(mt_fdetab_find(b, len, 0x2000, 0x1000, &start), 0);
	ck_assert_uint_eq(start, 0x1000);
	ck_assert_int_eq(mt_fdetab_find(b, len, 0x2000, 0x103f, &start), 0);
	ck_assert_uint_eq(start, 0x1000);
	ck_assert_int_eq(mt_fdetab_find(b, len, 0x2000, 0x1040, &start), 0);
	ck_assert_uint_eq(start, 0x1040);
	ck_assert_int_eq(mt_fdetab_find(b, len, 0x2000, 0x1fff, &start), 0);
	ck_assert_uint_eq(start, 0x10a0);
	ck_assert_int_eq(mt_fdetab_find(b, len, 0x2000, 0x7fffffff, &start), 0);
	ck_assert_uint_eq(start, 0x3000);
	/* Before the first function. */
	ck_assert_int_eq(mt_fdetab_find(b, len, 0x2000, 0xfff, &start), -1);
}
END_TEST

START_TEST(test_fdetab_rejects_bad_tables)
{
	const int32_t locs[] = { 0x10, 0x20 };
	uint8_t b[256];
	uint64_t start;
	size_t len = make_hdr(b, locs, 2, 0x3b);
	/* Cut short: the count says more entries than there are bytes. */
	ck_assert_int_eq(mt_fdetab_find(b, len - 1, 0, 0x18, &start), -1);
	ck_assert_int_eq(mt_fdetab_find(b, 4, 0, 0x18, &start), -1);
	ck_assert_int_eq(mt_fdetab_find(NULL, 0, 0, 0x18, &start), -1);
	/* Another table encoding (udata4, absolute): not read. */
	len = make_hdr(b, locs, 2, 0x03);
	ck_assert_int_eq(mt_fdetab_find(b, len, 0, 0x18, &start), -1);
	/* Another version. */
	len = make_hdr(b, locs, 2, 0x3b);
	b[0] = 2;
	ck_assert_int_eq(mt_fdetab_find(b, len, 0, 0x18, &start), -1);
	/* A huge count. */
	b[0] = 1;
	b[8] = b[9] = b[10] = b[11] = 0xff;
	ck_assert_int_eq(mt_fdetab_find(b, len, 0, 0x18, &start), -1);
	/* An empty table. */
	len = make_hdr(b, locs, 0, 0x3b);
	ck_assert_int_eq(mt_fdetab_find(b, len, 0, 0x18, &start), -1);
	/* And the good one. */
	len = make_hdr(b, locs, 2, 0x3b);
	ck_assert_int_eq(mt_fdetab_find(b, len, 0, 0x18, &start), 0);
	ck_assert_uint_eq(start, 0x10);
}
END_TEST

static Suite *hints_suite(void)
{
	Suite *s = suite_create("hints");
	TCase *tc = tcase_create("hints");
	tcase_add_test(tc, test_fanout_counts_distinct_callers);
	tcase_add_test(tc, test_fanout_ignores_unknown);
	tcase_add_test(tc, test_fanout_ties_go_to_the_first_row);
	tcase_add_test(tc, test_fanout_line);
	tcase_add_test(tc, test_fde_names);
	tcase_add_test(tc, test_dpkg_answers);
	tcase_add_test(tc, test_no_symbols_line);
	tcase_add_test(tc, test_fdetab_find);
	tcase_add_test(tc, test_fdetab_rejects_bad_tables);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hints_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
