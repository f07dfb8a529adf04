#include <stdlib.h>
#include <string.h>

#include "framecache.h"

#define MAX_INLINE 8

struct entry {
	struct mt_report_frame *frames;
	int n;
	bool done;
};

struct mt_framecache {
	struct mt_symbolizer *sym;
	struct entry *v;       /* indexed by stack id */
	size_t cap;
};

struct mt_framecache *mt_framecache_new(struct mt_symbolizer *sym)
{
	struct mt_framecache *fc = calloc(1, sizeof *fc);
	if (fc)
		fc->sym = sym;
	return fc;
}

static void free_frames(struct mt_report_frame *f, int n)
{
	for (int i = 0; i < n; i++) {
		free((char *)f[i].function);
		free((char *)f[i].module);
		free((char *)f[i].file);
	}
	free(f);
}

void mt_framecache_destroy(struct mt_framecache *fc)
{
	if (!fc)
		return;
	for (size_t i = 0; i < fc->cap; i++)
		free_frames(fc->v[i].frames, fc->v[i].n);
	free(fc->v);
	free(fc);
}

int mt_framecache_stack(struct mt_framecache *fc, uint32_t id, const uint64_t *pcs, int n,
			const struct mt_report_frame **frames)
{
	if (id >= fc->cap) {
		size_t cap = fc->cap ? fc->cap : 256;
		while (cap <= id)
			cap *= 2;
		struct entry *v = realloc(fc->v, cap * sizeof *v);
		if (!v)
			return 0;
		memset(v + fc->cap, 0, (cap - fc->cap) * sizeof *v);
		fc->v = v;
		fc->cap = cap;
	}
	struct entry *e = &fc->v[id];
	if (!e->done) {
		e->frames = calloc((size_t)n * MAX_INLINE, sizeof *e->frames);
		if (!e->frames)
			return 0;
		struct mt_frame tmp[MAX_INLINE];
		for (int i = 0; i < n; i++) {
			int k = mt_symbolize_pc(fc->sym, pcs[i], i > 0, tmp, MAX_INLINE);
			for (int j = 0; j < k; j++) {
				struct mt_report_frame *f = &e->frames[e->n++];
				f->address = tmp[j].address;
				f->function = strdup(tmp[j].sym.function);
				f->offset = tmp[j].sym.offset + (i > 0 && tmp[j].sym.function[0] ? 1 : 0);
				f->module = strdup(tmp[j].sym.module);
				f->module_offset = tmp[j].sym.module_offset + (i > 0 ? 1 : 0);
				f->file = strdup(tmp[j].sym.file);
				f->line = tmp[j].sym.line;
				f->inlined = tmp[j].inlined;
				if (!f->function || !f->module || !f->file) {
					e->n--;
					break;
				}
			}
		}
		e->done = true;
	}
	*frames = e->frames;
	return e->n;
}
