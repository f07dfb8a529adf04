/* What a report says, independent of its format.  The session fills it;
 * the format backends (report_table.c, report_json.c) print it. */
#ifndef MT_REPORT_H
#define MT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mt_report_site {
	uint64_t address;
	char function[256];
	uint64_t offset;
	char module[256];
	char file[512];
	int line;
	uint64_t live_blocks, live_bytes, allocs, frees, alloc_bytes;
	/* attach only */
	int64_t delta_interval, delta_total;
};

struct mt_report_hook {
	char symbol[64];
	char names[160];       /* comma-separated */
	uint64_t address;
	char module[256];
	uint64_t file_offset;
};

struct mt_report {
	int pid;
	char comm[64];
	const char *engine;
	char allocator[256];
	int threads;
	double duration_s;
	uint64_t events;
	uint64_t unknown_frees;
	uint64_t unknown_frees_internal;  /* of those, by the allocator's own module */
	uint64_t lost_events;
	uint64_t nested_calls;
	uint64_t in_flight;
	uint64_t inconsistencies;
	const char *end_reason;   /* "duration", "signal", "target_exited", "target_exec" */
	uint64_t live_blocks, live_bytes, allocs, frees;
	struct mt_report_hook *hooks;
	size_t nhooks;
	struct mt_report_site *sites;  /* sorted: live bytes, largest first */
	size_t nsites;
};

/* Sort sites by live bytes (then allocs, then address), largest first. */
void mt_report_sort(struct mt_report *r);

/* histo: header and the site table, TOP rows (0: all). */
int mt_report_table(FILE *f, const struct mt_report *r, int top);
/* attach: one interval's growth table (delta_* filled), TOP rows. */
int mt_report_growth(FILE *f, const struct mt_report *r, int top, bool final);
/* histo --json: one object, TOP sites (0: all). */
int mt_report_json(FILE *f, const struct mt_report *r, int top);

/* "12.3 KiB" */
void mt_format_bytes(char *buf, size_t len, double bytes);

#endif
