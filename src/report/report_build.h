/* Building a report (report.h) from the live model: the tracker's rows,
 * named by their stacks, with the trace's header figures.  What it reads
 * is all in its input, as the snapshot builder's (snapbuild.h): the
 * session fills it, and never hands over more. */
#ifndef MT_REPORT_BUILD_H
#define MT_REPORT_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "census/census_report.h"
#include "model/stacks.h"
#include "model/tracker.h"
#include "report/framecache.h"
#include "report/report.h"
#include "symbols/discover.h"
#include "symbols/symbolize.h"
#include "symbols/wrappers.h"

struct mt_progress;

struct mt_report_input {
	const struct mt_tracker *tracker;
	/* Rows are named by their stacks (STACKS and FRAMES), by the frames
	 * at their caller (FRAMES and WRAPPERS), else by SYM; any may be NULL
	 * (a row is then its key's address, unnamed). */
	struct mt_stacks *stacks;
	struct mt_framecache *frames;
	struct mt_wrappers *wrappers;
	struct mt_symbolizer *sym;
	/* naming loads the debug info of each module a stack passes through:
	 * its progress line (util/progress.h), NULL for none */
	struct mt_progress *progress;
	/* the hooks: SET's entries, INSTALLED[i] whether set->hooks[i] is
	 * traced, WHY_NOT[i] why not; SET NULL: none */
	const struct mt_alloc_set *set;
	const bool *installed;
	const char (*why_not)[160];
	/* the header, copied as they are (struct mt_report says what each is) */
	int pid;
	const char *comm, *engine, *end_reason;
	int threads;
	double duration_s;
	uint64_t events, lost_events, stacks_cut, nested_calls, in_flight;
	int depth;                /* --depth, 0 without stacks */
	const char *python;       /* Python frames' note (pyframes.h); NULL: none */
	uint32_t pytab;           /* CPython's tables hooked (report.h) */
	struct mt_report_rss rss;
	const struct mt_census_report *census;  /* NULL: none (run) */
};

/* Fill R from IN: the header, the hooks, and one row per tracker site,
 * named; neither grouped nor sorted (mt_report_group does both).  R's
 * group_by, show_stacks, interval and color are left for the caller.
 * 0, or -ENOMEM; free R with mt_report_free either way. */
int mt_report_build(const struct mt_report_input *in, struct mt_report *r);
void mt_report_free(struct mt_report *r);

/* RS named by its site's frame F: address, function, module, file, line. */
void mt_report_site_name(struct mt_report_site *rs, const struct mt_report_frame *f);

#endif
