/* The tracker: consumes the event stream, keeps the live-block table and
 * the per-site counters.  Pure: no I/O, no target access.
 *
 * Accounting rules (also in man/memtrace.1, ACCOUNTING):
 *   - an allocation inserts a block credited to its site;
 *   - a free removes the block and counts a free for the site that
 *     allocated it; a free of an address never seen allocated (allocated
 *     before attach) counts as an unknown free;
 *   - a realloc is a free of the old block plus an allocation at the
 *     realloc's caller; realloc(p, 0) returning NULL is a free; a failed
 *     realloc changes nothing;
 *   - an allocation over a live block whose realloc is still in flight on
 *     another thread means that realloc moved: the old block is freed then.
 *     Any other overlap is counted as an inconsistency (never expected).
 */
#ifndef MT_TRACKER_H
#define MT_TRACKER_H

#include <stdint.h>

#include "event.h"
#include "livetable.h"
#include "sites.h"

struct mt_tracker;

struct mt_tracker_stats {
	uint64_t events;         /* events consumed */
	uint64_t allocs, frees;  /* blocks allocated and freed (known ones) */
	uint64_t unknown_frees;  /* frees of addresses allocated before attach */
	uint64_t unknown_frees_internal; /* of those, called from the allocator's
	                            own module: glibc flushing an exiting
	                            thread's tcache frees blocks the program
	                            had already freed */
	uint64_t inconsistencies;
	uint64_t live_blocks, live_bytes;
};

struct mt_tracker *mt_tracker_new(void);
void mt_tracker_destroy(struct mt_tracker *t);
/* Callers in [LO, HI) are the allocator's own module (see stats). */
void mt_tracker_set_allocator_range(struct mt_tracker *t, uint64_t lo, uint64_t hi);
/* An mt_event_sink: ctx is the tracker. */
void mt_tracker_event(void *ctx, const struct mt_event *ev);
void mt_tracker_stats(const struct mt_tracker *t, struct mt_tracker_stats *out);
const struct mt_sites *mt_tracker_sites(const struct mt_tracker *t);
const struct mt_livetable *mt_tracker_live(const struct mt_tracker *t);

#endif
