/* Unit tests for src/target/procfs.c: numbers of /proc/PID/status, read from the
 * test's own process (which the kernel fills in, so only relations are
 * checked: the pid is the pid, written pages are resident). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/procfs.h"

START_TEST(test_fields)
{
	unsigned long v = 0;
	ck_assert(mt_procfs_status_number(getpid(), "Tgid:", 0, &v));
	ck_assert_uint_eq(v, (unsigned long)getpid());
	/* Uid: real, effective, saved, filesystem */
	ck_assert(mt_procfs_status_number(getpid(), "Uid:", 1, &v));
	ck_assert_uint_eq(v, (unsigned long)geteuid());
	ck_assert(!mt_procfs_status_number(getpid(), "Uid:", 4, &v));
	ck_assert(!mt_procfs_status_number(getpid(), "NoSuchKey:", 0, &v));
	/* "Name:" holds a word, not a number */
	ck_assert(!mt_procfs_status_number(getpid(), "Name:", 0, &v));
}
END_TEST

START_TEST(test_gone)
{
	unsigned long v;
	struct mt_procfs_rss r;
	/* beyond pid_max (at most 2^22) */
	ck_assert(!mt_procfs_status_number(1 << 30, "Tgid:", 0, &v));
	ck_assert(!mt_procfs_rss(1 << 30, &r));
}
END_TEST

START_TEST(test_rss_grows)
{
	struct mt_procfs_rss before, after;
	ck_assert(mt_procfs_rss(getpid(), &before));
	ck_assert_uint_gt(before.rss, 0);
	if (before.has_anon)
		ck_assert_uint_le(before.anon, before.rss);

	size_t len = 32u << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
	ck_assert(mt_procfs_rss(getpid(), &after));
	/* The written pages are resident (the test machines have no swap
	 * pressure worth 32 MiB): allow the counters' per-CPU lag. */
	ck_assert_uint_ge(after.rss, before.rss + len - (4u << 20));
	if (after.has_anon)
		ck_assert_uint_ge(after.anon, before.anon + len - (4u << 20));
	munmap(p, len);
}
END_TEST

static Suite *procfs_suite(void)
{
	Suite *s = suite_create("procfs");
	TCase *tc = tcase_create("status");
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_gone);
	tcase_add_test(tc, test_rss_grows);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(procfs_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
