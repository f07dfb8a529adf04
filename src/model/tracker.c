#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/tracker.h"

/* A realloc between its entry and its return. */
struct inflight {
	int tid;
	uint64_t old;
	int released;   /* old was freed early: another thread was handed it */
	int known;      /* old was a live block at entry (not from before attach) */
	int censused;   /* old was a censused block at entry */
};

struct mt_tracker {
	struct mt_livetable *live;
	struct mt_sites *sites;
	struct mt_tracker_stats st;
	struct inflight *fl;
	size_t nfl, capfl;
	uint64_t alloc_lo, alloc_hi;
	struct mt_prior_blocks prior;   /* release NULL: no census */
	bool census_pending;       /* frees not held are kept in HELD */
	struct held *held;
	size_t nheld, capheld;
	/* sampling: totals of the estimates, MT_EST_ONE units */
	uint64_t mean;
	uint64_t est_allocs, est_frees, est_live_blocks, est_live_bytes;
	uint64_t est_peak_live_bytes;
};

/* A free kept while the census is pending. */
struct held {
	uint64_t addr, caller;
};

/* What one sampled block stands for, in MT_EST_ONE units. */
struct weight {
	uint64_t blocks, bytes;
};

/* Far below UINT64_MAX: sums of many weights stay representable. */
#define MAX_WEIGHT (1ULL << 62)

double mt_sample_probability(uint64_t size, uint64_t mean)
{
	if (!mean)
		return 1.0;
	return -expm1(-(double)(size ? size : 1) / (double)mean);
}

static uint64_t to_fixed(double v)
{
	v = v * (double)MT_EST_ONE + 0.5;
	return v >= (double)MAX_WEIGHT ? MAX_WEIGHT : (uint64_t)v;
}

static struct weight weight_of(const struct mt_tracker *t, uint64_t size)
{
	double p = mt_sample_probability(size, t->mean);
	return (struct weight){ to_fixed(1.0 / p), to_fixed((double)size / p) };
}

void mt_tracker_set_sampling(struct mt_tracker *t, uint64_t mean_bytes)
{
	if (t->st.events == 0)
		t->mean = mean_bytes;
}

uint64_t mt_tracker_sampling(const struct mt_tracker *t)
{
	return t->mean;
}

void mt_tracker_site_counts(const struct mt_tracker *t, const struct mt_site *s,
			    struct mt_site_counts *out)
{
	if (!t->mean) {
		*out = (struct mt_site_counts){ s->live_blocks, s->live_bytes, s->allocs,
						s->alloc_bytes, s->frees, s->freed_bytes };
		return;
	}
	*out = (struct mt_site_counts){
		mt_est_round(s->est_live_blocks), mt_est_round(s->est_live_bytes),
		mt_est_round(s->est_allocs), mt_est_round(s->est_alloc_bytes),
		mt_est_round(s->est_frees), mt_est_round(s->est_freed_bytes),
	};
}

static void untraced_free(struct mt_tracker *t, uint64_t addr, uint64_t caller);

void mt_tracker_census_pending(struct mt_tracker *t)
{
	t->census_pending = true;
}

void mt_tracker_set_census(struct mt_tracker *t, const struct mt_prior_blocks *prior)
{
	t->prior = prior ? *prior : (struct mt_prior_blocks){ 0 };
	t->census_pending = false;
	for (size_t i = 0; i < t->nheld; i++)
		untraced_free(t, t->held[i].addr, t->held[i].caller);
	free(t->held);
	t->held = NULL;
	t->nheld = t->capheld = 0;
}

/* Keep a free for the census to come; false when there is no room. */
static bool hold_free(struct mt_tracker *t, uint64_t addr, uint64_t caller)
{
	if (t->nheld == t->capheld) {
		size_t cap = t->capheld ? t->capheld * 2 : 1024;
		struct held *h = cap <= MT_TRACKER_HELD_FREES ? realloc(t->held, cap * sizeof *h)
							       : NULL;
		if (!h)
			return false;
		t->held = h;
		t->capheld = cap;
	}
	t->held[t->nheld++] = (struct held){ addr, caller };
	return true;
}

void mt_tracker_set_allocator_range(struct mt_tracker *t, uint64_t lo, uint64_t hi)
{
	t->alloc_lo = lo;
	t->alloc_hi = hi;
}

struct mt_tracker *mt_tracker_new(void)
{
	struct mt_tracker *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->live = mt_livetable_new();
	t->sites = mt_sites_new();
	if (!t->live || !t->sites) {
		mt_tracker_destroy(t);
		return NULL;
	}
	return t;
}

void mt_tracker_destroy(struct mt_tracker *t)
{
	if (!t)
		return;
	if (t->live)
		mt_livetable_destroy(t->live);
	mt_sites_destroy(t->sites);
	free(t->fl);
	free(t->held);
	free(t);
}

/* Release a block; false when it was not live. */
static bool release(struct mt_tracker *t, uint64_t addr)
{
	struct mt_block b;
	if (!mt_livetable_erase(t->live, addr, &b))
		return false;
	struct mt_site *s = mt_sites_get(t->sites, b.site);
	struct weight w = { 0, 0 };
	if (t->mean)
		w = weight_of(t, b.size);
	if (s) {
		s->frees++;
		s->freed_bytes += b.size;
		s->live_blocks--;
		s->live_bytes -= b.size;
		s->est_frees += w.blocks;
		s->est_freed_bytes += w.bytes;
		s->est_live_blocks -= w.blocks;
		s->est_live_bytes -= w.bytes;
	}
	t->est_frees += w.blocks;
	t->est_live_blocks -= w.blocks;
	t->est_live_bytes -= w.bytes;
	t->st.frees++;
	t->st.live_blocks--;
	t->st.live_bytes -= b.size;
	return true;
}

static void unknown_free(struct mt_tracker *t, uint64_t caller)
{
	if (t->mean) {
		t->st.unsampled_frees++;
		return;
	}
	t->st.unknown_frees++;
	if (caller >= t->alloc_lo && caller < t->alloc_hi)
		t->st.unknown_frees_internal++;
}

/* A free of ADDR, not a live traced block: a censused block, or unknown.
 * Census blocks are exact even when sampling: they were all counted. */
static void untraced_free(struct mt_tracker *t, uint64_t addr, uint64_t caller)
{
	if (t->census_pending && hold_free(t, addr, caller))
		return;
	if (t->prior.release && t->prior.release(t->prior.ctx, addr))
		t->st.census_frees++;
	else
		unknown_free(t, caller);
}

static void do_free(struct mt_tracker *t, uint64_t addr, uint64_t caller)
{
	if (!release(t, addr))
		untraced_free(t, addr, caller);
}

static struct inflight *inflight_by_old(struct mt_tracker *t, uint64_t old)
{
	for (size_t i = 0; i < t->nfl; i++)
		if (t->fl[i].old == old && !t->fl[i].released)
			return &t->fl[i];
	return NULL;
}

static void do_alloc(struct mt_tracker *t, uint64_t addr, uint64_t size, uint64_t key,
		     uint64_t time_ns)
{
	uint32_t id = mt_sites_intern(t->sites, key);
	struct mt_block b = { .addr = addr, .size = size, .site = id, .time_ns = time_ns };
	struct mt_block clash;
	int r;
	while ((r = mt_livetable_insert(t->live, &b, &clash)) == -EEXIST) {
		struct inflight *f = inflight_by_old(t, clash.addr);
		if (f)
			f->released = 1;
		else
			t->st.inconsistencies++;
		release(t, clash.addr);
	}
	if (r < 0)
		return;
	struct mt_site *s = mt_sites_get(t->sites, id);
	struct weight w = { 0, 0 };
	if (t->mean)
		w = weight_of(t, size);
	if (s) {
		s->allocs++;
		s->alloc_bytes += size;
		s->live_blocks++;
		s->live_bytes += size;
		s->est_allocs += w.blocks;
		s->est_alloc_bytes += w.bytes;
		s->est_live_blocks += w.blocks;
		s->est_live_bytes += w.bytes;
	}
	t->est_allocs += w.blocks;
	t->est_live_blocks += w.blocks;
	t->est_live_bytes += w.bytes;
	t->st.allocs++;
	t->st.live_blocks++;
	t->st.live_bytes += size;
	if (t->st.live_bytes > t->st.peak_live_bytes)
		t->st.peak_live_bytes = t->st.live_bytes;
	if (t->est_live_bytes > t->est_peak_live_bytes)
		t->est_peak_live_bytes = t->est_live_bytes;
}

static void realloc_begin(struct mt_tracker *t, int tid, uint64_t old)
{
	if (t->nfl == t->capfl) {
		size_t cap = t->capfl ? t->capfl * 2 : 16;
		struct inflight *fl = realloc(t->fl, cap * sizeof *fl);
		if (!fl)
			return;
		t->fl = fl;
		t->capfl = cap;
	}
	struct mt_block b;
	int known = mt_livetable_find_containing(t->live, old, &b) && b.addr == old;
	int censused = !known && t->prior.holds && t->prior.holds(t->prior.ctx, old);
	t->fl[t->nfl++] = (struct inflight){ tid, old, 0, known, censused };
}

/* Ends the realloc in flight on TID into *OUT; false when none was seen
 * starting (the tracker could not record it). */
static bool realloc_end(struct mt_tracker *t, int tid, struct inflight *out)
{
	for (size_t i = 0; i < t->nfl; i++) {
		if (t->fl[i].tid == tid) {
			*out = t->fl[i];
			t->fl[i] = t->fl[--t->nfl];
			return true;
		}
	}
	return false;
}

/* A realloc released OLD.  A block from before attach is only counted: by
 * now another thread may have been handed OLD (the realloc moved), and the
 * block the tracker holds there is that thread's (tests/unit/test_tracker.c,
 * test_realloc_race_unknown_old). */
static void realloc_release(struct mt_tracker *t, const struct mt_event *ev)
{
	struct inflight f;
	if (!realloc_end(t, ev->tid, &f))
		do_free(t, ev->old_addr, ev->caller);
	else if (f.released)
		; /* already freed when another thread was handed it */
	else if (f.known)
		do_free(t, ev->old_addr, ev->caller);
	else if (f.censused || t->census_pending)
		untraced_free(t, ev->old_addr, ev->caller);
	else
		unknown_free(t, ev->caller);
}

/* Allocations are aggregated by stack when the engine took one, else by
 * the caller alone (see MT_SITE_STACK_KEY). */
static uint64_t site_key(const struct mt_event *ev)
{
	return ev->stack ? MT_SITE_STACK_KEY(ev->stack) : ev->caller;
}

/* Calls an in-process agent accounted itself (event.h, MT_EV_COUNTS): no
 * block reaches the live table, the site and the totals take the counts.
 * A delta may free more than it allocates (blocks of earlier deltas); the
 * sums stay right modulo 2^64, and the engine never sends more frees than
 * allocations in all.  Never under sampling (the agent accounts only when
 * every call is seen). */
static void do_counts(struct mt_tracker *t, const struct mt_event *ev)
{
	const struct mt_counts *c = ev->counts;
	if (!c)
		return;
	t->st.accounted += c->allocs + c->frees;
	uint32_t id = mt_sites_intern(t->sites, site_key(ev));
	struct mt_site *s = mt_sites_get(t->sites, id);
	if (s) {
		s->allocs += c->allocs;
		s->alloc_bytes += c->alloc_bytes;
		s->frees += c->frees;
		s->freed_bytes += c->freed_bytes;
		s->live_blocks += c->allocs - c->frees;
		s->live_bytes += c->alloc_bytes - c->freed_bytes;
	}
	t->st.allocs += c->allocs;
	t->st.frees += c->frees;
	t->st.live_blocks += c->allocs - c->frees;
	t->st.live_bytes += c->alloc_bytes - c->freed_bytes;
}

void mt_tracker_event(void *ctx, const struct mt_event *ev)
{
	struct mt_tracker *t = ctx;
	t->st.events++;
	switch (ev->kind) {
	case MT_EV_ALLOC:
		do_alloc(t, ev->addr, ev->size, site_key(ev), ev->time_ns);
		break;
	case MT_EV_FREE:
		do_free(t, ev->addr, ev->caller);
		break;
	case MT_EV_REALLOC_BEGIN:
		realloc_begin(t, ev->tid, ev->old_addr);
		break;
	case MT_EV_REALLOC: {
		/* addr == 0: size == 0 is realloc(p, 0) freeing p, else a failure
		 * that leaves p alone. */
		if (ev->old_addr) {
			if (ev->addr || ev->size == 0) {
				realloc_release(t, ev);
			} else {
				struct inflight f;
				realloc_end(t, ev->tid, &f);
			}
		}
		if (ev->addr)
			do_alloc(t, ev->addr, ev->size, site_key(ev), ev->time_ns);
		break;
	}
	case MT_EV_COUNTS:
		do_counts(t, ev);
		break;
	case MT_EV_COUNTS_DONE:
		t->st.peak_at_reads = true;
		if (t->st.live_bytes > t->st.peak_live_bytes)
			t->st.peak_live_bytes = t->st.live_bytes;
		break;
	}
}

void mt_tracker_stats(const struct mt_tracker *t, struct mt_tracker_stats *out)
{
	*out = t->st;
	out->sample_bytes = t->mean;
	if (t->mean) {
		out->est_allocs = mt_est_round(t->est_allocs);
		out->est_frees = mt_est_round(t->est_frees);
		out->est_live_blocks = mt_est_round(t->est_live_blocks);
		out->est_live_bytes = mt_est_round(t->est_live_bytes);
		out->est_peak_live_bytes = mt_est_round(t->est_peak_live_bytes);
	} else {
		out->est_allocs = t->st.allocs;
		out->est_frees = t->st.frees;
		out->est_live_blocks = t->st.live_blocks;
		out->est_live_bytes = t->st.live_bytes;
		out->est_peak_live_bytes = t->st.peak_live_bytes;
	}
}

const struct mt_sites *mt_tracker_sites(const struct mt_tracker *t)
{
	return t->sites;
}

const struct mt_livetable *mt_tracker_live(const struct mt_tracker *t)
{
	return t->live;
}
