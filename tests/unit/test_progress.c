/* Unit tests for src/util/progress.c: when a progress line is shown, its
 * text, and what it writes when (the clock is the test's). */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/progress.h"

START_TEST(test_wanted)
{
	ck_assert(mt_progress_wanted(true, true, "xterm-256color"));
	ck_assert(mt_progress_wanted(true, true, NULL));
	/* a pipe or a file */
	ck_assert(!mt_progress_wanted(false, true, "xterm"));
	/* --json, folded: a program reads them */
	ck_assert(!mt_progress_wanted(true, false, "xterm"));
	/* a terminal that cannot erase a line */
	ck_assert(!mt_progress_wanted(true, true, "dumb"));
}
END_TEST

START_TEST(test_format)
{
	char b[128];
	ck_assert_uint_eq(mt_progress_format(b, sizeof b, "naming sites", 812, 4096, NULL, 0),
			  strlen("memtrace: naming sites: 812/4,096"));
	ck_assert_str_eq(b, "memtrace: naming sites: 812/4,096");
	mt_progress_format(b, sizeof b, "census: walking the heap", 1234567, 0, "blocks", 80);
	ck_assert_str_eq(b, "memtrace: census: walking the heap: 1,234,567 blocks");
	mt_progress_format(b, sizeof b, "x", 0, 0, "", 0);
	ck_assert_str_eq(b, "memtrace: x: 0");
	mt_progress_format(b, sizeof b, "x", 999, 1000, "", 0);
	ck_assert_str_eq(b, "memtrace: x: 999/1,000");
	mt_progress_format(b, sizeof b, "x", 18446744073709551615u, 0, NULL, 0);
	ck_assert_str_eq(b, "memtrace: x: 18,446,744,073,709,551,615");
	/* cut to the terminal's width less one column */
	ck_assert_uint_eq(mt_progress_format(b, sizeof b, "naming sites", 812, 4096, NULL, 20), 19);
	ck_assert_str_eq(b, "memtrace: naming si");
	/* and to the buffer */
	ck_assert_uint_eq(mt_progress_format(b, 8, "naming sites", 1, 2, NULL, 0), 7);
	ck_assert_str_eq(b, "memtrac");
}
END_TEST

/* What the progress wrote to the pipe's read end FD since the last call. */
static const char *drain(int fd)
{
	static char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

START_TEST(test_rate_and_erase)
{
	int fds[2];
	ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
	struct mt_progress *p = mt_progress_new(fds[1], 0);
	ck_assert_ptr_nonnull(p);

	/* drawn at the step's first update, over the current line */
	ck_assert(mt_progress_update(p, 10.0, "naming sites", 1, 50, NULL));
	ck_assert_str_eq(drain(fds[0]), "\rmemtrace: naming sites: 1/50\033[K");
	/* then at most every MT_PROGRESS_INTERVAL_S (10 per second) */
	ck_assert(!mt_progress_update(p, 10.05, "naming sites", 2, 50, NULL));
	ck_assert(!mt_progress_update(p, 10.09, "naming sites", 3, 50, NULL));
	ck_assert_str_eq(drain(fds[0]), "");
	ck_assert(mt_progress_update(p, 10.15, "naming sites", 4, 50, NULL));
	ck_assert_str_eq(drain(fds[0]), "\rmemtrace: naming sites: 4/50\033[K");
	/* another step draws at once */
	ck_assert(mt_progress_update(p, 10.16, "census", 7, 0, "blocks"));
	ck_assert_str_eq(drain(fds[0]), "\rmemtrace: census: 7 blocks\033[K");

	/* erased by a message (mt_say), once */
	mt_progress_erase_shown();
	ck_assert_str_eq(drain(fds[0]), "\r\033[K");
	mt_progress_erase_shown();
	ck_assert_str_eq(drain(fds[0]), "");

	/* the end of a step erases, and the same step then draws at once */
	ck_assert(mt_progress_update(p, 10.30, "census", 8, 0, "blocks"));
	drain(fds[0]);
	mt_progress_end(p);
	ck_assert_str_eq(drain(fds[0]), "\r\033[K");
	mt_progress_end(p);
	ck_assert_str_eq(drain(fds[0]), "");
	ck_assert(mt_progress_update(p, 10.31, "census", 9, 0, "blocks"));
	drain(fds[0]);

	/* destroy erases a line still shown */
	mt_progress_destroy(p);
	ck_assert_str_eq(drain(fds[0]), "\r\033[K");
	mt_progress_erase_shown();
	ck_assert_str_eq(drain(fds[0]), "");

	/* NULL: shows nothing, and is no error */
	ck_assert(!mt_progress_update(NULL, 1.0, "x", 1, 2, NULL));
	mt_progress_end(NULL);
	mt_progress_destroy(NULL);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

static Suite *progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("progress");
	tcase_add_test(tc, test_wanted);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_rate_and_erase);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(progress_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
