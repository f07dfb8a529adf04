/* Unit tests for src/symbols/pyframes.c: CPython 3.11's location table
 * (co_linetable) read for the line of an instruction, and the agent's
 * tagged pcs.  The table is the one python3.11 made for this function
 * (first line 1):
 *
 *   def f(a, b):
 *       x = a + 1
 *
 *       y = [i for i in range(b)]
 *       if x > 3:
 *           return (x,
 *                   y)
 *       try:
 *           z = a / b
 *       except ZeroDivisionError:
 *           z = None
 *       return z
 *
 * and the lines co_lines() gave, per range of byte offsets: short, one-line,
 * no-column, long and no-location entries, lines going back too. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "symbols/pyframes.h"

static const uint8_t table[] = {
	0x80, 0x00, 0xd8, 0x08, 0x09, 0x88, 0x41, 0x89, 0x05, 0x80, 0x41, 0xe0, 0x08, 0x1d,
	0xd0, 0x08, 0x1d, 0x95, 0x45, 0x98, 0x21, 0x91, 0x48, 0x94, 0x48, 0xd0, 0x08, 0x1d,
	0xd1, 0x08, 0x1d, 0xd4, 0x08, 0x1d, 0x80, 0x41, 0xd8, 0x07, 0x08, 0x88, 0x31, 0x82,
	0x75, 0x80, 0x75, 0xd8, 0x10, 0x11, 0xd8, 0x10, 0x11, 0xf0, 0x03, 0x01, 0x10, 0x13,
	0xf0, 0x00, 0x01, 0x09, 0x13, 0xf0, 0x04, 0x03, 0x05, 0x11, 0xd8, 0x0c, 0x0d, 0x90,
	0x01, 0x89, 0x45, 0x88, 0x01, 0x88, 0x01, 0xf8, 0xdd, 0x0b, 0x1c, 0xf0, 0x00, 0x01,
	0x05, 0x11, 0xf0, 0x00, 0x01, 0x05, 0x11, 0xf0, 0x00, 0x01, 0x05, 0x11, 0xd8, 0x0c,
	0x10, 0x88, 0x01, 0x88, 0x01, 0x88, 0x01, 0xf0, 0x03, 0x01, 0x05, 0x11, 0xf8, 0xf8,
	0xf8, 0xe0, 0x0b, 0x0c, 0x80, 0x48,
};

/* [start, end) byte offsets and their line (0: none), from co_lines() */
static const int ranges[][3] = {
	{ 0, 2, 1 }, { 2, 4, 2 }, { 4, 6, 2 }, { 6, 10, 2 }, { 10, 12, 2 }, { 12, 14, 4 },
	{ 14, 16, 4 }, { 16, 28, 4 }, { 28, 30, 4 }, { 30, 34, 4 }, { 34, 44, 4 },
	{ 44, 46, 4 }, { 46, 50, 4 }, { 50, 60, 4 }, { 60, 62, 4 }, { 62, 64, 5 },
	{ 64, 66, 5 }, { 66, 72, 5 }, { 72, 74, 5 }, { 74, 76, 6 }, { 76, 78, 7 },
	{ 78, 80, 6 }, { 80, 82, 6 }, { 82, 84, 8 }, { 84, 86, 9 }, { 86, 88, 9 },
	{ 88, 92, 9 }, { 92, 94, 9 }, { 94, 96, 9 }, { 96, 98, 0 }, { 98, 110, 10 },
	{ 110, 112, 10 }, { 112, 114, 10 }, { 114, 116, 10 }, { 116, 118, 11 },
	{ 118, 120, 11 }, { 120, 122, 11 }, { 122, 124, 11 }, { 124, 126, 10 },
	{ 126, 128, 0 }, { 128, 130, 0 }, { 130, 132, 0 }, { 132, 134, 12 }, { 134, 136, 12 },
};

START_TEST(test_every_offset)
{
	for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
		for (int off = ranges[r][0]; off < ranges[r][1]; off += 2)
			ck_assert_msg(mt_pyframes_line311(table, sizeof table, 1, (uint64_t)off) ==
					      ranges[r][2],
				      "offset %d: line %d, expected %d", off,
				      mt_pyframes_line311(table, sizeof table, 1, (uint64_t)off),
				      ranges[r][2]);
}
END_TEST

START_TEST(test_first_line_moves_all)
{
	ck_assert_int_eq(mt_pyframes_line311(table, sizeof table, 101, 0), 101);
	ck_assert_int_eq(mt_pyframes_line311(table, sizeof table, 101, 76), 107);
	ck_assert_int_eq(mt_pyframes_line311(table, sizeof table, 101, 134), 112);
}
END_TEST

START_TEST(test_past_the_end_and_broken)
{
	ck_assert_int_eq(mt_pyframes_line311(table, sizeof table, 1, 136), 0);
	ck_assert_int_eq(mt_pyframes_line311(table, sizeof table, 1, UINT64_MAX), 0);
	ck_assert_int_eq(mt_pyframes_line311(table, 0, 1, 0), 0);
	/* a continuation byte where an entry should start */
	static const uint8_t broken[] = { 0x05, 0x80 };
	ck_assert_int_eq(mt_pyframes_line311(broken, sizeof broken, 1, 0), 0);
	/* a table cut inside a varint: no read past its end */
	static const uint8_t cut[] = { 0xf0, 0x43 };
	ck_assert_int_eq(mt_pyframes_line311(cut, sizeof cut, 1, 0), 0);
	ck_assert_int_eq(mt_pyframes_line311(cut, 1, 5, 0), 5);
}
END_TEST

START_TEST(test_tagged_pc)
{
	uint64_t pc = mt_agent_py_pc(0x7f1234567890ULL, 41);
	ck_assert(mt_pyframes_is_tagged(pc));
	ck_assert_uint_eq(pc & MT_AGENT_PY_ADDR_MASK, 0x7f1234567890ULL);
	ck_assert_uint_eq(pc >> 48 & MT_AGENT_PY_NOUNIT, 41);
	/* an index too far is "unknown", not another index */
	pc = mt_agent_py_pc(0x1000, 1u << 20);
	ck_assert_uint_eq(pc >> 48 & MT_AGENT_PY_NOUNIT, MT_AGENT_PY_NOUNIT);
	ck_assert(!mt_pyframes_is_tagged(0x7fffffffffffULL));
}
END_TEST

static Suite *pyframes_suite(void)
{
	Suite *s = suite_create("pyframes");
	TCase *tc = tcase_create("linetable");
	tcase_add_test(tc, test_every_offset);
	tcase_add_test(tc, test_first_line_moves_all);
	tcase_add_test(tc, test_past_the_end_and_broken);
	tcase_add_test(tc, test_tagged_pc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pyframes_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
