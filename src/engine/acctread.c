/* See acctread.h.  Each read goes over the tables twice: every free
 * counter first, then every allocation counter.  A block's allocation is
 * counted before its free can be (ltab.h), so a free seen in the first
 * pass has its allocation seen in the second, and a stack's live count
 * never reads below zero. */
#include <stdlib.h>
#include <string.h>

#include "agent/ltab.h"
#include "engine/acctread.h"

struct mt_acctread {
	struct mt_acctread_geom g;
	struct mt_counts *base;   /* per slot: the totals at the baseline */
	struct mt_counts *last;   /* per slot: the totals emitted (less base) */
	struct mt_counts *cur;    /* per slot: this read's sums */
	uint32_t *touched;        /* slots this read found */
	uint32_t ntouched;
	uint8_t *mark;            /* per slot: TOUCHED, GIVEN_UP */
	struct mt_acctread_stats st;
};

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

#define TOUCHED 1u
#define GIVEN_UP 2u

static void touch(struct mt_acctread *r, uint32_t slot)
{
	if (!(r->mark[slot] & TOUCHED)) {
		r->mark[slot] |= TOUCHED;
		r->touched[r->ntouched++] = slot;
	}
}

static int ring_used(const struct mt_acctread *r, uint32_t i)
{
	if (!r->g.owners)
		return 1;
	const uint32_t *owner =
		(const uint32_t *)((const char *)r->g.owners + i * r->g.owner_stride);
	return __atomic_load_n(owner, __ATOMIC_RELAXED) != 0;
}

/* One pass: FREES 1 adds the free counters to cur, 0 the allocation ones. */
static void pass(struct mt_acctread *r, int frees)
{
	uint64_t area = mt_ltab_area_bytes(r->g.per_ring);
	for (uint32_t i = 0; i < r->g.nrings; i++) {
		if (!ring_used(r, i))
			continue;
		const struct mt_ltab_rcount *rt =
			(const struct mt_ltab_rcount *)((const char *)r->g.counts + i * area +
							MT_SCACHE_BYTES);
		for (uint32_t k = 0; k < r->g.per_ring; k++) {
			uint32_t key = __atomic_load_n(&rt[k].slot1, __ATOMIC_ACQUIRE);
			if (key == 0 || key > r->g.nslots || (r->mark[key - 1] & GIVEN_UP))
				continue;
			struct mt_counts *c = &r->cur[key - 1];
			touch(r, key - 1);
			if (frees) {
				c->frees += load(&rt[k].c.frees);
				c->freed_bytes += load(&rt[k].c.freed_bytes);
			} else {
				c->allocs += load(&rt[k].c.allocs);
				c->alloc_bytes += load(&rt[k].c.alloc_bytes);
			}
		}
	}
	const struct mt_ltab_count *g = r->g.gcounts;
	for (uint32_t s = 0; s < r->g.nslots; s++) {
		if (r->mark[s] & GIVEN_UP)
			continue;
		uint64_t n = load(frees ? &g[s].frees : &g[s].allocs);
		uint64_t b = load(frees ? &g[s].freed_bytes : &g[s].alloc_bytes);
		if (!n && !b)
			continue;
		touch(r, s);
		if (frees) {
			r->cur[s].frees += n;
			r->cur[s].freed_bytes += b;
		} else {
			r->cur[s].allocs += n;
			r->cur[s].alloc_bytes += b;
		}
	}
}

static void read_all(struct mt_acctread *r)
{
	for (uint32_t i = 0; i < r->ntouched; i++)
		r->mark[r->touched[i]] &= ~TOUCHED;
	r->ntouched = 0;
	pass(r, 1);
	pass(r, 0);
}

struct mt_acctread *mt_acctread_new(const struct mt_acctread_geom *g)
{
	struct mt_acctread *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->g = *g;
	size_t n = g->nslots ? g->nslots : 1;
	r->base = calloc(n, sizeof *r->base);
	r->last = calloc(n, sizeof *r->last);
	r->cur = calloc(n, sizeof *r->cur);
	r->touched = calloc(n, sizeof *r->touched);
	r->mark = calloc(n, 1);
	if (!r->base || !r->last || !r->cur || !r->touched || !r->mark) {
		mt_acctread_destroy(r);
		return NULL;
	}
	read_all(r);
	for (uint32_t i = 0; i < r->ntouched; i++) {
		uint32_t s = r->touched[i];
		r->base[s] = r->cur[s];
		r->cur[s] = (struct mt_counts){ 0 };
	}
	return r;
}

void mt_acctread_destroy(struct mt_acctread *r)
{
	if (!r)
		return;
	free(r->base);
	free(r->last);
	free(r->cur);
	free(r->touched);
	free(r->mark);
	free(r);
}

/* SLOT's totals since the baseline, into *OUT; false when a counter went
 * below its baseline or below what was emitted: the stack is given up. */
static int totals(struct mt_acctread *r, uint32_t s, struct mt_counts *out)
{
	const struct mt_counts *c = &r->cur[s], *b = &r->base[s], *l = &r->last[s];
	if (c->allocs < b->allocs || c->alloc_bytes < b->alloc_bytes || c->frees < b->frees ||
	    c->freed_bytes < b->freed_bytes)
		return 0;
	*out = (struct mt_counts){ c->allocs - b->allocs, c->alloc_bytes - b->alloc_bytes,
				   c->frees - b->frees, c->freed_bytes - b->freed_bytes };
	if (out->frees > out->allocs || out->freed_bytes > out->alloc_bytes) {
		r->st.clamped++;
		if (out->frees > out->allocs)
			out->frees = out->allocs;
		if (out->freed_bytes > out->alloc_bytes)
			out->freed_bytes = out->alloc_bytes;
	}
	/* frees held back at the last read may show now; below what was
	 * emitted, a counter was scribbled on */
	if (out->allocs < l->allocs || out->alloc_bytes < l->alloc_bytes)
		return 0;
	if (out->frees < l->frees)
		out->frees = l->frees;
	if (out->freed_bytes < l->freed_bytes)
		out->freed_bytes = l->freed_bytes;
	return 1;
}

void mt_acctread_sync(struct mt_acctread *r, mt_acctread_emit emit, void *ctx)
{
	read_all(r);
	for (uint32_t i = 0; i < r->ntouched; i++) {
		uint32_t s = r->touched[i];
		struct mt_counts t;
		int ok = totals(r, s, &t);
		r->cur[s] = (struct mt_counts){ 0 };
		if (!ok) {
			r->mark[s] |= GIVEN_UP;   /* never read again */
			r->st.rejected++;
			continue;
		}
		struct mt_counts *l = &r->last[s];
		struct mt_counts d = { t.allocs - l->allocs, t.alloc_bytes - l->alloc_bytes,
				       t.frees - l->frees, t.freed_bytes - l->freed_bytes };
		if (!d.allocs && !d.alloc_bytes && !d.frees && !d.freed_bytes)
			continue;
		*l = t;
		r->st.allocs += d.allocs;
		r->st.frees += d.frees;
		emit(ctx, s, &d);
	}
}

void mt_acctread_stats(const struct mt_acctread *r, struct mt_acctread_stats *out)
{
	*out = r->st;
}
