/* Unit tests for src/cli/cli.c: one line per invocation and what it must parse
 * to, or the error it must give.  The command line is the one in
 * man/memtrace.1 (SYNOPSIS); every error reads "WHAT: WHAT TO DO". */
#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define MAXARGS 16

/* Run the parser on ARGS (NULL-terminated, without argv[0]). */
static int parse(const char *const *args, struct mt_options *o, char *argv_buf[MAXARGS],
		 char *err, size_t errlen)
{
	int argc = 0;
	argv_buf[argc++] = (char *)"memtrace";
	for (; args[argc - 1]; argc++) {
		ck_assert_int_lt(argc, MAXARGS - 1);
		argv_buf[argc] = (char *)args[argc - 1];
	}
	argv_buf[argc] = NULL;
	err[0] = 0;
	return mt_cli_parse(argc, argv_buf, o, err, errlen);
}

static const char *show(const char *const *args, char *buf, size_t len)
{
	buf[0] = 0;
	for (size_t i = 0; args[i]; i++) {
		strncat(buf, " '", len - strlen(buf) - 1);
		strncat(buf, args[i], len - strlen(buf) - 1);
		strncat(buf, "'", len - strlen(buf) - 1);
	}
	return buf;
}

/* ---- accepted ----------------------------------------------------------- */

struct ok_case {
	const char *args[MAXARGS];
	enum mt_cmd cmd, help_for;
	pid_t pid;
	double duration, interval;
	int top;
	bool top_given, json, verbose;
	int run_at;   /* run: index in args where COMMAND starts; -1: no command */
};

#define H MT_CMD_HISTO
#define A MT_CMD_ATTACH
#define R MT_CMD_RUN
#define N MT_CMD_NONE
/*      cmd      help_for pid   duration interval top  given  json   verbose run_at */
static const struct ok_case ok_cases[] = {
	{ { "histo", "1234" },
	  H, N, 1234, 10, 10, 20, false, false, false, -1 },
	{ { "histo", "1234", "--duration", "2.5", "--top", "5", "--json", "--verbose" },
	  H, N, 1234, 2.5, 10, 5, true, true, true, -1 },
	{ { "histo", "--json", "-v", "--top", "3", "77" },
	  H, N, 77, 10, 10, 3, true, true, true, -1 },
	{ { "histo", "1234", "--duration=0", "--top=0" },
	  H, N, 1234, 0, 10, 0, true, false, false, -1 },
	{ { "histo", "2147483647", "--duration", "0.25" },
	  H, N, INT_MAX, 0.25, 10, 20, false, false, false, -1 },
	{ { "histo", "1", "--duration=10." },
	  H, N, 1, 10, 10, 20, false, false, false, -1 },
	{ { "attach", "42" },
	  A, N, 42, 0, 10, 20, false, false, false, -1 },
	{ { "attach", "42", "--interval", "0.5", "--duration", "60", "--top", "3", "-v" },
	  A, N, 42, 60, 0.5, 3, true, false, true, -1 },
	{ { "attach", "--interval=2", "--duration=7.5", "42" },
	  A, N, 42, 7.5, 2, 20, false, false, false, -1 },
	{ { "attach", "42", "--interval", "0.05" },
	  A, N, 42, 0, 0.05, 20, false, false, false, -1 },
	{ { "run", "--", "/bin/true" },
	  R, N, 0, 0, 10, 20, false, false, false, 2 },
	{ { "run", "--json", "--top", "7", "--", "prog", "a", "--", "b" },
	  R, N, 0, 0, 10, 7, true, true, false, 5 },
	{ { "run", "--duration=1.5", "--verbose", "--", "prog", "--json", "--help" },
	  R, N, 0, 1.5, 10, 20, false, false, true, 4 },
	{ { "run", "--", "--help" },   /* a command named --help */
	  R, N, 0, 0, 10, 20, false, false, false, 2 },
	{ { "--help" }, MT_CMD_HELP, N, 0, 0, 10, 20, false, false, false, -1 },
	{ { "-h" }, MT_CMD_HELP, N, 0, 0, 10, 20, false, false, false, -1 },
	{ { "help" }, MT_CMD_HELP, N, 0, 0, 10, 20, false, false, false, -1 },
	{ { "help", "histo" }, MT_CMD_HELP, H, 0, 0, 10, 20, false, false, false, -1 },
	{ { "help", "attach" }, MT_CMD_HELP, A, 0, 0, 10, 20, false, false, false, -1 },
	{ { "help", "run" }, MT_CMD_HELP, R, 0, 0, 10, 20, false, false, false, -1 },
	{ { "histo", "--help" }, MT_CMD_HELP, H, 0, 10, 10, 20, false, false, false, -1 },
	{ { "histo", "12", "-h" }, MT_CMD_HELP, H, 0, 10, 10, 20, false, false, false, -1 },
	{ { "attach", "--help" }, MT_CMD_HELP, A, 0, 0, 10, 20, false, false, false, -1 },
	{ { "run", "--help" }, MT_CMD_HELP, R, 0, 0, 10, 20, false, false, false, -1 },
	/* --help wins over what follows, even a mistake. */
	{ { "histo", "--help", "--bogus" }, MT_CMD_HELP, H, 0, 10, 10, 20, false, false, false, -1 },
	{ { "detach", "4321" }, MT_CMD_DETACH, N, 4321, 0, 10, 20, false, false, false, -1 },
	{ { "detach", "-v", "4321" }, MT_CMD_DETACH, N, 4321, 0, 10, 20, false, false, true, -1 },
	{ { "detach", "--help" }, MT_CMD_HELP, MT_CMD_DETACH, 0, 0, 10, 20, false, false, false, -1 },
	{ { "help", "detach" }, MT_CMD_HELP, MT_CMD_DETACH, 0, 0, 10, 20, false, false, false, -1 },
	{ { "-V" }, MT_CMD_VERSION, N, 0, 0, 10, 20, false, false, false, -1 },
	{ { "--version" }, MT_CMD_VERSION, N, 0, 0, 10, 20, false, false, false, -1 },
	/* top: attach's trace, a view refreshed every 2 s by default */
	{ { "top", "42" }, MT_CMD_TOP, N, 42, 0, 2, 20, false, false, false, -1 },
	{ { "top", "--interval=0.5", "--duration", "9", "-v", "42" },
	  MT_CMD_TOP, N, 42, 9, 0.5, 20, false, false, true, -1 },
	{ { "top", "--help" }, MT_CMD_HELP, MT_CMD_TOP, 0, 0, 2, 20, false, false, false, -1 },
	{ { "help", "top" }, MT_CMD_HELP, MT_CMD_TOP, 0, 0, 10, 20, false, false, false, -1 },
};

START_TEST(test_accepted)
{
	const struct ok_case *c = &ok_cases[_i];
	char *argv[MAXARGS], err[256], shown[512];
	struct mt_options o;
	int r = parse(c->args, &o, argv, err, sizeof err);
	show(c->args, shown, sizeof shown);
	ck_assert_msg(r == 0, "memtrace%s: refused: %s", shown, err);
	ck_assert_msg(o.cmd == c->cmd, "memtrace%s: cmd %d", shown, o.cmd);
	ck_assert_msg(o.help_for == c->help_for, "memtrace%s: help_for %d", shown, o.help_for);
	if (c->cmd == MT_CMD_HELP || c->cmd == MT_CMD_VERSION)
		return;
	ck_assert_msg(o.pid == c->pid, "memtrace%s: pid %d", shown, (int)o.pid);
	ck_assert_msg(o.duration == c->duration, "memtrace%s: duration %g", shown, o.duration);
	ck_assert_msg(o.interval == c->interval, "memtrace%s: interval %g", shown, o.interval);
	ck_assert_msg(o.top == c->top, "memtrace%s: top %d", shown, o.top);
	ck_assert_msg(o.top_given == c->top_given, "memtrace%s: top_given", shown);
	ck_assert_msg(o.json == c->json, "memtrace%s: json", shown);
	ck_assert_msg(o.verbose == c->verbose, "memtrace%s: verbose", shown);
	if (c->run_at < 0) {
		ck_assert_msg(o.argv == NULL, "memtrace%s: argv", shown);
		return;
	}
	/* COMMAND [ARGS...] is the rest of the command line, unchanged. */
	ck_assert_ptr_nonnull(o.argv);
	size_t i = 0;
	for (; c->args[c->run_at + i]; i++)
		ck_assert_str_eq(o.argv[i], c->args[c->run_at + i]);
	ck_assert_ptr_null(o.argv[i]);
}
END_TEST

/* ---- refused ------------------------------------------------------------ */

struct bad_case {
	const char *args[MAXARGS];
	const char *says;  /* the message contains this */
};

static const struct bad_case bad_cases[] = {
	/* top draws rows: no report options, no --record */
	{ { "top", "12", "--json" }, "unknown option '--json'" },
	{ { "top", "12", "--top", "5" }, "unknown option '--top'" },
	{ { "top", "12", "--format", "json" }, "unknown option '--format'" },
	{ { "top", "12", "--record", "f" }, "unknown option '--record'" },
	{ { "top", "12", "--stacks" }, "unknown option '--stacks'" },
	{ { "top" }, "no PID given" },
	{ { "top", "-3" }, "'-3' is not a process ID" },
	{ { "top", "12", "--interval", "0.01" }, "invalid --interval '0.01'" },
	{ { NULL }, "no command" },
	{ { "bogus" }, "unknown command 'bogus'" },
	{ { "Histo", "12" }, "unknown command 'Histo'" },
	{ { "--bogus" }, "unknown command '--bogus'" },
	{ { "help", "bogus" }, "unknown command 'bogus'" },
	{ { "help", "help" }, "unknown command 'help'" },
	{ { "histo", "12", "--bogus" }, "unknown option '--bogus'" },
	{ { "histo", "12", "-x" }, "unknown option '-x'" },
	{ { "histo", "12", "-V" }, "unknown option '-V'" },
	{ { "histo", "12", "--interval", "5" }, "unknown option '--interval'" },
	{ { "attach", "12", "--stacks" }, "unknown option '--stacks'" },
	{ { "attach", "12", "--snapshot", "f" }, "unknown option '--snapshot'" },
	{ { "histo", "12", "--record", "f" }, "unknown option '--record'" },
	{ { "histo", "12", "--format", "xml" }, "invalid --format 'xml'" },
	{ { "attach", "12", "--snapshot-every", "1" }, "--snapshot-every needs --record" },
	{ { "snapshot", "12" }, "no output file" },
	{ { "snapshot", "12", "-o", "f", "--json" }, "unknown option '--json'" },
	{ { "diff", "a" }, "diff needs two snapshots" },
	{ { "diff", "a", "b", "c" }, "diff compares two snapshots" },
	{ { "diff", "a", "b", "--duration", "1" }, "unknown option '--duration'" },
	{ { "histo", "12", "--force" }, "unknown option '--force'" },
	{ { "histo", "12", "--a-very-long-option-name-indeed=1" }, "unknown option" },
	/* malformed PIDs */
	{ { "histo", "abc" }, "'abc' is not a process ID" },
	{ { "histo", "12x" }, "'12x' is not a process ID" },
	{ { "histo", "-5" }, "'-5' is not a process ID" },
	{ { "histo", "0" }, "'0' is not a process ID" },
	{ { "histo", "" }, "'' is not a process ID" },
	{ { "histo", "99999999999" }, "'99999999999' is not a process ID" },
	{ { "histo", "2147483648" }, "'2147483648' is not a process ID" },
	{ { "histo", " 12" }, "is not a process ID" },
	{ { "histo", "+12" }, "is not a process ID" },
	{ { "attach", "0x10" }, "'0x10' is not a process ID" },
	{ { "histo" }, "no PID given" },
	{ { "attach", "--top", "3" }, "no PID given" },
	{ { "histo", "12", "34" }, "one PID only" },
	{ { "attach", "12", "34" }, "one PID only" },
	/* missing and bad values */
	{ { "histo", "12", "--duration", "1e1" }, "invalid --duration '1e1'" },
	{ { "histo", "12", "--duration", "0x10" }, "invalid --duration '0x10'" },
	{ { "histo", "12", "--json=no" }, "option --json takes no value" },
	{ { "histo", "12", "--verbose=0" }, "option --verbose takes no value" },
	{ { "run", "--=x", "ls" }, "unknown option '--=x'" },
	{ { "histo", "12", "--duration" }, "option --duration needs a value" },
	{ { "histo", "12", "--top" }, "option --top needs a value" },
	{ { "attach", "12", "--interval" }, "option --interval needs a value" },
	{ { "histo", "12", "--duration", "abc" }, "invalid --duration 'abc'" },
	{ { "histo", "12", "--duration", "-1" }, "invalid --duration '-1'" },
	{ { "histo", "12", "--duration", "nan" }, "invalid --duration 'nan'" },
	{ { "histo", "12", "--duration", "inf" }, "invalid --duration 'inf'" },
	{ { "histo", "12", "--duration=" }, "invalid --duration ''" },
	{ { "histo", "12", "--duration", "5s" }, "invalid --duration '5s'" },
	{ { "histo", "12", "--top", "-3" }, "invalid --top '-3'" },
	{ { "histo", "12", "--top", "2.5" }, "invalid --top '2.5'" },
	{ { "histo", "12", "--top=" }, "invalid --top ''" },
	{ { "histo", "12", "--top", "99999999999" }, "invalid --top" },
	{ { "attach", "12", "--interval", "0" }, "invalid --interval '0'" },
	{ { "attach", "12", "--interval=0.01" }, "invalid --interval '0.01'" },
	{ { "attach", "12", "--interval", "x" }, "invalid --interval 'x'" },
	/* run */
	{ { "run" }, "no command to run" },
	{ { "run", "--" }, "no command to run" },
	{ { "run", "--json", "--top", "3" }, "no command to run" },
	{ { "run", "ls" }, "put '--' before the command" },
	{ { "run", "--json", "ls", "-l" }, "put '--' before the command" },
	{ { "run", "--bogus", "--", "ls" }, "unknown option '--bogus'" },
	{ { "run", "--interval", "1", "--", "ls" }, "unknown option '--interval'" },
	{ { "histo", "--", "12" }, "unknown option '--'" },
	/* --engine, --sample-bytes */
	{ { "histo", "12", "--engine", "ptrace" }, "invalid --engine 'ptrace': give inject or breakpoint" },
	{ { "histo", "12", "--engine", "" }, "invalid --engine ''" },
	{ { "histo", "12", "--engine", "Inject" }, "invalid --engine 'Inject'" },
	{ { "histo", "12", "--engine" }, "option --engine needs a value" },
	{ { "diff", "a", "b", "--engine", "inject" }, "unknown option '--engine'" },
	{ { "histo", "12", "--sample-bytes", "0" }, "invalid --sample-bytes '0'" },
	{ { "histo", "12", "--sample-bytes", "-4096" }, "invalid --sample-bytes '-4096'" },
	{ { "histo", "12", "--sample-bytes", "4k" }, "invalid --sample-bytes '4k'" },
	{ { "histo", "12", "--sample-bytes", "1.5" }, "invalid --sample-bytes '1.5'" },
	{ { "histo", "12", "--sample-bytes", "+8" }, "invalid --sample-bytes '+8'" },
	{ { "histo", "12", "--sample-bytes=" }, "invalid --sample-bytes ''" },
	{ { "attach", "12", "--sample-bytes", "1073741825" }, "from 1 to 1073741824" },
	{ { "run", "--sample-bytes", "99999999999999999999", "--", "ls" }, "invalid --sample-bytes" },
	{ { "snapshot", "12", "-o", "f", "--sample-bytes" }, "option --sample-bytes needs a value" },
	{ { "diff", "a", "b", "--sample-bytes", "8" }, "unknown option '--sample-bytes'" },
	/* detach: a PID and --verbose, nothing else */
	{ { "detach" }, "no PID given: memtrace detach <pid>" },
	{ { "detach", "abc" }, "'abc' is not a process ID" },
	{ { "detach", "-5" }, "'-5' is not a process ID" },
	{ { "detach", "1", "2" }, "one PID only" },
	{ { "detach", "12", "--engine", "inject" }, "unknown option '--engine' for detach" },
	{ { "detach", "12", "--duration", "1" }, "unknown option '--duration' for detach" },
	{ { "detach", "12", "--json" }, "unknown option '--json' for detach" },
	/* census: a PID, --json, --top, -o, --verbose */
	{ { "census" }, "no PID given: memtrace census <pid>" },
	{ { "census", "-5" }, "'-5' is not a process ID" },
	{ { "census", "12", "--duration", "1" }, "unknown option '--duration' for census" },
	{ { "census", "12", "--no-census" }, "unknown option '--no-census' for census" },
	{ { "census", "12", "--engine", "inject" }, "unknown option '--engine' for census" },
	{ { "census", "12", "-o" }, "option -o needs a value" },
	{ { "census", "12", "-o", "" }, "empty -o: give the file to write the report to" },
	{ { "histo", "12", "-o", "f", "--snapshot", "f" }, "-o and --snapshot both name 'f'" },
	{ { "attach", "12", "--record", "f", "--output=f" }, "-o and --record both name 'f'" },
	{ { "census", "12", "--format", "folded" }, "invalid --format 'folded': give table, json or pprof" },
	{ { "histo", "12", "--format", "svg" }, "invalid --format 'svg': give table, json, folded, html or pprof" },
	{ { "run", "--no-census", "--", "ls" }, "unknown option '--no-census' for run" },
	{ { "diff", "a", "b", "--no-census" }, "unknown option '--no-census' for diff" },
	/* every flag refuses a value, not only some */
	{ { "histo", "12", "--lossless=no" }, "option --lossless takes no value" },
	{ { "histo", "12", "--no-census=1" }, "option --no-census takes no value" },
	{ { "histo", "12", "--no-default-wrappers=0" }, "option --no-default-wrappers takes no value" },
	{ { "diff", "a", "b", "--force=yes" }, "option --force takes no value" },
	{ { "snapshot", "12", "--output" }, "option --output needs a value" },
	{ { "snapshot", "12", "--output=" }, "empty --output: give the file to write the snapshot to" },
	{ { "detach", "12", "-o", "f" }, "unknown option '-o' for detach" },
};

START_TEST(test_refused)
{
	const struct bad_case *c = &bad_cases[_i];
	char *argv[MAXARGS], err[256], shown[512];
	struct mt_options o;
	int r = parse(c->args, &o, argv, err, sizeof err);
	show(c->args, shown, sizeof shown);
	ck_assert_msg(r == -1, "memtrace%s: accepted", shown);
	ck_assert_msg(strstr(err, c->says), "memtrace%s: says \"%s\", not \"%s\"", shown, err,
		      c->says);
	/* "WHAT: WHAT TO DO", one line, main.c adds "memtrace: error: ". */
	const char *colon = strstr(err, ": ");
	ck_assert_msg(colon && colon > err && colon[2], "memtrace%s: \"%s\" is not WHAT: WHAT TO DO",
		      shown, err);
	ck_assert_msg(!strchr(err, '\n'), "memtrace%s: \"%s\" has a newline", shown, err);
	ck_assert_msg(strncmp(err, "memtrace", 8) != 0 && strncmp(err, "error", 5) != 0,
		      "memtrace%s: \"%s\" has a prefix", shown, err);
}
END_TEST

/* A short buffer gets a truncated, terminated message. */
START_TEST(test_short_error_buffer)
{
	static const char *const args[] = { "histo", "abc", NULL };
	char *argv[MAXARGS], err[8];
	struct mt_options o;
	memset(err, 'x', sizeof err);
	ck_assert_int_eq(parse(args, &o, argv, err, sizeof err), -1);
	ck_assert_uint_eq(strlen(err), sizeof err - 1);
}
END_TEST

START_TEST(test_parse_pid)
{
	pid_t p = -1;
	ck_assert_int_eq(mt_cli_parse_pid("1", &p), 0);
	ck_assert_int_eq(p, 1);
	ck_assert_int_eq(mt_cli_parse_pid("4194304", &p), 0);
	ck_assert_int_eq(p, 4194304);
	ck_assert_int_eq(mt_cli_parse_pid("2147483647", &p), 0);
	ck_assert_int_eq(p, INT_MAX);
	ck_assert_int_eq(mt_cli_parse_pid("0042", &p), 0);
	ck_assert_int_eq(p, 42);

	static const char *const bad[] = {
		"", "0", "00", "-5", "+5", "abc", "12x", "x12", " 12", "12 ", "1.5", "0x10",
		"2147483648", "99999999999", "18446744073709551617",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = 123;
		ck_assert_msg(mt_cli_parse_pid(bad[i], &p) == -1, "'%s' accepted", bad[i]);
		ck_assert_msg(p == 123, "'%s' changed the pid", bad[i]);
	}
	ck_assert_int_eq(mt_cli_parse_pid(NULL, &p), -1);
}
END_TEST

/* Each usage text shows its command's options, and only those. */
START_TEST(test_usage)
{
	const char *g = mt_cli_usage(MT_CMD_NONE);
	ck_assert_ptr_nonnull(strstr(g, "usage: memtrace"));
	ck_assert_ptr_nonnull(strstr(g, "histo"));
	ck_assert_ptr_nonnull(strstr(g, "attach"));
	ck_assert_ptr_nonnull(strstr(g, "run"));
	ck_assert_ptr_nonnull(strstr(g, "detach <pid>"));
	ck_assert_ptr_nonnull(strstr(g, "--version"));
	ck_assert_ptr_eq(mt_cli_usage(MT_CMD_HELP), g);

	static const struct {
		enum mt_cmd cmd;
		const char *has[8], *lacks[4];
	} u[] = {
		{ MT_CMD_HISTO, { "memtrace histo <pid>", "--duration", "--top", "--json",
				  "--verbose", "--help" }, { "--interval" } },
		{ MT_CMD_ATTACH, { "memtrace attach <pid>", "--interval", "--duration", "--top",
				   "--json", "--record", "--help" }, { "--stacks" } },
		{ MT_CMD_SNAPSHOT, { "memtrace snapshot <pid>", "-o FILE", "--duration", "--depth",
				     "--verbose", "--help" }, { "--json", "--interval" } },
		{ MT_CMD_DIFF, { "memtrace diff A B", "--json", "--format", "--group-by", "--force",
				 "--help" }, { "--duration", "<pid>" } },
		{ MT_CMD_RUN, { "memtrace run", "-- COMMAND", "--duration", "--top", "--json",
				"--verbose", "--help" }, { "--interval", "<pid>" } },
		{ MT_CMD_DETACH, { "memtrace detach <pid>", "SIGKILL", "--verbose", "--help" },
		  { "--duration", "--engine", "--json" } },
		{ MT_CMD_CENSUS, { "memtrace census <pid>", "--json", "--top", "-o, --output FILE",
				   "--verbose", "--help" }, { "--duration", "--engine", "--no-census" } },
	};
	for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
		const char *text = mt_cli_usage(u[i].cmd);
		for (size_t j = 0; u[i].has[j]; j++)
			ck_assert_msg(strstr(text, u[i].has[j]), "usage %d lacks %s", u[i].cmd,
				      u[i].has[j]);
		for (size_t j = 0; u[i].lacks[j]; j++)
			ck_assert_msg(!strstr(text, u[i].lacks[j]), "usage %d has %s", u[i].cmd,
				      u[i].lacks[j]);
	}
}
END_TEST


/* Issue 4's commands and options: snapshot, diff, --format, --record. */
START_TEST(test_snapshot_diff_options)
{
	struct mt_options o;
	char err[256];
	char *a1[] = { "memtrace", "snapshot", "77", "-o", "heap.snap", "--duration", "0", NULL };
	ck_assert_int_eq(mt_cli_parse(7, a1, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.cmd, MT_CMD_SNAPSHOT);
	ck_assert_int_eq(o.pid, 77);
	ck_assert_str_eq(o.snapshot_path, "heap.snap");
	ck_assert(o.duration == 0);

	char *a2[] = { "memtrace", "diff", "a.snap", "b.snap", "--json", "--force",
		       "--group-by", "function", NULL };
	ck_assert_int_eq(mt_cli_parse(8, a2, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.cmd, MT_CMD_DIFF);
	ck_assert_str_eq(o.diff_a, "a.snap");
	ck_assert_str_eq(o.diff_b, "b.snap");
	ck_assert(o.json && o.force);
	ck_assert_int_eq(o.format, MT_FORMAT_JSON);
	ck_assert_int_eq(o.group_by, MT_REPORT_BY_FUNCTION);

	/* --group-by's words are the report's names of its groups */
	static const enum mt_report_group groups[] = { MT_REPORT_BY_SITE, MT_REPORT_BY_STACK,
						       MT_REPORT_BY_FUNCTION, MT_REPORT_BY_MODULE };
	static const char *const words[] = { "site", "stack", "function", "module" };
	for (size_t k = 0; k < 4; k++) {
		char *g[] = { "memtrace", "histo", "5", "--group-by", (char *)words[k], NULL };
		ck_assert_int_eq(mt_cli_parse(5, g, &o, err, sizeof err), 0);
		ck_assert_int_eq(o.group_by, groups[k]);
		ck_assert_str_eq(mt_report_group_name(groups[k]), words[k]);
	}
	char *g5[] = { "memtrace", "histo", "5", "--group-by", "file", NULL };
	ck_assert_int_eq(mt_cli_parse(5, g5, &o, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid --group-by 'file': give site, stack, function or module");

	char *a3[] = { "memtrace", "attach", "5", "--json", "--record", "r.snap",
		       "--snapshot-every=0.5", NULL };
	ck_assert_int_eq(mt_cli_parse(7, a3, &o, err, sizeof err), 0);
	ck_assert(o.json);
	ck_assert_str_eq(o.record_path, "r.snap");
	ck_assert(o.snapshot_every == 0.5);

	char *a4[] = { "memtrace", "histo", "5", "--format", "folded", "--snapshot", "s", NULL };
	ck_assert_int_eq(mt_cli_parse(7, a4, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.format, MT_FORMAT_FOLDED);
	ck_assert(!o.json);
	ck_assert_str_eq(o.snapshot_path, "s");
}
END_TEST

/* Issue 22: -o FILE is the report's file on every command that prints
 * one, snapshot's own file for snapshot; --format pprof where it is given. */
START_TEST(test_output_pprof)
{
	static const char *const cmds[][7] = {
		{ "histo", "5", "-o", "r", "--format", "pprof" },
		{ "attach", "5", "--format", "pprof", "--output", "r" },
		{ "run", "-o", "r", "--format", "pprof", "--", "ls" },
		{ "diff", "a", "b", "--format", "pprof", "-o", "r" },
		{ "census", "5", "--format=pprof", "-o", "r" },
		{ "leaks", "5", "-o", "r" },
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		char *argv[9] = { "memtrace" };
		int argc = 1;
		for (size_t k = 0; k < 7 && cmds[i][k]; k++)
			argv[argc++] = (char *)cmds[i][k];
		struct mt_options o;
		char err[256];
		ck_assert_msg(mt_cli_parse(argc, argv, &o, err, sizeof err) == 0, "%s: %s",
			      cmds[i][0], err);
		ck_assert_str_eq(o.output_path, "r");
		ck_assert_ptr_null(o.snapshot_path);
		ck_assert_int_eq(o.format, o.cmd == MT_CMD_LEAKS ? MT_FORMAT_TABLE : MT_FORMAT_PPROF);
		ck_assert(!o.json);
	}
	struct mt_options o;
	char err[256];
	char *s[] = { "memtrace", "snapshot", "5", "-o", "s", NULL };
	ck_assert_int_eq(mt_cli_parse(5, s, &o, err, sizeof err), 0);
	ck_assert_str_eq(o.snapshot_path, "s");
	ck_assert_ptr_null(o.output_path);
}
END_TEST

/* Issue 17: the census command and --no-census. */
START_TEST(test_census_options)
{
	struct mt_options o;
	char err[256];
	char *a1[] = { "memtrace", "census", "77", "--json", "--snapshot", "c.snap", "--top", "5",
		       "-v", "-o", "c.json", NULL };
	ck_assert_int_eq(mt_cli_parse(11, a1, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.cmd, MT_CMD_CENSUS);
	ck_assert_int_eq(o.pid, 77);
	ck_assert(o.json && o.verbose);
	ck_assert_str_eq(o.snapshot_path, "c.snap");
	/* census's -o is its report's file, as every reporting command's */
	ck_assert_str_eq(o.output_path, "c.json");
	ck_assert_int_eq(o.top, 5);
	ck_assert(!o.no_census);
	char *a2[] = { "memtrace", "census", "77", NULL };
	ck_assert_int_eq(mt_cli_parse(3, a2, &o, err, sizeof err), 0);
	ck_assert_ptr_null(o.snapshot_path);
	ck_assert(!o.json);
	const char *cmds[][6] = { { "histo", "5", "--no-census" },
				  { "attach", "5", "--no-census" },
				  { "snapshot", "5", "-o", "s", "--no-census" } };
	for (size_t i = 0; i < 3; i++) {
		char *argv[8] = { "memtrace" };
		int argc = 1;
		for (size_t k = 0; cmds[i][k]; k++)
			argv[argc++] = (char *)cmds[i][k];
		ck_assert_int_eq(mt_cli_parse(argc, argv, &o, err, sizeof err), 0);
		ck_assert_msg(o.no_census, "%s", cmds[i][0]);
	}
	char *h[] = { "memtrace", "help", "census", NULL };
	ck_assert_int_eq(mt_cli_parse(3, h, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.help_for, MT_CMD_CENSUS);
	ck_assert_ptr_nonnull(strstr(mt_cli_usage(MT_CMD_NONE), "census <pid>"));
	ck_assert_ptr_nonnull(strstr(mt_cli_usage(MT_CMD_HISTO), "--no-census"));
	ck_assert_ptr_nonnull(strstr(mt_cli_usage(MT_CMD_ATTACH), "--no-census"));
	ck_assert_ptr_nonnull(strstr(mt_cli_usage(MT_CMD_SNAPSHOT), "--no-census"));
}
END_TEST

/* --engine and --sample-bytes: histo, attach, run and snapshot take them. */
START_TEST(test_engine_sampling_options)
{
	struct mt_options o;
	char err[256];
	char *d[] = { "memtrace", "histo", "5", NULL };
	ck_assert_int_eq(mt_cli_parse(3, d, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.engine, MT_ENGINE_INJECT);
	ck_assert_uint_eq(o.sample_bytes, 0);
	ck_assert(!o.lossless);

	/* --lossless: a flag of histo, attach, run and snapshot */
	char *l1[] = { "memtrace", "attach", "5", "--lossless", NULL };
	ck_assert_int_eq(mt_cli_parse(4, l1, &o, err, sizeof err), 0);
	ck_assert(o.lossless);
	char *l2[] = { "memtrace", "snapshot", "5", "-o", "s", "--lossless", NULL };
	ck_assert_int_eq(mt_cli_parse(6, l2, &o, err, sizeof err), 0);
	ck_assert(o.lossless);
	char *l3[] = { "memtrace", "diff", "a", "b", "--lossless", NULL };
	ck_assert_int_eq(mt_cli_parse(5, l3, &o, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "unknown option '--lossless'"), "%s", err);

	char *a1[] = { "memtrace", "histo", "5", "--engine", "breakpoint", "--sample-bytes",
		       "524288", NULL };
	ck_assert_int_eq(mt_cli_parse(7, a1, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.engine, MT_ENGINE_BREAKPOINT);
	ck_assert_uint_eq(o.sample_bytes, 524288);

	char *a2[] = { "memtrace", "attach", "5", "--engine=inject", "--sample-bytes=1", NULL };
	ck_assert_int_eq(mt_cli_parse(5, a2, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.engine, MT_ENGINE_INJECT);
	ck_assert_uint_eq(o.sample_bytes, 1);

	char *a3[] = { "memtrace", "run", "--engine", "breakpoint", "--sample-bytes",
		       "1073741824", "--", "ls", NULL };
	ck_assert_int_eq(mt_cli_parse(8, a3, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.engine, MT_ENGINE_BREAKPOINT);
	ck_assert_uint_eq(o.sample_bytes, MT_MAX_SAMPLE_BYTES);
	ck_assert_str_eq(o.argv[0], "ls");

	/* the last one given wins, as for every option with a value */
	char *a4[] = { "memtrace", "snapshot", "5", "-o", "s", "--engine", "breakpoint",
		       "--engine", "inject", "--sample-bytes", "0004096", NULL };
	ck_assert_int_eq(mt_cli_parse(11, a4, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.engine, MT_ENGINE_INJECT);
	ck_assert_uint_eq(o.sample_bytes, 4096);

	/* run: after "--" they belong to COMMAND */
	char *a5[] = { "memtrace", "run", "--", "prog", "--engine", "x", NULL };
	ck_assert_int_eq(mt_cli_parse(6, a5, &o, err, sizeof err), 0);
	ck_assert_int_eq(o.engine, MT_ENGINE_INJECT);

	ck_assert_str_eq(mt_engine_kind_name(MT_ENGINE_INJECT), "inject");
	ck_assert_str_eq(mt_engine_kind_name(MT_ENGINE_BREAKPOINT), "breakpoint");

	for (enum mt_cmd c = MT_CMD_HISTO; c <= MT_CMD_SNAPSHOT; c++) {
		ck_assert_msg(strstr(mt_cli_usage(c), "--engine ENGINE"), "usage %d", c);
		ck_assert_msg(strstr(mt_cli_usage(c), "--sample-bytes N"), "usage %d", c);
		ck_assert_msg(strstr(mt_cli_usage(c), "--lossless"), "usage %d", c);
	}
	ck_assert(!strstr(mt_cli_usage(MT_CMD_DIFF), "--engine"));
}
END_TEST

/* The long options in TEXT (not the "--" of "-- COMMAND"), as one string
 * " --a --b ... " in the order found, each once. */
static void long_options(const char *text, char *out, size_t len)
{
	snprintf(out, len, " ");
	for (const char *p = strstr(text, "--"); p; p = strstr(p + 2, "--")) {
		if (p > text && (p[-1] == '-' || p[-1] == '_'))
			continue;
		size_t n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
		if (n == 2)
			continue;
		char word[64];
		snprintf(word, sizeof word, " %.*s ", (int)n, p);
		if (!strstr(out, word))
			snprintf(out + strlen(out), len - strlen(out), "%.*s ", (int)n, p);
	}
}

/* The synopsis (before the first blank line) of each command's --help
 * names the options its options section lists, all of them and no other:
 * the synopsis is written by hand, the section comes from the table. */
START_TEST(test_usage_synopsis)
{
	for (enum mt_cmd c = MT_CMD_HISTO; c <= MT_CMD_CENSUS; c++) {
		const char *text = mt_cli_usage(c);
		const char *blank = strstr(text, "\n\n");
		const char *section = strstr(text, "\noptions:\n");
		ck_assert_msg(blank && section, "usage %d: no synopsis or no options", c);
		const char *last = "\n  -h, --help           show this help\n";
		ck_assert_msg(strlen(text) > strlen(last) &&
			      strcmp(text + strlen(text) - strlen(last), last) == 0,
			      "usage %d: cut short, or --help not last", c);
		char synopsis[2048], listed[4096], syn[1024], opts[1024];
		snprintf(synopsis, sizeof synopsis, "%.*s --help", (int)(blank - text), text);
		/* -o FILE is --output */
		if (strstr(synopsis, "-o FILE"))
			strncat(synopsis, " --output", sizeof synopsis - strlen(synopsis) - 1);
		snprintf(listed, sizeof listed, "%s", section);
		long_options(synopsis, syn, sizeof syn);
		long_options(listed, opts, sizeof opts);
		/* the same set: each in the other */
		for (int k = 0; k < 2; k++) {
			const char *from = k ? opts : syn, *in = k ? syn : opts;
			char *copy = strdup(from);
			for (char *w = strtok(copy, " "); w; w = strtok(NULL, " ")) {
				char word[64];
				snprintf(word, sizeof word, " %s ", w);
				ck_assert_msg(strstr(in, word), "usage %d: %s is in the %s only", c, w,
					      k ? "options section" : "synopsis");
			}
			free(copy);
		}
	}
}
END_TEST

/* top's synopsis names the options its section lists, and it takes them. */
START_TEST(test_top_usage)
{
	const char *text = mt_cli_usage(MT_CMD_TOP);
	const char *blank = strstr(text, "\n\n"), *section = strstr(text, "\noptions:\n");
	ck_assert(blank && section);
	char synopsis[2048], syn[1024], opts[1024];
	snprintf(synopsis, sizeof synopsis, "%.*s --help", (int)(blank - text), text);
	long_options(synopsis, syn, sizeof syn);
	long_options(section, opts, sizeof opts);
	ck_assert_str_eq(syn, opts);
	ck_assert_str_eq(opts, " --interval --duration --engine --sample-bytes --lossless "
			       "--depth --wrapper --no-default-wrappers --group-by --debug-dir "
			       "--no-census --jvm-perfmap --verbose --help ");
	ck_assert_ptr_nonnull(strstr(mt_cli_usage(MT_CMD_NONE), "  top <pid> "));
}
END_TEST

/* A command takes an option if and only if its --help lists it. */
START_TEST(test_usage_is_what_is_taken)
{
	static const struct {
		const char *opt, *val;
	} all[] = {
		{ "--duration", "1" }, { "--interval", "1" }, { "--top", "1" }, { "--json", NULL },
		{ "--format", "json" }, { "--stacks", NULL }, { "--snapshot", "f" },
		{ "--output", "f" }, { "--record", "f" }, { "--snapshot-every", "1" },
		{ "--force", NULL }, { "--engine", "inject" }, { "--sample-bytes", "8" },
		{ "--lossless", NULL }, { "--depth", "8" }, { "--wrapper", "w" },
		{ "--no-default-wrappers", NULL }, { "--group-by", "site" },
		{ "--debug-dir", "d" }, { "--no-census", NULL }, { "--verbose", NULL },
	};
	static const char *const cmds[] = { [MT_CMD_HISTO] = "histo", [MT_CMD_ATTACH] = "attach",
		[MT_CMD_RUN] = "run", [MT_CMD_SNAPSHOT] = "snapshot", [MT_CMD_DIFF] = "diff",
		[MT_CMD_DETACH] = "detach", [MT_CMD_CENSUS] = "census" };
	for (enum mt_cmd c = MT_CMD_HISTO; c <= MT_CMD_CENSUS; c++) {
		char listed[1024];
		long_options(strstr(mt_cli_usage(c), "\noptions:\n"), listed, sizeof listed);
		for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
			char *argv[12] = { "memtrace", (char *)cmds[c] };
			int argc = 2;
			if (c == MT_CMD_DIFF) {
				argv[argc++] = "a";
				argv[argc++] = "b";
			} else if (c != MT_CMD_RUN) {
				argv[argc++] = "5";
			}
			if (c == MT_CMD_SNAPSHOT && strcmp(all[k].opt, "--output") != 0) {
				argv[argc++] = "-o";
				argv[argc++] = "s";
			}
			if (strcmp(all[k].opt, "--snapshot-every") == 0 && c == MT_CMD_ATTACH) {
				argv[argc++] = "--record";
				argv[argc++] = "r";
			}
			argv[argc++] = (char *)all[k].opt;
			if (all[k].val)
				argv[argc++] = (char *)all[k].val;
			if (c == MT_CMD_RUN) {
				argv[argc++] = "--";
				argv[argc++] = "ls";
			}
			argv[argc] = NULL;
			char word[64], err[256];
			struct mt_options o;
			snprintf(word, sizeof word, " %s ", all[k].opt);
			bool shown = strstr(listed, word) != NULL;
			int r = mt_cli_parse(argc, argv, &o, err, sizeof err);
			ck_assert_msg((r == 0) == shown, "%s %s: %s, but --help %s it", cmds[c],
				      all[k].opt, r == 0 ? "taken" : err, shown ? "lists" : "omits");
		}
	}
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_accepted, 0, (int)(sizeof ok_cases / sizeof ok_cases[0]));
	tcase_add_loop_test(tc, test_refused, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
	tcase_add_test(tc, test_short_error_buffer);
	tcase_add_test(tc, test_parse_pid);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_usage_synopsis);
	tcase_add_test(tc, test_top_usage);
	tcase_add_test(tc, test_usage_is_what_is_taken);
	tcase_add_test(tc, test_snapshot_diff_options);
	tcase_add_test(tc, test_census_options);
	tcase_add_test(tc, test_output_pprof);
	tcase_add_test(tc, test_engine_sampling_options);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cli_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
