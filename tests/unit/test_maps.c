/* Unit tests for src/target/maps.c: the /proc/PID/maps parser.  The sample lines
 * are real ones (Debian 12, x86_64), copied from running processes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/maps.h"

START_TEST(test_file_mapping)
{
	struct mt_map m;
	ck_assert_int_eq(mt_map_parse_line(
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 1705523"
		"                    /usr/lib/x86_64-linux-gnu/libc.so.6", &m), 0);
	ck_assert_uint_eq(m.start, 0x7f3a1c028000);
	ck_assert_uint_eq(m.end, 0x7f3a1c1bd000);
	ck_assert(m.r && !m.w && m.x && m.p);
	ck_assert_uint_eq(m.offset, 0x28000);
	ck_assert_uint_eq(m.dev_major, 0xfe);
	ck_assert_uint_eq(m.dev_minor, 1);
	ck_assert_uint_eq(m.inode, 1705523);
	ck_assert_str_eq(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	ck_assert(!m.deleted);
	free(m.path);
}
END_TEST

START_TEST(test_path_with_spaces)
{
	struct mt_map m;
	ck_assert_int_eq(mt_map_parse_line(
		"55d0c1a00000-55d0c1a02000 r--p 00000000 08:02 393228"
		"                     /home/ann/My Programs/a b  c", &m), 0);
	ck_assert_str_eq(m.path, "/home/ann/My Programs/a b  c");
	ck_assert(!m.deleted);
	free(m.path);
}
END_TEST

START_TEST(test_no_path)
{
	struct mt_map m;
	/* Anonymous mapping: the kernel stops after the inode and a space. */
	ck_assert_int_eq(mt_map_parse_line(
		"7f3a1c1f6000-7f3a1c203000 rw-p 00000000 00:00 0 ", &m), 0);
	ck_assert_ptr_null(m.path);
	ck_assert(m.r && m.w && !m.x && m.p);
	ck_assert_uint_eq(m.inode, 0);
	ck_assert_int_eq(mt_map_parse_line(
		"7f3a1c1f6000-7f3a1c203000 rw-p 00000000 00:00 0", &m), 0);
	ck_assert_ptr_null(m.path);
	ck_assert_int_eq(mt_map_parse_line(
		"7f3a1c1f6000-7f3a1c203000 rw-p 00000000 00:00 0\n", &m), 0);
	ck_assert_ptr_null(m.path);
}
END_TEST

START_TEST(test_pseudo_paths)
{
	struct mt_map m;
	ck_assert_int_eq(mt_map_parse_line(
		"5617b3e4a000-5617b3e6b000 rw-p 00000000 00:00 0"
		"                          [heap]", &m), 0);
	ck_assert_str_eq(m.path, "[heap]");
	free(m.path);
	ck_assert_int_eq(mt_map_parse_line(
		"7ffc8b1f3000-7ffc8b1f5000 r-xp 00000000 00:00 0"
		"                          [vdso]\n", &m), 0);
	ck_assert_str_eq(m.path, "[vdso]");
	ck_assert(m.r && !m.w && m.x);
	free(m.path);
}
END_TEST

START_TEST(test_deleted)
{
	struct mt_map m;
	ck_assert_int_eq(mt_map_parse_line(
		"563b4e2c7000-563b4e2c8000 r-xp 00001000 fe:01 2359337"
		"                    /tmp/target (deleted)", &m), 0);
	ck_assert_str_eq(m.path, "/tmp/target");
	ck_assert(m.deleted);
	free(m.path);
	/* memfd mappings are "deleted" files too; shared mapping. */
	ck_assert_int_eq(mt_map_parse_line(
		"7f12e0a00000-7f12e0c00000 rw-s 00000000 00:01 2054"
		"                      /memfd:wayland-cursor (deleted)", &m), 0);
	ck_assert_str_eq(m.path, "/memfd:wayland-cursor");
	ck_assert(m.deleted && !m.p);
	free(m.path);
	/* The suffix alone in the middle of a path is part of the name. */
	ck_assert_int_eq(mt_map_parse_line(
		"563b4e2c7000-563b4e2c8000 r--p 00000000 fe:01 12"
		" /tmp/x (deleted)/y", &m), 0);
	ck_assert_str_eq(m.path, "/tmp/x (deleted)/y");
	ck_assert(!m.deleted);
	free(m.path);
}
END_TEST

START_TEST(test_large_addresses)
{
	struct mt_map m;
	ck_assert_int_eq(mt_map_parse_line(
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
		"                  [vsyscall]", &m), 0);
	ck_assert_uint_eq(m.start, 0xffffffffff600000);
	ck_assert_uint_eq(m.end, 0xffffffffff601000);
	ck_assert(!m.r && !m.w && m.x);
	ck_assert_str_eq(m.path, "[vsyscall]");
	free(m.path);
	/* Addresses below 4 GiB are printed with 8 digits ("%08lx"). */
	ck_assert_int_eq(mt_map_parse_line(
		"08048000-08049000 r-xp 00000000 08:01 42 /opt/old", &m), 0);
	ck_assert_uint_eq(m.start, 0x08048000);
	free(m.path);
	/* A large file offset and a large inode. */
	ck_assert_int_eq(mt_map_parse_line(
		"7f0000000000-7f0000001000 r--s 1ffffffff000 103:05 18446744073709551615 /d",
		&m), 0);
	ck_assert_uint_eq(m.offset, 0x1ffffffff000);
	ck_assert_uint_eq(m.dev_major, 0x103);
	ck_assert_uint_eq(m.dev_minor, 5);
	ck_assert_uint_eq(m.inode, UINT64_MAX);
	free(m.path);
}
END_TEST

START_TEST(test_malformed)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"7f3a1c028000 r-xp 00028000 fe:01 1705523 /lib",        /* no end */
		"7f3a1c028000-7f3a1c1bd000",                            /* truncated */
		"7f3a1c028000-7f3a1c1bd000 r-xp",
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000",
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01",
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe01 1705523 /lib",
		"7f3a1c028000-7f3a1c1bd000 rxp 00028000 fe:01 1705523 /lib",
		"7f3a1c028000-7f3a1c1bd000 r-xq 00028000 fe:01 1705523 /lib",
		"7f3a1c028000-7f3a1c1bd000 xr-p 00028000 fe:01 1705523 /lib",
		"7f3a1c028000-7f3a1c1bd000 r-xp 0002800g fe:01 1705523 /lib",
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 17055x3 /lib",
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 -1 /lib",
		"7f3a1c028000-7f3a1c1bd000  r-xp 00028000 fe:01 1 /lib", /* 2 spaces */
		"7f3a1c028000-7f3a1c1bd000\tr-xp 00028000 fe:01 1 /lib",
		" 7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 1 /lib",
		"7f3a1c1bd000-7f3a1c028000 r-xp 00028000 fe:01 1 /lib",  /* end < start */
		"7f3a1c028000-7f3a1c028000 r-xp 00028000 fe:01 1 /lib",  /* empty */
		"1ffffffffffffffff-2ffffffffffffffff r-xp 0 00:00 0",    /* > 64 bits */
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 99999999999999999999 /l",
		"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 1\n7f-80 r-xp 0 0:0 0",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mt_map m = { .start = 42 };
		ck_assert_msg(mt_map_parse_line(bad[i], &m) == -EINVAL,
			      "accepted: \"%s\"", bad[i]);
		ck_assert_uint_eq(m.start, 42);   /* untouched */
	}
}
END_TEST

/* An excerpt of `cat /proc/$(pidof sleep)/maps`, plus a [vsyscall] line. */
static const char sample[] =
	"55d0c1a00000-55d0c1a02000 r--p 00000000 fe:01 1310786                    /usr/bin/sleep\n"
	"55d0c1a02000-55d0c1a06000 r-xp 00002000 fe:01 1310786                    /usr/bin/sleep\n"
	"55d0c1a06000-55d0c1a08000 r--p 00006000 fe:01 1310786                    /usr/bin/sleep\n"
	"55d0c2b1e000-55d0c2b3f000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f3a1c000000-7f3a1c028000 r--p 00000000 fe:01 1705523                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 1705523                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f3a1c1f6000-7f3a1c203000 rw-p 00000000 00:00 0 \n"
	"7ffc8b1f3000-7ffc8b1f5000 r-xp 00000000 00:00 0                          [vdso]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

START_TEST(test_parse_and_find)
{
	struct mt_maps m;
	ck_assert_int_eq(mt_maps_parse(sample, &m), 0);
	ck_assert_uint_eq(m.n, 9);

	const struct mt_map *r = mt_maps_find(&m, 0x7f3a1c098930);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->start, 0x7f3a1c028000);
	ck_assert(r->x);
	/* start is inside, end is not */
	ck_assert_ptr_eq(mt_maps_find(&m, 0x55d0c1a02000), &m.v[1]);
	ck_assert_ptr_eq(mt_maps_find(&m, 0x55d0c1a01fff), &m.v[0]);
	ck_assert_ptr_eq(mt_maps_find(&m, 0x55d0c1a00000), &m.v[0]);
	ck_assert_ptr_eq(mt_maps_find(&m, 0x55d0c1a07fff), &m.v[2]);
	ck_assert_ptr_null(mt_maps_find(&m, 0x55d0c1a08000));  /* gap */
	ck_assert_ptr_null(mt_maps_find(&m, 0));
	ck_assert_ptr_null(mt_maps_find(&m, 0x55d0c19fffff));  /* below all */
	ck_assert_ptr_null(mt_maps_find(&m, 0x7f3a1c1bd000));  /* gap */
	ck_assert_str_eq(mt_maps_find(&m, 0x55d0c2b20000)->path, "[heap]");
	ck_assert_ptr_null(mt_maps_find(&m, 0x7f3a1c1f6000)->path);
	ck_assert_str_eq(mt_maps_find(&m, 0xffffffffff600800)->path, "[vsyscall]");
	ck_assert_ptr_null(mt_maps_find(&m, UINT64_MAX));

	mt_maps_free(&m);
	ck_assert_uint_eq(m.n, 0);
	mt_maps_free(&m);             /* idempotent */
}
END_TEST

START_TEST(test_find_unsorted_input)
{
	struct mt_maps m;
	ck_assert_int_eq(mt_maps_parse(
		"7f0000003000-7f0000004000 r--p 00000000 00:00 0 /c\n"
		"\n"
		"7f0000001000-7f0000002000 r--p 00000000 00:00 0 /a\n"
		"7f0000002000-7f0000003000 r--p 00000000 00:00 0 /b", &m), 0);
	ck_assert_uint_eq(m.n, 3);
	ck_assert_str_eq(m.v[0].path, "/a");
	ck_assert_str_eq(mt_maps_find(&m, 0x7f0000002fff)->path, "/b");
	ck_assert_str_eq(mt_maps_find(&m, 0x7f0000003000)->path, "/c");
	mt_maps_free(&m);
}
END_TEST

START_TEST(test_parse_rejects_bad_line)
{
	struct mt_maps m = { (struct mt_map *)&m, 99 };
	ck_assert_int_eq(mt_maps_parse(
		"7f0000001000-7f0000002000 r--p 00000000 00:00 0 /a\n"
		"this is not a maps line\n", &m), -EINVAL);
	ck_assert_ptr_null(m.v);
	ck_assert_uint_eq(m.n, 0);

	ck_assert_int_eq(mt_maps_parse("", &m), 0);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_ptr_null(mt_maps_find(&m, 0x1000));
	mt_maps_free(&m);
}
END_TEST

START_TEST(test_read_self)
{
	/* Our own maps must parse and hold the code of mt_maps_find. */
	struct mt_maps m;
	ck_assert_int_eq(mt_maps_read(getpid(), &m), 0);
	ck_assert_uint_gt(m.n, 3);
	const struct mt_map *r =
		mt_maps_find(&m, (uint64_t)(uintptr_t)&mt_maps_find);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->x);
	ck_assert_ptr_nonnull(r->path);
	mt_maps_free(&m);
	ck_assert_int_eq(mt_maps_read(-1, &m), -ENOENT);
}
END_TEST

static Suite *maps_suite(void)
{
	Suite *s = suite_create("maps");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_file_mapping);
	tcase_add_test(tc, test_path_with_spaces);
	tcase_add_test(tc, test_no_path);
	tcase_add_test(tc, test_pseudo_paths);
	tcase_add_test(tc, test_deleted);
	tcase_add_test(tc, test_large_addresses);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("maps");
	tcase_add_test(tc, test_parse_and_find);
	tcase_add_test(tc, test_find_unsorted_input);
	tcase_add_test(tc, test_parse_rejects_bad_line);
	tcase_add_test(tc, test_read_self);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(maps_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
