/* Unit tests for src/symbols/perfmap.c: the /tmp/perf-PID.map parser.  The sample
 * lines have the shapes V8 (--perf-basic-prof), LuaJIT and perf-map-agent
 * write. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/perfmap.h"

static void parse(const char *text, struct mt_perfmap *m)
{
	ck_assert_int_eq(mt_perfmap_parse(text, strlen(text), m), 0);
}

START_TEST(test_v8_lines)
{
	struct mt_perfmap m;
	parse("7f8a2c0c4000 4c LazyCompile:~handler /srv/app/index.js:12\n"
	      "7f8a2c0c4080 1a0 Builtin:ArgumentsAdaptorTrampoline\n", &m);
	ck_assert_uint_eq(m.n, 2);
	ck_assert_uint_eq(m.skipped, 0);

	const struct mt_perfmap_sym *s = mt_perfmap_find(&m, 0x7f8a2c0c4000);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->name, "LazyCompile:~handler /srv/app/index.js:12");
	ck_assert_uint_eq(s->start, 0x7f8a2c0c4000);
	ck_assert_uint_eq(s->end, 0x7f8a2c0c404c);
	s = mt_perfmap_find(&m, 0x7f8a2c0c404b);
	ck_assert_str_eq(s->name, "LazyCompile:~handler /srv/app/index.js:12");
	/* The gap between the two, and past both. */
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x7f8a2c0c404c));
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x7f8a2c0c407f));
	s = mt_perfmap_find(&m, 0x7f8a2c0c4100);
	ck_assert_str_eq(s->name, "Builtin:ArgumentsAdaptorTrampoline");
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x7f8a2c0c4220));
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x1000));
	mt_perfmap_free(&m);
}
END_TEST

START_TEST(test_unsorted_and_prefixes)
{
	struct mt_perfmap m;
	/* JITs append in the order they generate code, not by address. */
	parse("0x40002000 0x100 second\n"
	      "40001000 10 first\n"
	      "40003000 8 Interpreted: java.lang.String.hashCode()I\r\n", &m);
	ck_assert_uint_eq(m.n, 3);
	ck_assert_str_eq(mt_perfmap_find(&m, 0x40001008)->name, "first");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x400020ff)->name, "second");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x40003000)->name,
			 "Interpreted: java.lang.String.hashCode()I");
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x40002100));
	mt_perfmap_free(&m);
}
END_TEST

START_TEST(test_later_line_wins)
{
	struct mt_perfmap m;
	/* Code at 0x5000 was freed and the memory reused: the second line is
	 * the current code.  A big old symbol spans both small ones. */
	parse("4000 3000 big_old\n"
	      "5000 100 old\n"
	      "5000 40 new\n"
	      "5800 10 other\n", &m);
	ck_assert_str_eq(mt_perfmap_find(&m, 0x5000)->name, "new");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x503f)->name, "new");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x5040)->name, "old");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x5100)->name, "big_old");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x5808)->name, "other");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x6fff)->name, "big_old");
	ck_assert_str_eq(mt_perfmap_find(&m, 0x4000)->name, "big_old");
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x7000));
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x3fff));
	mt_perfmap_free(&m);
}
END_TEST

START_TEST(test_malformed_lines_skipped)
{
	struct mt_perfmap m;
	parse("zz00 10 bad_start\n"
	      "1000 10\n"                       /* no name */
	      "1000 0 empty\n"                  /* size 0 */
	      "ffffffffffffff00 200 wraps\n"
	      "11112222333344445 10 too_long\n"
	      "\n"                              /* blank: not counted */
	      "2000 10 good name with  spaces \n"
	      "3000 10 partial", &m);           /* no newline yet */
	ck_assert_uint_eq(m.n, 1);
	ck_assert_uint_eq(m.skipped, 6);
	ck_assert_str_eq(mt_perfmap_find(&m, 0x2000)->name, "good name with  spaces ");
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x3000));
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x1000));
	mt_perfmap_free(&m);
}
END_TEST

START_TEST(test_empty)
{
	struct mt_perfmap m;
	parse("", &m);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_ptr_null(mt_perfmap_find(&m, 0));
	mt_perfmap_free(&m);
	mt_perfmap_free(&m);                    /* twice is fine */

	/* Not NUL-terminated: only LEN bytes are read. */
	const char text[] = "1000 10 a\n2000 10 b\n";
	ck_assert_int_eq(mt_perfmap_parse(text, 10, &m), 0);
	ck_assert_uint_eq(m.n, 1);
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x2000));
	mt_perfmap_free(&m);
}
END_TEST

START_TEST(test_many)
{
	/* 10000 adjacent symbols, written in reverse order. */
	enum { N = 10000 };
	char *text = malloc(N * 32);
	ck_assert_ptr_nonnull(text);
	size_t len = 0;
	for (int i = N - 1; i >= 0; i--)
		len += (size_t)sprintf(text + len, "%x 10 sym%d\n", 0x100000 + i * 0x10, i);
	struct mt_perfmap m;
	ck_assert_int_eq(mt_perfmap_parse(text, len, &m), 0);
	ck_assert_uint_eq(m.n, N);
	for (int i = 0; i < N; i += 997) {
		char want[32];
		sprintf(want, "sym%d", i);
		ck_assert_str_eq(mt_perfmap_find(&m, 0x100000 + (uint64_t)i * 0x10 + 7)->name,
				 want);
	}
	ck_assert_ptr_null(mt_perfmap_find(&m, 0x100000 + N * 0x10));
	mt_perfmap_free(&m);
	free(text);
}
END_TEST

static Suite *perfmap_suite(void)
{
	Suite *s = suite_create("perfmap");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_v8_lines);
	tcase_add_test(tc, test_unsorted_and_prefixes);
	tcase_add_test(tc, test_later_line_wins);
	tcase_add_test(tc, test_malformed_lines_skipped);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(perfmap_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
