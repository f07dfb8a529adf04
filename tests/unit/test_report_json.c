/* Unit tests for src/report/report_json.c: the histo --json object (and the
 * interval reports of attach, JSON Lines and table).  A report is
 * built in memory, printed, and parsed back with jansson; every key of the
 * schema (man/memtrace.1, JSON OUTPUT) is checked with its type. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "model/allocfn.h"
#include "report/report.h"

static struct mt_report_hook hooks[] = {
	{ .symbol = "malloc", .names = "malloc,__libc_malloc", .address = 0x7f3a1c098930,
	  .module = "/usr/lib/x86_64-linux-gnu/libc.so.6", .file_offset = 625968 },
	{ .symbol = "free", .names = "free", .address = 0x7f3a1c098ef0,
	  .module = "/usr/lib/x86_64-linux-gnu/libc.so.6", .file_offset = 626416 },
};

/* Sorted by live bytes, largest first, as the session hands them over. */
static struct mt_report_site sites[] = {
	{ .address = 0x55d0c1a011a9, .function = "leak_big", .offset = 23,
	  .module = "/srv/targets/target_basic", .file = "/srv/targets/target_basic.c",
	  .line = 42, .live_blocks = 3, .live_bytes = 3ULL << 40, .allocs = 5, .frees = 2,
	  .alloc_bytes = 5ULL << 40 },
	{ .address = 0x55d0c1a01203, .function = "leak_small", .offset = 0x1f,
	  .module = "/srv/targets/target_basic", .file = "/srv/targets/target_basic.c",
	  .line = 57, .live_blocks = 100, .live_bytes = 1600, .allocs = 1000, .frees = 900,
	  .alloc_bytes = 16000 },
	{ .address = 0x7f3a1c0a2b11, .function = "", .offset = 0x2b11,
	  .module = "/usr/lib/x86_64-linux-gnu/libc.so.6", .file = "", .line = 0,
	  .live_blocks = 1, .live_bytes = 1, .allocs = 1, .frees = 0, .alloc_bytes = 1 },
};

static struct mt_report report(void)
{
	struct mt_report r = {
		.pid = 4242, .engine = "breakpoint", .threads = 9, .duration_s = 2.5,
		.events = 1000123, .unknown_frees = 10, .unknown_frees_internal = 4,
		.lost_events = 0, .nested_calls = 17, .in_flight = 1, .inconsistencies = 0,
		.end_reason = "duration", .live_blocks = 104, .live_bytes = (3ULL << 40) + 1601,
		.allocs = 1006, .frees = 902,
		.hooks = hooks, .nhooks = 2, .sites = sites, .nsites = 3,
	};
	strcpy(r.comm, "target_basic");
	strcpy(r.allocator, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	return r;
}

/* Print R with TOP; the text in *TEXT (free it), the parsed object returned. */
static json_t *print_parse(const struct mt_report *r, int top, char **text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mt_report_json(f, r, top), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_gt(len, 0);
	ck_assert_msg(buf[len - 1] == '\n', "output does not end with a newline");

	/* One value and nothing after it (json_loads checks the end). */
	json_error_t e;
	json_t *o = json_loads(buf, 0, &e);
	ck_assert_msg(o, "line %d: %s in:\n%s", e.line, e.text, buf);
	ck_assert(json_is_object(o));
	if (text)
		*text = buf;
	else
		free(buf);
	return o;
}

/* R's table (mt_report_table, no --top), to be freed. */
static char *table_of(const struct mt_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mt_report_table(f, r, 0), 0);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static json_t *get(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	ck_assert_msg(v, "no key \"%s\"", key);
	return v;
}

static json_int_t get_int(const json_t *o, const char *key)
{
	json_t *v = get(o, key);
	ck_assert_msg(json_is_integer(v), "\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static const char *get_str(const json_t *o, const char *key)
{
	json_t *v = get(o, key);
	ck_assert_msg(json_is_string(v), "\"%s\" is not a string", key);
	return json_string_value(v);
}

/* Addresses are "0x" and lowercase hex digits. */
static void assert_hex(const json_t *o, const char *key, uint64_t want)
{
	const char *s = get_str(o, key);
	char buf[24];
	snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)want);
	ck_assert_str_eq(s, buf);
	ck_assert_uint_eq(strspn(s + 2, "0123456789abcdef"), strlen(s + 2));
}

static void assert_keys(const json_t *o, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		get(o, keys[i]);
}

static void assert_site(const json_t *j, const struct mt_report_site *s)
{
	static const char *const keys[] = { "function", "offset", "module", "file", "line",
		"address", "live_blocks", "live_bytes", "allocs", "frees", "alloc_bytes" };
	ck_assert(json_is_object(j));
	assert_keys(j, keys, sizeof keys / sizeof keys[0]);
	ck_assert_str_eq(get_str(j, "function"), s->function);
	ck_assert_int_eq(get_int(j, "offset"), (json_int_t)s->offset);
	ck_assert_str_eq(get_str(j, "module"), s->module);
	ck_assert_str_eq(get_str(j, "file"), s->file);
	ck_assert_int_eq(get_int(j, "line"), s->line);
	assert_hex(j, "address", s->address);
	ck_assert_int_eq(get_int(j, "live_blocks"), (json_int_t)s->live_blocks);
	ck_assert_int_eq(get_int(j, "live_bytes"), (json_int_t)s->live_bytes);
	ck_assert_int_eq(get_int(j, "allocs"), (json_int_t)s->allocs);
	ck_assert_int_eq(get_int(j, "frees"), (json_int_t)s->frees);
	ck_assert_int_eq(get_int(j, "alloc_bytes"), (json_int_t)s->alloc_bytes);
}

START_TEST(test_schema)
{
	struct mt_report r = report();
	json_t *o = print_parse(&r, 0, NULL);

	static const char *const keys[] = { "memtrace_version", "pid", "comm", "engine",
		"allocator", "unsupported", "unhooked", "threads", "duration_s", "events", "unknown_frees", "lost_events",
		"end_reason", "totals", "hooks", "sites" };
	assert_keys(o, keys, sizeof keys / sizeof keys[0]);

	ck_assert_str_eq(get_str(o, "memtrace_version"), MT_VERSION);
	ck_assert_int_eq(get_int(o, "pid"), 4242);
	ck_assert_str_eq(get_str(o, "comm"), "target_basic");
	ck_assert_str_eq(get_str(o, "engine"), "breakpoint");
	ck_assert_str_eq(get_str(o, "allocator"), "/usr/lib/x86_64-linux-gnu/libc.so.6");
	ck_assert(json_is_array(get(o, "unhooked")));
	ck_assert_uint_eq(json_array_size(get(o, "unhooked")), 0);
	ck_assert_int_eq(get_int(o, "threads"), 9);
	json_t *d = get(o, "duration_s");
	ck_assert(json_is_number(d));
	ck_assert_double_eq_tol(json_number_value(d), 2.5, 1e-9);
	ck_assert_int_eq(get_int(o, "events"), 1000123);
	ck_assert_int_eq(get_int(o, "unknown_frees"), 10);
	ck_assert_int_eq(get_int(o, "lost_events"), 0);
	ck_assert_str_eq(get_str(o, "end_reason"), "duration");
	/* Diagnostics beyond the contract's keys are integers too. */
	ck_assert_int_eq(get_int(o, "unknown_frees_by_allocator"), 4);
	ck_assert_int_eq(get_int(o, "nested_calls"), 17);
	ck_assert_int_eq(get_int(o, "in_flight"), 1);
	ck_assert_int_eq(get_int(o, "inconsistencies"), 0);

	json_t *tot = get(o, "totals");
	ck_assert(json_is_object(tot));
	ck_assert_uint_eq(json_object_size(tot), 4);
	ck_assert_int_eq(get_int(tot, "live_blocks"), 104);
	ck_assert_int_eq(get_int(tot, "live_bytes"), (json_int_t)((3ULL << 40) + 1601));
	ck_assert_int_eq(get_int(tot, "allocs"), 1006);
	ck_assert_int_eq(get_int(tot, "frees"), 902);

	json_t *h = get(o, "hooks");
	ck_assert(json_is_array(h));
	ck_assert_uint_eq(json_array_size(h), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *j = json_array_get(h, i);
		static const char *const hkeys[] = { "symbol", "names", "address", "module",
						     "file_offset" };
		assert_keys(j, hkeys, sizeof hkeys / sizeof hkeys[0]);
		ck_assert_str_eq(get_str(j, "symbol"), hooks[i].symbol);
		assert_hex(j, "address", hooks[i].address);
		ck_assert_str_eq(get_str(j, "module"), hooks[i].module);
		ck_assert_int_eq(get_int(j, "file_offset"), (json_int_t)hooks[i].file_offset);
	}
	json_t *names = get(json_array_get(h, 0), "names");
	ck_assert(json_is_array(names));
	ck_assert_uint_eq(json_array_size(names), 2);
	ck_assert_str_eq(json_string_value(json_array_get(names, 0)), "malloc");
	ck_assert_str_eq(json_string_value(json_array_get(names, 1)), "__libc_malloc");
	names = get(json_array_get(h, 1), "names");
	ck_assert_uint_eq(json_array_size(names), 1);
	ck_assert_str_eq(json_string_value(json_array_get(names, 0)), "free");

	json_t *s = get(o, "sites");
	ck_assert(json_is_array(s));
	ck_assert_uint_eq(json_array_size(s), 3);
	for (size_t i = 0; i < 3; i++)
		assert_site(json_array_get(s, i), &sites[i]);
	ck_assert_uint_eq(json_array_size(get(o, "unhooked")), 0);
	json_decref(o);
}
END_TEST

/* An entry point found but not hooked is listed with why: its calls are
 * not in the counts. */
/* Each frame of a site's stack: the same eight keys as diff's frames
 * (mt_report_json_frame), named or not, inlined or not. */
START_TEST(test_stack_frames)
{
	static const struct mt_report_frame frames[] = {
		{ .address = 0x7f3a1c098930, .function = "malloc", .offset = 0,
		  .module = "/usr/lib/x86_64-linux-gnu/libc.so.6", .module_offset = 0x98930,
		  .file = "", .line = 0 },
		{ .address = 0x55d0c1a011a9, .function = "helper", .offset = 7,
		  .module = "/srv/targets/target_basic", .module_offset = 0x11a9,
		  .file = "/srv/targets/target_basic.c", .line = 40, .inlined = true },
		{ .address = 0x55d0c1a011a9, .function = "", .offset = 0,
		  .module = "/srv/targets/target_basic", .module_offset = 0x11a9,
		  .file = "", .line = 0 },
	};
	struct mt_report r = report();
	struct mt_report_site one = sites[0];
	one.frames = frames;
	one.nframes = 3;
	r.sites = &one;
	r.nsites = 1;
	json_t *o = print_parse(&r, 0, NULL);
	json_t *stack = get(json_array_get(get(o, "sites"), 0), "stack");
	ck_assert_uint_eq(json_array_size(stack), 3);
	static const char *const keys[] = { "function", "offset", "module", "module_offset",
		"file", "line", "address", "inlined" };
	for (size_t i = 0; i < 3; i++) {
		const struct mt_report_frame *want = &frames[i];
		json_t *fr = json_array_get(stack, i);
		assert_keys(fr, keys, sizeof keys / sizeof keys[0]);
		ck_assert_uint_eq(json_object_size(fr), sizeof keys / sizeof keys[0]);
		ck_assert_str_eq(get_str(fr, "function"), want->function);
		ck_assert_int_eq(get_int(fr, "offset"), (json_int_t)want->offset);
		ck_assert_str_eq(get_str(fr, "module"), want->module);
		ck_assert_int_eq(get_int(fr, "module_offset"), (json_int_t)want->module_offset);
		ck_assert_str_eq(get_str(fr, "file"), want->file);
		ck_assert_int_eq(get_int(fr, "line"), want->line);
		assert_hex(fr, "address", want->address);
		ck_assert(json_is_boolean(get(fr, "inlined")));
		ck_assert(json_boolean_value(get(fr, "inlined")) == want->inlined);
	}
	json_decref(o);
}
END_TEST

START_TEST(test_unhooked)
{
	struct mt_report r = report();
	struct mt_report_hook un = { .symbol = "calloc", .names = "calloc", .address = 0x55d0c1a01a0b,
				     .module = "/srv/targets/target_oddprologue",
				     .why = "a branch in the function targets the inside of the "
					    "patched bytes" };
	r.unhooked = &un;
	r.nunhooked = 1;
	json_t *o = print_parse(&r, 0, NULL);
	json_t *u = get(o, "unhooked");
	ck_assert(json_is_array(u));
	ck_assert_uint_eq(json_array_size(u), 1);
	json_t *j = json_array_get(u, 0);
	static const char *const ukeys[] = { "symbol", "names", "address", "module", "why" };
	assert_keys(j, ukeys, sizeof ukeys / sizeof ukeys[0]);
	ck_assert_str_eq(get_str(j, "symbol"), "calloc");
	assert_hex(j, "address", 0x55d0c1a01a0b);
	ck_assert_str_eq(get_str(j, "module"), "/srv/targets/target_oddprologue");
	ck_assert_str_eq(get_str(j, "why"), un.why);
	json_decref(o);
}
END_TEST

START_TEST(test_end_reasons)
{
	static const char *const reasons[] = { "duration", "signal", "target_exited",
					       "target_exec" };
	for (size_t i = 0; i < 4; i++) {
		struct mt_report r = report();
		r.end_reason = reasons[i];
		json_t *o = print_parse(&r, 0, NULL);
		ck_assert_str_eq(get_str(o, "end_reason"), reasons[i]);
		json_decref(o);
	}
}
END_TEST

/* Allocation entries the program binds to that memtrace has no hook for: one string each. */
START_TEST(test_unsupported)
{
	struct mt_report r = report();
	snprintf(r.unsupported, sizeof r.unsupported, "%s", "xallocx,mi_heap_malloc");
	json_t *o = print_parse(&r, 0, NULL);
	json_t *u = get(o, "unsupported");
	ck_assert(json_is_array(u));
	ck_assert_uint_eq(json_array_size(u), 2);
	ck_assert_str_eq(json_string_value(json_array_get(u, 0)), "xallocx");
	ck_assert_str_eq(json_string_value(json_array_get(u, 1)), "mi_heap_malloc");
	json_decref(o);
}
END_TEST

/* The table's header names them too, in a line of its own; none, none. */
START_TEST(test_table_unsupported)
{
	static const char *const lists[] = { "", "mi_heap_malloc", "xallocx,mi_heap_malloc" };
	static const char *const lines[] = {
		NULL,
		"\nnot hooked: mi_heap_malloc: the program calls this allocation entry, its "
		"blocks are not seen\ntraced ",
		"\nnot hooked: xallocx,mi_heap_malloc: the program calls these allocation "
		"entries, their blocks are not seen\ntraced ",
	};
	for (int i = 0; i < 3; i++) {
		struct mt_report r = report();
		snprintf(r.unsupported, sizeof r.unsupported, "%s", lists[i]);
		char *buf = table_of(&r);
		if (lines[i])
			ck_assert_msg(strstr(buf, lines[i]), "%s", buf);
		else
			ck_assert_msg(!strstr(buf, "not hooked"), "%s", buf);
		free(buf);
	}
}
END_TEST

/* pymalloc hooked: its module in JSON (null when not), beside the
 * allocator in the table's first line, and a line saying what its entry
 * points do not see. */
START_TEST(test_pymalloc)
{
	for (int hooked = 0; hooked < 2; hooked++) {
		struct mt_report r = report();
		if (hooked)
			strcpy(r.pymalloc, "/usr/bin/python3.11");
		json_t *o = print_parse(&r, 0, NULL);
		json_t *p = get(o, "pymalloc");
		if (hooked)
			ck_assert_str_eq(json_string_value(p), "/usr/bin/python3.11");
		else
			ck_assert(json_is_null(p));
		json_decref(o);

		char *buf = table_of(&r);
		const char *want = hooked ? ", allocator /usr/lib/x86_64-linux-gnu/libc.so.6 + "
					    "pymalloc in /usr/bin/python3.11, engine breakpoint\n"
					  : ", allocator /usr/lib/x86_64-linux-gnu/libc.so.6, engine "
					    "breakpoint\n";
		ck_assert_msg(strstr(buf, want), "%s", buf);
		ck_assert_msg(!strstr(buf, "\npymalloc: hooked at its entry points") == !hooked, "%s",
			      buf);
		free(buf);
	}
}
END_TEST

/* CPython's allocator tables hooked: listed in JSON ([] when none), and
 * the pymalloc line says the inlined calls are seen, naming the tables. */
START_TEST(test_pytab)
{
	static const struct {
		uint32_t pytab;
		const char *json, *line;
	} cases[] = {
		{ 0, "[]", "an interpreter built with link-time optimization (Debian's) has them "
			   "inlined" },
		{ MT_PYTAB_OBJ | MT_PYTAB_MEM, "[\"obj\", \"mem\"]",
		  "and in CPython's allocator tables (OBJ, MEM): calls inlined by link-time "
		  "optimization are seen too\n" },
		{ MT_PYTAB_MEM, "[\"mem\"]", "allocator tables (MEM): calls" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mt_report r = report();
		strcpy(r.pymalloc, "/usr/bin/python3.11");
		r.pytab = cases[i].pytab;
		json_t *o = print_parse(&r, 0, NULL);
		char *got = json_dumps(get(o, "pymalloc_tables"), JSON_ENCODE_ANY);
		ck_assert_str_eq(got, cases[i].json);
		free(got);
		json_decref(o);
		char *buf = table_of(&r);
		ck_assert_msg(strstr(buf, cases[i].line), "%s", buf);
		free(buf);
	}
}
END_TEST

/* A JVM's java line: null in JSON and no table line for other processes;
 * the text as given in both for a JVM. */
START_TEST(test_java)
{
	static const char *const texts[] = {
		NULL, "frames named from the JVM's perf map (jcmd Compiler.perfmap)" };
	for (int i = 0; i < 2; i++) {
		struct mt_report r = report();
		r.java = texts[i];
		json_t *o = print_parse(&r, 0, NULL);
		json_t *j = get(o, "java");
		if (texts[i])
			ck_assert_str_eq(json_string_value(j), texts[i]);
		else
			ck_assert(json_is_null(j));
		json_decref(o);
		char *buf = table_of(&r);
		char line[160];
		snprintf(line, sizeof line, "\njava: %s\ntraced ", texts[1]);
		if (texts[i])
			ck_assert_msg(strstr(buf, line), "%s", buf);
		else
			ck_assert_msg(!strstr(buf, "java:"), "%s", buf);
		free(buf);
	}
}
END_TEST

/* Stacks the agent cut short: a count in JSON, and a header line only when
 * there are any (the sites of such stacks may be too deep). */
START_TEST(test_stacks_cut)
{
	static const uint64_t counts[] = { 0, 1, 37 };
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		struct mt_report r = report();
		r.stacks_cut = counts[i];
		json_t *o = print_parse(&r, 0, NULL);
		ck_assert_int_eq(get_int(o, "stacks_cut_short"), (json_int_t)counts[i]);
		json_decref(o);
		char *buf = table_of(&r);
		char want[64];
		snprintf(want, sizeof want, "\nstacks: %llu cut short at a frame",
			 (unsigned long long)counts[i]);
		if (counts[i])
			ck_assert_msg(strstr(buf, want), "%s", buf);
		else
			ck_assert_msg(!strstr(buf, "cut short"), "%s", buf);
		free(buf);
	}
}
END_TEST

START_TEST(test_top)
{
	struct mt_report r = report();
	static const struct { int top; size_t n; } cases[] = {
		{ 0, 3 }, { 1, 1 }, { 2, 2 }, { 3, 3 }, { 20, 3 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *o = print_parse(&r, cases[i].top, NULL);
		json_t *s = get(o, "sites");
		ck_assert_msg(json_array_size(s) == cases[i].n, "top %d: %zu sites", cases[i].top,
			      json_array_size(s));
		/* The largest ones, in order. */
		for (size_t j = 0; j < cases[i].n; j++)
			assert_site(json_array_get(s, j), &sites[j]);
		/* --top limits sites, not hooks or totals. */
		ck_assert_uint_eq(json_array_size(get(o, "hooks")), 2);
		ck_assert_int_eq(get_int(get(o, "totals"), "live_blocks"), 104);
		json_decref(o);
	}
}
END_TEST

START_TEST(test_empty)
{
	struct mt_report r = report();
	r.nsites = 0;
	r.sites = NULL;
	r.nhooks = 0;
	r.hooks = NULL;
	r.live_blocks = r.live_bytes = r.allocs = r.frees = 0;
	json_t *o = print_parse(&r, 5, NULL);
	ck_assert(json_is_array(get(o, "sites")));
	ck_assert_uint_eq(json_array_size(get(o, "sites")), 0);
	ck_assert(json_is_array(get(o, "hooks")));
	ck_assert_uint_eq(json_array_size(get(o, "hooks")), 0);
	ck_assert_int_eq(get_int(get(o, "totals"), "live_bytes"), 0);
	json_decref(o);
}
END_TEST

/* Names and paths are the target's: quotes, backslashes and control
 * characters must come out as valid JSON that reads back unchanged. */
START_TEST(test_escaping)
{
	static const char fn[] = "operator\"new\"\\(x)\t<int>";
	static const char file[] = "C:\\src\\\"quoted\".c";
	static const char mod[] = "/tmp/a b/\x01lib\nx.so";
	static const char comm[] = "say \"hi\"\\";
	static const char utf8[] = "caf\xc3\xa9_\xe2\x82\xac";

	struct mt_report r = report();
	struct mt_report_site s = sites[1];
	snprintf(s.function, sizeof s.function, "%s", fn);
	snprintf(s.file, sizeof s.file, "%s", file);
	snprintf(s.module, sizeof s.module, "%s", mod);
	struct mt_report_site s2 = sites[2];
	snprintf(s2.function, sizeof s2.function, "%s", utf8);
	struct mt_report_site two[] = { s, s2 };
	r.sites = two;
	r.nsites = 2;
	snprintf(r.comm, sizeof r.comm, "%s", comm);

	char *text;
	json_t *o = print_parse(&r, 0, &text);
	ck_assert_ptr_nonnull(strstr(text, "operator\\\"new\\\"\\\\(x)\\t<int>"));
	ck_assert_ptr_nonnull(strstr(text, "\\u0001lib\\nx.so"));
	ck_assert_str_eq(get_str(o, "comm"), comm);
	json_t *j = json_array_get(get(o, "sites"), 0);
	ck_assert_str_eq(get_str(j, "function"), fn);
	ck_assert_str_eq(get_str(j, "file"), file);
	ck_assert_str_eq(get_str(j, "module"), mod);
	ck_assert_str_eq(get_str(json_array_get(get(o, "sites"), 1), "function"), utf8);
	free(text);
	json_decref(o);
}
END_TEST

/* Bytes that are not UTF-8 (a comm set with prctl) keep their key, with '?'. */
START_TEST(test_invalid_utf8)
{
	struct mt_report r = report();
	strcpy(r.comm, "caf\xe9");
	char *text;
	json_t *o = print_parse(&r, 0, &text);
	ck_assert_str_eq(get_str(o, "comm"), "caf?");
	free(text);
	json_decref(o);
}
END_TEST

/* attach's interval reports, JSON Lines and the table's interval line,
 * give the count of inconsistencies as histo's header does (the line only
 * when there are any). */
START_TEST(test_interval_inconsistencies)
{
	struct mt_report r = report();
	r.lost_events = 5;
	for (int with = 1; with >= 0; with--) {
		r.inconsistencies = with ? 3 : 0;
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(mt_report_json_interval(f, &r, 0, false), 0);
		ck_assert_int_eq(fclose(f), 0);
		json_error_t e;
		json_t *o = json_loads(buf, 0, &e);
		ck_assert_msg(o, "line %d: %s in:\n%s", e.line, e.text, buf);
		ck_assert_int_eq(get_int(o, "inconsistencies"), with ? 3 : 0);
		ck_assert_int_eq(get_int(o, "lost_events"), 5);
		json_decref(o);
		free(buf);

		buf = NULL;
		f = open_memstream(&buf, &len);
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(mt_report_growth(f, &r, 0, false), 0);
		ck_assert_int_eq(fclose(f), 0);
		char *nl = strchr(buf, '\n');
		ck_assert_ptr_nonnull(nl);
		*nl = 0;
		if (with)
			ck_assert_msg(strstr(buf, ", 5 lost events, 3 inconsistencies ---"), "%s", buf);
		else
			ck_assert_msg(strstr(buf, ", 5 lost events ---") && !strstr(buf, "inconsisten"),
				      "%s", buf);
		free(buf);
	}
}
END_TEST

/* "rss": null when unknown; its members and the untraced_growth rule at
 * its edges (MT_RSS_UNSEEN_MIN, MT_RSS_UNSEEN_FACTOR x the peak); the
 * table's coverage line and warning agree with it. */
static json_t *rss_of(const struct mt_report *r, char **table)
{
	json_t *o = print_parse(r, 0, NULL);
	json_t *rss = json_incref(get(o, "rss"));
	json_decref(o);
	*table = table_of(r);
	return rss;
}

START_TEST(test_rss)
{
	struct mt_report r = report();
	char *table;
	json_t *rss = rss_of(&r, &table);
	ck_assert(json_is_null(rss));
	ck_assert_msg(!strstr(table, "\nrss: ") && !strstr(table, "warning"), "%s", table);
	json_decref(rss);
	free(table);

	const uint64_t MiB = 1 << 20;
	r.rss = (struct mt_report_rss){ .known = true, .start = 10 * MiB, .end = 90 * MiB,
					.has_anon = true, .anon_start = 4 * MiB,
					.anon_end = 4 * MiB + MT_RSS_UNSEEN_MIN + 2 };
	r.peak_live_bytes = (MT_RSS_UNSEEN_MIN + 2) / MT_RSS_UNSEEN_FACTOR - 1;
	rss = rss_of(&r, &table);
	ck_assert_int_eq(get_int(rss, "start_bytes"), 10 * MiB);
	ck_assert_int_eq(get_int(rss, "end_bytes"), 90 * MiB);
	ck_assert_int_eq(get_int(rss, "anon_start_bytes"), 4 * MiB);
	ck_assert_int_eq(get_int(rss, "anon_end_bytes"), 4 * MiB + MT_RSS_UNSEEN_MIN + 2);
	ck_assert_int_eq(get_int(rss, "peak_live_bytes"), r.peak_live_bytes);
	ck_assert(json_is_real(get(rss, "end_age_s")));
	ck_assert(json_is_true(get(rss, "untraced_growth")));
	ck_assert_msg(strstr(table, "\nrss: 10.0 MiB at attach, 90.0 MiB at the end (+80.0 MiB, "
				    "anonymous +32.0 MiB); memtrace saw ") &&
		      strstr(table, "\nwarning: anonymous memory grew 32.0 MiB"), "%s", table);
	json_decref(rss);
	free(table);

	/* Seen allocated at most half the growth: no warning. */
	r.peak_live_bytes++;
	rss = rss_of(&r, &table);
	ck_assert(json_is_false(get(rss, "untraced_growth")));
	ck_assert_msg(strstr(table, "\nrss: ") && !strstr(table, "warning"), "%s", table);
	json_decref(rss);
	free(table);

	/* A growth below the floor: none.  Without RssAnon, VmRSS counts. */
	r.peak_live_bytes = 0;
	r.rss.anon_end = r.rss.anon_start + MT_RSS_UNSEEN_MIN;
	rss = rss_of(&r, &table);
	ck_assert(json_is_false(get(rss, "untraced_growth")));
	json_decref(rss);
	free(table);
	r.rss.has_anon = false;
	r.rss.end_age_s = 0.25;
	rss = rss_of(&r, &table);
	ck_assert(json_is_null(get(rss, "anon_start_bytes")));
	ck_assert(json_is_true(get(rss, "untraced_growth")));
	ck_assert_msg(strstr(table, " when last read, 0.2 s before the end (+80.0 MiB); ") &&
		      strstr(table, "\nwarning: RSS grew 80.0 MiB"), "%s", table);
	json_decref(rss);
	free(table);
}
END_TEST

/* A write error is reported (memtrace then exits with 10). */
START_TEST(test_write_error)
{
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		return;  /* no /dev/full in this sandbox: nothing to test */
	struct mt_report r = report();
	ck_assert_int_eq(mt_report_json(f, &r, 0), -1);
	fclose(f);
}
END_TEST

static Suite *report_json_suite(void)
{
	Suite *s = suite_create("report_json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, test_schema);
	tcase_add_test(tc, test_stack_frames);
	tcase_add_test(tc, test_unhooked);
	tcase_add_test(tc, test_end_reasons);
	tcase_add_test(tc, test_unsupported);
	tcase_add_test(tc, test_table_unsupported);
	tcase_add_test(tc, test_pymalloc);
	tcase_add_test(tc, test_pytab);
	tcase_add_test(tc, test_java);
	tcase_add_test(tc, test_stacks_cut);
	tcase_add_test(tc, test_top);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_interval_inconsistencies);
	tcase_add_test(tc, test_rss);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(report_json_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
