/* What a report says, independent of its format.  mt_report_build
 * (report_build.h) fills it from what the session hands it; the format
 * backends (report_table.c, report_json.c) print it. */
#ifndef MT_REPORT_H
#define MT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "census/census_report.h"
#include "report/group.h"

/* One frame of a site's stack; the strings belong to whoever built it. */
struct mt_report_frame {
	uint64_t address;
	const char *function;  /* "" when unknown */
	uint64_t offset;       /* address - function start */
	const char *module;    /* "" when unknown, "[jit]" for JIT code */
	uint64_t module_offset;
	const char *file;      /* "" without debug info */
	int line;
	bool inlined;
};

struct mt_report_site {
	uint64_t key;          /* the tracker's site key (stack id or caller) */
	uint64_t address;
	char function[256];
	uint64_t offset;
	char module[256];
	uint64_t module_offset;
	char file[512];
	int line;
	/* The stack, innermost first (allocator and wrapper frames included),
	 * and which frame names the site.  NULL/0 without stacks. */
	const struct mt_report_frame *frames;
	int nframes;
	int site_frame;
	/* With sampling (struct mt_report.sample_bytes) these are estimates,
	 * rounded; sampled_* are the blocks actually recorded. */
	uint64_t live_blocks, live_bytes, allocs, frees, alloc_bytes;
	uint64_t sampled_live_blocks, sampled_allocs;
	/* attach only */
	int64_t delta_interval, delta_total;
	int64_t delta_blocks;          /* live blocks since the last interval */
	uint64_t churn_allocs, churn_frees; /* in the last interval */
	const char *trend;             /* "growing", "plateau", ... */
	double rate_bytes_per_min;     /* of the low points */
	double score;                  /* evidence for growth (rank) */
	char sparkline[160];
	/* --format html: live bytes over time, oldest first (seconds since
	 * attach, or Unix time for memtrace report); malloc'ed, freed by
	 * mt_report_free; NULL and 0 when there is none */
	double *series_t;
	uint64_t *series_bytes;
	size_t nseries;
};

struct mt_report_hook {
	char symbol[64];
	char names[320];       /* comma-separated */
	uint64_t address;
	char module[256];
	uint64_t file_offset;
	char engine[16];       /* the engine that traced it: "inject", "breakpoint" */
	char why[160];         /* unhooked: why not */
};

/* The process's resident memory over the trace, from /proc/PID/status:
 * the report's coverage line compares it with what memtrace saw. */
struct mt_report_rss {
	bool known;               /* read at attach and since */
	uint64_t start, end;      /* VmRSS at attach and at the end, bytes */
	bool has_anon;            /* RssAnon too (Linux 4.5 and later) */
	uint64_t anon_start, anon_end;
	double end_age_s;         /* END was read this long before tracing
	                           * ended (the process exited since): 0 when
	                           * read at the end */
};

struct mt_report {
	int pid;
	char comm[64];
	const char *engine;
	char allocator[256];
	/* the module whose CPython allocator API (PyObject_Malloc & co,
	 * allocfn.h MT_FAM_PY) is hooked: pymalloc's blocks are seen; "" when
	 * none is */
	char pymalloc[256];
	/* CPython's allocator tables pointed at the agent (allocfn.h
	 * MT_PYTAB_*: OBJ, MEM): pymalloc's inlined calls are seen too */
	uint32_t pytab;
	/* allocation entries the program binds to that memtrace does not hook
	 * (comma-separated; discover.h): their blocks are not seen */
	char unsupported[256];
	/* Python frames (pyframes.h): what was found, "" when no CPython */
	char python[128];
	int threads;
	double duration_s;
	uint64_t events;
	uint64_t unknown_frees;
	uint64_t unknown_frees_internal;  /* of those, by the allocator's own module */
	uint64_t lost_events;
	/* allocation stacks the agent cut short: a frame it could not
	 * unwind (no rule in time, no room for one, or an unusable one) */
	uint64_t stacks_cut;
	uint64_t nested_calls;
	uint64_t in_flight;
	uint64_t inconsistencies;
	uint64_t sample_bytes;    /* --sample-bytes: the mean; 0 = every allocation seen */
	uint64_t unsampled_frees; /* with sampling: frees of blocks not recorded */
	const char *end_reason;   /* "duration", "signal", "target_exited", "target_exec" */
	int depth;                /* --depth, 0 without stacks */
	const char *group_by;     /* "site", "stack", "function", "module" */
	bool show_stacks;         /* table: each row's stack under it */
	uint64_t live_blocks, live_bytes, allocs, frees;  /* estimates with sampling */
	uint64_t peak_live_bytes; /* the most live_bytes was since attach */
	bool peak_at_reads;       /* ... as seen at memtrace's reads of an agent's
	                             counts (tracker.h), not at every call */
	struct mt_report_rss rss;
	struct mt_report_hook *hooks;
	size_t nhooks;
	struct mt_report_hook *unhooked; /* found, not hooked: their calls are unseen */
	size_t nunhooked;
	struct mt_report_site *sites;  /* sorted: live bytes, largest first */
	size_t nsites;
	/* The census taken at attach (census_report.h): NULL when the command
	 * takes none (run); else available, or not with the reason.  Its
	 * blocks still live count in the header's live line beside the
	 * traced ones; live_blocks and live_bytes above stay the traced. */
	const struct mt_census_report *census;
	/* a JVM: how its JIT frames were named (--jvm-perfmap), or why they
	 * were not; NULL for any other process */
	const char *java;
	int interval;             /* attach: the interval's number, from 1 */
	bool color;               /* tables: ANSI colors (a terminal, no NO_COLOR) */
};

/* "function+0x1c (module) file.c:12", as the table names a frame. */
void mt_report_frame_name(char *buf, size_t len, const struct mt_report_frame *fr);

/* Sort sites by live bytes (then allocs, then address), largest first. */
void mt_report_sort(struct mt_report *r);
/* attach: by evidence for growth (score), then live bytes. */
void mt_report_sort_growth(struct mt_report *r);

/* Merge R's rows that share the group key, summing counters; a merged row
 * keeps the stack of its largest member.  Then sorts. */
int mt_report_group(struct mt_report *r, enum mt_report_group g);
/* The key rows are grouped by, as text (the same across intervals). */
void mt_report_row_key(const struct mt_report_site *s, enum mt_report_group g, char *buf,
		       size_t len);

/* histo: header and the site table, TOP rows (0: all). */
int mt_report_table(FILE *f, const struct mt_report *r, int top);
/* The census section (census_report.h): header, heap summary and verdict,
 * warnings, rows by type and size largest first, TOP rows (0: all); one
 * line when the census is not available. */
int mt_report_census_table(FILE *f, const struct mt_census_report *c, int top);
/* memtrace census --json: one object with pid, comm, census, heap. */
int mt_report_census_json(FILE *f, int pid, const char *comm, const struct mt_census_report *c);
/* attach: one interval's growth table (delta_* filled), TOP rows. */
int mt_report_growth(FILE *f, const struct mt_report *r, int top, bool final);
/* histo --json: one object, TOP sites (0: all). */
int mt_report_json(FILE *f, const struct mt_report *r, int top);
/* attach --json: one line per interval (JSON Lines), FINAL for the last. */
int mt_report_json_interval(FILE *f, const struct mt_report *r, int top, bool final);
/* --format folded: collapsed stacks (flamegraph.pl, inferno, speedscope),
 * outermost frame first, weighted by live bytes; format in report_folded.c. */
int mt_report_folded(FILE *f, const struct mt_report *r);

/* The coverage warning (mt_report_rss_unseen) needs the anonymous
 * memory (RSS before Linux 4.5) to have grown by more than this, and by
 * more than MT_RSS_UNSEEN_FACTOR times the most memtrace saw live. */
#define MT_RSS_UNSEEN_MIN (32ull << 20)
#define MT_RSS_UNSEEN_FACTOR 2
/* What grew over the trace: RssAnon's change, or VmRSS's without it;
 * negative when it shrank, 0 when unknown. */
int64_t mt_report_rss_growth(const struct mt_report *r);
/* Whether most of that growth is memory memtrace did not see allocated:
 * growth > MT_RSS_UNSEEN_MIN and > MT_RSS_UNSEEN_FACTOR x peak_live_bytes. */
bool mt_report_rss_unseen(const struct mt_report *r);

/* "12.3 KiB" */
void mt_format_bytes(char *buf, size_t len, double bytes);

#endif
