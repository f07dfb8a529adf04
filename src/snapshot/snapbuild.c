/* See snapbuild.h. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "snapshot/snapbuild.h"

struct builder {
	const struct mt_snapbuild_input *in;
	struct mt_snapshot *s;
	size_t capmodules, capframes, capstacks, capsites;
	size_t capseries;        /* rows of nseries values */
	uint32_t *frame_slots;   /* open addressing over frames: index + 1 */
	size_t nslots;
};

static char *dup(const char *s)
{
	return strdup(s ? s : "");
}

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 64;
	void *p = realloc(*v, c * size);
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

/* The module index + 1 of PATH, added with its build-id (looked up at an
 * address inside it) on first sight; 0 for no module. */
static uint32_t module_index(struct builder *b, const char *path, uint64_t addr)
{
	if (!path || !path[0])
		return 0;
	struct mt_snapshot *s = b->s;
	for (uint32_t i = 0; i < s->nmodules; i++) {
		struct mt_snap_module *m = &s->modules[i];
		if (strcmp(m->path, path) != 0)
			continue;
		/* Not found at the first address (the executable's header
		 * mapping may not be code the symbolizer knows yet): at a pc of
		 * a frame in it then. */
		if (!m->build_id_len && b->in->sym && addr)
			m->build_id_len = (uint32_t)mt_symbolizer_build_id(b->in->sym, addr, m->build_id,
									   sizeof m->build_id);
		return i + 1;
	}
	if (!grow((void **)&s->modules, &b->capmodules, s->nmodules, sizeof *s->modules))
		return 0;
	struct mt_snap_module *m = &s->modules[s->nmodules];
	memset(m, 0, sizeof *m);
	m->path = dup(path);
	if (!m->path)
		return 0;
	if (b->in->sym && addr)
		m->build_id_len = (uint32_t)mt_symbolizer_build_id(b->in->sym, addr, m->build_id,
								   sizeof m->build_id);
	return ++s->nmodules;
}

static size_t frame_hash(const struct mt_report_frame *f)
{
	uint64_t k = f->address * 0x9e3779b97f4a7c15ULL;
	for (const char *p = f->function; *p; p++)
		k = (k ^ (unsigned char)*p) * 0x100000001b3ULL;
	return (size_t)(k ^ (k >> 29) ^ (uint64_t)f->inlined);
}

static bool same_frame(const struct mt_snap_frame *a, const struct mt_report_frame *f)
{
	return a->address == f->address && a->inlined == f->inlined && a->line == f->line &&
	       strcmp(a->function, f->function) == 0 && strcmp(a->file, f->file) == 0;
}

static bool rehash(struct builder *b)
{
	size_t n = b->nslots ? b->nslots * 2 : 1024;
	uint32_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return false;
	for (uint32_t i = 0; i < b->s->nframes; i++) {
		const struct mt_snap_frame *f = &b->s->frames[i];
		struct mt_report_frame rf = { .address = f->address, .function = f->function,
					      .inlined = f->inlined };
		size_t j = frame_hash(&rf) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = i + 1;
	}
	free(b->frame_slots);
	b->frame_slots = slots;
	b->nslots = n;
	return true;
}

/* The index of frame F in the snapshot, stored once; UINT32_MAX on OOM. */
static uint32_t frame_index(struct builder *b, const struct mt_report_frame *f)
{
	struct mt_snapshot *s = b->s;
	if ((s->nframes + 1) * 2 > b->nslots && !rehash(b))
		return UINT32_MAX;
	size_t j = frame_hash(f) & (b->nslots - 1);
	for (; b->frame_slots[j]; j = (j + 1) & (b->nslots - 1))
		if (same_frame(&s->frames[b->frame_slots[j] - 1], f))
			return b->frame_slots[j] - 1;
	if (!grow((void **)&s->frames, &b->capframes, s->nframes, sizeof *s->frames))
		return UINT32_MAX;
	struct mt_snap_frame *n = &s->frames[s->nframes];
	memset(n, 0, sizeof *n);
	n->module = module_index(b, f->module, f->address);
	n->module_offset = f->module_offset;
	n->address = f->address;
	n->function = dup(f->function);
	n->offset = f->offset;
	n->file = dup(f->file);
	n->line = f->line;
	n->inlined = f->inlined;
	if (!n->function || !n->file) {
		free(n->function);
		free(n->file);
		return UINT32_MAX;
	}
	b->frame_slots[j] = s->nframes + 1;
	return s->nframes++;
}

/* The growth series of tracker site ID, for the snapshot's site just added
 * (its last); zeros when the series never sampled it; true also when the
 * snapshot has no series. */
static bool add_series(struct builder *b, uint32_t id)
{
	struct mt_snapshot *s = b->s;
	if (!s->nseries)
		return true;
	if (!grow((void **)&s->series_bytes, &b->capseries, s->nsites - 1,
		  s->nseries * sizeof *s->series_bytes))
		return false;
	uint64_t *row = s->series_bytes + (size_t)(s->nsites - 1) * s->nseries;
	const uint64_t *v = mt_recseries_site(b->in->series, id);
	if (v)
		memcpy(row, v, s->nseries * sizeof *v);
	else
		memset(row, 0, s->nseries * sizeof *row);
	return true;
}

/* The times of the growth series, when there is one. */
static bool add_times(struct builder *b)
{
	const double *t;
	size_t n = b->in->series ? mt_recseries_times(b->in->series, &t) : 0;
	if (!n)
		return true;
	if (!(b->s->series_t = malloc(n * sizeof *t)))
		return false;
	memcpy(b->s->series_t, t, n * sizeof *t);
	b->s->nseries = (uint32_t)n;
	return true;
}

/* One site: the tracker's counters for site ID, keyed by a stack (or a
 * caller alone). */
static bool add_site(struct builder *b, uint32_t id, const struct mt_site *site)
{
	const struct mt_snapbuild_input *in = b->in;
	struct mt_snapshot *s = b->s;
	const struct mt_report_frame *fr = NULL;
	struct mt_report_frame one;
	int nf = 0;
	if ((site->key & MT_SITE_STACK_BIT) && in->stacks && in->frames) {
		const uint64_t *pcs;
		int n = mt_stacks_get(in->stacks, (uint32_t)site->key, &pcs);
		if (n > 0)
			nf = mt_framecache_stack(in->frames, (uint32_t)site->key, pcs, n, &fr);
	}
	/* A caller alone (--depth 1): the frames at that return address, as
	 * reports name the row (report_build.c, name_site). */
	if (!(site->key & MT_SITE_STACK_BIT) && in->frames)
		nf = mt_framecache_caller(in->frames, site->key, &fr);
	struct mt_symbol sym;
	if (nf <= 0) {
		/* No stack: the caller alone, as a one-frame stack. */
		memset(&one, 0, sizeof one);
		memset(&sym, 0, sizeof sym);
		one.address = site->key & ~MT_SITE_STACK_BIT;
		if (in->sym && !(site->key & MT_SITE_STACK_BIT))
			mt_symbolize(in->sym, one.address - 1, &sym);
		one.function = sym.function;
		one.module = sym.module;
		one.module_offset = sym.module_offset + 1;
		one.offset = sym.function[0] ? sym.offset + 1 : 0;
		one.file = sym.file;
		one.line = sym.line;
		fr = &one;
		nf = 1;
	}
	if (!grow((void **)&s->stacks, &b->capstacks, s->nstacks, sizeof *s->stacks) ||
	    !grow((void **)&s->sites, &b->capsites, s->nsites, sizeof *s->sites))
		return false;
	struct mt_snap_stack *st = &s->stacks[s->nstacks];
	st->frames = malloc((size_t)nf * sizeof *st->frames);
	if (!st->frames)
		return false;
	st->nframes = 0;
	const char **names = malloc((size_t)nf * sizeof *names);
	if (!names) {
		free(st->frames);
		return false;
	}
	for (int i = 0; i < nf; i++) {
		uint32_t k = frame_index(b, &fr[i]);
		if (k == UINT32_MAX) {
			free(names);
			free(st->frames);
			return false;
		}
		st->frames[st->nframes++] = k;
		names[i] = fr[i].function;
	}
	st->site_frame = nf > 1 && in->wrappers ?
		(uint32_t)mt_wrappers_site_index(in->wrappers, names, nf) : 0;
	free(names);
	/* exact, or the estimates when sampling */
	struct mt_site_counts c;
	mt_tracker_site_counts(in->tracker, site, &c);
	s->sites[s->nsites] = (struct mt_snap_site){
		.stack = s->nstacks, .live_blocks = c.live_blocks, .live_bytes = c.live_bytes,
		.allocs = c.allocs, .frees = c.frees, .alloc_bytes = c.alloc_bytes,
	};
	s->nstacks++;
	s->nsites++;
	return add_series(b, id);
}

struct mt_snapshot *mt_snapbuild(const struct mt_snapbuild_input *in)
{
	struct mt_snapshot *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	struct builder b = { .in = in, .s = s };
	s->memtrace_version = dup(MT_VERSION);
	s->pid = in->pid;
	s->comm = dup(in->comm);
	s->exe = dup(in->exe);
	s->engine = dup(in->engine);
	s->allocator = dup(in->allocator);
	s->start_unix_ns = in->start_unix_ns;
	s->time_unix_ns = in->time_unix_ns;
	s->duration_s = in->duration_s;
	s->events = in->events;
	s->unknown_frees = in->unknown_frees;
	s->lost_events = in->lost_events;
	s->depth = in->depth;
	if (in->tracker) {
		struct mt_tracker_stats ts;
		mt_tracker_stats(in->tracker, &ts);
		s->sample_bytes = ts.sample_bytes;
		s->unsampled_frees = ts.unsampled_frees;
	}
	s->format_version = mt_snapshot_format_for(s);
	bool ok = s->memtrace_version && s->comm && s->exe && s->engine && s->allocator;
	if (ok && in->exe && in->exe[0])
		s->exe_module = module_index(&b, in->exe, in->exe_load);
	if (ok && in->census)
		ok = mt_snapshot_set_census(s, in->census) == 0;
	if (ok)
		ok = add_times(&b);

	const struct mt_sites *sites = in->tracker ? mt_tracker_sites(in->tracker) : NULL;
	size_t n = sites ? mt_sites_count(sites) : 0;
	for (size_t i = 0; ok && i < n; i++) {
		const struct mt_site *site = mt_sites_get_const(sites, (uint32_t)i);
		if (site->allocs)
			ok = add_site(&b, (uint32_t)i, site);
	}
	free(b.frame_slots);
	if (!ok) {
		mt_snapshot_free(s);
		return NULL;
	}
	return s;
}
