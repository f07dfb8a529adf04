/* The session's state, shared by the files that make up a session:
 * session.c (attach, hooks, the loop, detach) and session_report.c
 * (reports, attach's history, snapshots, requests from other memtraces).
 * Private to them: everything else goes through session.h.  What one of
 * these files calls in another is declared here, named mt_session_*;
 * the rest is static. */
#ifndef MT_SESSION_PRIV_H
#define MT_SESSION_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "session/options.h"
#include "census/census.h"
#include "session/ctlsock.h"
#include "util/clock.h"
#include "util/progress.h"
#include "symbols/discover.h"
#include "symbols/pyframes.h"
#include "engine/engine.h"
#include "report/framecache.h"
#include "census/heapfreeze.h"
#include "model/history.h"
#include "model/recseries.h"
#include "target/procfs.h"
#include "report/report.h"
#include "engine/stackcap.h"
#include "model/stacks.h"
#include "symbols/symbolize.h"
#include "target/target.h"
#include "model/tracker.h"
#include "symbols/wrappers.h"

enum end_reason { END_NONE, END_DURATION, END_SIGNAL, END_EXITED, END_EXEC };

struct session {
	/* this session's command line, set once: a request from another
	 * memtrace brings report options of its own (struct report_opts) */
	const struct mt_options *const o;
	mt_options_parse_fn parse;  /* a request's command line (cli.c) */
	FILE *out;                  /* the report's stream: -o FILE or stdout (output.h) */
	int sigfd;
	pid_t pid;
	char comm[64];
	struct mt_target *t;
	struct mt_alloc_set set;
	struct mt_pyinfo py;           /* CPython in the target (pyframes.h) */
	bool installed[MT_MAX_HOOKS];
	char why_not[MT_MAX_HOOKS][160]; /* why set.hooks[i] is not hooked */
	struct mt_engine *engine;
	struct mt_tracker *tracker;
	struct mt_symbolizer *sym;
	struct mt_stacks *stacks;
	struct mt_stackcap *stackcap;
	struct mt_wrappers *wrappers;
	struct mt_framecache *frames;
	uint32_t py_named_upto;   /* stacks whose Python frames were named */
	size_t py_named;          /* Python frames named while the target ran */
	double py_next;           /* when to name them next */
	/* the progress line of slow steps: NULL shows none (util/progress.h) */
	struct mt_progress *progress;
	char **modules;           /* file-backed modules seen mapped so far */
	size_t nmodules, capmodules;
	double t_start;
	double t_end;             /* when tracing ended (0: still tracing) */
	enum end_reason end;
	int exit_status;          /* waitpid status when the target exited */
	bool spawned;
	bool answered;            /* another memtrace's session answered */
	bool held;                /* every thread stopped for an ld.so notification */
	struct mt_history *history; /* attach: each row across intervals */
	struct mt_recseries *recseries; /* attach --record: each site's growth series */
	int intervals;
	uint64_t start_unix_ns;
	struct mt_ctl_server *ctl; /* answers histo/snapshot from other memtraces */
	int waitfd;               /* epoll: signals, the control socket, the engine's wake_fd */
	int wakefd;               /* the engine's wake_fd, or -1 (not ours to close) */
	char exe[4096];           /* the main executable, as /proc/PID/exe says */
	uint64_t exe_load;        /* an address inside it */
	/* session_hints.c: the site function called from the most places in
	 * the last report built, and which hints were printed already. */
	char fanout_function[256];
	size_t fanout_callers;
	bool hinted_fanout, hinted_symbols;
	/* RSS for the coverage line: at attach, and the last reading */
	struct mt_procfs_rss rss_start, rss_last;
	bool rss_started;         /* rss_start was read: later readings count */
	double rss_last_t;        /* when rss_last was read (0: never) */
	/* session_census.c: the census at attach (histo, attach, snapshot,
	 * census) */
	struct mt_freeze *freeze;  /* the frozen copy, until walked */
	struct mt_freeze *freeze_dead; /* the copy, walked and killed: its zombie is
	                              reaped at detach, every thread stopped */
	struct mt_census *census;  /* NULL: none (census_reason says why) */
	struct mt_census_report census_rep; /* the last mt_session_census_report() */
	char census_reason[256];
	char census_allocator[64]; /* "glibc 2.36" */
	double census_t0, census_paused_ms, census_took_ms;
	uint64_t census_rss;       /* VmRSS at the census */
	struct leakrun *leaks;     /* memtrace leaks: the check (session_leaks.c) */
	/* session_jvm.c: a JVM's JIT frames, named from its perf map or not */
	bool jvm;                  /* libjvm.so is mapped */
	bool jvm_named;            /* the JVM wrote its perf map when asked */
	bool jvm_refused;          /* no jcmd, or the JVM refused: not asked again */
	char java[400];            /* the report's "java:" line, "" when no JVM */
	const struct mt_view *view; /* memtrace top: the live view, else NULL */
	int top_snapshots;         /* memtrace top: snapshots written so far */
};

/* session_report.c */
/* What a report is asked to be, from a command line (this session's, or
 * a request's from another memtrace): how it is grouped and printed.  The
 * trace itself (--depth, --sample-bytes, ...) is the session's. */
struct report_opts {
	enum mt_format format;
	int top;                  /* rows; 0: all (--json without --top) */
	bool stacks;              /* table: each row's stack under it */
	enum mt_report_group group_by;
	bool no_census;           /* pprof: the snapshot it is made of has no census */
};
/* attach: one interval's report (FINAL: the summary at the end). */
int mt_session_print_interval(struct session *s, bool final);
/* The report at the end: attach's last interval, or histo's and run's. */
int mt_session_print_final(struct session *s);
/* One row per tracker site (key: the site's), named, neither grouped nor
 * sorted: 0, or -ENOMEM (free R with mt_report_free either way). */
int mt_session_report_rows(struct session *s, struct mt_report *r);
/* The live table as a snapshot at PATH: 0, or an exit status (said). */
int mt_session_write_snapshot(struct session *s, const char *path);
/* attach --record with --format pprof and -o FILE: FILE rewritten with the
 * profile of the live table, as each snapshot is.  0, or -1 (errno). */
int mt_session_record_pprof(struct session *s);
void mt_session_serve_request(struct session *s, struct mt_ctl_request *req);
/* The main executable's path and an address inside it, for snapshots. */
void mt_session_find_exe(struct session *s);
uint64_t mt_session_unix_ns(void);
/* The process's RSS: the first reading (at attach, START) or the latest. */
void mt_session_read_rss(struct session *s, bool start);

/* memtrace top: one interval's report with the rows' history, as attach's
 * (session_report.c): 0, or -ENOMEM (free R with mt_report_free either way). */
int mt_session_growth_report(struct session *s, struct mt_report *r);
/* The live table as a snapshot at PATH: 0, or an exit status with the
 * reason in MSG (nothing printed). */
int mt_session_snapshot_quiet(struct session *s, const char *path, char *msg, size_t len);

/* session_top.c: memtrace top's interval (the view gets the report), and
 * the snapshot its key asks for (memtrace-PID-N.snap in the working
 * directory, N the first free number; the view's status line says where,
 * or why not). */
void mt_session_top_tick(struct session *s);
void mt_session_top_snapshot(struct session *s);

/* session.c: /proc/PID/comm into BUF ("" when it cannot be read). */
void mt_session_read_comm(pid_t pid, char *buf, size_t len);

/* session_census.c */
/* Threads stopped, allocator discovered, no hook planted yet: copy the
 * heap (or say, once, why there will be no census; nothing with
 * --no-census). */
void mt_session_census_freeze(struct session *s);
/* With every thread stopped (detach): the killed copy's zombie reaped. */
void mt_session_census_reap(struct session *s);
/* Threads running: walk the copy, release it, hand the census to the
 * tracker.  PUMP (may be NULL) takes the target's stops and the engine's
 * events now and then during the walk. */
typedef void (*census_pump_fn)(struct session *s);
void mt_session_census_build(struct session *s, census_pump_fn pump);
/* The census as the reports show it (S owns it, until the next call). */
const struct mt_census_report *mt_session_census_report(struct session *s);
void mt_session_census_free(struct session *s);
/* memtrace census PID: the exit status. */
int mt_session_census_command(struct session *s);

/* session_jvm.c */
/* Before attaching (nothing stopped): is PID a JVM; with --jvm-perfmap,
 * ask it for its perf map. */
void mt_session_jvm_begin(struct session *s);
/* After detaching, before the report: with --jvm-perfmap, ask again (code
 * compiled meanwhile), names read afresh; the java line either way. */
void mt_session_jvm_end(struct session *s);

/* session_hints.c */
/* Before R's rows are grouped: which site function fans out most. */
void mt_session_hints_note_fanout(struct session *s, const struct mt_report *r);
/* session_census.c, for the census and leaks commands */
/* $XDG_CACHE_HOME/memtrace (made 0700) into BUF, or NULL. */
const char *mt_session_cache_dir(char *buf, size_t len);
/* Attach to s->pid for a census (nothing hooked), find its allocator, make
 * the symbolizer: 0, or an exit status (said). */
int mt_session_census_attach(struct session *s);
/* Walk the frozen copy s->freeze into s->census (left alive): 0, or
 * -errno with WHY. */
int mt_session_census_walk(struct session *s, census_pump_fn pump, char *why, size_t len);
/* Kill the walked copy (reaped at detach), taking the target's stops
 * before and after with PUMP (may be NULL). */
void mt_session_census_kill(struct session *s, census_pump_fn pump);
/* The target's stops while nothing is hooked: its own traps passed on,
 * forked children let go, the end noted. */
void mt_session_pump_plain(struct session *s);
/* Stop every thread, reap the copy, detach. */
void mt_session_census_detach(struct session *s);

/* session_leaks.c: memtrace leaks */
struct leakrun;
/* memtrace leaks PID (without --duration): attach, check, detach, print. */
int mt_session_leaks_command(struct session *s);
/* leaks --duration: every thread stopped, hooks removed, events drained:
 * the leak check (the threads run while the copy is marked; stopped again
 * on return). */
void mt_session_leaks_take(struct session *s, census_pump_fn pump);
/* Print what mt_session_leaks_take found: 0, or an exit status. */
int mt_session_leaks_print(struct session *s);
void mt_session_leaks_free(struct session *s);

/* After R (its TOP rows, 0: all) was printed: the hints that apply and were
 * not printed yet, on stderr. */
void mt_session_hints_print(struct session *s, const struct mt_report *r, int top);

#endif
