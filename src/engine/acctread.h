/* Reading what the agent accounted itself (ltab.h): the count tables of
 * every ring and the shared per-stack counts, turned into per-stack
 * deltas since the last read.  Pure: it reads memory it is given (the
 * shared region, which the target can write at any time) and calls back;
 * no target access, so it is unit-tested on a region made in memory.
 *
 * Trust: every read is of memory the target owns.  Keys outside the stack
 * table are skipped; a stack whose totals went down since the last read
 * (a counter scribbled on) is not read again and is counted in rejected;
 * frees beyond a stack's allocations are held back (clamped) until the
 * allocations show.  Work per read is bounded by the tables' sizes.
 */
#ifndef MT_ACCTREAD_H
#define MT_ACCTREAD_H

#include <stddef.h>
#include <stdint.h>

#include "model/event.h"

struct mt_acctread;

struct mt_acctread_geom {
	const void *counts;       /* nrings areas (agent/ltab.h), each a stack
	                             cache then per_ring struct mt_ltab_rcount */
	uint32_t nrings, per_ring;
	const void *gcounts;      /* nslots struct mt_ltab_count, by stack slot */
	uint32_t nslots;          /* the agent's stack table's slots */
	/* optional: ring i's owner word at owners + i * owner_stride; a
	 * ring never claimed (0) has an empty table and is skipped */
	const void *owners;
	uint64_t owner_stride;
};

struct mt_acctread_stats {
	uint64_t allocs, frees;   /* emitted so far */
	uint64_t rejected;        /* stacks given up: their counts went down */
	uint64_t clamped;         /* reads that held back frees beyond allocations */
};

/* A reader of the tables in G, which must stay mapped while it lives.
 * Takes what they hold now as its baseline: counts from before are not
 * emitted.  NULL when out of memory. */
struct mt_acctread *mt_acctread_new(const struct mt_acctread_geom *g);
void mt_acctread_destroy(struct mt_acctread *r);

/* What changed since the last read (or the baseline): EMIT is called once
 * per stack slot with a non-zero delta. */
typedef void (*mt_acctread_emit)(void *ctx, uint32_t slot, const struct mt_counts *delta);
void mt_acctread_sync(struct mt_acctread *r, mt_acctread_emit emit, void *ctx);
void mt_acctread_stats(const struct mt_acctread *r, struct mt_acctread_stats *out);

#endif
