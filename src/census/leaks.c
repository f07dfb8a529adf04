/* The leak check.  See leaks.h.
 *
 * Finding the block a word points into: the blocks (sorted by address)
 * are cut into spans where they lie within SPAN_GAP of each other (the
 * brk heap, each arena's heaps, runs of mmapped chunks); a word outside
 * every span is no pointer.  Each span has a page index, the first block
 * that ends past each 4 KiB page's start, so a pointer costs a binary
 * search among the spans (a few) and one among the blocks of its page.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "census/leaks.h"
#include "util/u64map.h"

#define PAGE_SHIFT 12
#define SPAN_GAP (64u << 10)
#define WIN_SHIFT 16 /* 64 KiB windows */
#define WIN (1u << WIN_SHIFT)
#define NWIN 64		 /* 4 MiB of cached windows, direct-mapped */
#define CHUNK (1u << 20) /* big blocks and roots: read 1 MiB at a time */
#define TICK_BLOCKS 4096

/* Block states (the low bits) and the flag of phase 1. */
enum { S_UNREACHED, S_POSSIBLE, S_REACHABLE, S_INDIRECT, S_LEADER, S_MASK = 7 };
#define F_INTERIOR 0x80 /* an interior pointer from a root or a reachable block */
#define F_NOSCAN 0x40	/* reachable, its contents not to be scanned */
#define ROOT_BIT 0x80000000u

struct span {
	uint64_t lo, hi;     /* page-aligned */
	uint32_t first, end; /* blocks [first, end) */
	uint32_t *page;	     /* per page: the first block ending past its start */
};

struct window {
	uint64_t base; /* WIN-aligned; UINT64_MAX: empty */
	uint32_t len;  /* bytes read (less at a mapping's end) */
	uint8_t *buf;
};

struct node {
	uint32_t parent; /* node; a root node's is its own id */
	uint32_t id;	 /* group, or label (root node) */
	bool root, run;
	uint64_t blocks, bytes;
};

struct mt_leaks {
	struct mt_leaks_config cfg;
	const struct mt_census_block *v;
	size_t n;
	uint8_t *st;
	uint32_t *parent; /* phase 1: block or ROOT_BIT|label; then the path node;
	                                a leader's: its slot */
	uint32_t *q;
	size_t qhead, qtail;
	struct span *spans;
	size_t nspans;
	uint64_t lo, hi; /* of all spans */
	struct window win[NWIN];
	uint8_t *chunk; /* CHUNK bytes */
	/* the label cache of the last root range */
	uint64_t lab_lo, lab_hi;
	uint32_t lab;
	uint64_t *where; /* per label: the one word that reached, or UINT64_MAX */
	size_t nwhere;
	/* phase 3 */
	uint64_t *slot;	 /* a leader's indirect bytes */
	uint32_t leader; /* the clique being made */
	size_t nslots, capslots;
	/* paths */
	struct node *nodes;
	size_t nnodes, capnodes;
	struct mt_u64map paths; /* parent << 32 | id -> node */
	bool marked;
	uint64_t ticks;
	struct mt_leaks_totals t;
};

/* ---- blocks ------------------------------------------------------------ */

static uint64_t usable(const struct mt_leaks *l, size_t i)
{
	uint32_t s16 = l->v[i].size16;
	if (s16 != UINT32_MAX && (uint64_t)s16 * 16 < 4096)
		return (uint64_t)s16 * 16 - 8;
	return mt_census_usable(l->cfg.census, i);
}

static uint32_t group_of(const struct mt_leaks *l, size_t i)
{
	if (l->cfg.group)
		return l->cfg.group(l->cfg.group_ctx, i, l->v[i].addr, l->v[i].row);
	return l->v[i].row;
}

static int add_span(struct mt_leaks *l, size_t first, size_t end, uint64_t hi)
{
	struct span *s = realloc(l->spans, (l->nspans + 1) * sizeof *s);
	if (!s)
		return -ENOMEM;
	l->spans = s;
	struct span *sp = &s[l->nspans];
	sp->lo = l->v[first].addr & ~((1ull << PAGE_SHIFT) - 1);
	sp->hi = (hi + (1ull << PAGE_SHIFT) - 1) & ~((1ull << PAGE_SHIFT) - 1);
	sp->first = (uint32_t)first;
	sp->end = (uint32_t)end;
	size_t pages = (sp->hi - sp->lo) >> PAGE_SHIFT;
	sp->page = malloc((pages + 1) * sizeof *sp->page);
	if (!sp->page)
		return -ENOMEM;
	size_t i = first;
	for (size_t p = 0; p <= pages; p++) {
		uint64_t at = sp->lo + ((uint64_t)p << PAGE_SHIFT);
		while (i < end && l->v[i].addr + usable(l, i) <= at)
			i++;
		sp->page[p] = (uint32_t)i;
	}
	l->nspans++;
	return 0;
}

static int build_spans(struct mt_leaks *l)
{
	size_t first = 0;
	uint64_t hi = 0;
	for (size_t i = 0; i < l->n; i++) {
		uint64_t end = l->v[i].addr + usable(l, i);
		if (i > first && l->v[i].addr > hi + SPAN_GAP) {
			if (add_span(l, first, i, hi) < 0)
				return -ENOMEM;
			first = i;
		}
		hi = end > hi ? end : hi;
	}
	if (l->n && add_span(l, first, l->n, hi) < 0)
		return -ENOMEM;
	l->lo = l->nspans ? l->spans[0].lo : 0;
	l->hi = l->nspans ? l->spans[l->nspans - 1].hi : 0;
	return 0;
}

/* The block containing ADDR: its index, or -1. */
static long find(const struct mt_leaks *l, uint64_t addr)
{
	if (addr < l->lo || addr >= l->hi)
		return -1;
	size_t a = 0, b = l->nspans;
	while (a < b) { /* the last span with lo <= addr */
		size_t m = a + (b - a) / 2;
		if (l->spans[m].lo <= addr)
			a = m + 1;
		else
			b = m;
	}
	if (a == 0)
		return -1;
	const struct span *s = &l->spans[a - 1];
	if (addr >= s->hi)
		return -1;
	size_t p = (addr - s->lo) >> PAGE_SHIFT;
	size_t lo = s->page[p], hi = s->page[p + 1] < s->end ? s->page[p + 1] + 1 : s->end;
	while (lo < hi) { /* the first block starting past addr */
		size_t m = lo + (hi - lo) / 2;
		if (l->v[m].addr <= addr)
			lo = m + 1;
		else
			hi = m;
	}
	if (lo == s->page[p])
		return -1;
	size_t i = lo - 1;
	if (l->v[i].row == MT_CENSUS_ROW_FREED || addr >= l->v[i].addr + usable(l, i))
		return -1;
	return (long)i;
}

bool mt_leaks_find(const struct mt_leaks *l, uint64_t addr, size_t *i, uint64_t *lo, uint64_t *hi)
{
	long k = find(l, addr);
	if (k < 0)
		return false;
	*i = (size_t)k;
	*lo = l->v[k].addr;
	*hi = l->v[k].addr + usable(l, (size_t)k);
	return true;
}

/* ---- life ------------------------------------------------------------- */

struct mt_leaks *mt_leaks_new(const struct mt_leaks_config *cfg, const char **why)
{
	*why = "out of memory for the leak check";
	struct mt_leaks *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->cfg = *cfg;
	l->v = mt_census_blocks(cfg->census, &l->n);
	if (l->n >= ROOT_BIT) {
		*why = "more than 2^31 blocks: too many for the leak check";
		free(l);
		return NULL;
	}
	size_t n = l->n ? l->n : 1;
	l->st = calloc(n, 1);
	l->parent = malloc(n * sizeof *l->parent);
	l->q = malloc(n * sizeof *l->q);
	l->chunk = malloc(CHUNK);
	bool ok = l->st && l->parent && l->q && l->chunk && build_spans(l) == 0;
	for (size_t w = 0; ok && w < NWIN; w++) {
		l->win[w].base = UINT64_MAX;
		ok = (l->win[w].buf = malloc(WIN)) != NULL;
	}
	l->lab_lo = l->lab_hi = 0;
	if (!ok) {
		mt_leaks_destroy(l);
		return NULL;
	}
	return l;
}

void mt_leaks_destroy(struct mt_leaks *l)
{
	if (!l)
		return;
	for (size_t s = 0; s < l->nspans; s++)
		free(l->spans[s].page);
	free(l->spans);
	for (size_t w = 0; w < NWIN; w++)
		free(l->win[w].buf);
	free(l->st);
	free(l->parent);
	free(l->q);
	free(l->chunk);
	free(l->slot);
	free(l->nodes);
	mt_u64map_free(&l->paths);
	free(l->where);
	free(l);
}

/* ---- reading ----------------------------------------------------------- */

/* The cached window holding [ADDR, ADDR+LEN) (LEN within a window), read
 * now if need be: NULL when it cannot be read.  Direct-mapped: a window's
 * slot is its number modulo NWIN. */
static const uint8_t *windowed(struct mt_leaks *l, uint64_t addr, size_t len)
{
	uint64_t base = addr & ~((uint64_t)WIN - 1);
	struct window *w = &l->win[(base >> WIN_SHIFT) % NWIN];
	if (w->base == base && addr + len <= base + w->len)
		return w->buf + (addr - base);
	/* a window may run past the end of a mapping: then only the pages up
	 * to the block's end are read */
	uint32_t wl = WIN;
	l->t.reads++;
	if (mt_memsrc_read(l->cfg.src, base, w->buf, wl) < 0) {
		uint64_t end = (addr + len + 4095) & ~4095ull;
		wl = (uint32_t)(end - base);
		l->t.reads++;
		if (mt_memsrc_read(l->cfg.src, base, w->buf, wl) < 0) {
			w->base = UINT64_MAX;
			return NULL;
		}
	}
	w->base = base;
	w->len = wl;
	return w->buf + (addr - base);
}

typedef void (*word_fn)(struct mt_leaks *l, uint64_t w, uint32_t from);

/* Each aligned word of block I, to FN; false when some of it could not be
 * read. */
static void scan_block(struct mt_leaks *l, size_t i, word_fn fn)
{
	uint64_t a = l->v[i].addr, len = usable(l, i) & ~7ull;
	l->t.block_bytes += len;
	if (l->cfg.tick && ++l->ticks % TICK_BLOCKS == 0)
		l->cfg.tick(l->cfg.tick_ctx);
	if ((a & (WIN - 1)) + len <= WIN) {
		const uint8_t *p = windowed(l, a, len);
		if (p) {
			for (uint64_t o = 0; o < len; o += 8) {
				uint64_t w;
				memcpy(&w, p + o, 8);
				if (w - l->lo < l->hi - l->lo) /* most words point nowhere */
					fn(l, w, (uint32_t)i);
			}
			return;
		}
	}
	for (uint64_t o = 0; o < len; o += CHUNK) {
		size_t k = len - o < CHUNK ? len - o : CHUNK;
		l->t.reads++;
		if (mt_memsrc_read(l->cfg.src, a + o, l->chunk, k) < 0) {
			l->t.block_unreadable += k;
			continue;
		}
		for (size_t b = 0; b < k; b += 8) {
			uint64_t w;
			memcpy(&w, l->chunk + b, 8);
			if (w - l->lo < l->hi - l->lo)
				fn(l, w, (uint32_t)i);
		}
	}
}

/* ---- phase 1: reachable ------------------------------------------------ */

static void push(struct mt_leaks *l, size_t i)
{
	l->q[l->qtail++] = (uint32_t)i;
}

/* A word seen by phase 1, from block FROM or ROOT_BIT|label. */
static void reach(struct mt_leaks *l, uint64_t w, uint32_t from)
{
	long i = find(l, w);
	if (i < 0)
		return;
	uint8_t s = l->st[i];
	if ((s & S_MASK) == S_REACHABLE)
		return;
	if (w != l->v[i].addr) {
		l->st[i] = s | F_INTERIOR;
		return;
	}
	l->st[i] = (uint8_t)((s & ~S_MASK) | S_REACHABLE);
	l->parent[i] = from;
	push(l, (size_t)i);
}

static uint32_t label(struct mt_leaks *l, const struct mt_leaks_root *r, uint64_t where)
{
	if (where >= l->lab_lo && where < l->lab_hi)
		return l->lab;
	if (!l->cfg.label)
		return 0;
	struct mt_leaks_root at = *r;
	if (r->kind != MT_ROOT_REGISTER)
		at.where = where;
	uint64_t lo = 0, hi = 0;
	l->lab = l->cfg.label(l->cfg.label_ctx, &at, &lo, &hi) & ~ROOT_BIT;
	l->lab_lo = lo;
	l->lab_hi = hi;
	return l->lab;
}

/* Which word of label LAB's root reached blocks first: one word, or
 * several (UINT64_MAX). */
static void note_where(struct mt_leaks *l, uint32_t lab, uint64_t where)
{
	if (lab >= l->nwhere) {
		size_t cap = lab + 64 > l->nwhere * 2 ? lab + 64 : l->nwhere * 2;
		uint64_t *w = realloc(l->where, cap * sizeof *w);
		if (!w)
			return; /* the offset is then not told */
		for (size_t k = l->nwhere; k < cap; k++)
			w[k] = 0;
		l->where = w;
		l->nwhere = cap;
	}
	if (!l->where[lab])
		l->where[lab] = where;
	else if (l->where[lab] != where)
		l->where[lab] = UINT64_MAX;
}

bool mt_leaks_label_where(const struct mt_leaks *l, uint32_t label, uint64_t *where)
{
	if (label >= l->nwhere || !l->where[label] || l->where[label] == UINT64_MAX)
		return false;
	*where = l->where[label];
	return true;
}

/* A root word W (at WHERE): reaches its block, labelled only when it is
 * the block's first reach (the label callback may be slow). */
static void root_word(struct mt_leaks *l, uint64_t w, const struct mt_leaks_root *r, uint64_t where)
{
	long i = find(l, w);
	if (i < 0 && l->cfg.guard)
		i = find(l, w = mt_arch_ptr_demangle(w, l->cfg.pointer_guard));
	if (i < 0 || (l->st[i] & S_MASK) == S_REACHABLE)
		return;
	if (w != l->v[i].addr) {
		l->st[i] |= F_INTERIOR;
		return;
	}
	uint32_t lab = label(l, r, where);
	note_where(l, lab, where);
	reach(l, w, ROOT_BIT | lab);
}

int mt_leaks_root_range(struct mt_leaks *l, uint64_t lo, uint64_t hi, const struct mt_leaks_root *r)
{
	lo = (lo + 7) & ~7ull;
	hi &= ~7ull;
	l->lab_lo = l->lab_hi = 0;
	for (uint64_t a = lo; a < hi; a += CHUNK) {
		size_t k = hi - a < CHUNK ? hi - a : CHUNK;
		l->t.reads++;
		if (mt_memsrc_read(l->cfg.src, a, l->chunk, k) < 0) {
			/* page by page: a range may hold an unreadable hole */
			for (size_t p = 0; p < k; p += 4096) {
				size_t pk = k - p < 4096 ? k - p : 4096;
				l->t.reads++;
				if (mt_memsrc_read(l->cfg.src, a + p, l->chunk + p, pk) < 0) {
					memset(l->chunk + p, 0, pk);
					l->t.root_unreadable += pk;
				}
			}
		}
		for (size_t b = 0; b < k; b += 8) {
			uint64_t w;
			memcpy(&w, l->chunk + b, 8);
			if (w)
				root_word(l, w, r, a + b);
		}
		l->t.root_bytes += k;
		if (l->cfg.tick)
			l->cfg.tick(l->cfg.tick_ctx);
	}
	l->lab_lo = l->lab_hi = 0;
	return 0;
}

int mt_leaks_root_value(struct mt_leaks *l, uint64_t value, const struct mt_leaks_root *r)
{
	l->lab_lo = l->lab_hi = 0;
	root_word(l, value, r, r->where);
	l->lab_lo = l->lab_hi = 0;
	return 0;
}

int mt_leaks_root_held(struct mt_leaks *l, uint64_t addr, const struct mt_leaks_root *r)
{
	long i = find(l, addr);
	if (i < 0 || l->v[i].addr != addr || (l->st[i] & S_MASK) == S_REACHABLE)
		return 0;
	l->lab_lo = l->lab_hi = 0;
	l->st[i] |= F_NOSCAN; /* queued for its path, not read */
	reach(l, addr, ROOT_BIT | label(l, r, r->where));
	l->lab_lo = l->lab_hi = 0;
	return 0;
}

/* ---- paths ------------------------------------------------------------- */

/* The node (PARENT, ID), made if need be: its index, or -1. */
static long intern(struct mt_leaks *l, uint32_t parent, uint32_t id, bool root)
{
	uint64_t key = root ? (uint64_t)ROOT_BIT << 32 | id : (uint64_t)parent << 32 | id;
	uint32_t ni;
	if (mt_u64map_get(&l->paths, key, &ni))
		return ni;
	if (l->nnodes == l->capnodes) {
		size_t cap = l->capnodes ? l->capnodes * 2 : 256;
		struct node *nn = realloc(l->nodes, cap * sizeof *nn);
		if (!nn)
			return -1;
		l->nodes = nn;
		l->capnodes = cap;
	}
	ni = (uint32_t)l->nnodes;
	if (mt_u64map_put(&l->paths, key, ni) < 0)
		return -1;
	l->nnodes++;
	l->nodes[ni] = (struct node){ root ? ni : parent, id, root, false, 0, 0 };
	return ni;
}

/* In phase 1's breadth-first order (Q[0..QTAIL)), a block's parent comes
 * before it, so its path is known: the parent's path and the block's
 * group, or the parent's path itself when that ends in the same group. */
static int make_paths(struct mt_leaks *l)
{
	for (size_t k = 0; k < l->qtail; k++) {
		uint32_t j = l->q[k], par = l->parent[j], g = group_of(l, j);
		long node;
		if (par & ROOT_BIT) {
			long rn = intern(l, 0, par & ~ROOT_BIT, true);
			node = rn < 0 ? -1 : intern(l, (uint32_t)rn, g, false);
		} else {
			uint32_t pn = l->parent[par];
			if (!l->nodes[pn].root && l->nodes[pn].id == g) {
				l->nodes[pn].run = true;
				node = pn;
			} else {
				node = intern(l, pn, g, false);
			}
		}
		if (node < 0)
			return -ENOMEM;
		l->parent[j] = (uint32_t)node;
		l->nodes[node].blocks++;
		l->nodes[node].bytes += usable(l, j);
	}
	return 0;
}

size_t mt_leaks_chain(const struct mt_leaks *l, uint32_t path, struct mt_leaks_link *out,
		      size_t max)
{
	if (path >= l->nnodes || max == 0)
		return 0;
	size_t depth = 1;
	for (uint32_t p = path; !l->nodes[p].root; p = l->nodes[p].parent)
		depth++;
	size_t keep = depth < max ? depth : max;
	/* fill from the group up: the root first when it fits */
	size_t k = keep;
	uint32_t p = path;
	for (size_t d = 0; d < depth && k > 0; d++) {
		const struct node *x = &l->nodes[p];
		if (k == 1 && keep < depth && !x->root) {
			/* no room for the rest: the root, said first */
			uint32_t r = p;
			while (!l->nodes[r].root)
				r = l->nodes[r].parent;
			x = &l->nodes[r];
		}
		out[--k] = (struct mt_leaks_link){ x->root, x->id, x->run, x->blocks, x->bytes };
		if (x->root)
			break;
		p = x->parent;
	}
	return keep;
}

/* ---- phases 2 and 3 ---------------------------------------------------- */

static void possible(struct mt_leaks *l, uint64_t w, uint32_t from)
{
	long i = find(l, w);
	if (i < 0 || (l->st[i] & S_MASK) != S_UNREACHED)
		return;
	l->st[i] = (uint8_t)((l->st[i] & ~S_MASK) | S_POSSIBLE);
	l->parent[i] = from;
	push(l, (size_t)i);
}

/* A word of a block of the clique led by the block whose slot is FROM's
 * parent slot (kept in l->slot[...]); see clique(). */
static void absorb(struct mt_leaks *l, uint64_t w, uint32_t from)
{
	(void)from;
	long i = find(l, w);
	if (i < 0 || (uint32_t)i == l->leader)
		return;
	uint8_t s = l->st[i] & S_MASK;
	if (s != S_UNREACHED && s != S_LEADER)
		return;
	uint32_t slot = l->parent[l->leader];
	if (s == S_LEADER)
		l->slot[slot] += l->slot[l->parent[i]];
	else
		push(l, (size_t)i); /* an earlier leader's blocks are its clique's already */
	l->slot[slot] += usable(l, (size_t)i);
	l->st[i] = (uint8_t)((l->st[i] & ~S_MASK) | S_INDIRECT);
}

static int clique(struct mt_leaks *l, size_t i)
{
	if (l->nslots == l->capslots) {
		size_t cap = l->capslots ? l->capslots * 2 : 256;
		uint64_t *s = realloc(l->slot, cap * sizeof *s);
		if (!s)
			return -ENOMEM;
		l->slot = s;
		l->capslots = cap;
	}
	l->slot[l->nslots] = 0;
	l->parent[i] = (uint32_t)l->nslots++;
	l->st[i] = (uint8_t)((l->st[i] & ~S_MASK) | S_LEADER);
	l->leader = (uint32_t)i;
	l->qhead = l->qtail = 0;
	push(l, i);
	while (l->qhead < l->qtail)
		scan_block(l, l->q[l->qhead++], absorb);
	return 0;
}

int mt_leaks_mark(struct mt_leaks *l)
{
	if (l->marked)
		return -EINVAL;
	l->marked = true;
	while (l->qhead < l->qtail) {
		uint32_t j = l->q[l->qhead++];
		if (!(l->st[j] & F_NOSCAN))
			scan_block(l, j, reach);
	}
	if (make_paths(l) < 0)
		return -ENOMEM;
	l->qhead = l->qtail = 0;
	for (size_t i = 0; i < l->n; i++) {
		if ((l->st[i] & F_INTERIOR) && (l->st[i] & S_MASK) == S_UNREACHED) {
			l->st[i] = (uint8_t)((l->st[i] & ~S_MASK) | S_POSSIBLE);
			push(l, i);
		}
	}
	while (l->qhead < l->qtail)
		scan_block(l, l->q[l->qhead++], possible);
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].row != MT_CENSUS_ROW_FREED && (l->st[i] & S_MASK) == S_UNREACHED &&
		    clique(l, i) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].row == MT_CENSUS_ROW_FREED)
			continue;
		enum mt_leak_kind k = mt_leaks_kind(l, i);
		l->t.blocks[k]++;
		l->t.bytes[k] += usable(l, i);
	}
	return 0;
}

/* ---- results ----------------------------------------------------------- */

enum mt_leak_kind mt_leaks_kind(const struct mt_leaks *l, size_t i)
{
	switch (l->st[i] & S_MASK) {
	case S_REACHABLE:
		return MT_LEAK_REACHABLE;
	case S_POSSIBLE:
		return MT_LEAK_POSSIBLE;
	case S_INDIRECT:
		return MT_LEAK_INDIRECT;
	default:
		return MT_LEAK_DEFINITE;
	}
}

void mt_leaks_totals(const struct mt_leaks *l, struct mt_leaks_totals *t)
{
	*t = l->t;
}

static int cmp_group(const void *a, const void *b)
{
	const struct mt_leaks_group *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	uint64_t tx = x->bytes + x->indirect_bytes, ty = y->bytes + y->indirect_bytes;
	if (tx != ty)
		return tx > ty ? -1 : 1;
	return x->group < y->group ? -1 : x->group > y->group;
}

struct groups {
	struct mt_u64map at; /* kind << 32 | group -> index in v */
	struct mt_leaks_group *v;
	size_t n, cap;
};

/* The entry of (KIND, G), made if MAKE and need be: its index, or -1. */
static long group_at(struct groups *gs, enum mt_leak_kind kind, uint32_t g, bool make)
{
	uint64_t key = (uint64_t)kind << 32 | g;
	uint32_t x;
	if (mt_u64map_get(&gs->at, key, &x))
		return x;
	if (!make)
		return -1;
	if (gs->n == gs->cap) {
		size_t nc = gs->cap ? gs->cap * 2 : 64;
		struct mt_leaks_group *o = realloc(gs->v, nc * sizeof *o);
		if (!o)
			return -1;
		gs->v = o;
		gs->cap = nc;
	}
	if (mt_u64map_put(&gs->at, key, (uint32_t)gs->n) < 0)
		return -1;
	gs->v[gs->n] = (struct mt_leaks_group){ kind, g, 0, 0, 0, MT_LEAKS_NO_PATH };
	return (long)gs->n++;
}

int mt_leaks_groups(const struct mt_leaks *l, struct mt_leaks_group **out, size_t *n)
{
	struct groups gs = { 0 };
	int err = 0;
	for (size_t i = 0; !err && i < l->n; i++) {
		if (l->v[i].row == MT_CENSUS_ROW_FREED)
			continue;
		long x = group_at(&gs, mt_leaks_kind(l, i), group_of(l, i), true);
		if (x < 0) {
			err = -ENOMEM;
			break;
		}
		gs.v[x].blocks++;
		gs.v[x].bytes += usable(l, i);
		if ((l->st[i] & S_MASK) == S_LEADER)
			gs.v[x].indirect_bytes += l->slot[l->parent[i]];
	}
	/* a reachable group's chain: the path ending in most of its bytes */
	uint64_t *best = err ? NULL : calloc(gs.n ? gs.n : 1, sizeof *best);
	if (!err && !best)
		err = -ENOMEM;
	for (size_t p = 0; !err && p < l->nnodes; p++) {
		const struct node *x = &l->nodes[p];
		long gi = x->root ? -1 : group_at(&gs, MT_LEAK_REACHABLE, x->id, false);
		if (gi >= 0 && x->bytes > best[gi]) {
			best[gi] = x->bytes;
			gs.v[gi].path = (uint32_t)p;
		}
	}
	free(best);
	mt_u64map_free(&gs.at);
	if (err) {
		free(gs.v);
		return err;
	}
	if (gs.n)
		qsort(gs.v, gs.n, sizeof *gs.v, cmp_group);
	*out = gs.v;
	*n = gs.n;
	return 0;
}
