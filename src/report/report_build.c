/* See report_build.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_build.h"
#include "symbols/pyframes.h"
#include "util/clock.h"
#include "util/progress.h"

static void symbolize_site(const struct mt_report_input *in, struct mt_report_site *rs)
{
	if (!in->sym)
		return;
	struct mt_symbol sym;
	/* A return address: the call itself is the byte before. */
	mt_symbolize(in->sym, rs->address - 1, &sym);
	snprintf(rs->function, sizeof rs->function, "%s", sym.function);
	rs->offset = sym.function[0] ? sym.offset + 1 : 0;
	snprintf(rs->module, sizeof rs->module, "%s", sym.module);
	rs->module_offset = sym.module_offset + 1;
	snprintf(rs->file, sizeof rs->file, "%s", sym.file);
	rs->line = sym.line;
}

static void names_of(const struct mt_fn_set *mask, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	for (int f = 0; f < MT_FN__COUNT; f++) {
		if (!mt_fn_set_has(mask, (enum mt_fn)f))
			continue;
		int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", mt_fn_name((enum mt_fn)f));
		if (w < 0 || (size_t)w >= len - n)
			break;
		n += (size_t)w;
	}
}

void mt_report_site_name(struct mt_report_site *rs, const struct mt_report_frame *f)
{
	rs->address = f->address;
	snprintf(rs->function, sizeof rs->function, "%s", f->function);
	rs->offset = f->offset;
	snprintf(rs->module, sizeof rs->module, "%s", f->module);
	rs->module_offset = f->module_offset;
	snprintf(rs->file, sizeof rs->file, "%s", f->file);
	rs->line = f->line;
}

/* Name RS by its frames FR[0..NF): the first one outside the allocator and
 * its wrappers.  False when the names cannot be held. */
static bool name_by_frames(const struct mt_report_input *in, struct mt_report_site *rs,
			   const struct mt_report_frame *fr, int nf)
{
	const char **names = nf > 0 ? calloc((size_t)nf, sizeof *names) : NULL;
	if (!names)
		return false;
	for (int i = 0; i < nf; i++)
		names[i] = fr[i].function;
	int k = mt_wrappers_site_index(in->wrappers, names, nf);
	free(names);
	/* Python code (pyframes.h): the innermost Python frame names the
	 * site, not the interpreter's C code under it */
	for (int i = k; i < nf; i++)
		if (strcmp(fr[i].module, MT_PY_MODULE) == 0) {
			k = i;
			break;
		}
	const struct mt_report_frame *f = &fr[k];
	rs->frames = fr;
	rs->nframes = nf;
	rs->site_frame = k;
	mt_report_site_name(rs, f);
	return true;
}

/* Name a row by its stack: the first frame outside the allocator and its
 * wrappers.  A row keyed by a caller alone (--depth 1) is named the same
 * way by the frames at that return address, the functions inlined there
 * included, so that both engines name it alike. */
static void name_site(const struct mt_report_input *in, struct mt_report_site *rs)
{
	const uint64_t *pcs;
	const struct mt_report_frame *fr;
	int n, nf;
	if ((rs->key & MT_SITE_STACK_BIT) && in->stacks && in->frames &&
	    (n = mt_stacks_get(in->stacks, (uint32_t)rs->key, &pcs)) > 0) {
		nf = mt_framecache_stack(in->frames, (uint32_t)rs->key, pcs, n, &fr);
		if (name_by_frames(in, rs, fr, nf))
			return;
	}
	if (rs->key & MT_SITE_STACK_BIT)
		return;
	if (in->frames && in->wrappers && (nf = mt_framecache_caller(in->frames, rs->key, &fr)) > 0 &&
	    name_by_frames(in, rs, fr, nf))
		return;
	rs->address = rs->key;
	symbolize_site(in, rs);
}

static void header(const struct mt_report_input *in, struct mt_report *r)
{
	struct mt_tracker_stats ts;
	mt_tracker_stats(in->tracker, &ts);
	r->pid = in->pid;
	snprintf(r->comm, sizeof r->comm, "%s", in->comm ? in->comm : "");
	r->engine = in->engine;
	if (in->set) {
		snprintf(r->allocator, sizeof r->allocator, "%s", in->set->allocator);
		snprintf(r->unsupported, sizeof r->unsupported, "%s", in->set->unhooked);
	}
	snprintf(r->python, sizeof r->python, "%s", in->python ? in->python : "");
	r->pytab = in->pytab;
	r->threads = in->threads;
	r->duration_s = in->duration_s;
	r->events = in->events;
	r->unknown_frees = ts.unknown_frees;
	r->unknown_frees_internal = ts.unknown_frees_internal;
	r->lost_events = in->lost_events;
	r->stacks_cut = in->stacks_cut;
	r->nested_calls = in->nested_calls;
	r->in_flight = in->in_flight;
	r->inconsistencies = ts.inconsistencies;
	r->end_reason = in->end_reason;
	/* The tracker's mean, which the session set from --sample-bytes: a
	 * request from another memtrace brings options of its own, but the
	 * trace is this session's. */
	r->sample_bytes = ts.sample_bytes;
	r->unsampled_frees = ts.unsampled_frees;
	r->live_blocks = ts.est_live_blocks;
	r->live_bytes = ts.est_live_bytes;
	r->allocs = ts.est_allocs;
	r->frees = ts.est_frees;
	r->peak_live_bytes = ts.est_peak_live_bytes;
	r->peak_at_reads = ts.peak_at_reads;
	r->rss = in->rss;
	r->depth = in->depth;
	r->census = in->census;
}

/* hooks: what is traced; unhooked: entries found but not hooked, whose
 * calls are unseen (the header says so) */
static void hooks(const struct mt_report_input *in, struct mt_report *r)
{
	for (int i = 0; in->set && r->hooks && r->unhooked && i < in->set->n; i++) {
		const struct mt_hook_spec *h = &in->set->hooks[i];
		bool installed = in->installed && in->installed[i];
		struct mt_report_hook *rh = installed ? &r->hooks[r->nhooks++]
						      : &r->unhooked[r->nunhooked++];
		snprintf(rh->symbol, sizeof rh->symbol, "%s", h->symbol);
		names_of(&h->fn_mask, rh->names, sizeof rh->names);
		rh->address = h->addr;
		snprintf(rh->module, sizeof rh->module, "%s", h->module);
		rh->file_offset = h->file_offset;
		snprintf(rh->engine, sizeof rh->engine, "%s", r->engine ? r->engine : "");
		snprintf(rh->why, sizeof rh->why, "%s",
			 installed || !in->why_not ? "" : in->why_not[i]);
		if (installed && !r->pymalloc[0] && mt_fn_family(h->fn) == MT_FAM_PY)
			snprintf(r->pymalloc, sizeof r->pymalloc, "%s", h->module);
	}
}

int mt_report_build(const struct mt_report_input *in, struct mt_report *r)
{
	memset(r, 0, sizeof *r);
	header(in, r);
	r->hooks = calloc(MT_MAX_HOOKS, sizeof *r->hooks);
	r->unhooked = calloc(MT_MAX_HOOKS, sizeof *r->unhooked);
	hooks(in, r);

	const struct mt_sites *sites = mt_tracker_sites(in->tracker);
	size_t n = mt_sites_count(sites);
	r->sites = calloc(n ? n : 1, sizeof *r->sites);
	if (!r->sites || !r->hooks || !r->unhooked)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct mt_site *st = mt_sites_get_const(sites, (uint32_t)i);
		struct mt_report_site *rs = &r->sites[r->nsites++];
		struct mt_site_counts c;
		mt_tracker_site_counts(in->tracker, st, &c);
		rs->key = st->key;
		rs->live_blocks = c.live_blocks;
		rs->live_bytes = c.live_bytes;
		rs->allocs = c.allocs;
		rs->frees = c.frees;
		rs->alloc_bytes = c.alloc_bytes;
		rs->sampled_live_blocks = st->live_blocks;
		rs->sampled_allocs = st->allocs;
		rs->delta_total = (int64_t)c.live_bytes;
		name_site(in, rs);
		mt_progress_update(in->progress, mt_clock_s(), "naming sites", i + 1, n, NULL);
	}
	mt_progress_end(in->progress);
	return 0;
}

void mt_report_free(struct mt_report *r)
{
	for (size_t i = 0; r->sites && i < r->nsites; i++) {
		free(r->sites[i].series_t);
		free(r->sites[i].series_bytes);
	}
	free(r->sites);
	free(r->hooks);
	free(r->unhooked);
}
