/* The pprof profile builder (report_pprof.c): a snapshot made by hand, the
 * profile packed, read back with protobuf-c, and every field memtrace fills
 * checked against what pprof.h says. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "report/pprof.h"
#include "report/profile.pb-c.h"

/* Two modules: libc (no build-id; first in the snapshot) and the program
 * (build-id 0xab 0xcd, the main executable, so its mapping comes first).
 *
 *   stack 0: malloc (libc) <- leak (prog.c:12) <- main (prog.c:30)
 *            site frame 1: the sample starts at leak
 *   stack 1: 0x7000 (no module, unnamed) <- main; site frame 0 */
static struct mt_snap_module modules[] = {
	{ .path = "/lib/libc.so.6" },
	{ .path = "/usr/bin/prog", .build_id = { 0xab, 0xcd }, .build_id_len = 2 },
};
static struct mt_snap_frame frames[] = {
	{ .module = 1, .module_offset = 0x100, .address = 0x7f0000000100, .function = "malloc",
	  .file = "", .line = 0 },
	{ .module = 2, .module_offset = 0x1150, .address = 0x555500001150, .function = "leak",
	  .file = "prog.c", .line = 12 },
	{ .module = 2, .module_offset = 0x1200, .address = 0x555500001200, .function = "main",
	  .file = "prog.c", .line = 30 },
	{ .module = 0, .address = 0x7000, .function = "", .file = "" },
};
static uint32_t stack0[] = { 0, 1, 2 };
static uint32_t stack1[] = { 3, 2 };
static struct mt_snap_stack stacks[] = {
	{ .frames = stack0, .nframes = 3, .site_frame = 1 },
	{ .frames = stack1, .nframes = 2, .site_frame = 0 },
};
static struct mt_snap_site sites[] = {
	{ .stack = 0, .live_blocks = 100, .live_bytes = 2400, .allocs = 150, .frees = 50,
	  .alloc_bytes = 3600 },
	{ .stack = 1, .live_blocks = 1, .live_bytes = 64, .allocs = 1, .alloc_bytes = 64 },
	/* allocated and freed nothing: no sample */
	{ .stack = 1 },
};

static struct mt_snapshot snap(void)
{
	return (struct mt_snapshot){
		.memtrace_version = "0.1.0", .pid = 42, .comm = "prog", .exe = "/usr/bin/prog",
		.exe_module = 2, .time_unix_ns = 1700000000000000000ull, .duration_s = 2.5,
		.engine = "inject", .lost_events = 3,
		.modules = modules, .nmodules = 2, .frames = frames, .nframes = 4,
		.stacks = stacks, .nstacks = 2, .sites = sites, .nsites = 3,
	};
}

static Perftools__Profiles__Profile *build(const struct mt_snapshot *a,
					   const struct mt_snapshot *b)
{
	struct mt_pprof *p = mt_pprof_new();
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(mt_pprof_add(p, a, 1), 0);
	if (b)
		ck_assert_int_eq(mt_pprof_add(p, b, -1), 0);
	uint8_t *buf;
	size_t len;
	ck_assert_int_eq(mt_pprof_pack(p, &buf, &len), 0);
	mt_pprof_free(p);
	Perftools__Profiles__Profile *pr = perftools__profiles__profile__unpack(NULL, len, buf);
	free(buf);
	ck_assert_ptr_nonnull(pr);
	return pr;
}

static const char *str(const Perftools__Profiles__Profile *pr, int64_t i)
{
	ck_assert(i >= 0 && (size_t)i < pr->n_string_table);
	return pr->string_table[i];
}

/* The function name of location ID's only line, or "" without a line. */
static const char *loc_function(const Perftools__Profiles__Profile *pr, uint64_t id)
{
	ck_assert(id >= 1 && id <= pr->n_location);
	const Perftools__Profiles__Location *l = pr->location[id - 1];
	ck_assert_uint_eq(l->id, id);
	if (!l->n_line)
		return "";
	ck_assert_uint_eq(l->n_line, 1);
	uint64_t f = l->line[0]->function_id;
	ck_assert(f >= 1 && f <= pr->n_function);
	ck_assert_uint_eq(pr->function[f - 1]->id, f);
	return str(pr, pr->function[f - 1]->name);
}

static void check_values(const Perftools__Profiles__Sample *s, int64_t a0, int64_t a1,
			 int64_t i0, int64_t i1)
{
	ck_assert_uint_eq(s->n_value, 4);
	ck_assert_int_eq(s->value[0], a0);
	ck_assert_int_eq(s->value[1], a1);
	ck_assert_int_eq(s->value[2], i0);
	ck_assert_int_eq(s->value[3], i1);
}

START_TEST(test_header)
{
	struct mt_snapshot s = snap();
	Perftools__Profiles__Profile *pr = build(&s, NULL);
	ck_assert_str_eq(pr->string_table[0], "");
	static const char *const types[4][2] = { { "alloc_objects", "count" },
		{ "alloc_space", "bytes" }, { "inuse_objects", "count" }, { "inuse_space", "bytes" } };
	ck_assert_uint_eq(pr->n_sample_type, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_str_eq(str(pr, pr->sample_type[i]->type), types[i][0]);
		ck_assert_str_eq(str(pr, pr->sample_type[i]->unit), types[i][1]);
	}
	ck_assert_str_eq(str(pr, pr->default_sample_type), "inuse_space");
	ck_assert_str_eq(str(pr, pr->period_type->type), "space");
	ck_assert_str_eq(str(pr, pr->period_type->unit), "bytes");
	ck_assert_int_eq(pr->period, 0);
	ck_assert_int_eq(pr->time_nanos, 1700000000000000000ll);
	ck_assert_int_eq(pr->duration_nanos, 2500000000ll);
	ck_assert_uint_eq(pr->n_comment, 2);
	ck_assert_str_eq(str(pr, pr->comment[0]),
			 "memtrace 0.1.0: pid 42 (prog), engine inject, traced 2.5 s");
	ck_assert_str_eq(str(pr, pr->comment[1]),
			 "3 allocator calls lost: their blocks are not counted");
	/* every string once */
	for (size_t i = 0; i < pr->n_string_table; i++)
		for (size_t k = i + 1; k < pr->n_string_table; k++)
			ck_assert_str_ne(pr->string_table[i], pr->string_table[k]);
	perftools__profiles__profile__free_unpacked(pr, NULL);
}
END_TEST

START_TEST(test_mappings)
{
	struct mt_snapshot s = snap();
	Perftools__Profiles__Profile *pr = build(&s, NULL);
	ck_assert_uint_eq(pr->n_mapping, 2);
	/* the main executable first: its load bias, build-id in hex */
	const Perftools__Profiles__Mapping *m = pr->mapping[0];
	ck_assert_uint_eq(m->id, 1);
	ck_assert_str_eq(str(pr, m->filename), "/usr/bin/prog");
	ck_assert_str_eq(str(pr, m->build_id), "abcd");
	ck_assert_uint_eq(m->memory_start, 0x555500000000);
	ck_assert_uint_eq(m->memory_limit, 0x555500001201);
	ck_assert_uint_eq(m->file_offset, 0);
	ck_assert(m->has_functions && m->has_filenames && m->has_line_numbers);
	m = pr->mapping[1];
	ck_assert_uint_eq(m->id, 2);
	ck_assert_str_eq(str(pr, m->filename), "/lib/libc.so.6");
	ck_assert_int_eq(m->build_id, 0);
	ck_assert_uint_eq(m->memory_start, 0x7f0000000000);
	/* malloc has no file:line */
	ck_assert(m->has_functions && !m->has_filenames && !m->has_line_numbers);
	perftools__profiles__profile__free_unpacked(pr, NULL);
}
END_TEST

START_TEST(test_samples)
{
	struct mt_snapshot s = snap();
	Perftools__Profiles__Profile *pr = build(&s, NULL);
	ck_assert_uint_eq(pr->n_sample, 2);
	/* from the site frame out: malloc is left out */
	const Perftools__Profiles__Sample *x = pr->sample[0];
	ck_assert_uint_eq(x->n_location_id, 2);
	ck_assert_str_eq(loc_function(pr, x->location_id[0]), "leak");
	ck_assert_str_eq(loc_function(pr, x->location_id[1]), "main");
	check_values(x, 150, 3600, 100, 2400);
	const Perftools__Profiles__Location *l = pr->location[x->location_id[0] - 1];
	ck_assert_uint_eq(l->address, 0x555500001150);
	ck_assert_uint_eq(l->mapping_id, 1);
	ck_assert_int_eq(l->line[0]->line, 12);
	const Perftools__Profiles__Function *f = pr->function[l->line[0]->function_id - 1];
	ck_assert_str_eq(str(pr, f->filename), "prog.c");
	ck_assert_str_eq(str(pr, f->system_name), "leak");
	/* an unnamed frame in no module: a location with no line, no mapping;
	 * main's location is shared */
	x = pr->sample[1];
	ck_assert_uint_eq(x->n_location_id, 2);
	ck_assert_str_eq(loc_function(pr, x->location_id[0]), "");
	ck_assert_uint_eq(pr->location[x->location_id[0] - 1]->address, 0x7000);
	ck_assert_uint_eq(pr->location[x->location_id[0] - 1]->mapping_id, 0);
	ck_assert_uint_eq(x->location_id[1], pr->sample[0]->location_id[1]);
	check_values(x, 1, 64, 1, 64);
	/* leak, main, 0x7000: malloc's frame made no location */
	ck_assert_uint_eq(pr->n_location, 3);
	ck_assert_uint_eq(pr->n_function, 2);
	perftools__profiles__profile__free_unpacked(pr, NULL);
}
END_TEST

START_TEST(test_census)
{
	struct mt_census_row types[] = { { .type = "app::Session", .blocks = 3, .bytes = 480 } };
	struct mt_census_row sizes[] = { { .size = 64, .blocks = 10, .bytes = 800 } };
	struct mt_census_report c = { .available = true, .blocks = 13, .bytes = 1280,
				      .freed_blocks = 1, .freed_bytes = 160, .types = types,
				      .ntypes = 1, .sizes = sizes, .nsizes = 1 };
	struct mt_snapshot s = snap();
	s.nsites = 0;
	s.lost_events = 0;
	s.census = &c;
	Perftools__Profiles__Profile *pr = build(&s, NULL);
	ck_assert_uint_eq(pr->n_sample, 3);
	const char *leaf[] = { "app::Session", "[64-byte blocks]", "[freed since attach]" };
	for (int i = 0; i < 3; i++) {
		const Perftools__Profiles__Sample *x = pr->sample[i];
		ck_assert_uint_eq(x->n_location_id, 2);
		ck_assert_str_eq(loc_function(pr, x->location_id[0]), leaf[i]);
		ck_assert_str_eq(loc_function(pr, x->location_id[1]), "[census]");
		ck_assert_uint_eq(pr->location[x->location_id[0] - 1]->mapping_id, 0);
	}
	check_values(pr->sample[0], 3, 480, 3, 480);
	check_values(pr->sample[1], 10, 800, 10, 800);
	/* the freed ones off the in-use values: [census] holds 12 blocks, 1120
	 * bytes in use, 13 and 1280 allocated */
	check_values(pr->sample[2], 0, 0, -1, -160);
	/* one root location for all */
	ck_assert_uint_eq(pr->sample[0]->location_id[1], pr->sample[1]->location_id[1]);
	ck_assert_uint_eq(pr->sample[0]->location_id[1], pr->sample[2]->location_id[1]);
	ck_assert_uint_eq(pr->n_comment, 2);
	ck_assert_str_eq(str(pr, pr->comment[1]),
			 "[census]: 13 blocks, 1280 bytes (chunks, headers included) live at "
			 "attach, by class and size; 1 blocks (160 bytes) of them freed since, "
			 "in-use values under [freed since attach]");
	perftools__profiles__profile__free_unpacked(pr, NULL);
}
END_TEST

/* A diff: B's samples, then A's negated, on the same locations. */
START_TEST(test_diff_signs)
{
	struct mt_snapshot b = snap(), a = snap();
	a.nsites = 1;
	Perftools__Profiles__Profile *pr = build(&b, &a);
	ck_assert_uint_eq(pr->n_sample, 3);
	check_values(pr->sample[0], 150, 3600, 100, 2400);
	check_values(pr->sample[2], -150, -3600, -100, -2400);
	ck_assert_str_eq(loc_function(pr, pr->sample[2]->location_id[0]), "leak");
	ck_assert_str_eq(str(pr, pr->comment[2]),
			 "subtracted: memtrace 0.1.0: pid 42 (prog), engine inject, traced 2.5 s");
	/* functions are shared; each snapshot has its mappings */
	ck_assert_uint_eq(pr->n_function, 2);
	ck_assert_uint_eq(pr->n_mapping, 4);
	perftools__profiles__profile__free_unpacked(pr, NULL);
}
END_TEST

/* The file is gzip: its magic bytes, and nothing written on failure. */
START_TEST(test_gzip_file)
{
	struct mt_snapshot s = snap();
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(mt_report_pprof(m, &s), 0);
	fclose(m);
	ck_assert_uint_gt(len, 20);
	ck_assert_uint_eq((unsigned char)text[0], 0x1f);
	ck_assert_uint_eq((unsigned char)text[1], 0x8b);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pprof");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_mappings);
	tcase_add_test(tc, test_samples);
	tcase_add_test(tc, test_census);
	tcase_add_test(tc, test_diff_signs);
	tcase_add_test(tc, test_gzip_file);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
