/* memtrace report's rows from snapshots (report_snap.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "report/report.h"
#include "report/report_build.h"
#include "report/report_snap.h"

/* A stack's identity across restarts, hashed (FNV-1a, 64 bits): per frame
 * its module's build-id (its file's base name without one) and offset, or
 * its function name (else address) outside any module. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t stack_id(const struct mt_snapshot *s, const struct mt_snap_stack *st)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint32_t i = 0; i < st->nframes; i++) {
		const struct mt_snap_frame *fr = &s->frames[st->frames[i]];
		if (fr->module) {
			const struct mt_snap_module *m = &s->modules[fr->module - 1];
			if (m->build_id_len) {
				h = fnv(h, m->build_id, m->build_id_len);
			} else {
				const char *base = m->path ? strrchr(m->path, '/') : NULL;
				base = base ? base + 1 : m->path ? m->path : "";
				h = fnv(h, base, strlen(base));
			}
			h = fnv(h, &fr->module_offset, sizeof fr->module_offset);
		} else if (fr->function && fr->function[0]) {
			h = fnv(h, fr->function, strlen(fr->function));
		} else {
			h = fnv(h, &fr->address, sizeof fr->address);
		}
		h = fnv(h, "|", 1);
	}
	return h;
}

struct keyed {
	uint64_t id;
	uint32_t site;  /* index into the snapshot's sites */
};

static int by_id(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int by_time(const void *a, const void *b)
{
	const struct mt_snapshot *x = *(struct mt_snapshot *const *)a;
	const struct mt_snapshot *y = *(struct mt_snapshot *const *)b;
	return x->time_unix_ns < y->time_unix_ns ? -1 : x->time_unix_ns > y->time_unix_ns;
}

/* The first of the stacks with identity ID in K[0..N) (sorted by id). */
static size_t first_of(const struct keyed *k, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (k[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct keyed *keys_of(const struct mt_snapshot *s)
{
	struct keyed *k = malloc((s->nsites ? s->nsites : 1) * sizeof *k);
	if (!k)
		return NULL;
	for (uint32_t i = 0; i < s->nsites; i++)
		k[i] = (struct keyed){ stack_id(s, &s->stacks[s->sites[i].stack]), i };
	qsort(k, s->nsites, sizeof *k, by_id);
	return k;
}

static void to_frame(const struct mt_snapshot *s, const struct mt_snap_frame *f,
		     struct mt_report_frame *out)
{
	const struct mt_snap_module *m = f->module ? &s->modules[f->module - 1] : NULL;
	*out = (struct mt_report_frame){
		.address = f->address, .function = f->function ? f->function : "",
		.offset = f->offset, .module = m && m->path ? m->path : "",
		.module_offset = f->module_offset, .file = f->file ? f->file : "",
		.line = f->line, .inlined = f->inlined };
}

static void header(const struct mt_snapshot *last, struct mt_report *r)
{
	r->pid = last->pid;
	snprintf(r->comm, sizeof r->comm, "%s", last->comm ? last->comm : "");
	r->engine = last->engine ? last->engine : "";
	snprintf(r->allocator, sizeof r->allocator, "%s", last->allocator ? last->allocator : "");
	r->duration_s = last->duration_s;
	r->events = last->events;
	r->unknown_frees = last->unknown_frees;
	r->lost_events = last->lost_events;
	r->sample_bytes = last->sample_bytes;
	r->unsampled_frees = last->unsampled_frees;
	r->depth = last->depth;
	r->end_reason = "snapshot";
	r->group_by = "stack";
}

/* Row I from the latest snapshot's site SI; its frames at FR. */
static void row(const struct mt_snapshot *s, const struct mt_snap_site *si,
		struct mt_report_frame *fr, struct mt_report_site *rs)
{
	const struct mt_snap_stack *st = &s->stacks[si->stack];
	for (uint32_t k = 0; k < st->nframes; k++)
		to_frame(s, &s->frames[st->frames[k]], &fr[k]);
	const struct mt_report_frame *f = &fr[st->site_frame];
	rs->key = si->stack;
	mt_report_site_name(rs, f);
	rs->frames = fr;
	rs->nframes = (int)st->nframes;
	rs->site_frame = (int)st->site_frame;
	rs->live_blocks = si->live_blocks;
	rs->live_bytes = si->live_bytes;
	rs->allocs = si->allocs;
	rs->frees = si->frees;
	rs->alloc_bytes = si->alloc_bytes;
}

/* One point of the rows' series: snapshot SNAP's own live bytes (POINT
 * -1), or point POINT of the growth series it carries. */
struct point {
	size_t snap;
	int64_t point;
	double t;  /* Unix time, seconds */
};

/* The points of V[0..N) (oldest first), newest first into P: every point
 * of the newest snapshot, then of each older one those before the first
 * point already taken.  So where snapshots overlap in time (copies of one
 * attach --record file taken over time, whose series repeat each other's),
 * the newest one's points are used; a snapshot without a series gives one
 * point, its own time.  Returns how many. */
static size_t points(struct mt_snapshot **v, size_t n, struct point *p)
{
	size_t np = 0;
	double from = HUGE_VAL;
	for (size_t j = n; j-- > 0;) {
		const struct mt_snapshot *s = v[j];
		double start = (double)s->start_unix_ns / 1e9;
		if (!s->nseries) {
			double t = (double)s->time_unix_ns / 1e9;
			if (t < from)
				p[np++] = (struct point){ j, -1, from = t };
			continue;
		}
		for (uint32_t k = s->nseries; k-- > 0;)
			if (start + s->series_t[k] < from)
				p[np++] = (struct point){ j, k, start + s->series_t[k] };
		from = fmin(from, start + s->series_t[0]);
	}
	return np;
}

/* Live bytes at point P of the stacks of its snapshot K[LO..) with identity ID. */
static uint64_t bytes_at(const struct mt_snapshot *s, const struct keyed *k, size_t lo,
			 uint64_t id, const struct point *p)
{
	uint64_t sum = 0;
	for (; lo < s->nsites && k[lo].id == id; lo++)
		sum += p->point < 0 ? s->sites[k[lo].site].live_bytes :
		       s->series_bytes[(size_t)k[lo].site * s->nseries + (size_t)p->point];
	return sum;
}

/* The trend of row RS's series, as attach gives it (series.h). */
static void trend(struct mt_report_site *rs)
{
	struct mt_series *ser = mt_series_new();
	if (!ser)
		return;
	for (size_t j = 0; j < rs->nseries; j++)
		mt_series_add(ser, rs->series_t[j] - rs->series_t[0], rs->series_bytes[j], 0);
	struct mt_trend_info ti;
	mt_series_trend(ser, &ti);
	rs->trend = mt_trend_name(ti.trend);
	rs->rate_bytes_per_min = ti.rate_bytes_per_min;
	rs->score = ti.score;
	mt_series_destroy(ser);
}

static int series(struct mt_snapshot **v, size_t n, struct mt_report *r)
{
	const struct mt_snapshot *last = v[n - 1];
	size_t max = 0;
	for (size_t j = 0; j < n; j++)
		max += v[j]->nseries ? v[j]->nseries : 1;
	struct point *p = malloc(max * sizeof *p);
	if (!p)
		return -ENOMEM;
	size_t np = points(v, n, p);
	for (size_t i = 0; i < r->nsites; i++) {
		r->sites[i].series_t = malloc(np * sizeof(double));
		r->sites[i].series_bytes = malloc(np * sizeof(uint64_t));
		if (!r->sites[i].series_t || !r->sites[i].series_bytes) {
			free(p);
			return -ENOMEM;
		}
		r->sites[i].nseries = np;
	}
	/* P holds each snapshot's points together (points()) */
	for (size_t q0 = 0, q1; q0 < np; q0 = q1) {
		const struct mt_snapshot *s = v[p[q0].snap];
		for (q1 = q0 + 1; q1 < np && p[q1].snap == p[q0].snap;)
			q1++;
		struct keyed *k = keys_of(s);
		if (!k) {
			free(p);
			return -ENOMEM;
		}
		for (size_t i = 0; i < r->nsites; i++) {
			uint64_t id = stack_id(last, &last->stacks[r->sites[i].key]);
			size_t lo = first_of(k, s->nsites, id);
			/* P is newest first; the row's series oldest first */
			for (size_t q = q0; q < q1; q++) {
				r->sites[i].series_t[np - 1 - q] = p[q].t;
				r->sites[i].series_bytes[np - 1 - q] = bytes_at(s, k, lo, id, &p[q]);
			}
		}
		free(k);
	}
	free(p);
	for (size_t i = 0; i < r->nsites; i++)
		trend(&r->sites[i]);
	return 0;
}

int mt_report_from_snapshots(struct mt_snapshot *const *snaps, size_t n, struct mt_report *r,
			     struct mt_report_frame **frames)
{
	memset(r, 0, sizeof *r);
	*frames = NULL;
	struct mt_snapshot **v = malloc(n * sizeof *v);
	if (!v)
		return -ENOMEM;
	memcpy(v, snaps, n * sizeof *v);
	qsort(v, n, sizeof *v, by_time);
	const struct mt_snapshot *last = v[n - 1];
	header(last, r);
	for (size_t j = n; j-- > 0 && !r->census;)
		r->census = v[j]->census;
	size_t nfr = 0;
	for (uint32_t i = 0; i < last->nsites; i++)
		nfr += last->stacks[last->sites[i].stack].nframes;
	r->sites = calloc(last->nsites ? last->nsites : 1, sizeof *r->sites);
	*frames = malloc((nfr ? nfr : 1) * sizeof **frames);
	int err = r->sites && *frames ? 0 : -ENOMEM;
	for (uint32_t i = 0, at = 0; !err && i < last->nsites; i++) {
		row(last, &last->sites[i], *frames + at, &r->sites[i]);
		at += last->stacks[last->sites[i].stack].nframes;
		r->nsites++;
		r->live_blocks += last->sites[i].live_blocks;
		r->live_bytes += last->sites[i].live_bytes;
		r->allocs += last->sites[i].allocs;
		r->frees += last->sites[i].frees;
	}
	if (!err)
		err = series(v, n, r);
	if (!err)
		mt_report_sort(r);
	free(v);
	return err;
}
