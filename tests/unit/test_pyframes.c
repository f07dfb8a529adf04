/* Unit tests for src/symbols/pyframes.c: CPython 3.11's location table
 * (co_linetable), 3.10's line table (co_linetable) and 3.9's (co_lnotab)
 * read for the line of an instruction, and the agent's tagged pcs.  The table is the one python3.11 made for this function
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

/* The tables python3.9 (co_lnotab) and python3.10 (co_linetable) made for
 * the same f (first line 1), and for g (first line 1), whose return is 201
 * lines below its loop (a line delta split over two entries) and whose
 * with statement has code of no line (3.10: -128):
 *
 *   def g(n):
 *       total = 0
 *       for i in range(n):
 *           with open("/dev/null") as f:
 *               total += i
 *       ...200 empty lines...
 *       return total
 *
 * with their ranges of byte offsets and lines: 3.10's from co_lines()
 * (0: None), 3.9's from dis.findlinestarts() (each start up to the next). */
static const uint8_t f39[] = {
	0x00, 0x01, 0x08, 0x02, 0x12, 0x01, 0x08, 0x01, 0x02, 0x01, 0x02, 0xff,
	0x04, 0x02, 0x02, 0x01, 0x0c, 0x01, 0x0c, 0x01, 0x0a, 0x01,
};
static const int f39_ranges[][3] = {
	{ 0, 8, 2 }, { 8, 26, 4 }, { 26, 34, 5 }, { 34, 36, 6 }, { 36, 38, 7 },
	{ 38, 42, 6 }, { 42, 44, 8 }, { 44, 56, 9 }, { 56, 68, 10 }, { 68, 78, 11 },
	{ 78, 82, 12 },
};
static const uint8_t g39[] = {
	0x00, 0x01, 0x04, 0x01, 0x0c, 0x01, 0x0a, 0x01, 0x28, 0x7f, 0x00, 0x4a,
};
static const int g39_ranges[][3] = {
	{ 0, 4, 2 }, { 4, 16, 3 }, { 16, 26, 4 }, { 26, 66, 5 }, { 66, 70, 206 },
};
static const uint8_t f310[] = {
	0x08, 0x01, 0x12, 0x02, 0x08, 0x01, 0x02, 0x01, 0x02, 0x01, 0x04, 0xff,
	0x02, 0x02, 0x0a, 0x01, 0x04, 0x03, 0x0c, 0xfe, 0x06, 0x01, 0x04, 0x01,
	0x02, 0xfe,
};
static const int f310_ranges[][3] = {
	{ 0, 8, 2 }, { 8, 26, 4 }, { 26, 34, 5 }, { 34, 36, 6 }, { 36, 38, 7 },
	{ 38, 42, 6 }, { 42, 44, 8 }, { 44, 54, 9 }, { 54, 58, 12 }, { 58, 70, 10 },
	{ 70, 76, 11 }, { 76, 80, 12 }, { 80, 82, 10 },
};
static const uint8_t g310[] = {
	0x04, 0x01, 0x0c, 0x01, 0x0a, 0x01, 0x0a, 0x01, 0x1c, 0xff, 0x02, 0x80,
	0x00, 0x7f, 0x04, 0x4b,
};
static const int g310_ranges[][3] = {
	{ 0, 4, 2 }, { 4, 16, 3 }, { 16, 26, 4 }, { 26, 36, 5 }, { 36, 64, 4 },
	{ 64, 66, 0 }, { 66, 70, 206 },
};

/* Every instruction of [start, end) ranges R[0..N) at its line. */
static void check_ranges(int (*line)(const uint8_t *, size_t, int, uint64_t),
			 const uint8_t *tab, size_t len, const int (*r)[3], size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int off = r[i][0]; off < r[i][1]; off += 2)
			ck_assert_msg(line(tab, len, 1, (uint64_t)off) == r[i][2],
				      "offset %d: line %d, expected %d", off,
				      line(tab, len, 1, (uint64_t)off), r[i][2]);
}

#define N_RANGES(r) (sizeof r / sizeof r[0])

START_TEST(test_lnotab39)
{
	check_ranges(mt_pyframes_line39, f39, sizeof f39, f39_ranges, N_RANGES(f39_ranges));
	check_ranges(mt_pyframes_line39, g39, sizeof g39, g39_ranges, N_RANGES(g39_ranges));
	/* the first line moves all; an odd length ignores its last byte;
	 * past the end, the last line (CPython's PyCode_Addr2Line too) */
	ck_assert_int_eq(mt_pyframes_line39(f39, sizeof f39, 101, 44), 109);
	ck_assert_int_eq(mt_pyframes_line39(g39, sizeof g39 - 1, 1, 68), 132);
	ck_assert_int_eq(mt_pyframes_line39(f39, sizeof f39, 1, UINT64_MAX), 12);
	ck_assert_int_eq(mt_pyframes_line39(f39, 0, 7, 0), 7);
}
END_TEST

START_TEST(test_linetable310)
{
	check_ranges(mt_pyframes_line310, f310, sizeof f310, f310_ranges,
		     N_RANGES(f310_ranges));
	check_ranges(mt_pyframes_line310, g310, sizeof g310, g310_ranges,
		     N_RANGES(g310_ranges));
	ck_assert_int_eq(mt_pyframes_line310(f310, sizeof f310, 101, 44), 109);
	/* past the end or an odd last byte: no line */
	ck_assert_int_eq(mt_pyframes_line310(f310, sizeof f310, 1, 82), 0);
	ck_assert_int_eq(mt_pyframes_line310(f310, sizeof f310, 1, UINT64_MAX), 0);
	ck_assert_int_eq(mt_pyframes_line310(g310, sizeof g310 - 1, 1, 68), 0);
	ck_assert_int_eq(mt_pyframes_line310(f310, 0, 1, 0), 0);
}
END_TEST

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
	tcase_add_test(tc, test_lnotab39);
	tcase_add_test(tc, test_linetable310);
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
