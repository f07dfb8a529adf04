/* The integer spaces of errors.h: an -errno becomes an enum mt_err through
 * mt_err_from_errno() alone, and an errno can no longer pass for the
 * memtrace code of the same number (EPERM and MT_E_INTERNAL are both 1,
 * but mean exit 4 and exit 1).  Module functions answer with -errno:
 * mt_atomic_write is the one in util/. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/atomicfile.h"
#include "util/errors.h"

START_TEST(test_errno_classes)
{
	ck_assert_int_eq(mt_err_from_errno(0), MT_E_OK);
	ck_assert_int_eq(mt_err_from_errno(-ESRCH), MT_E_TARGET_LOST);
	ck_assert_int_eq(mt_err_from_errno(-ENOENT), MT_E_TARGET_LOST);
	ck_assert_int_eq(mt_err_from_errno(-EPERM), MT_E_PERMISSION);
	ck_assert_int_eq(mt_err_from_errno(-EACCES), MT_E_PERMISSION);
	ck_assert_int_eq(mt_err_from_errno(-ENOMEM), MT_E_INTERNAL);
	ck_assert_int_eq(mt_err_from_errno(-EIO), MT_E_IO);
	ck_assert_int_eq(mt_err_from_errno(-EFAULT), MT_E_IO);
	ck_assert_int_eq(mt_err_from_errno(-ENOEXEC), MT_E_IO);
	ck_assert_int_eq(mt_err_from_errno(-EBADF), MT_E_IO);
}
END_TEST

/* The collision of the old int space: EPERM (1) read as an enum mt_err was
 * MT_E_INTERNAL, exit 1; it is a permission error, exit 4.  Likewise
 * ENOENT (2) was MT_E_USAGE and ESRCH (3) MT_E_NO_PROCESS. */
START_TEST(test_errno_is_not_an_mt_err)
{
	ck_assert_int_eq(EPERM, MT_E_INTERNAL);   /* the numbers do collide */
	ck_assert_int_eq(mt_err_exit_status(mt_err_from_errno(-EPERM)), 4);
	ck_assert_int_eq(mt_err_exit_status(MT_E_INTERNAL), 1);
	ck_assert_int_eq(ENOENT, MT_E_USAGE);
	ck_assert_int_eq(mt_err_exit_status(mt_err_from_errno(-ENOENT)), 9);
	ck_assert_int_eq(ESRCH, MT_E_NO_PROCESS);
	ck_assert_int_eq(mt_err_exit_status(mt_err_from_errno(-ESRCH)), 9);
	/* a bare errno or an exit status handed in by mistake is not taken
	 * for a class of its own: it is memtrace's bug */
	for (int e = 1; e < 256; e++)
		ck_assert_int_eq(mt_err_from_errno(e), MT_E_INTERNAL);
	/* and every -errno lands on a real code */
	for (int e = 1; e < 4096; e++)
		ck_assert_int_lt(mt_err_from_errno(-e), MT_E__COUNT);
}
END_TEST

START_TEST(test_exit_statuses)
{
	static const struct {
		enum mt_err e;
		int status;
	} want[] = {
		{ MT_E_OK, 0 }, { MT_E_INTERNAL, 1 }, { MT_E_USAGE, 2 },
		{ MT_E_NO_PROCESS, 3 }, { MT_E_PERMISSION, 4 }, { MT_E_ALREADY_TRACED, 5 },
		{ MT_E_NOT_TRACEABLE, 6 }, { MT_E_NO_ALLOCATOR, 7 },
		{ MT_E_UNSUPPORTED_ARCH, 8 }, { MT_E_TARGET_LOST, 9 }, { MT_E_IO, 10 },
		{ MT_E_BAD_SNAPSHOT, 11 }, { MT_E_SNAPSHOT_VERSION, 12 },
		{ MT_E_DIFFERENT_PROGRAMS, 13 }, { MT_E_NOT_RESTORED, 14 },
		{ MT_E_CENSUS_UNAVAILABLE, 15 },
	};
	ck_assert_int_eq(sizeof want / sizeof want[0], MT_E__COUNT);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_int_eq(mt_err_exit_status(want[i].e), want[i].status);
	ck_assert_int_eq(mt_err_exit_status(MT_E__COUNT), 1);
	ck_assert_str_eq(mt_err_default_message(MT_E_IO), "input/output error");
	ck_assert_str_eq(mt_err_default_message(MT_E__COUNT), "unknown error");
}
END_TEST

/* mt_atomic_write is a module function: the -errno of the step that
 * failed, with the reason in ERR; its caller says MT_E_IO. */
START_TEST(test_atomic_write_says_errno)
{
	char dir[] = "/tmp/mt_errors_XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128], err[256];
	snprintf(path, sizeof path, "%s/missing/x.snap", dir);
	ck_assert_int_eq(mt_atomic_write(path, "x", 1, err, sizeof err), -ENOENT);
	ck_assert_msg(strstr(err, "cannot create a temporary file in") != NULL, "%s", err);

	char file[128];
	snprintf(file, sizeof file, "%s/file", dir);
	ck_assert_int_eq(mt_atomic_write(file, "x", 1, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/file/x.snap", dir);
	ck_assert_int_eq(mt_atomic_write(path, "x", 1, err, sizeof err), -ENOTDIR);
	ck_assert_int_eq(mt_err_from_errno(-ENOTDIR), MT_E_IO);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("errors");
	tcase_add_test(tc, test_errno_classes);
	tcase_add_test(tc, test_errno_is_not_an_mt_err);
	tcase_add_test(tc, test_exit_statuses);
	tcase_add_test(tc, test_atomic_write_says_errno);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(errors_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
