#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "report/report_html.h"

/* The command line is two tables: OPTIONS says what each option is called
 * and how its value is read; HELP_ROWS is the options section of every
 * command's --help, and a command takes exactly the options its --help
 * shows.  tests/docs checks every --help against the man page and the
 * completions, so a new option is one row in each table here and one item
 * in each of those files. */

/* Which commands a help row is for: H histo, A attach, R run, S snapshot,
 * D diff, X detach, C census, L leaks, P report, T top. */
#define H (1u << MT_CMD_HISTO)
#define A (1u << MT_CMD_ATTACH)
#define R (1u << MT_CMD_RUN)
#define S (1u << MT_CMD_SNAPSHOT)
#define D (1u << MT_CMD_DIFF)
#define X (1u << MT_CMD_DETACH)
#define C (1u << MT_CMD_CENSUS)
#define L (1u << MT_CMD_LEAKS)
#define P (1u << MT_CMD_REPORT)
#define T (1u << MT_CMD_TOP)
#define ALL (H | A | R | S | D | X | C | L | P | T)

enum opt_id {
	OPT_HELP,
	OPT_VERBOSE,
	OPT_DURATION,
	OPT_INTERVAL,
	OPT_TOP,
	OPT_JSON,
	OPT_FORMAT,
	OPT_STACKS,
	OPT_SNAPSHOT,
	OPT_OUTPUT,
	OPT_RECORD,
	OPT_SNAPSHOT_EVERY,
	OPT_FORCE,
	OPT_ENGINE,
	OPT_SAMPLE_BYTES,
	OPT_LOSSLESS,
	OPT_DEPTH,
	OPT_WRAPPER,
	OPT_NO_DEFAULT_WRAPPERS,
	OPT_GROUP_BY,
	OPT_DEBUG_DIR,
	OPT_NO_CENSUS,
	OPT_JVM_PERFMAP,
	OPT_SHOW_REACHABLE,
	OPT_WHY,
	OPT_ERROR_EXITCODE,
	NOPTS
};

/* One option as given: its name as typed (for messages), its value (NULL
 * for a flag), and where a refusal is written. */
struct given {
	const char *name, *val;
	char *err;
	size_t errlen;
};

typedef int (*opt_set_fn)(struct mt_options *o, const struct given *g);

struct cli_option {
	const char *name;   /* the long name, without "--" */
	char short_name;    /* -X, or 0 */
	const char *value;  /* what the value is called in --help; NULL: a flag */
	opt_set_fn set;     /* NULL only for --help, which the parser handles */
};

struct help_row {
	enum opt_id opt;
	unsigned cmds;      /* the commands whose --help shows this text */
	const char *text;   /* a '\n' starts a continuation line */
};

#define FAIL(g, ...) do { snprintf((g)->err, (g)->errlen, __VA_ARGS__); return -1; } while (0)

static const char usage_general[] =
	"usage: memtrace COMMAND [OPTIONS]\n"
	"\n"
	"Attach to a running process and show which call sites hold its heap memory.\n"
	"\n"
	"commands:\n"
	"  histo <pid>          live blocks and bytes by allocation site, jmap -histo style\n"
	"  attach <pid>         trace until stopped; growth per site every interval\n"
	"  top <pid>            attach with a live view on the terminal: sites ranked by\n"
	"                       growth, sparklines, stacks, snapshots on a key\n"
	"  run -- COMMAND ...   start COMMAND traced from its first allocation\n"
	"  snapshot <pid> -o FILE  trace, then write a snapshot of the live heap\n"
	"  census <pid>         every live block now, by C++ class and size, and the heap\n"
	"                       summary (leak or retention?), without tracing\n"
	"  leaks <pid>          which blocks nothing points to any more (memcheck's\n"
	"                       definitely, indirectly, possibly lost) and who holds the rest\n"
	"  diff A B             what grew and shrank between two snapshots\n"
	"  report SNAPSHOT... [-o FILE]  an HTML page over snapshots: growth charts,\n"
	"                       flame graph, census\n"
	"  detach <pid>         remove the hooks a memtrace killed with SIGKILL left\n"
	"  help [COMMAND]       show help for a command\n"
	"\n"
	"options:\n"
	"  -h, --help           show this help (memtrace COMMAND --help for a command)\n"
	"  -V, --version        show the version\n"
	"\n"
	"See memtrace(1) for output formats, accounting rules and exit statuses.\n";

/* Each command's synopsis and what it does; its options follow from
 * HELP_ROWS.  test_cli.c checks that the synopsis names the same options. */
static const char *const usage_heads[] = {
	[MT_CMD_HISTO] =
		"usage: memtrace histo <pid> [--duration SECONDS] [--top N] [--json] [--format FORMAT]\n"
		"                      [-o FILE] [--stacks] [--snapshot FILE] [--engine ENGINE]\n"
		"                      [--sample-bytes N] [--lossless] [--depth N] [--wrapper NAME]...\n"
		"                      [--no-default-wrappers] [--group-by KEY] [--debug-dir DIR]...\n"
		"                      [--no-census] [--jvm-perfmap] [--verbose]\n"
		"\n"
		"Trace PID, then detach and print live blocks and bytes by allocation site,\n"
		"largest live bytes first, then the census of the blocks allocated before\n"
		"attach (by C++ class and size) and the heap summary.\n",
	[MT_CMD_ATTACH] =
		"usage: memtrace attach <pid> [--interval SECONDS] [--duration SECONDS] [--top N]\n"
		"                      [--json] [--format FORMAT] [-o FILE]\n"
		"                      [--record FILE [--snapshot-every SECONDS]]\n"
		"                      [--engine ENGINE] [--sample-bytes N] [--lossless]\n"
		"                      [--depth N] [--wrapper NAME]... [--no-default-wrappers]\n"
		"                      [--group-by KEY] [--debug-dir DIR]... [--no-census]\n"
		"                      [--jvm-perfmap] [--verbose]\n"
		"\n"
		"Trace PID until Ctrl-C, SIGTERM, SIGHUP, the duration, or the target exits;\n"
		"every interval print the top sites with their live bytes, change, rate and\n"
		"verdict (growing, plateau, fluctuating, shrinking, flat), then a final summary.\n",
	[MT_CMD_RUN] =
		"usage: memtrace run [--duration SECONDS] [--top N] [--json] [--format FORMAT] [-o FILE]\n"
		"                    [--stacks] [--snapshot FILE] [--engine ENGINE] [--sample-bytes N]\n"
		"                    [--lossless] [--depth N] [--wrapper NAME]... [--no-default-wrappers]\n"
		"                    [--group-by KEY] [--debug-dir DIR]... [--jvm-perfmap] [--verbose]\n"
		"                    -- COMMAND [ARGS...]\n"
		"\n"
		"Start COMMAND traced from its first allocation; when it exits, print what it\n"
		"still held and exit with its status.\n",
	[MT_CMD_SNAPSHOT] =
		"usage: memtrace snapshot <pid> -o FILE [--duration SECONDS] [--engine ENGINE]\n"
		"                      [--sample-bytes N] [--lossless] [--depth N] [--wrapper NAME]...\n"
		"                      [--no-default-wrappers] [--debug-dir DIR]... [--no-census]\n"
		"                      [--jvm-perfmap] [--verbose]\n"
		"\n"
		"Trace PID (or ask the memtrace session already tracing it), then write a\n"
		"snapshot of its live heap, aggregated per stack, to FILE (atomically), with\n"
		"the census of the heap at attach.\n",
	[MT_CMD_CENSUS] =
		"usage: memtrace census <pid> [--json] [--format FORMAT] [--top N] [-o FILE]\n"
		"                      [--snapshot FILE] [--verbose]\n"
		"\n"
		"Take a census of PID's heap as it is (glibc's malloc): every live block by\n"
		"C++ class (its vtable) or by usable size, largest first, jmap -histo style,\n"
		"and the heap summary: what the allocator has mapped, what is live, what it\n"
		"holds free and could give back, and the verdict (retention or normal).\n"
		"The threads are paused only to copy the heap (copy-on-write); nothing is\n"
		"hooked, memtrace detaches when the census is taken.\n",
	[MT_CMD_LEAKS] =
		"usage: memtrace leaks <pid> [--json] [-o FILE] [--show-reachable] [--top N]\n"
		"                      [--duration SECONDS] [--why TYPE|SITE]\n"
		"                      [--error-exitcode N] [--verbose]\n"
		"\n"
		"Find the blocks of PID's heap that nothing points to any more, as valgrind's\n"
		"memcheck would say it: definitely lost, indirectly lost (only lost blocks\n"
		"point to them), possibly lost (only pointers into their middle), still\n"
		"reachable, by C++ class or size; the largest reachable groups with the chain\n"
		"that holds them from a global, a stack or a register.  The threads are paused\n"
		"only to copy the heap (copy-on-write); the marking reads the copy.\n",
	[MT_CMD_TOP] =
		"usage: memtrace top <pid> [--interval SECONDS] [--duration SECONDS] [--engine ENGINE]\n"
		"                   [--sample-bytes N] [--lossless] [--depth N] [--wrapper NAME]...\n"
		"                   [--no-default-wrappers] [--group-by KEY] [--debug-dir DIR]...\n"
		"                   [--no-census] [--jvm-perfmap] [--verbose]\n"
		"\n"
		"Trace PID as attach does and show a live view on the terminal, refreshed every\n"
		"interval: the sites with the most evidence of growth first, each with a\n"
		"sparkline of its live bytes, its verdict and churn; lost events and the heap\n"
		"summary above.  Keys: q quit, o next sort (g l r c i: by growth, live bytes,\n"
		"rate, churn, interval), p pause, up/down select, enter the row's stack, s write\n"
		"a snapshot (memtrace-PID-N.snap here).  Ends on q, Ctrl-C, SIGTERM, SIGHUP or\n"
		"the target's exit, every hook removed.  Refused (exit 2) unless stdin and\n"
		"stdout are a terminal; NO_COLOR turns colors off.\n",
	[MT_CMD_DIFF] =
		"usage: memtrace diff A B [--json] [--format FORMAT] [-o FILE] [--group-by KEY] [--top N]\n"
		"                      [--force]\n"
		"\n"
		"Compare two snapshots: per site, blocks and bytes in A and in B and the change,\n"
		"largest growth first; sites only in B are new, only in A gone.  When both\n"
		"snapshots hold a census of the heap, also per C++ class and per block size.\n",
	[MT_CMD_REPORT] =
		"usage: memtrace report SNAPSHOT... [-o FILE] [--top N]\n"
		"\n"
		"Write one self-contained HTML page (no network when viewed) over snapshot\n"
		"files, e.g. one attach --record file: the header of the latest, its sites\n"
		"in a sortable table, each site's live bytes over time in a chart (the\n"
		"series an attach --record file carries, else one point per file) with\n"
		"its growth verdict, a flame graph of live bytes by stack, and the census\n"
		"by type.  The snapshots are ordered by the time they were taken.\n",
	[MT_CMD_DETACH] =
		"usage: memtrace detach <pid> [--verbose]\n"
		"\n"
		"Remove what a memtrace killed with SIGKILL (kill -9) left in PID: the jumps\n"
		"at its allocator's entry points (the process runs slower with them) or the\n"
		"breakpoint engine's int3s (the process dies at its next call).\n"
		"Every byte written back is the module file's, checked against the agent's\n"
		"record; the agent stays mapped, unused.  Refused while a live memtrace\n"
		"traces PID: stopping that one restores its hooks.\n",
};

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

/* ---- what each option sets ------------------------------------------- */

/* A flag: sets one bool of struct mt_options. */
#define FLAG_SETTER(field)                                                      \
	static int set_##field(struct mt_options *o, const struct given *g)   \
	{                                                                      \
		(void)g;                                                       \
		o->field = true;                                               \
		return 0;                                                      \
	}
FLAG_SETTER(verbose)
FLAG_SETTER(stacks)
FLAG_SETTER(force)
FLAG_SETTER(lossless)
FLAG_SETTER(no_default_wrappers)
FLAG_SETTER(no_census)
FLAG_SETTER(jvm_perfmap)
FLAG_SETTER(show_reachable)

static int set_why(struct mt_options *o, const struct given *g)
{
	if (!*g->val)
		FAIL(g, "empty --why: give a C++ class (app::Session), a size (64) or a site");
	o->leaks_why = g->val;
	return 0;
}

static int set_error_exitcode(struct mt_options *o, const struct given *g)
{
	if (parse_count(g->val, &o->error_exitcode) < 0 || o->error_exitcode < 1 ||
	    o->error_exitcode > 255)
		FAIL(g, "invalid --error-exitcode '%s': give an exit status from 1 to 255", g->val);
	return 0;
}

static int set_json(struct mt_options *o, const struct given *g)
{
	(void)g;
	o->format = MT_FORMAT_JSON;
	return 0;
}

static int set_duration(struct mt_options *o, const struct given *g)
{
	if (parse_seconds(g->val, &o->duration) < 0)
		FAIL(g, "invalid --duration '%s': give a number of seconds >= 0", g->val);
	return 0;
}

static int set_interval(struct mt_options *o, const struct given *g)
{
	if (parse_seconds(g->val, &o->interval) < 0 || o->interval < 0.05)
		FAIL(g, "invalid --interval '%s': give a number of seconds >= 0.05", g->val);
	return 0;
}

static int set_top(struct mt_options *o, const struct given *g)
{
	if (parse_count(g->val, &o->top) < 0)
		FAIL(g, "invalid --top '%s': give a whole number >= 0", g->val);
	o->top_given = true;
	return 0;
}

static int set_format(struct mt_options *o, const struct given *g)
{
	if (strcmp(g->val, "table") == 0)
		o->format = MT_FORMAT_TABLE;
	else if (strcmp(g->val, "json") == 0)
		o->format = MT_FORMAT_JSON;
	else if (strcmp(g->val, "folded") == 0 && o->cmd != MT_CMD_CENSUS)
		o->format = MT_FORMAT_FOLDED;
	else if (strcmp(g->val, "html") == 0 && o->cmd != MT_CMD_CENSUS)
		o->format = MT_FORMAT_HTML;
	else if (strcmp(g->val, "pprof") == 0)
		o->format = MT_FORMAT_PPROF;
	else if (o->cmd == MT_CMD_CENSUS)
		FAIL(g, "invalid --format '%s': give table, json or pprof", g->val);
	else
		FAIL(g, "invalid --format '%s': give table, json, folded, html or pprof", g->val);
	return 0;
}

static int set_snapshot(struct mt_options *o, const struct given *g)
{
	if (!*g->val)
		FAIL(g, "empty --snapshot: give the file to write the snapshot to");
	o->snapshot_path = g->val;
	return 0;
}

/* -o FILE is where the command's output goes: snapshot's is its snapshot,
 * every other command's its report (session/output.h). */
static int set_output(struct mt_options *o, const struct given *g)
{
	if (!*g->val)
		FAIL(g, "empty %s: give the file to write the %s to", g->name,
		     o->cmd == MT_CMD_SNAPSHOT ? "snapshot" : "report");
	if (o->cmd == MT_CMD_SNAPSHOT)
		o->snapshot_path = g->val;
	else
		o->output_path = g->val;
	return 0;
}

static int set_record(struct mt_options *o, const struct given *g)
{
	if (!*g->val)
		FAIL(g, "empty --record: give the file to write snapshots to");
	o->record_path = g->val;
	return 0;
}

static int set_snapshot_every(struct mt_options *o, const struct given *g)
{
	if (parse_seconds(g->val, &o->snapshot_every) < 0 || o->snapshot_every < 0.05)
		FAIL(g, "invalid --snapshot-every '%s': give a number of seconds >= 0.05", g->val);
	return 0;
}

static int set_engine(struct mt_options *o, const struct given *g)
{
	if (strcmp(g->val, "inject") == 0)
		o->engine = MT_ENGINE_INJECT;
	else if (strcmp(g->val, "breakpoint") == 0)
		o->engine = MT_ENGINE_BREAKPOINT;
	else
		FAIL(g, "invalid --engine '%s': give inject or breakpoint", g->val);
	return 0;
}

static int set_sample_bytes(struct mt_options *o, const struct given *g)
{
	if (parse_bytes(g->val, &o->sample_bytes) < 0)
		FAIL(g, "invalid --sample-bytes '%s': give a number of bytes from 1 to %llu", g->val,
		     (unsigned long long)MT_MAX_SAMPLE_BYTES);
	return 0;
}

static int set_depth(struct mt_options *o, const struct given *g)
{
	if (parse_count(g->val, &o->depth) < 0 || o->depth < 1 || o->depth > MT_MAX_DEPTH)
		FAIL(g, "invalid --depth '%s': give a number of frames from 1 to %d", g->val,
		     MT_MAX_DEPTH);
	return 0;
}

static int set_wrapper(struct mt_options *o, const struct given *g)
{
	if (!*g->val)
		FAIL(g, "empty --wrapper: give a function name or a glob such as 'xmalloc*'");
	if (o->nwrappers == MT_MAX_LIST)
		FAIL(g, "too many --wrapper options: give at most %d (globs match many)",
		     MT_MAX_LIST);
	o->wrappers[o->nwrappers++] = g->val;
	return 0;
}

static int set_group_by(struct mt_options *o, const struct given *g)
{
	for (enum mt_report_group k = MT_REPORT_BY_SITE; k <= MT_REPORT_BY_MODULE; k++) {
		if (strcmp(g->val, mt_report_group_name(k)) == 0) {
			o->group_by = k;
			return 0;
		}
	}
	FAIL(g, "invalid --group-by '%s': give site, stack, function or module", g->val);
}

static int set_debug_dir(struct mt_options *o, const struct given *g)
{
	if (!*g->val)
		FAIL(g, "empty --debug-dir: give a directory holding debug files");
	if (o->ndebug_dirs == MT_MAX_LIST)
		FAIL(g, "too many --debug-dir options: give at most %d", MT_MAX_LIST);
	o->debug_dirs[o->ndebug_dirs++] = g->val;
	return 0;
}

/* ---- the tables ---------------------------------------------------------- */

static const struct cli_option options[NOPTS] = {
	[OPT_HELP] = { "help", 'h', NULL, NULL },
	[OPT_VERBOSE] = { "verbose", 'v', NULL, set_verbose },
	[OPT_DURATION] = { "duration", 0, "SECONDS", set_duration },
	[OPT_INTERVAL] = { "interval", 0, "SECONDS", set_interval },
	[OPT_TOP] = { "top", 0, "N", set_top },
	[OPT_JSON] = { "json", 0, NULL, set_json },
	[OPT_FORMAT] = { "format", 0, "FORMAT", set_format },
	[OPT_STACKS] = { "stacks", 0, NULL, set_stacks },
	[OPT_SNAPSHOT] = { "snapshot", 0, "FILE", set_snapshot },
	[OPT_OUTPUT] = { "output", 'o', "FILE", set_output },
	[OPT_RECORD] = { "record", 0, "FILE", set_record },
	[OPT_SNAPSHOT_EVERY] = { "snapshot-every", 0, "SECONDS", set_snapshot_every },
	[OPT_FORCE] = { "force", 0, NULL, set_force },
	[OPT_ENGINE] = { "engine", 0, "ENGINE", set_engine },
	[OPT_SAMPLE_BYTES] = { "sample-bytes", 0, "N", set_sample_bytes },
	[OPT_LOSSLESS] = { "lossless", 0, NULL, set_lossless },
	[OPT_DEPTH] = { "depth", 0, "N", set_depth },
	[OPT_WRAPPER] = { "wrapper", 0, "NAME", set_wrapper },
	[OPT_NO_DEFAULT_WRAPPERS] = { "no-default-wrappers", 0, NULL, set_no_default_wrappers },
	[OPT_GROUP_BY] = { "group-by", 0, "KEY", set_group_by },
	[OPT_DEBUG_DIR] = { "debug-dir", 0, "DIR", set_debug_dir },
	[OPT_NO_CENSUS] = { "no-census", 0, NULL, set_no_census },
	[OPT_JVM_PERFMAP] = { "jvm-perfmap", 0, NULL, set_jvm_perfmap },
	[OPT_SHOW_REACHABLE] = { "show-reachable", 0, NULL, set_show_reachable },
	[OPT_WHY] = { "why", 0, "TYPE|SITE", set_why },
	[OPT_ERROR_EXITCODE] = { "error-exitcode", 0, "N", set_error_exitcode },
};

/* In the order each --help shows them; an option whose text differs
 * between commands has a row per text. */
static const struct help_row help_rows[] = {
	{ OPT_INTERVAL, A, "report every SECONDS (default 10)" },
	{ OPT_INTERVAL, T, "refresh the view every SECONDS (default 2)" },
	{ OPT_OUTPUT, S, "the snapshot file to write" },
	{ OPT_OUTPUT, H | A | R | D | C | L,
	  "write the report to FILE instead of stdout (created or\n"
	  "truncated before anything is traced)" },
	{ OPT_DURATION, H | S, "trace this long (default 10; 0: until Ctrl-C or the target exits)" },
	{ OPT_DURATION, A | T, "stop after SECONDS (default 0: no limit)" },
	{ OPT_DURATION, R, "stop tracing after SECONDS (default 0: until COMMAND exits)" },
	{ OPT_TOP, H | R, "show the N largest sites (default 20; 0: all; --json: all)" },
	{ OPT_TOP, A, "show the N sites with the most evidence of growth (default 20; 0: all)" },
	{ OPT_JSON, H | R | D | C, "print one JSON object (schema in memtrace(1))" },
	{ OPT_JSON, A, "one JSON object per interval (JSON Lines), then a final one" },
	{ OPT_TOP, C, "show the N largest rows (default 20; 0: all; --json: all)" },
	{ OPT_JSON, L, "print one JSON object (schema in memtrace(1), LEAKS)" },
	{ OPT_SHOW_REACHABLE, L, "list every reachable group (default: the 5 largest)" },
	{ OPT_TOP, L, "show at most N groups of each class (default 20; 0: all)" },
	{ OPT_DURATION, L,
	  "first trace SECONDS (Ctrl-C ends it early): the blocks\n"
	  "allocated meanwhile are grouped by allocation site, with\n"
	  "its stack" },
	{ OPT_WHY, L,
	  "show the chain from a root that holds the blocks of a C++\n"
	  "class, a size or an allocation site (a function name)" },
	{ OPT_ERROR_EXITCODE, L, "exit N when blocks are definitely or possibly lost" },
	{ OPT_SNAPSHOT, C, "also write a snapshot holding the census to FILE" },
	{ OPT_OUTPUT, P, "write the HTML page to FILE (default: standard output)" },
	{ OPT_TOP, P, "show the N largest sites of the latest snapshot (default 20; 0: all)" },
	{ OPT_FORMAT, H | A | R,
	  "table (default), json, folded (collapsed stacks for flame\n"
	  "graphs), html (one self-contained page; attach: at the end)\n"
	  "or pprof (gzipped profile.proto: go tool pprof, Pyroscope,\n"
	  "Grafana; binary, so not to a terminal)" },
	{ OPT_FORMAT, D,
	  "table (default), json, folded (collapsed stacks for flame\n"
	  "graphs) or pprof (gzipped profile.proto: go tool pprof,\n"
	  "Pyroscope, Grafana; binary, so not to a terminal)" },
	{ OPT_FORMAT, C,
	  "table (default), json or pprof (gzipped profile.proto,\n"
	  "rows as frames by class and size)" },
	{ OPT_STACKS, H | R, "print each row's call stack under it" },
	{ OPT_SNAPSHOT, H, "also write a snapshot of the live heap to FILE" },
	{ OPT_SNAPSHOT, R, "also write a snapshot of what it held to FILE" },
	{ OPT_RECORD, A, "snapshot to FILE at the end (and every --snapshot-every), with series" },
	{ OPT_SNAPSHOT_EVERY, A, "also rewrite the --record snapshot every SECONDS" },
	{ OPT_ENGINE, H | A | R | S | T, "inject (default: trampolines, in-process agent) or breakpoint" },
	{ OPT_SAMPLE_BYTES, H | A | R | S | T,
	  "sample allocations, one per ~N bytes; reports estimates (default: all)" },
	{ OPT_LOSSLESS, H | A | R | S | T,
	  "with --sample-bytes or --depth 1, slow the process down instead\n"
	  "of dropping events when memtrace falls behind (inject; the\n"
	  "default, where the agent accounts itself, never drops)" },
	{ OPT_DEPTH, H | A | R | S | T, "unwind N frames above the allocator (default 32, at most 128)" },
	/* What a stripped module's functions are called is in memtrace(1)
	 * (SYMBOLS); the well-known wrappers are listed there too. */
	{ OPT_WRAPPER, H | A | R | S | T,
	  "treat function NAME as an allocator wrapper (glob, or\n"
	  "MODULE+OFFSET for a function of a stripped module; repeatable)" },
	{ OPT_NO_DEFAULT_WRAPPERS, H | A | R | S | T,
	  "do not skip the well-known wrappers (zmalloc, palloc,\n"
	  "g_malloc, PyMem_*, ngx_palloc, xmalloc, ...); the malloc\n"
	  "family and operator new are always skipped" },
	{ OPT_GROUP_BY, H | A | R | D | T, "rows by site (default), stack, function or module" },
	{ OPT_TOP, D, "show the N rows that changed most (default 20; 0: all)" },
	{ OPT_FORCE, D, "compare snapshots of different programs all the same" },
	{ OPT_DEBUG_DIR, H | A | R | S | T, "also look for separate debug info in DIR (repeatable)" },
	{ OPT_NO_CENSUS, H | A | S | T,
	  "take no census of the heap at attach (the blocks allocated\n"
	  "before are then not counted; their frees are unknown)" },
	{ OPT_JVM_PERFMAP, H | A | R | S | T,
	  "a JVM (JDK 17+): name its JIT frames by Java method, from the\n"
	  "perf map it writes when asked (jcmd PID Compiler.perfmap, as\n"
	  "its user) before attach and after detach" },
	{ OPT_VERBOSE, H | A | R | S | T, "say what memtrace does (hooks, stop times) on stderr" },
	{ OPT_VERBOSE, C, "say how long the threads were paused and the census took" },
	{ OPT_VERBOSE, L, "say how long the threads were paused and what was scanned" },
	{ OPT_VERBOSE, X, "also list the entry points found as the file has them" },
	{ OPT_HELP, ALL, "show this help" },
};

#define NROWS (sizeof help_rows / sizeof help_rows[0])

/* ---- --help ------------------------------------------------------------ */

#define HELP_COLUMN 23  /* where the texts of the options section start */

static size_t append(char *buf, size_t len, size_t at, const char *s, size_t n)
{
	if (at + n >= len)
		n = at < len - 1 ? len - 1 - at : 0;
	memcpy(buf + at, s, n);
	buf[at + n] = 0;
	return at + n;
}

/* One row: "  -o, --output FILE    the text", continuation lines under it. */
static size_t format_row(char *buf, size_t len, size_t at, const struct help_row *r)
{
	const struct cli_option *op = &options[r->opt];
	char tag[64];
	int n = op->short_name ? snprintf(tag, sizeof tag, "  -%c, --%s", op->short_name, op->name)
			       : snprintf(tag, sizeof tag, "  --%s", op->name);
	if (op->value)
		n += snprintf(tag + n, sizeof tag - (size_t)n, " %s", op->value);
	at = append(buf, len, at, tag, (size_t)n);
	static const char spaces[] = "                        ";
	size_t pad = (size_t)n + 2 <= HELP_COLUMN ? HELP_COLUMN - (size_t)n : 2;
	at = append(buf, len, at, spaces, pad);
	for (const char *t = r->text; *t;) {
		size_t line = strcspn(t, "\n");
		at = append(buf, len, at, t, line);
		at = append(buf, len, at, "\n", 1);
		t += line;
		if (*t) {
			t++;
			at = append(buf, len, at, spaces, HELP_COLUMN);
		}
	}
	return at;
}

/* A command's text is built on the first call; test_cli checks that each
 * fits (ends with --help's row). */
const char *mt_cli_usage(enum mt_cmd cmd)
{
	static char text[MT_CMD_VERSION + 1][4096];
	if (cmd <= MT_CMD_NONE || cmd >= MT_CMD_HELP)
		return usage_general;
	char *buf = text[cmd];
	if (buf[0])
		return buf;
	size_t at = append(buf, sizeof text[cmd], 0, usage_heads[cmd], strlen(usage_heads[cmd]));
	at = append(buf, sizeof text[cmd], at, "\noptions:\n", 10);
	for (size_t i = 0; i < NROWS; i++)
		if (help_rows[i].cmds & (1u << cmd))
			at = format_row(buf, sizeof text[cmd], at, &help_rows[i]);
	return buf;
}

/* ---- parsing ------------------------------------------------------------ */

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
	if (strcmp(s, "leaks") == 0) return MT_CMD_LEAKS;
	if (strcmp(s, "report") == 0) return MT_CMD_REPORT;
	if (strcmp(s, "top") == 0) return MT_CMD_TOP;
	if (strcmp(s, "help") == 0) return MT_CMD_HELP;
	return MT_CMD_NONE;
}

/* The option A names ("--name" or "-x"), or NOPTS. */
static enum opt_id find_option(const char *a)
{
	for (int k = 0; k < NOPTS; k++) {
		const struct cli_option *op = &options[k];
		if (a[0] == '-' && a[1] == '-' ? strcmp(a + 2, op->name) == 0
		    : a[0] == '-' && op->short_name && a[1] == op->short_name && !a[2])
			return (enum opt_id)k;
	}
	return NOPTS;
}

/* Whether CMD takes OPT: whether its --help shows it. */
static bool takes(enum mt_cmd cmd, enum opt_id opt)
{
	for (size_t i = 0; i < NROWS; i++)
		if (help_rows[i].opt == opt && (help_rows[i].cmds & (1u << cmd)))
			return true;
	return false;
}

#undef FAIL
#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Not an option of CMD: a negative number where a PID goes, or a mistake. */
static int refuse_option(const char *a, const char *first, enum mt_cmd cmd, char *err,
			 size_t errlen)
{
	if (a[1] >= '0' && a[1] <= '9' && ((H | A | S | X | C | L | T) & (1u << cmd)))
		FAIL("'%s' is not a process ID: give a number from 1 to %d, e.g. from pidof or ps",
		     a, INT_MAX);
	FAIL("unknown option '%s' for %s: try 'memtrace %s --help'", a, first, first);
}

/* The command's positional arguments: a PID, or diff's two snapshots. */
static int take_operand(const char *a, struct mt_options *o, const char **pid_arg,
			const char *files[2], int *nfiles, char *err, size_t errlen)
{
	if (o->cmd == MT_CMD_RUN)
		FAIL("put '--' before the command to run: memtrace run [OPTIONS] -- %s", a);
	if (o->cmd == MT_CMD_REPORT) {
		/* argv is rewritten in place: every snapshot moves to the front */
		o->report_files[o->nreport_files++] = (char *)a;
		return 0;
	}
	if (o->cmd == MT_CMD_DIFF) {
		if (*nfiles == 2)
			FAIL("diff compares two snapshots: '%s', '%s' and '%s' given", files[0],
			     files[1], a);
		files[(*nfiles)++] = a;
		return 0;
	}
	if (*pid_arg)
		FAIL("one PID only: '%s' and '%s' given", *pid_arg, a);
	*pid_arg = a;
	return 0;
}

/* After the options: what each command needs besides them. */
static int finish(int argc, char **argv, int i, const char *first, const char *pid_arg,
		  const char *files[2], int nfiles, struct mt_options *o, char *err,
		  size_t errlen)
{
	o->json = o->format == MT_FORMAT_JSON;
	/* leaks --duration traces with no census at attach: its check takes
	 * one at the end, which covers every block */
	if (o->cmd == MT_CMD_LEAKS)
		o->no_census = true;
	if (o->cmd == MT_CMD_DIFF && o->format == MT_FORMAT_HTML)
		FAIL("diff has no html format: give table, json, folded or pprof");
	if (o->format == MT_FORMAT_HTML && !mt_report_html_available())
		FAIL("this memtrace was built without the HTML report's libraries (web/node_modules "
		     "missing): run tools/setup, then rebuild");
	if (o->cmd == MT_CMD_REPORT) {
		if (o->nreport_files == 0)
			FAIL("report needs at least one snapshot: memtrace report SNAPSHOT... -o FILE");
		if (!mt_report_html_available())
			FAIL("this memtrace was built without the HTML report's libraries "
			     "(web/node_modules missing): run tools/setup, then rebuild");
		return 0;
	}
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
	const char *snap = o->record_path ? o->record_path : o->snapshot_path;
	if (o->output_path && snap && strcmp(o->output_path, snap) == 0)
		FAIL("-o and --%s both name '%s': give the report and the snapshot a file each",
		     o->record_path ? "record" : "snapshot", snap);
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

/* The first word: --help, --version, help [COMMAND], or a command.
 * 1: a command whose options follow, 0: done, -1: refused. */
static int parse_command(int argc, char **argv, struct mt_options *o, char *err, size_t errlen)
{
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
	if (o->cmd != MT_CMD_HELP)
		return 1;
	if (argc > 2) {
		o->help_for = cmd_from_name(argv[2]);
		if (o->help_for == MT_CMD_NONE || o->help_for == MT_CMD_HELP)
			FAIL("unknown command '%s': try 'memtrace --help'", argv[2]);
	}
	return 0;
}

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
	int rc = parse_command(argc, argv, o, err, errlen);
	if (rc <= 0)
		return rc;
	const char *first = argv[1];
	o->report_files = argv + 2;
	o->duration = o->cmd == MT_CMD_HISTO || o->cmd == MT_CMD_SNAPSHOT ? 10 : 0;
	if (o->cmd == MT_CMD_TOP)
		o->interval = 2;   /* a screen to watch, not a log to read */

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
		if (strcmp(a, "--") == 0 && o->cmd == MT_CMD_RUN) {
			i++;
			break;
		}
		if (a[0] != '-' || !a[1]) {
			if (take_operand(a, o, &pid_arg, files, &nfiles, err, errlen) < 0)
				return -1;
			continue;
		}
		enum opt_id id = find_option(a);
		if (id == OPT_HELP) {
			o->help_for = o->cmd;
			o->cmd = MT_CMD_HELP;
			return 0;
		}
		const struct cli_option *op = id < NOPTS ? &options[id] : NULL;
		if (op && !op->value && val)
			FAIL("option %s takes no value: try 'memtrace %s --help'", a, first);
		if (!op || !takes(o->cmd, id))
			return refuse_option(a, first, o->cmd, err, errlen);
		if (op->value && !val) {
			if (i + 1 >= argc)
				FAIL("option %s needs a value: try 'memtrace %s --help'", a, first);
			val = argv[++i];
		}
		const struct given g = { a, val, err, errlen };
		if (op->set(o, &g) < 0)
			return -1;
	}
	return finish(argc, argv, i, first, pid_arg, files, nfiles, o, err, errlen);
}
