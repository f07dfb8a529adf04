#include <stdlib.h>
#include <string.h>

#include "report/framecache.h"
#include "symbols/pyframes.h"

#define MAX_INLINE 8

struct entry {
	struct mt_report_frame *frames;
	int n;
	bool done;
};

/* A return address's frames (rows keyed by the caller alone). */
struct caller_entry {
	uint64_t addr;         /* 0: empty slot */
	struct entry e;
};

struct mt_framecache {
	struct mt_symbolizer *sym;
	struct entry *v;       /* indexed by stack id */
	size_t cap;
	struct caller_entry *callers;  /* open addressing, power of 2 */
	size_t ncallers, capcallers;
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
	for (size_t i = 0; i < fc->capcallers; i++)
		free_frames(fc->callers[i].e.frames, fc->callers[i].e.n);
	free(fc->v);
	free(fc->callers);
	free(fc);
}

/* E's frames from PCS[0..N), inline frames expanded: PCS[0] is the
 * allocator's entry when ENTRY (looked up as is), every other pc a return
 * address (looked up at the call, the byte before). */
static int build(struct mt_framecache *fc, struct entry *e, const uint64_t *pcs, int n,
		 bool entry)
{
	e->frames = calloc((size_t)n * MAX_INLINE, sizeof *e->frames);
	if (!e->frames)
		return -1;
	struct mt_frame tmp[MAX_INLINE];
	for (int i = 0; i < n; i++) {
		/* a Python frame (pyframes.h) is no return address */
		bool ret = (i > 0 || !entry) && !mt_pyframes_is_tagged(pcs[i]);
		int k = mt_symbolize_pc(fc->sym, pcs[i], ret, tmp, MAX_INLINE);
		for (int j = 0; j < k; j++) {
			struct mt_report_frame *f = &e->frames[e->n++];
			f->address = tmp[j].address;
			f->function = strdup(tmp[j].sym.function);
			f->offset = tmp[j].sym.offset + (ret && tmp[j].sym.function[0] ? 1 : 0);
			f->module = strdup(tmp[j].sym.module);
			f->module_offset = tmp[j].sym.module_offset + (ret ? 1 : 0);
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
	return 0;
}

static void forget_if_unnamed_jit(struct entry *e)
{
	for (int i = 0; e->done && i < e->n; i++) {
		if (!e->frames[i].function[0] && strcmp(e->frames[i].module, "[jit]") == 0) {
			free_frames(e->frames, e->n);
			*e = (struct entry){ 0 };
		}
	}
}

void mt_framecache_forget_unnamed_jit(struct mt_framecache *fc)
{
	if (!fc)
		return;
	for (size_t i = 0; i < fc->cap; i++)
		forget_if_unnamed_jit(&fc->v[i]);
	/* a caller's slot stays taken (open addressing): rebuilt in place */
	for (size_t i = 0; i < fc->capcallers; i++)
		forget_if_unnamed_jit(&fc->callers[i].e);
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
	if (!e->done && build(fc, e, pcs, n, true) < 0)
		return 0;
	*frames = e->frames;
	return e->n;
}

static size_t caller_slot(uint64_t addr, size_t cap)
{
	return (size_t)((addr * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

static bool grow_callers(struct mt_framecache *fc)
{
	size_t cap = fc->capcallers ? fc->capcallers * 2 : 64;
	struct caller_entry *v = calloc(cap, sizeof *v);
	if (!v)
		return false;
	for (size_t i = 0; i < fc->capcallers; i++) {
		if (!fc->callers[i].addr)
			continue;
		size_t j = caller_slot(fc->callers[i].addr, cap);
		while (v[j].addr)
			j = (j + 1) & (cap - 1);
		v[j] = fc->callers[i];
	}
	free(fc->callers);
	fc->callers = v;
	fc->capcallers = cap;
	return true;
}

int mt_framecache_caller(struct mt_framecache *fc, uint64_t caller,
			 const struct mt_report_frame **frames)
{
	if (!caller)
		return 0;
	if (2 * (fc->ncallers + 1) > fc->capcallers && !grow_callers(fc))
		return 0;
	size_t j = caller_slot(caller, fc->capcallers);
	while (fc->callers[j].addr && fc->callers[j].addr != caller)
		j = (j + 1) & (fc->capcallers - 1);
	struct caller_entry *c = &fc->callers[j];
	if (!c->addr || !c->e.done) {
		if (build(fc, &c->e, &caller, 1, false) < 0)
			return 0;
		fc->ncallers += !c->addr;
		c->addr = caller;
	}
	*frames = c->e.frames;
	return c->e.n;
}
