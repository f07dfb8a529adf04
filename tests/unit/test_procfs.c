/* Unit tests for src/target/procfs.c: /proc/PID/status parsed from sample
 * text (exact fields), and read from the test's own process (which the
 * kernel fills in, so only relations are checked: the pid is the pid,
 * written pages are resident). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/procfs.h"

/* A real /proc/PID/status of a traced thread of a process in its own pid
 * namespace (Linux 6.1), trimmed of the lines memtrace does not read. */
static const char sample[] =
	"Name:\tnode worker\n"
	"Umask:\t0022\n"
	"State:\tt (tracing stop)\n"
	"Tgid:\t31337\n"
	"Ngid:\t0\n"
	"Pid:\t31340\n"
	"PPid:\t31000\n"
	"TracerPid:\t4242\n"
	"Uid:\t1000\t1001\t1002\t1003\n"
	"Gid:\t100\t100\t100\t100\n"
	"NStgid:\t31337\t7\n"
	"NSpid:\t31340\t10\n"
	"VmPeak:\t 1208500 kB\n"
	"VmRSS:\t   83412 kB\n"
	"RssAnon:\t   71236 kB\n"
	"RssFile:\t   12176 kB\n"
	"Threads:\t11\n"
	"NoNewPrivs:\t1\n"
	"Seccomp:\t2\n"
	"Seccomp_filters:\t1\n";

START_TEST(test_parse)
{
	struct mt_procfs_status st;
	mt_procfs_status_parse(sample, &st);
	ck_assert_str_eq(st.name, "node worker");
	ck_assert_int_eq(st.state, 't');
	ck_assert_int_eq(st.tgid, 31337);
	ck_assert_int_eq(st.ppid, 31000);
	ck_assert_int_eq(st.tracer_pid, 4242);
	ck_assert_int_eq(st.uid, 1000);
	ck_assert_int_eq(st.euid, 1001);
	ck_assert_int_eq(st.threads, 11);
	ck_assert_int_eq(st.nspid, 10);
	ck_assert_int_eq(st.seccomp, 2);   /* not Seccomp_filters' 1 */
	ck_assert_int_eq(st.no_new_privs, 1);
	ck_assert_int_eq(st.vm_rss, 83412 * 1024LL);
	ck_assert_int_eq(st.rss_anon, 71236 * 1024LL);
}
END_TEST

/* A zombie's status has no memory lines; an old kernel no NSpid, RssAnon
 * or NoNewPrivs; a line may be cut or garbled: each such field is -1. */
START_TEST(test_parse_missing)
{
	struct mt_procfs_status st;
	mt_procfs_status_parse("Name:\tzz\nState:\tZ (zombie)\nTgid:\t12\n"
			       "TracerPid:\tx\nUid:\t5\nThreads:\t1", &st);
	ck_assert_str_eq(st.name, "zz");
	ck_assert_int_eq(st.state, 'Z');
	ck_assert_int_eq(st.tgid, 12);
	ck_assert_int_eq(st.threads, 1);       /* the last line without its newline */
	ck_assert_int_eq(st.tracer_pid, -1);
	ck_assert_int_eq(st.uid, 5);
	ck_assert_int_eq(st.euid, -1);
	ck_assert_int_eq(st.ppid, -1);
	ck_assert_int_eq(st.nspid, -1);
	ck_assert_int_eq(st.seccomp, -1);
	ck_assert_int_eq(st.no_new_privs, -1);
	ck_assert_int_eq(st.vm_rss, -1);
	ck_assert_int_eq(st.rss_anon, -1);

	mt_procfs_status_parse("", &st);
	ck_assert_str_eq(st.name, "");
	ck_assert_int_eq(st.state, 0);
	ck_assert_int_eq(st.tgid, -1);
}
END_TEST

/* The test's own process: the kernel fills it in, so relations only. */
START_TEST(test_self)
{
	struct mt_procfs_status st;
	ck_assert_int_eq(mt_procfs_status(getpid(), &st), 0);
	ck_assert_int_eq(st.tgid, getpid());
	ck_assert_int_eq(st.ppid, getppid());
	ck_assert_int_eq(st.uid, getuid());
	ck_assert_int_eq(st.euid, geteuid());
	ck_assert_int_eq(st.state, 'R');
	ck_assert_int_ge(st.threads, 1);
	ck_assert_int_gt(st.vm_rss, 0);
}
END_TEST

START_TEST(test_gone)
{
	struct mt_procfs_status st;
	struct mt_procfs_rss r;
	/* beyond pid_max (at most 2^22) */
	ck_assert_int_eq(mt_procfs_status(1 << 30, &st), -ENOENT);
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
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_parse_missing);
	tcase_add_test(tc, test_self);
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
