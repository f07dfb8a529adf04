/* Allocator discovery's answers are enum mt_err values (errors.h): which
 * memtrace error, for a process that is gone, a zombie, or this very
 * process.  Before, they were negated codes in an int, where -MT_E_NO_PROCESS
 * (-3) was also -ESRCH. */
#include <check.h>
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "symbols/discover.h"

/* A child that has exited; reaped (its PID then names nobody) or not (a
 * zombie, which has no executable). */
static pid_t dead_child(bool reap)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	if (reap) {
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	} else {
		siginfo_t si;
		ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	}
	return pid;
}

START_TEST(test_check_arch)
{
	ck_assert_int_eq(mt_discover_check_arch(getpid()), MT_E_OK);
	pid_t gone = dead_child(true);
	ck_assert_int_eq(mt_discover_check_arch(gone), MT_E_NO_PROCESS);
	pid_t zombie = dead_child(false);
	ck_assert_int_eq(mt_discover_check_arch(zombie), MT_E_NOT_TRACEABLE);
	ck_assert_int_eq(waitpid(zombie, NULL, 0), zombie);
}
END_TEST

START_TEST(test_allocators)
{
	static struct mt_alloc_set set;
	ck_assert_int_eq(mt_discover_allocators(getpid(), &set), MT_E_OK);
	ck_assert_int_gt(set.n, 0);
	/* The module whose malloc this process calls: libc's, or a sanitizer
	 * runtime's that interposes it (the sanitize test setup). */
	Dl_info di;
	char want[PATH_MAX], got[PATH_MAX];
	ck_assert(dladdr(dlsym(RTLD_DEFAULT, "malloc"), &di) != 0 && di.dli_fname);
	ck_assert(realpath(di.dli_fname, want) && realpath(set.allocator, got));
	ck_assert_str_eq(got, want);

	pid_t gone = dead_child(true);
	ck_assert_int_eq(mt_discover_allocators(gone, &set), MT_E_NO_PROCESS);
	ck_assert_int_eq(set.n, 0);
	pid_t zombie = dead_child(false);
	ck_assert_int_eq(mt_discover_allocators(zombie, &set), MT_E_NOT_TRACEABLE);
	ck_assert_int_eq(waitpid(zombie, NULL, 0), zombie);

	ck_assert_int_eq(mt_discover_module_allocators(getpid(), "/no/such/lib.so", &set),
			 MT_E_NO_ALLOCATOR);
	ck_assert_int_eq(mt_discover_module_allocators(gone, "/no/such/lib.so", &set),
			 MT_E_NO_PROCESS);
}
END_TEST

static Suite *discover_suite(void)
{
	Suite *s = suite_create("discover");
	TCase *tc = tcase_create("discover");
	tcase_add_test(tc, test_check_arch);
	tcase_add_test(tc, test_allocators);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(discover_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
