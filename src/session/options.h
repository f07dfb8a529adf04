/* What a session is asked to do: the command and its options, as the
 * command line (cli/cli.c) parsed them.  The session and everything it
 * drives read this; only the command layer fills it in. */
#ifndef MT_OPTIONS_H
#define MT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/stacks.h"
#include "report/group.h"

enum mt_cmd {
	MT_CMD_NONE,
	MT_CMD_HISTO,
	MT_CMD_ATTACH,
	MT_CMD_RUN,
	MT_CMD_SNAPSHOT,  /* histo that writes a snapshot file */
	MT_CMD_DIFF,      /* compare two snapshot files */
	MT_CMD_DETACH,    /* remove what a killed memtrace left in a process */
	MT_CMD_CENSUS,    /* the heap as it is, by type and size; no tracing */
	MT_CMD_LEAKS,     /* which blocks nothing points to (memcheck's classes) */
	MT_CMD_REPORT,    /* an HTML report over snapshot files */
	MT_CMD_TOP,       /* attach with a live terminal view (cli/top_curses.c) */
	MT_CMD_HELP,      /* --help, help [COMMAND], COMMAND --help */
	MT_CMD_VERSION,
};

#define MT_MAX_DEPTH MT_STACKS_MAX_DEPTH
#define MT_MAX_LIST 32

/* How a report is printed (--format; --json is --format json). */
enum mt_format {
	MT_FORMAT_TABLE,
	MT_FORMAT_JSON,    /* attach: JSON Lines, one object per interval */
	MT_FORMAT_FOLDED,  /* collapsed stacks for flame graphs */
	MT_FORMAT_HTML,    /* one self-contained page (report_html.h) */
	MT_FORMAT_PPROF,   /* gzipped profile.proto (report/pprof.h) */
};

/* Which hook engine traces the allocator (--engine). */
enum mt_engine_kind {
	MT_ENGINE_INJECT,      /* trampolines + in-process agent + shared rings */
	MT_ENGINE_BREAKPOINT,  /* int3 + ptrace stops; no code injected */
};

const char *mt_engine_kind_name(enum mt_engine_kind e);

/* --sample-bytes: at most this mean (1 GiB), so that one sampled block's
 * estimate stays far from overflowing the tracker's counters. */
#define MT_MAX_SAMPLE_BYTES (1ULL << 30)

struct mt_options {
	enum mt_cmd cmd;
	enum mt_cmd help_for;     /* MT_CMD_HELP: which command, or NONE */
	pid_t pid;
	double duration;          /* seconds; 0 = no limit */
	double interval;          /* attach */
	int top;                  /* rows; 0 = all */
	bool top_given;
	bool json;                /* format == MT_FORMAT_JSON */
	enum mt_format format;
	bool verbose;
	const char *snapshot_path; /* histo/run/census --snapshot, snapshot -o */
	const char *output_path;  /* -o: the report's file (output.h); NULL: stdout */
	const char *record_path;  /* attach --record */
	double snapshot_every;    /* attach --snapshot-every, 0: at the end only */
	bool force;               /* diff --force */
	const char *diff_a, *diff_b;
	char **report_files;      /* report: the snapshots, in argv order */
	int nreport_files;
	int raw_argc;             /* the command line after "memtrace" */
	char **raw_argv;
	int depth;                /* frames unwound above the allocator (1..MT_STACKS_MAX_DEPTH) */
	bool stacks;              /* histo, run: print each row's stack */
	enum mt_report_group group_by;
	const char *wrappers[MT_MAX_LIST]; /* --wrapper globs */
	int nwrappers;
	bool no_default_wrappers; /* only the allocator's own names are wrappers */
	const char *debug_dirs[MT_MAX_LIST];
	int ndebug_dirs;
	char **argv;              /* run: COMMAND [ARGS...], NULL-terminated */
	enum mt_engine_kind engine; /* --engine, default inject */
	uint64_t sample_bytes;    /* --sample-bytes: mean bytes between samples; 0 = off */
	bool lossless;            /* --lossless: the agent waits for room, never drops */
	bool no_census;           /* --no-census: no census of the heap at attach */
	bool jvm_perfmap;         /* --jvm-perfmap: ask a JVM for its perf map (jcmd) */
	bool show_reachable;      /* leaks --show-reachable: every reachable group */
	const char *leaks_why;    /* leaks --why TYPE|SITE */
	int error_exitcode;       /* leaks --error-exitcode N (0: none) */
};

/* How the session reads the command line of a request from another memtrace
 * (session_report.c): the command layer's parser, given to the session so
 * that it never reaches up into the command layer.  0, or -1 with a
 * one-line message in ERR. */
typedef int (*mt_options_parse_fn)(int argc, char **argv, struct mt_options *o, char *err,
				   size_t errlen);

#endif
