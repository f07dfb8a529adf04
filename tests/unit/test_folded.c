/* --format folded: collapsed stacks, outermost first, weighted by live
 * bytes, equal lines summed, lines sorted. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define APP "/srv/app/server"

/* innermost first, as the session hands them over */
static const struct mt_report_frame stack_a[] = {
	{ .address = 0x7f0000029000, .function = "malloc", .module = LIBC, .file = "" },
	{ .address = 0x555500001234, .function = "xstrdup", .module = APP, .file = "util.c" },
	{ .address = 0x555500001300, .function = "parse_header", .module = APP, .file = "http.c",
	  .inlined = true },
	{ .address = 0x555500001300, .function = "handle_request", .module = APP, .file = "http.c" },
	{ .address = 0x555500001000, .function = "main", .module = APP, .file = "main.c" },
};

/* an unnamed frame in a module, one outside any module, and a name with a
 * ';' that the format cannot carry */
static const struct mt_report_frame stack_b[] = {
	{ .address = 0x7f0000029000, .function = "malloc", .module = LIBC, .file = "" },
	{ .address = 0x7f1000002b11, .function = "", .module = "/opt/lib/libfoo.so",
	  .module_offset = 0x2b11, .file = "" },
	{ .address = 0x7fabcdef0000, .function = "", .module = "", .file = "" },
	{ .address = 0x555500001400, .function = "odd;name\n", .module = APP, .file = "" },
	{ .address = 0x555500001000, .function = "main", .module = APP, .file = "main.c" },
};

static char *print(const struct mt_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mt_report_folded(f, r), 0);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static struct mt_report_site site(const struct mt_report_frame *frames, int n, uint64_t bytes)
{
	struct mt_report_site s;
	memset(&s, 0, sizeof s);
	s.frames = frames;
	s.nframes = n;
	s.site_frame = n > 1 ? 1 : 0;
	s.live_bytes = bytes;
	s.live_blocks = bytes ? 1 : 0;
	return s;
}

START_TEST(test_folded_lines)
{
	struct mt_report_site v[5];
	v[0] = site(stack_a, 5, 4096);
	v[1] = site(stack_b, 5, 100);
	v[2] = site(stack_a, 2, 0);     /* nothing live: left out */
	v[3] = site(NULL, 0, 16);       /* no stack: the site alone */
	strcpy(v[3].function, "leak_small");
	strcpy(v[3].module, APP);
	v[4] = site(stack_a, 5, 904);   /* the same line as v[0]: summed */
	struct mt_report r = { .sites = v, .nsites = 5 };
	char *out = print(&r);
	ck_assert_str_eq(out,
			 "leak_small 16\n"
			 "main;handle_request;parse_header_[i];xstrdup;malloc 5000\n"
			 "main;odd_name_;0x7fabcdef0000;libfoo.so+0x2b11;malloc 100\n");
	free(out);
}
END_TEST

START_TEST(test_folded_unnamed_site_and_empty)
{
	struct mt_report_site v[2];
	v[0] = site(NULL, 0, 7);
	strcpy(v[0].module, "/lib/libz.so.1");
	v[0].module_offset = 0x44;
	v[1] = site(NULL, 0, 9);
	v[1].address = 0x1234;
	struct mt_report r = { .sites = v, .nsites = 2 };
	char *out = print(&r);
	ck_assert_str_eq(out, "0x1234 9\nlibz.so.1+0x44 7\n");
	free(out);

	struct mt_report empty = { .nsites = 0 };
	out = print(&empty);
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("folded");
	TCase *tc = tcase_create("folded");
	tcase_add_test(tc, test_folded_lines);
	tcase_add_test(tc, test_folded_unnamed_site_and_empty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
