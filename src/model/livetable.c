/* The live-block table: an AVL tree of disjoint address ranges.
 *
 * Memory: 48 bytes per live block.
 *   Each block is one struct lt_node of 48 bytes (four 64-bit fields, three
 *   32-bit fields, a one-byte height, three bytes of padding).  Nodes live in
 *   slabs of 1024 (49152 bytes, one malloc each); the only overhead on top is
 *   per slab, not per block: glibc's 16-byte chunk header and one 8-byte
 *   slab-table pointer (at most 16 bytes while the table's capacity doubles),
 *   so at most 32 bytes per 1024 blocks, 0.03 bytes per block.  Children are
 *   32-bit slab indices rather than pointers, which is what keeps the node at
 *   48 bytes instead of 56; it caps the table at 2^32 - 1 live blocks.
 *   Freed nodes go on a free list and are reused before a new slab is
 *   allocated; slabs are returned only by mt_livetable_destroy(), so the
 *   table's footprint follows the high-water mark of live blocks:
 *   48 bytes x peak live blocks, plus one node (the nil sentinel), plus the
 *   fixed struct mt_livetable.
 *
 * Cost: insert, erase, find_containing are O(log n) with no malloc except
 *   once per 1024 new high-water blocks; range is O(log n + k) for k blocks
 *   reported; walk is O(n).  An AVL tree is at most 1.44 log2(n + 2) high,
 *   i.e. under 47 levels for 2^32 nodes, so every path fits a fixed stack.
 *
 * Keys and ranges: a block [addr, addr + size) is keyed by addr.  A 0-byte
 *   block still occupies its first byte, so internally every block is the
 *   closed range [addr, last] with last = addr + max(size, 1) - 1; closed
 *   ranges let a block end at the very top of the address space (last =
 *   UINT64_MAX), where addr + size would wrap to 0.
 *
 * Augmentation: each node keeps max_last, the greatest last byte in its
 *   subtree, so a range query skips every subtree that ends before lo.
 *   (Because blocks are disjoint, max_last is also the last byte of the
 *   subtree's rightmost block; the checker verifies both.)
 */
#include "model/livetable.h"

#include <errno.h>
#include <stdlib.h>

#define LT_SLAB_SHIFT 10
#define LT_SLAB_NODES (1u << LT_SLAB_SHIFT)
#define LT_SLAB_MASK (LT_SLAB_NODES - 1)
/* Indices are 32-bit, index 0 is the nil sentinel. */
#define LT_MAX_SLABS (1u << (32 - LT_SLAB_SHIFT))
#define LT_NIL 0u
/* Deeper than any AVL tree of fewer than 2^32 nodes (at most 46 levels). */
#define LT_STACK 64

/* A search reads only addr and child[], so they come first: with slabs
 * 16-byte aligned, those 16 bytes never straddle a cache line, and a descent
 * costs one line per level. */
struct lt_node {
	uint64_t addr;
	uint32_t child[2]; /* [0] lower addresses, [1] higher; on the free list [0] is "next" */
	uint64_t max_last; /* greatest last byte in this subtree */
	uint64_t size;
	uint64_t time_ns;
	uint32_t site;
	uint8_t height; /* nil 0, leaf 1 */
};

_Static_assert(sizeof(struct lt_node) == 48,
	       "the node size is documented at the top of this file and in the man page");

struct mt_livetable {
	struct lt_node **slabs;
	uint32_t nslabs;
	uint32_t slab_cap;
	uint64_t next_unused; /* first index never handed out */
	uint32_t free_head;   /* freed nodes, linked through child[0] */
	uint32_t root;
	size_t count;
	uint64_t bytes;
};

static inline struct lt_node *nd(const struct mt_livetable *t, uint32_t i)
{
	return &t->slabs[i >> LT_SLAB_SHIFT][i & LT_SLAB_MASK];
}

static inline uint64_t block_last(uint64_t addr, uint64_t size)
{
	return addr + (size ? size - 1 : 0);
}

static inline uint64_t node_last(const struct lt_node *n)
{
	return block_last(n->addr, n->size);
}

static void node_to_block(const struct lt_node *n, struct mt_block *b)
{
	b->addr = n->addr;
	b->size = n->size;
	b->site = n->site;
	b->time_ns = n->time_ns;
}

struct mt_livetable *mt_livetable_new(void)
{
	struct mt_livetable *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->slabs = malloc(sizeof(*t->slabs));
	if (!t->slabs)
		goto fail;
	/* Slab 0 holds the nil sentinel at index 0: all zero, height 0. */
	t->slabs[0] = calloc(LT_SLAB_NODES, sizeof(struct lt_node));
	if (!t->slabs[0])
		goto fail;
	t->nslabs = 1;
	t->slab_cap = 1;
	t->next_unused = 1;
	return t;
fail:
	free(t->slabs);
	free(t);
	return NULL;
}

void mt_livetable_destroy(struct mt_livetable *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nslabs; i++)
		free(t->slabs[i]);
	free(t->slabs);
	free(t);
}

/* A node index, or LT_NIL when memory (or the 32-bit index space) runs out. */
static uint32_t node_alloc(struct mt_livetable *t)
{
	if (t->free_head != LT_NIL) {
		uint32_t i = t->free_head;
		t->free_head = nd(t, i)->child[0];
		return i;
	}
	if (t->next_unused == (uint64_t)t->nslabs * LT_SLAB_NODES) {
		if (t->nslabs == LT_MAX_SLABS)
			return LT_NIL;
		if (t->nslabs == t->slab_cap) {
			uint32_t cap = t->slab_cap * 2;
			struct lt_node **s = realloc(t->slabs, cap * sizeof(*s));
			if (!s)
				return LT_NIL;
			t->slabs = s;
			t->slab_cap = cap;
		}
		struct lt_node *slab = malloc(LT_SLAB_NODES * sizeof(*slab));
		if (!slab)
			return LT_NIL;
		t->slabs[t->nslabs++] = slab;
	}
	return (uint32_t)t->next_unused++;
}

static void node_free(struct mt_livetable *t, uint32_t i)
{
	nd(t, i)->child[0] = t->free_head;
	t->free_head = i;
}

/* Recompute height and max_last of I from its children. */
static void node_update(struct mt_livetable *t, uint32_t i)
{
	struct lt_node *n = nd(t, i);
	const struct lt_node *l = nd(t, n->child[0]);
	const struct lt_node *r = nd(t, n->child[1]);
	uint64_t m = node_last(n);

	n->height = (uint8_t)(1 + (l->height > r->height ? l->height : r->height));
	if (n->child[0] != LT_NIL && l->max_last > m)
		m = l->max_last;
	if (n->child[1] != LT_NIL && r->max_last > m)
		m = r->max_last;
	n->max_last = m;
}

/* Rotate X down towards side D; its child on the other side takes its place.
 * Returns the new subtree root.
 *
 *        x            (d = 0)            y
 *       / \                             / \
 *      a   y            ->             x   c
 *         / \                         / \
 *        b   c                       a   b
 */
static uint32_t rotate(struct mt_livetable *t, uint32_t x, int d)
{
	struct lt_node *xn = nd(t, x);
	uint32_t y = xn->child[!d];
	struct lt_node *yn = nd(t, y);

	xn->child[!d] = yn->child[d];
	yn->child[d] = x;
	node_update(t, x);
	node_update(t, y);
	return y;
}

/* Restore the AVL balance at X, whose subtrees are balanced and differ in
 * height by at most 2; returns the subtree's new root, updated. */
static uint32_t rebalance(struct mt_livetable *t, uint32_t x)
{
	struct lt_node *xn = nd(t, x);
	int hl = nd(t, xn->child[0])->height;
	int hr = nd(t, xn->child[1])->height;

	if (hl - hr <= 1 && hr - hl <= 1) {
		node_update(t, x);
		return x;
	}
	int s = hr > hl; /* the heavy side */
	uint32_t y = xn->child[s];
	const struct lt_node *yn = nd(t, y);
	/* Heavy on the inside (a zig-zag): straighten it first. */
	if (nd(t, yn->child[!s])->height > nd(t, yn->child[s])->height)
		xn->child[s] = rotate(t, y, s);
	return rotate(t, x, !s);
}

/* Walk back up PATH (DEPTH entries, the last one the parent of the changed
 * subtree), relinking CHILD into each parent and rebalancing, and stop as
 * soon as a subtree's height and max_last come out unchanged: nothing above
 * it can change then.  No early stop at or below path entry NO_STOP_BELOW
 * (erase copies a successor's payload into that node). */
static void retrace(struct mt_livetable *t, const uint32_t *path, const uint8_t *dirs, int depth,
		    uint32_t child, int no_stop_below)
{
	while (depth > 0) {
		depth--;
		uint32_t p = path[depth];
		struct lt_node *pn = nd(t, p);
		uint8_t old_height = pn->height;
		uint64_t old_max = pn->max_last;

		pn->child[dirs[depth]] = child;
		uint32_t r = rebalance(t, p);
		if (r == p && depth <= no_stop_below) {
			pn = nd(t, p);
			if (pn->height == old_height && pn->max_last == old_max)
				return;
		}
		child = r;
	}
	t->root = child;
}

int mt_livetable_insert(struct mt_livetable *t, const struct mt_block *b, struct mt_block *clash)
{
	uint32_t path[LT_STACK];
	uint8_t dirs[LT_STACK];
	int depth = 0;

	if (b->size != 0 && b->size - 1 > UINT64_MAX - b->addr)
		return -EINVAL;
	uint64_t last = block_last(b->addr, b->size);

	/* The nearest blocks below and above b->addr are both on the path
	 * to its leaf position; b overlaps something iff it overlaps one of
	 * them. */
	uint32_t pred = LT_NIL, succ = LT_NIL, cur = t->root, hit = LT_NIL;
	while (cur != LT_NIL) {
		const struct lt_node *n = nd(t, cur);
		if (n->addr == b->addr) {
			hit = cur;
			break;
		}
		int d = b->addr > n->addr;
		if (d)
			pred = cur;
		else
			succ = cur;
		path[depth] = cur;
		dirs[depth++] = (uint8_t)d;
		cur = n->child[d];
	}
	if (hit == LT_NIL && pred != LT_NIL && node_last(nd(t, pred)) >= b->addr)
		hit = pred;
	if (hit == LT_NIL && succ != LT_NIL && nd(t, succ)->addr <= last)
		hit = succ;
	if (hit != LT_NIL) {
		if (clash)
			node_to_block(nd(t, hit), clash);
		return -EEXIST;
	}

	uint32_t i = node_alloc(t);
	if (i == LT_NIL)
		return -ENOMEM;
	struct lt_node *n = nd(t, i);
	n->addr = b->addr;
	n->size = b->size;
	n->time_ns = b->time_ns;
	n->site = b->site;
	n->max_last = last;
	n->child[0] = n->child[1] = LT_NIL;
	n->height = 1;

	retrace(t, path, dirs, depth, i, LT_STACK);
	t->count++;
	t->bytes += b->size;
	return 0;
}

bool mt_livetable_erase(struct mt_livetable *t, uint64_t addr, struct mt_block *out)
{
	uint32_t path[LT_STACK];
	uint8_t dirs[LT_STACK];
	int depth = 0;
	uint32_t cur = t->root;

	while (cur != LT_NIL) {
		const struct lt_node *n = nd(t, cur);
		if (n->addr == addr)
			break;
		int d = addr > n->addr;
		path[depth] = cur;
		dirs[depth++] = (uint8_t)d;
		cur = n->child[d];
	}
	if (cur == LT_NIL)
		return false;

	struct lt_node *n = nd(t, cur);
	t->count--;
	t->bytes -= n->size;
	if (out)
		node_to_block(n, out);

	/* With two children, the in-order successor (leftmost of the right
	 * subtree, which has no left child) gives its payload to N and is
	 * unlinked in its place. */
	uint32_t victim = cur;
	int no_stop_below = LT_STACK;
	if (n->child[0] != LT_NIL && n->child[1] != LT_NIL) {
		no_stop_below = depth;
		path[depth] = cur;
		dirs[depth++] = 1;
		victim = n->child[1];
		while (nd(t, victim)->child[0] != LT_NIL) {
			path[depth] = victim;
			dirs[depth++] = 0;
			victim = nd(t, victim)->child[0];
		}
		const struct lt_node *s = nd(t, victim);
		n->addr = s->addr;
		n->size = s->size;
		n->time_ns = s->time_ns;
		n->site = s->site;
	}
	const struct lt_node *v = nd(t, victim);
	uint32_t repl = v->child[0] != LT_NIL ? v->child[0] : v->child[1];
	node_free(t, victim);
	retrace(t, path, dirs, depth, repl, no_stop_below);
	return true;
}

bool mt_livetable_find_containing(const struct mt_livetable *t, uint64_t addr, struct mt_block *out)
{
	/* The candidate is the last block starting at or below ADDR. */
	uint32_t cur = t->root, best = LT_NIL;

	while (cur != LT_NIL) {
		const struct lt_node *n = nd(t, cur);
		if (n->addr <= addr) {
			best = cur;
			if (n->addr == addr)
				break;
			cur = n->child[1];
		} else {
			cur = n->child[0];
		}
	}
	if (best == LT_NIL || node_last(nd(t, best)) < addr)
		return false;
	if (out)
		node_to_block(nd(t, best), out);
	return true;
}

int mt_livetable_range(const struct mt_livetable *t, uint64_t lo, uint64_t hi, mt_block_cb cb,
		       void *ctx)
{
	uint32_t stack[LT_STACK];
	int sp = 0;
	uint32_t cur = t->root;

	if (lo >= hi)
		return 0;
	/* In-order walk that never enters a subtree ending below LO and
	 * stops at the first block starting at or above HI. */
	for (;;) {
		while (cur != LT_NIL && nd(t, cur)->max_last >= lo) {
			stack[sp++] = cur;
			cur = nd(t, cur)->child[0];
		}
		if (sp == 0)
			return 0;
		const struct lt_node *n = nd(t, stack[--sp]);
		if (n->addr >= hi)
			return 0;
		if (node_last(n) >= lo) {
			struct mt_block b;
			node_to_block(n, &b);
			int rc = cb(ctx, &b);
			if (rc)
				return rc;
		}
		cur = n->child[1];
	}
}

int mt_livetable_walk(const struct mt_livetable *t, mt_block_cb cb, void *ctx)
{
	uint32_t stack[LT_STACK];
	int sp = 0;
	uint32_t cur = t->root;

	for (;;) {
		while (cur != LT_NIL) {
			stack[sp++] = cur;
			cur = nd(t, cur)->child[0];
		}
		if (sp == 0)
			return 0;
		const struct lt_node *n = nd(t, stack[--sp]);
		struct mt_block b;
		node_to_block(n, &b);
		int rc = cb(ctx, &b);
		if (rc)
			return rc;
		cur = n->child[1];
	}
}

size_t mt_livetable_count(const struct mt_livetable *t)
{
	return t->count;
}

uint64_t mt_livetable_bytes(const struct mt_livetable *t)
{
	return t->bytes;
}

size_t mt_livetable_bytes_per_block(void)
{
	/* The slab overhead (at most 32 bytes per 1024 nodes) rounds to 0. */
	return sizeof(struct lt_node);
}

/* ---- invariant checker (tests) ---- */

struct lt_check {
	const struct mt_livetable *t;
	bool have_prev;
	uint64_t prev_last;
	size_t count;
	uint64_t bytes;
};

/* Height of subtree I, or -1 when it breaks an invariant.  *MAX_LAST gets
 * its greatest last byte, *RIGHTMOST_LAST the last byte of its rightmost
 * block. */
static int check_subtree(struct lt_check *c, uint32_t i, int level, uint64_t *max_last,
			 uint64_t *rightmost_last)
{
	const struct mt_livetable *t = c->t;

	if (i == LT_NIL)
		return 0;
	if (level >= LT_STACK || i >= t->next_unused)
		return -1; /* a cycle, or an index never handed out */

	const struct lt_node *n = nd(t, i);
	if (n->size != 0 && n->size - 1 > UINT64_MAX - n->addr)
		return -1; /* wraps past the top of the address space */

	uint64_t lmax = 0, lright = 0, rmax = 0, rright = 0;
	int hl = check_subtree(c, n->child[0], level + 1, &lmax, &lright);
	if (hl < 0)
		return -1;

	/* In order: strictly after the previous block, without overlap. */
	uint64_t last = node_last(n);
	if (c->have_prev && c->prev_last >= n->addr)
		return -1;
	c->have_prev = true;
	c->prev_last = last;
	c->count++;
	c->bytes += n->size;

	int hr = check_subtree(c, n->child[1], level + 1, &rmax, &rright);
	if (hr < 0)
		return -1;
	if (hl - hr > 1 || hr - hl > 1)
		return -1;
	int h = 1 + (hl > hr ? hl : hr);
	if (n->height != h)
		return -1;

	uint64_t m = last;
	if (n->child[0] != LT_NIL && lmax > m)
		m = lmax;
	if (n->child[1] != LT_NIL && rmax > m)
		m = rmax;
	if (n->max_last != m)
		return -1;
	*max_last = m;
	*rightmost_last = n->child[1] != LT_NIL ? rright : last;
	if (*max_last != *rightmost_last)
		return -1;
	return h;
}

bool mt_livetable_check_invariants(const struct mt_livetable *t)
{
	struct lt_check c = { .t = t };
	uint64_t max_last, rightmost_last;

	if (t->nslabs == 0 || t->nslabs > t->slab_cap || t->next_unused < 1 ||
	    t->next_unused > (uint64_t)t->nslabs * LT_SLAB_NODES)
		return false;
	const struct lt_node *nil = nd(t, LT_NIL);
	if (nil->height != 0 || nil->child[0] != LT_NIL || nil->child[1] != LT_NIL)
		return false;
	if (check_subtree(&c, t->root, 0, &max_last, &rightmost_last) < 0)
		return false;
	if (c.count != t->count || c.bytes != t->bytes)
		return false;

	/* Every node handed out is either in the tree or on the free list. */
	uint64_t nfree = 0;
	for (uint32_t i = t->free_head; i != LT_NIL; i = nd(t, i)->child[0]) {
		if (i >= t->next_unused || ++nfree > t->next_unused)
			return false;
	}
	return 1 + t->count + nfree == t->next_unused;
}
