#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_general[] =
	"usage: memtrace COMMAND [OPTIONS]\n"
	"\n"
	"Attach to a running process and show which call sites hold its heap memory.\n"
	"\n"
	"commands:\n"
	"  histo <pid>          live blocks and bytes by allocation site, jmap -histo style\n"
	"  attach <pid>         trace until stopped; growth per site every interval\n"
	"  run -- COMMAND ...   start COMMAND traced from its first allocation\n"
	"  help [COMMAND]       show help for a command\n"
	"\n"
	"options:\n"
	"  -h, --help           show this help (memtrace COMMAND --help for a command)\n"
	"  -V, --version        show the version\n"
	"\n"
	"See memtrace(1) for output formats, accounting rules and exit statuses.\n";

#define STACK_OPTIONS \
	"  --depth N            unwind N frames above the allocator (default 32, at most 128)\n" \
	"  --wrapper NAME       treat function NAME as an allocator wrapper (glob; repeatable)\n" \
	"  --group-by KEY       rows by site (default), stack, function or module\n" \
	"  --debug-dir DIR      also look for separate debug info in DIR (repeatable)\n"

static const char usage_histo[] =
	"usage: memtrace histo <pid> [--duration SECONDS] [--top N] [--json] [--stacks]\n"
	"                      [--depth N] [--wrapper NAME]... [--group-by KEY] [--verbose]\n"
	"\n"
	"Trace PID, then detach and print live blocks and bytes by allocation site,\n"
	"largest live bytes first.\n"
	"\n"
	"options:\n"
	"  --duration SECONDS   trace this long (default 10; 0: until Ctrl-C or the target exits)\n"
	"  --top N              show the N largest sites (default 20; 0: all; --json: all)\n"
	"  --json               print one JSON object (schema in memtrace(1))\n"
	"  --stacks             print each row's call stack under it\n"
	STACK_OPTIONS
	"  -v, --verbose        say what memtrace does (hooks, stop times) on stderr\n"
	"  -h, --help           show this help\n";

static const char usage_attach[] =
	"usage: memtrace attach <pid> [--interval SECONDS] [--duration SECONDS] [--top N]\n"
	"                      [--depth N] [--wrapper NAME]... [--group-by KEY] [--verbose]\n"
	"\n"
	"Trace PID until Ctrl-C, SIGTERM, SIGHUP, the duration, or the target exits;\n"
	"every interval print the top sites with their live bytes and change.\n"
	"\n"
	"options:\n"
	"  --interval SECONDS   report every SECONDS (default 10)\n"
	"  --duration SECONDS   stop after SECONDS (default 0: no limit)\n"
	"  --top N              show the N largest sites (default 20; 0: all)\n"
	STACK_OPTIONS
	"  -v, --verbose        say what memtrace does (hooks, stop times) on stderr\n"
	"  -h, --help           show this help\n";

static const char usage_run[] =
	"usage: memtrace run [--duration SECONDS] [--top N] [--json] [--stacks] [--depth N]\n"
	"                    [--wrapper NAME]... [--group-by KEY] [--verbose] -- COMMAND [ARGS...]\n"
	"\n"
	"Start COMMAND traced from its first allocation; when it exits, print what it\n"
	"still held and exit with its status.\n"
	"\n"
	"options:\n"
	"  --duration SECONDS   stop tracing after SECONDS (default 0: until COMMAND exits)\n"
	"  --top N              show the N largest sites (default 20; 0: all; --json: all)\n"
	"  --json               print one JSON object (schema in memtrace(1))\n"
	"  --stacks             print each row's call stack under it\n"
	STACK_OPTIONS
	"  -v, --verbose        say what memtrace does (hooks, stop times) on stderr\n"
	"  -h, --help           show this help\n";

static const char *const group_names[] = {
	[MT_GROUP_SITE] = "site", [MT_GROUP_STACK] = "stack",
	[MT_GROUP_FUNCTION] = "function", [MT_GROUP_MODULE] = "module",
};

const char *mt_group_name(enum mt_group g)
{
	return (unsigned)g < sizeof group_names / sizeof group_names[0] ? group_names[g] : "?";
}

const char *mt_cli_usage(enum mt_cmd cmd)
{
	switch (cmd) {
	case MT_CMD_HISTO: return usage_histo;
	case MT_CMD_ATTACH: return usage_attach;
	case MT_CMD_RUN: return usage_run;
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

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int mt_cli_parse(int argc, char **argv, struct mt_options *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	o->top = 20;
	o->interval = 10;
	o->depth = 32;
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
	o->duration = o->cmd == MT_CMD_HISTO ? 10 : 0;

	const char *pid_arg = NULL;
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
			    strcmp(a, "--json") == 0 || strcmp(a, "--stacks") == 0;
		if (flag && val)
			FAIL("option %s takes no value: try 'memtrace %s --help'", a, first);
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o->verbose = true;
		} else if (strcmp(a, "--duration") == 0) {
			NEED_VALUE();
			if (parse_seconds(val, &o->duration) < 0)
				FAIL("invalid --duration '%s': give a number of seconds >= 0", val);
		} else if (strcmp(a, "--top") == 0) {
			NEED_VALUE();
			if (parse_count(val, &o->top) < 0)
				FAIL("invalid --top '%s': give a whole number >= 0", val);
			o->top_given = true;
		} else if (strcmp(a, "--json") == 0 && o->cmd != MT_CMD_ATTACH) {
			o->json = true;
		} else if (strcmp(a, "--depth") == 0) {
			NEED_VALUE();
			if (parse_count(val, &o->depth) < 0 || o->depth < 1 || o->depth > MT_MAX_DEPTH)
				FAIL("invalid --depth '%s': give a number of frames from 1 to %d", val,
				     MT_MAX_DEPTH);
		} else if (strcmp(a, "--wrapper") == 0) {
			NEED_VALUE();
			if (!*val)
				FAIL("empty --wrapper: give a function name or a glob such as 'xmalloc*'");
			if (o->nwrappers == MT_MAX_LIST)
				FAIL("too many --wrapper options: give at most %d (globs match many)",
				     MT_MAX_LIST);
			o->wrappers[o->nwrappers++] = val;
		} else if (strcmp(a, "--debug-dir") == 0) {
			NEED_VALUE();
			if (!*val)
				FAIL("empty --debug-dir: give a directory holding debug files");
			if (o->ndebug_dirs == MT_MAX_LIST)
				FAIL("too many --debug-dir options: give at most %d", MT_MAX_LIST);
			o->debug_dirs[o->ndebug_dirs++] = val;
		} else if (strcmp(a, "--group-by") == 0) {
			NEED_VALUE();
			int g;
			for (g = 0; g < 4 && strcmp(val, group_names[g]) != 0; g++)
				;
			if (g == 4)
				FAIL("invalid --group-by '%s': give site, stack, function or module", val);
			o->group_by = (enum mt_group)g;
		} else if (strcmp(a, "--stacks") == 0 && o->cmd != MT_CMD_ATTACH) {
			o->stacks = true;
		} else if (strcmp(a, "--interval") == 0 && o->cmd == MT_CMD_ATTACH) {
			NEED_VALUE();
			if (parse_seconds(val, &o->interval) < 0 || o->interval < 0.05)
				FAIL("invalid --interval '%s': give a number of seconds >= 0.05", val);
		} else if (a[0] == '-' && a[1] >= '0' && a[1] <= '9' && o->cmd != MT_CMD_RUN) {
			FAIL("'%s' is not a process ID: give a number from 1 to %d, e.g. from pidof or ps",
			     a, INT_MAX);
		} else if (a[0] == '-' && a[1]) {
			FAIL("unknown option '%s' for %s: try 'memtrace %s --help'", a, first, first);
		} else if (o->cmd == MT_CMD_RUN) {
			FAIL("put '--' before the command to run: memtrace run [OPTIONS] -- %s", a);
		} else if (pid_arg) {
			FAIL("one PID only: '%s' and '%s' given", pid_arg, a);
		} else {
			pid_arg = a;
		}
#undef NEED_VALUE
	}

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
