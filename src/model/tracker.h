/* The tracker: consumes the event stream, keeps the live-block table and
 * the per-site counters.  Pure: no I/O, no target access.
 *
 * Accounting rules (also in man/memtrace.1, ACCOUNTING):
 *   - an allocation inserts a block credited to its site;
 *   - a free removes the block and counts a free for the site that
 *     allocated it; a free of a block the census found at attach
 *     (census.h) takes it out of its census row (census_frees); a free of
 *     an address neither seen allocated nor censused counts as an unknown
 *     free;
 *   - a realloc is a free of the old block plus an allocation at the
 *     realloc's caller; realloc(p, 0) returning NULL is a free; a failed
 *     realloc changes nothing;
 *   - an allocation over a live block whose realloc is still in flight on
 *     another thread means that realloc moved: the old block is freed then.
 *     Any other overlap is counted as an inconsistency (never expected);
 *   - calls an in-process agent accounted itself arrive as counts per
 *     stack (MT_EV_COUNTS): they move the site's and the totals' counters
 *     and never reach the live table; the peak is then taken at the end of
 *     each read of those counts (MT_EV_COUNTS_DONE, peak_at_reads).
 *
 * Sampling (mt_tracker_set_sampling, --sample-bytes N): the engine reports
 * only sampled allocations, an allocation of SIZE bytes being sampled with
 * probability p(SIZE) = 1 - exp(-SIZE / N) (Poisson sampling by bytes, as
 * jemalloc's and tcmalloc's heap profiles).  Each sampled block then stands
 * for 1/p(SIZE) blocks and SIZE/p(SIZE) bytes: the estimates are unbiased.
 * A free of an address the tracker does not hold is an unsampled free, not
 * an unknown free (the two cannot be told apart: a block from before attach
 * is among them).  A REALLOC whose new block was not sampled arrives with
 * addr 0 and size 0 and frees the old block, as event.h says.
 */
#ifndef MT_TRACKER_H
#define MT_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "model/event.h"
#include "model/livetable.h"
#include "model/sites.h"

struct mt_tracker;

struct mt_tracker_stats {
	uint64_t events;         /* events consumed */
	uint64_t allocs, frees;  /* blocks allocated and freed (known ones) */
	uint64_t unknown_frees;  /* frees of addresses allocated before attach */
	uint64_t unknown_frees_internal; /* of those, called from the allocator's
	                            own module: glibc flushing an exiting
	                            thread's tcache frees blocks the program
	                            had already freed */
	uint64_t census_frees;   /* frees of blocks the census found at attach */
	uint64_t inconsistencies;
	uint64_t live_blocks, live_bytes;
	uint64_t peak_live_bytes;  /* the most live_bytes was since attach */
	/* An in-process agent accounted calls itself (event.h MT_EV_COUNTS):
	 * ACCOUNTED of the allocs and frees above, and the peak is the most
	 * seen at memtrace's reads of its counts (and at traced events), not
	 * at every call */
	uint64_t accounted;
	bool peak_at_reads;
	/* sampling */
	uint64_t sample_bytes;   /* the mean N; 0: every allocation is seen */
	uint64_t unsampled_frees; /* with sampling, frees of addresses not held
	                            (counted here instead of unknown_frees) */
	/* Estimates of all blocks, rounded; without sampling they equal the
	 * exact allocs, frees, live_blocks and live_bytes above. */
	uint64_t est_allocs, est_frees, est_live_blocks, est_live_bytes;
	uint64_t est_peak_live_bytes;
};

/* A site's counters as reports show them: exact without sampling, the
 * rounded estimates with it.  The raw sampled counts stay in struct mt_site. */
struct mt_site_counts {
	uint64_t live_blocks, live_bytes;
	uint64_t allocs, alloc_bytes;
	uint64_t frees, freed_bytes;
};

struct mt_tracker *mt_tracker_new(void);
void mt_tracker_destroy(struct mt_tracker *t);
/* Callers in [LO, HI) are the allocator's own module (see stats). */
void mt_tracker_set_allocator_range(struct mt_tracker *t, uint64_t lo, uint64_t hi);
/* A census is being taken (the heap was copied before the hooks went in;
 * the copy is walked while events come): until mt_tracker_set_census,
 * frees of addresses the tracker does not hold are kept (at most
 * MT_TRACKER_HELD_FREES; past that they count as unknown at once)
 * rather than counted. */
void mt_tracker_census_pending(struct mt_tracker *t);
#define MT_TRACKER_HELD_FREES (1u << 20)
/* The blocks live before attach, as the census found them
 * (census/census.h, mt_census_prior).  The model does not know how they
 * were found: it asks these two questions only. */
struct mt_prior_blocks {
	/* A free (or realloc's release) of ADDR: true when ADDR is a prior
	 * block not freed yet, which it leaves from now on. */
	bool (*release)(void *ctx, uint64_t addr);
	/* Whether ADDR is a prior block still live (a realloc's start). */
	bool (*holds)(const void *ctx, uint64_t addr);
	void *ctx;
};
/* The census taken at attach (not owned; NULL: none could be taken):
 * frees of its blocks are matched against it from now on, and the frees
 * kept while it was pending are matched or counted unknown now. */
void mt_tracker_set_census(struct mt_tracker *t, const struct mt_prior_blocks *prior);
/* Sample allocations, on average one per MEAN_BYTES bytes (0: off; see
 * above).  Takes effect only before the first event: a block's weight must
 * be the same at its allocation and at its free. */
void mt_tracker_set_sampling(struct mt_tracker *t, uint64_t mean_bytes);
/* The mean set, 0 when not sampling. */
uint64_t mt_tracker_sampling(const struct mt_tracker *t);
/* p(SIZE) = 1 - exp(-SIZE / MEAN), computed without cancellation; a size 0
 * block counts as 1 byte.  1 when MEAN is 0. */
double mt_sample_probability(uint64_t size, uint64_t mean);
/* Fixed point (MT_EST_ONE units) to the nearest integer. */
static inline uint64_t mt_est_round(uint64_t fixed)
{
	return (fixed >> MT_EST_SHIFT) + ((fixed >> (MT_EST_SHIFT - 1)) & 1);
}
void mt_tracker_site_counts(const struct mt_tracker *t, const struct mt_site *s,
			    struct mt_site_counts *out);
/* An mt_event_sink: ctx is the tracker. */
void mt_tracker_event(void *ctx, const struct mt_event *ev);
void mt_tracker_stats(const struct mt_tracker *t, struct mt_tracker_stats *out);
const struct mt_sites *mt_tracker_sites(const struct mt_tracker *t);
const struct mt_livetable *mt_tracker_live(const struct mt_tracker *t);

#endif
