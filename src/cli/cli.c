#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage_general[] =
	"usage: memtrace COMMAND [OPTIONS]\n"
	"\n"
	"Attach to a running process and show which call sites hold its heap memory.\n"
	"\n"
	"commands:\n"
	"  histo <pid>          live blocks and bytes by allocation site, jmap -histo style\n"
	"  attach <pid>         trace until stopped; growth per site every interval\n"
	"  run -- COMMAND ...   start COMMAND traced from its first allocation\n"
	"  snapshot <pid> -o FILE  trace, then write a snapshot of the live heap\n"
	"  census <pid>         every live block now, by C++ class and size, and the heap\n"
	"                       summary (leak or retention?), without tracing\n"
	"  diff A B             what grew and shrank between two snapshots\n"
	"  detach <pid>         remove the hooks a memtrace killed with SIGKILL left\n"
	"  help [COMMAND]       show help for a command\n"
	"\n"
	"options:\n"
	"  -h, --help           show this help (memtrace COMMAND --help for a command)\n"
	"  -V, --version        show the version\n"
	"\n"
	"See memtrace(1) for output formats, accounting rules and exit statuses.\n";

/* What a stripped module's functions are called is in memtrace(1)
 * (SYMBOLS); the well-known wrappers are listed there too. */
#define WRAPPER_OPTIONS \
	"  --wrapper NAME       treat function NAME as an allocator wrapper (glob, or\n" \
	"                       MODULE+OFFSET for a function of a stripped module; repeatable)\n" \
	"  --no-default-wrappers  do not skip the well-known wrappers (zmalloc, palloc,\n" \
	"                       g_malloc, PyMem_*, ngx_palloc, xmalloc, ...); the malloc\n" \
	"                       family and operator new are always skipped\n"

#define STACK_OPTIONS \
	"  --depth N            unwind N frames above the allocator (default 32, at most 128)\n" \
	WRAPPER_OPTIONS \
	"  --group-by KEY       rows by site (default), stack, function or module\n" \
	"  --debug-dir DIR      also look for separate debug info in DIR (repeatable)\n"

#define ENGINE_OPTIONS \
	"  --engine ENGINE      inject (default: trampolines, in-process agent) or breakpoint\n" \
	"  --sample-bytes N     sample allocations, one per ~N bytes; reports estimates (default: all)\n" \
	"  --lossless           when memtrace falls behind, slow the process down instead of\n" \
	"                       dropping events (inject; default: drop and count them)\n"

#define CENSUS_OPTION \
	"  --no-census          take no census of the heap at attach (the blocks allocated\n" \
	"                       before are then not counted; their frees are unknown)\n"

#define FORMAT_OPTION \
	"  --format FORMAT      table (default), json or folded (collapsed stacks for flame graphs)\n"

static const char usage_histo[] =
	"usage: memtrace histo <pid> [--duration SECONDS] [--top N] [--json] [--format FORMAT]\n"
	"                      [--stacks] [--snapshot FILE] [--engine ENGINE] [--sample-bytes N]\n"
	"                      [--lossless] [--depth N] [--wrapper NAME]...\n"
	"                      [--no-default-wrappers] [--group-by KEY] [--debug-dir DIR]...\n"
	"                      [--no-census] [--verbose]\n"
	"\n"
	"Trace PID, then detach and print live blocks and bytes by allocation site,\n"
	"largest live bytes first, then the census of the blocks allocated before\n"
	"attach (by C++ class and size) and the heap summary.\n"
	"\n"
	"options:\n"
	"  --duration SECONDS   trace this long (default 10; 0: until Ctrl-C or the target exits)\n"
	"  --top N              show the N largest sites (default 20; 0: all; --json: all)\n"
	"  --json               print one JSON object (schema in memtrace(1))\n"
	FORMAT_OPTION
	"  --stacks             print each row's call stack under it\n"
	"  --snapshot FILE      also write a snapshot of the live heap to FILE\n"
	ENGINE_OPTIONS
	STACK_OPTIONS
	CENSUS_OPTION
	"  -v, --verbose        say what memtrace does (hooks, stop times) on stderr\n"
	"  -h, --help           show this help\n";

static const char usage_attach[] =
	"usage: memtrace attach <pid> [--interval SECONDS] [--duration SECONDS] [--top N]\n"
	"                      [--json] [--format FORMAT] [--record FILE [--snapshot-every SECONDS]]\n"
	"                      [--engine ENGINE] [--sample-bytes N] [--lossless]\n"
	"                      [--depth N] [--wrapper NAME]... [--no-default-wrappers]\n"
	"                      [--group-by KEY] [--debug-dir DIR]... [--no-census] [--verbose]\n"
	"\n"
	"Trace PID until Ctrl-C, SIGTERM, SIGHUP, the duration, or the target exits;\n"
	"every interval print the top sites with their live bytes, change, rate and\n"
	"verdict (growing, plateau, fluctuating, shrinking, flat), then a final summary.\n"
	"\n"
	"options:\n"
	"  --interval SECONDS   report every SECONDS (default 10)\n"
	"  --duration SECONDS   stop after SECONDS (default 0: no limit)\n"
	"  --top N              show the N sites with the most evidence of growth (default 20; 0: all)\n"
	"  --json               one JSON object per interval (JSON Lines), then a final one\n"
	FORMAT_OPTION
	"  --record FILE        write a snapshot to FILE at the end (and every --snapshot-every)\n"
	"  --snapshot-every SECONDS  also rewrite the --record snapshot every SECONDS\n"
	ENGINE_OPTIONS
	STACK_OPTIONS
	CENSUS_OPTION
	"  -v, --verbose        say what memtrace does (hooks, stop times) on stderr\n"
	"  -h, --help           show this help\n";

static const char usage_run[] =
	"usage: memtrace run [--duration SECONDS] [--top N] [--json] [--format FORMAT] [--stacks]\n"
	"                    [--snapshot FILE] [--engine ENGINE] [--sample-bytes N] [--lossless]\n"
	"                    [--depth N] [--wrapper NAME]... [--no-default-wrappers]\n"
	"                    [--group-by KEY] [--debug-dir DIR]... [--verbose]\n"
	"                    -- COMMAND [ARGS...]\n"
	"\n"
	"Start COMMAND traced from its first allocation; when it exits, print what it\n"
	"still held and exit with its status.\n"
	"\n"
	"options:\n"
	"  --duration SECONDS   stop tracing after SECONDS (default 0: until COMMAND exits)\n"
	"  --top N              show the N largest sites (default 20; 0: all; --json: all)\n"
	"  --json               print one JSON object (schema in memtrace(1))\n"
	FORMAT_OPTION
	"  --stacks             print each row's call stack under it\n"
	"  --snapshot FILE      also write a snapshot of what it held to FILE\n"
	ENGINE_OPTIONS
	STACK_OPTIONS
	"  -v, --verbose        say what memtrace does (hooks, stop times) on stderr\n"
	"  -h, --help           show this help\n";

static const char usage_snapshot[] =
	"usage: memtrace snapshot <pid> -o FILE [--duration SECONDS] [--engine ENGINE]\n"
	"                      [--sample-bytes N] [--lossless] [--depth N] [--wrapper NAME]...\n"
	"                      [--no-default-wrappers] [--debug-dir DIR]... [--no-census]\n"
	"                      [--verbose]\n"
	"\n"
	"Trace PID (or ask the memtrace session already tracing it), then write a\n"
	"snapshot of its live heap, aggregated per stack, to FILE (atomically), with\n"
	"the census of the heap at attach.\n"
	"\n"
	"options:\n"
	"  -o, --output FILE    the snapshot file to write\n"
	"  --duration SECONDS   trace this long (default 10; 0: until Ctrl-C or the target exits)\n"
	ENGINE_OPTIONS
	"  --depth N            unwind N frames above the allocator (default 32, at most 128)\n"
	WRAPPER_OPTIONS
	"  --debug-dir DIR      also look for separate debug info in DIR (repeatable)\n"
	CENSUS_OPTION
	"  -v, --verbose        say what memtrace does (hooks, stop times) on stderr\n"
	"  -h, --help           show this help\n";

static const char usage_census[] =
	"usage: memtrace census <pid> [--json] [--top N] [-o FILE] [--verbose]\n"
	"\n"
	"Take a census of PID's heap as it is (glibc's malloc): every live block by\n"
	"C++ class (its vtable) or by usable size, largest first, jmap -histo style,\n"
	"and the heap summary: what the allocator has mapped, what is live, what it\n"
	"holds free and could give back, and the verdict (retention or normal).\n"
	"The threads are paused only to copy the heap (copy-on-write); nothing is\n"
	"hooked, memtrace detaches when the census is taken.\n"
	"\n"
	"options:\n"
	"  --json               print one JSON object (schema in memtrace(1))\n"
	"  --top N              show the N largest rows (default 20; 0: all; --json: all)\n"
	"  -o, --output FILE    also write a snapshot holding the census to FILE\n"
	"  -v, --verbose        say how long the threads were paused and the census took\n"
	"  -h, --help           show this help\n";

static const char usage_diff[] =
	"usage: memtrace diff A B [--json] [--format FORMAT] [--group-by KEY] [--top N] [--force]\n"
	"\n"
	"Compare two snapshots: per site, blocks and bytes in A and in B and the change,\n"
	"largest growth first; sites only in B are new, only in A gone.  When both\n"
	"snapshots hold a census of the heap, also per C++ class and per block size.\n"
	"\n"
	"options:\n"
	"  --json               print one JSON object (schema in memtrace(1))\n"
	FORMAT_OPTION
	"  --group-by KEY       rows by site (default), stack, function or module\n"
	"  --top N              show the N rows that changed most (default 20; 0: all)\n"
	"  --force              compare snapshots of different programs all the same\n"
	"  -h, --help           show this help\n";

static const char usage_detach[] =
	"usage: memtrace detach <pid> [--verbose]\n"
	"\n"
	"Remove what a memtrace killed with SIGKILL (kill -9) left in PID: the jumps\n"
	"at its allocator's entry points (the process runs slower with them) or the\n"
	"breakpoint engine's int3s (the process dies at its next call).\n"
	"Every byte written back is the module file's, checked against the agent's\n"
	"record; the agent stays mapped, unused.  Refused while a live memtrace\n"
	"traces PID: stopping that one restores its hooks.\n"
	"\n"
	"options:\n"
	"  -v, --verbose        also list the entry points found as the file has them\n"
	"  -h, --help           show this help\n";

const char *mt_cli_usage(enum mt_cmd cmd)
{
	switch (cmd) {
	case MT_CMD_HISTO: return usage_histo;
	case MT_CMD_ATTACH: return usage_attach;
	case MT_CMD_RUN: return usage_run;
	case MT_CMD_SNAPSHOT: return usage_snapshot;
	case MT_CMD_DIFF: return usage_diff;
	case MT_CMD_DETACH: return usage_detach;
	case MT_CMD_CENSUS: return usage_census;
	default: return usage_general;
	}
}

int mt_cli_parse_pid(const char *s, pid_t *out)
{
	if (!s || !*s || strlen(s) > 10)
		return -1;
	long long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > INT_MAX)
		return -1;
	*out = (pid_t)v;
	return 0;
}

static enum mt_cmd cmd_from_name(const char *s)
{
	if (strcmp(s, "histo") == 0) return MT_CMD_HISTO;
	if (strcmp(s, "attach") == 0) return MT_CMD_ATTACH;
	if (strcmp(s, "run") == 0) return MT_CMD_RUN;
	if (strcmp(s, "snapshot") == 0) return MT_CMD_SNAPSHOT;
	if (strcmp(s, "diff") == 0) return MT_CMD_DIFF;
	if (strcmp(s, "detach") == 0) return MT_CMD_DETACH;
	if (strcmp(s, "census") == 0) return MT_CMD_CENSUS;
	if (strcmp(s, "help") == 0) return MT_CMD_HELP;
	return MT_CMD_NONE;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	if (strspn(s, "0123456789.") != strlen(s))
		return -1; /* no signs, exponents, hex or "inf" */
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v < 0 || v > 1e9)
		return -1;
	*out = v;
	return 0;
}

static int parse_count(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* A byte count: decimal digits only, 1..MT_MAX_SAMPLE_BYTES. */
static int parse_bytes(const char *s, uint64_t *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 12)
		return -1;
	uint64_t v = strtoull(s, NULL, 10);
	if (v < 1 || v > MT_MAX_SAMPLE_BYTES)
		return -1;
	*out = v;
	return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int mt_cli_parse(int argc, char **argv, struct mt_options *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	o->top = 20;
	o->interval = 10;
	o->depth = 32;
	o->raw_argc = argc - 1;
	o->raw_argv = argv + 1;
	if (argc < 2)
		FAIL("no command given: try 'memtrace --help'");

	const char *first = argv[1];
	if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0) {
		o->cmd = MT_CMD_HELP;
		return 0;
	}
	if (strcmp(first, "-V") == 0 || strcmp(first, "--version") == 0) {
		o->cmd = MT_CMD_VERSION;
		return 0;
	}
	o->cmd = cmd_from_name(first);
	if (o->cmd == MT_CMD_NONE)
		FAIL("unknown command '%s': try 'memtrace --help'", first);
	if (o->cmd == MT_CMD_HELP) {
		if (argc > 2) {
			o->help_for = cmd_from_name(argv[2]);
			if (o->help_for == MT_CMD_NONE || o->help_for == MT_CMD_HELP)
				FAIL("unknown command '%s': try 'memtrace --help'", argv[2]);
		}
		return 0;
	}
	o->duration = o->cmd == MT_CMD_HISTO || o->cmd == MT_CMD_SNAPSHOT ? 10 : 0;
	const enum mt_cmd c = o->cmd;
	/* Which commands take an option: H histo, A attach, R run, S snapshot, D diff,
	 * X detach, C census. */
#define H (1u << MT_CMD_HISTO)
#define A (1u << MT_CMD_ATTACH)
#define R (1u << MT_CMD_RUN)
#define S (1u << MT_CMD_SNAPSHOT)
#define D (1u << MT_CMD_DIFF)
#define X (1u << MT_CMD_DETACH)
#define C (1u << MT_CMD_CENSUS)
#define FOR(mask) (((mask) & (1u << c)) != 0)

	const char *pid_arg = NULL;
	const char *files[2] = { NULL, NULL };
	int nfiles = 0;
	int i;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		char name[32];
		/* --opt=value or --opt value */
		if (strncmp(a, "--", 2) == 0 && a[2] && a[2] != '=' && strchr(a, '=')) {
			size_t n = (size_t)(strchr(a, '=') - a);
			if (n >= sizeof name)
				FAIL("unknown option '%s': try 'memtrace %s --help'", a, first);
			memcpy(name, a, n);
			name[n] = 0;
			val = a + n + 1;
			a = name;
		}
#define NEED_VALUE()                                                                 \
	do {                                                                         \
		if (!val) {                                                          \
			if (i + 1 >= argc)                                           \
				FAIL("option %s needs a value: try 'memtrace %s --help'", a, first); \
			val = argv[++i];                                             \
		}                                                                    \
	} while (0)

		if (strcmp(a, "--") == 0 && o->cmd == MT_CMD_RUN) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help_for = o->cmd;
			o->cmd = MT_CMD_HELP;
			return 0;
		}
		bool flag = strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0 ||
			    strcmp(a, "--json") == 0 || strcmp(a, "--stacks") == 0 ||
			    strcmp(a, "--force") == 0;
		if (flag && val)
			FAIL("option %s takes no value: try 'memtrace %s --help'", a, first);
		if ((strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) && FOR(H | A | R | S | X | C)) {
			o->verbose = true;
		} else if (strcmp(a, "--duration") == 0 && FOR(H | A | R | S)) {
			NEED_VALUE();
			if (parse_seconds(val, &o->duration) < 0)
				FAIL("invalid --duration '%s': give a number of seconds >= 0", val);
		} else if (strcmp(a, "--top") == 0 && FOR(H | A | R | D | C)) {
			NEED_VALUE();
			if (parse_count(val, &o->top) < 0)
				FAIL("invalid --top '%s': give a whole number >= 0", val);
			o->top_given = true;
		} else if (strcmp(a, "--json") == 0 && FOR(H | A | R | D | C)) {
			o->format = MT_FORMAT_JSON;
		} else if (strcmp(a, "--format") == 0 && FOR(H | A | R | D)) {
			NEED_VALUE();
			if (strcmp(val, "table") == 0)
				o->format = MT_FORMAT_TABLE;
			else if (strcmp(val, "json") == 0)
				o->format = MT_FORMAT_JSON;
			else if (strcmp(val, "folded") == 0)
				o->format = MT_FORMAT_FOLDED;
			else
				FAIL("invalid --format '%s': give table, json or folded", val);
		} else if (strcmp(a, "--snapshot") == 0 && FOR(H | R)) {
			NEED_VALUE();
			if (!*val)
				FAIL("empty --snapshot: give the file to write the snapshot to");
			o->snapshot_path = val;
		} else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && FOR(S | C)) {
			NEED_VALUE();
			if (!*val)
				FAIL("empty %s: give the file to write the snapshot to", a);
			o->snapshot_path = val;
		} else if (strcmp(a, "--record") == 0 && FOR(A)) {
			NEED_VALUE();
			if (!*val)
				FAIL("empty --record: give the file to write snapshots to");
			o->record_path = val;
		} else if (strcmp(a, "--snapshot-every") == 0 && FOR(A)) {
			NEED_VALUE();
			if (parse_seconds(val, &o->snapshot_every) < 0 || o->snapshot_every < 0.05)
				FAIL("invalid --snapshot-every '%s': give a number of seconds >= 0.05", val);
		} else if (strcmp(a, "--force") == 0 && FOR(D)) {
			o->force = true;
		} else if (strcmp(a, "--depth") == 0 && FOR(H | A | R | S)) {
			NEED_VALUE();
			if (parse_count(val, &o->depth) < 0 || o->depth < 1 || o->depth > MT_MAX_DEPTH)
				FAIL("invalid --depth '%s': give a number of frames from 1 to %d", val,
				     MT_MAX_DEPTH);
		} else if (strcmp(a, "--wrapper") == 0 && FOR(H | A | R | S)) {
			NEED_VALUE();
			if (!*val)
				FAIL("empty --wrapper: give a function name or a glob such as 'xmalloc*'");
			if (o->nwrappers == MT_MAX_LIST)
				FAIL("too many --wrapper options: give at most %d (globs match many)",
				     MT_MAX_LIST);
			o->wrappers[o->nwrappers++] = val;
		} else if (strcmp(a, "--no-default-wrappers") == 0 && FOR(H | A | R | S)) {
			o->no_default_wrappers = true;
		} else if (strcmp(a, "--debug-dir") == 0 && FOR(H | A | R | S)) {
			NEED_VALUE();
			if (!*val)
				FAIL("empty --debug-dir: give a directory holding debug files");
			if (o->ndebug_dirs == MT_MAX_LIST)
				FAIL("too many --debug-dir options: give at most %d", MT_MAX_LIST);
			o->debug_dirs[o->ndebug_dirs++] = val;
		} else if (strcmp(a, "--group-by") == 0 && FOR(H | A | R | D)) {
			NEED_VALUE();
			int g;
			for (g = 0; g < 4 && strcmp(val, mt_group_name((enum mt_group)g)) != 0; g++)
				;
			if (g == 4)
				FAIL("invalid --group-by '%s': give site, stack, function or module", val);
			o->group_by = (enum mt_group)g;
		} else if (strcmp(a, "--engine") == 0 && FOR(H | A | R | S)) {
			NEED_VALUE();
			if (strcmp(val, "inject") == 0)
				o->engine = MT_ENGINE_INJECT;
			else if (strcmp(val, "breakpoint") == 0)
				o->engine = MT_ENGINE_BREAKPOINT;
			else
				FAIL("invalid --engine '%s': give inject or breakpoint", val);
		} else if (strcmp(a, "--sample-bytes") == 0 && FOR(H | A | R | S)) {
			NEED_VALUE();
			if (parse_bytes(val, &o->sample_bytes) < 0)
				FAIL("invalid --sample-bytes '%s': give a number of bytes from 1 to %llu",
				     val, (unsigned long long)MT_MAX_SAMPLE_BYTES);
		} else if (strcmp(a, "--lossless") == 0 && FOR(H | A | R | S)) {
			o->lossless = true;
		} else if (strcmp(a, "--no-census") == 0 && FOR(H | A | S)) {
			o->no_census = true;
		} else if (strcmp(a, "--stacks") == 0 && FOR(H | R)) {
			o->stacks = true;
		} else if (strcmp(a, "--interval") == 0 && o->cmd == MT_CMD_ATTACH) {
			NEED_VALUE();
			if (parse_seconds(val, &o->interval) < 0 || o->interval < 0.05)
				FAIL("invalid --interval '%s': give a number of seconds >= 0.05", val);
		} else if (a[0] == '-' && a[1] >= '0' && a[1] <= '9' && FOR(H | A | S | X | C)) {
			FAIL("'%s' is not a process ID: give a number from 1 to %d, e.g. from pidof or ps",
			     a, INT_MAX);
		} else if (a[0] == '-' && a[1]) {
			FAIL("unknown option '%s' for %s: try 'memtrace %s --help'", a, first, first);
		} else if (o->cmd == MT_CMD_RUN) {
			FAIL("put '--' before the command to run: memtrace run [OPTIONS] -- %s", a);
		} else if (o->cmd == MT_CMD_DIFF) {
			if (nfiles == 2)
				FAIL("diff compares two snapshots: '%s', '%s' and '%s' given", files[0],
				     files[1], a);
			files[nfiles++] = a;
		} else if (pid_arg) {
			FAIL("one PID only: '%s' and '%s' given", pid_arg, a);
		} else {
			pid_arg = a;
		}
#undef NEED_VALUE
	}
#undef H
#undef A
#undef R
#undef S
#undef D
#undef X
#undef C
#undef FOR
	o->json = o->format == MT_FORMAT_JSON;

	if (o->cmd == MT_CMD_DIFF) {
		if (nfiles < 2)
			FAIL("diff needs two snapshots: memtrace diff A B");
		o->diff_a = files[0];
		o->diff_b = files[1];
		return 0;
	}
	if (o->cmd == MT_CMD_SNAPSHOT && !o->snapshot_path)
		FAIL("no output file: memtrace snapshot <pid> -o FILE");
	if (o->snapshot_every > 0 && !o->record_path)
		FAIL("--snapshot-every needs --record FILE: the file to rewrite");

	if (o->cmd == MT_CMD_RUN) {
		if (i >= argc)
			FAIL("no command to run: memtrace run [OPTIONS] -- COMMAND [ARGS...]");
		o->argv = &argv[i];
		return 0;
	}
	if (!pid_arg)
		FAIL("no PID given: memtrace %s <pid>", first);
	if (mt_cli_parse_pid(pid_arg, &o->pid) < 0)
		FAIL("'%s' is not a process ID: give a number from 1 to %d, e.g. from pidof or ps",
		     pid_arg, INT_MAX);
	return 0;
}
