/* Building a snapshot (snapshot.h) of the live table: the tracker's
 * per-stack counters with their stacks symbolized, frames and modules
 * stored once, modules identified by build-id so that a snapshot of the
 * same program after a restart matches. */
#ifndef MT_SNAPBUILD_H
#define MT_SNAPBUILD_H

#include <stdint.h>

#include "report/framecache.h"
#include "snapshot/snapshot.h"
#include "model/recseries.h"
#include "model/stacks.h"
#include "symbols/symbolize.h"
#include "model/tracker.h"
#include "symbols/wrappers.h"

struct mt_snapbuild_input {
	/* NULL: no traced sites (memtrace census --snapshot: a census-only snapshot);
	 * stacks, frames, wrappers and sym may then be NULL too */
	const struct mt_tracker *tracker;
	struct mt_stacks *stacks;
	struct mt_framecache *frames;
	struct mt_wrappers *wrappers;
	struct mt_symbolizer *sym;
	/* metadata */
	int pid;
	const char *comm, *exe, *engine, *allocator;
	uint64_t exe_load;        /* an address inside the main executable, 0 if unknown */
	uint64_t start_unix_ns, time_unix_ns;
	double duration_s;
	uint64_t events, unknown_frees, lost_events;
	int depth;
	/* the census taken at attach, copied into the snapshot; NULL: none
	 * (--no-census) */
	const struct mt_census_report *census;
	/* attach --record: every site's growth series so far (sampled by the
	 * caller at this snapshot's time), copied into the snapshot; NULL:
	 * none */
	const struct mt_recseries *series;
};

/* A new snapshot (free with mt_snapshot_free), or NULL when out of memory
 * (or when IN->census has a count without its array). */
struct mt_snapshot *mt_snapbuild(const struct mt_snapbuild_input *in);

#endif
