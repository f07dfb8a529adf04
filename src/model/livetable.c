/* The live-block table: an AVL tree of disjoint address ranges, with the
 * last LT_GRAVES freed blocks kept in it as "dead" nodes.
 *
 * Why dead nodes: glibc hands a freed chunk back out soon (tcache, fastbins),
 *   so an allocation very often starts where a recent free was.  A free
 *   therefore only marks its node dead (no rotation, no retrace), and an
 *   allocation at a dead node's address revives it in place: on malloc_bench's
 *   churn 81% of allocations land on one of the last 1024 freed addresses
 *   (bench/consumer_bench.c).  Dead nodes are invisible: every query and
 *   insert answers as if they were not there (tests/unit/test_livetable.c
 *   checks this against a model).  They stay disjoint from every node, live or
 *   dead, so overlap is still found among the neighbours on the search path;
 *   an insert that overlaps a dead node removes it for real first.  Dead
 *   nodes are listed in graves[], a ring: burying a node once the ring is full
 *   removes the node buried LT_GRAVES frees ago.
 *
 * Memory: at most 64 bytes per live block (48 for its node, 8 to 16 for its
 *   share of the hash index), plus at most LT_GRAVES (1024) dead nodes, i.e. a
 *   fixed 64 KiB at most, plus the 4 KiB ring.
 *   Each block is one struct lt_node of 48 bytes (three 64-bit fields, two
 *   32-bit child indices, a 32-bit site, a one-byte height, a dead flag, a
 *   16-bit grave slot, and the 32-bit indices of the nodes before and after
 *   it in address order, which let a reused address check the next block in
 *   O(1)).  Nodes live in slabs of 1024 (49152 bytes, one malloc
 *   each); the only overhead on top is per slab, not per block: glibc's
 *   16-byte chunk header and one 8-byte slab-table pointer (at most 16 bytes
 *   while the table's capacity doubles), so at most 32 bytes per 1024 blocks,
 *   0.03 bytes per block.  Children are 32-bit slab indices rather than
 *   pointers, which caps the table at 2^32 - 1 nodes.
 *   The hash index (every node by its address, for the exact-address
 *   questions: erase, a reused address, a realloc's block) is an array of
 *   32-bit node indices kept between a quarter and half full once past its
 *   64 first slots: 8 to 16 bytes per node; at most 2^31 slots, which caps
 *   the table at 2^30 nodes.
 *   Removed nodes go on a free list and are reused before a new slab is
 *   allocated; slabs and index slots are returned only by
 *   mt_livetable_destroy(), so the table's footprint follows the high-water
 *   mark of nodes: at most 64 bytes x (peak live blocks + LT_GRAVES), plus
 *   one node (the nil sentinel), plus the fixed struct mt_livetable.
 *
 * Cost: insert, erase, find_containing are O(log n) with no malloc except
 *   once per 1024 new high-water nodes (and when the index doubles).  Erase,
 *   an insert at a live or dead node's address (when it ends before the
 *   next node), and find_containing of a block's own address are O(1) (the
 *   index), as is burying, but for the removal of the oldest dead node,
 *   O(log n).  Range is O(log n + k) for k nodes passed (at most LT_GRAVES
 *   of them dead); walk is O(n).  An AVL tree is at most 1.44 log2(n + 2)
 *   high, i.e. under 47 levels for 2^32 nodes, so every
 *   path fits a fixed stack.
 *
 * Keys and ranges: a block [addr, addr + size) is keyed by addr.  A 0-byte
 *   block still occupies its first byte, so internally every block is the
 *   closed range [addr, last] with last = addr + max(size, 1) - 1; closed
 *   ranges let a block end at the very top of the address space (last =
 *   UINT64_MAX), where addr + size would wrap to 0.  Because nodes are
 *   disjoint, their last bytes are in the same order as their addresses:
 *   a range query starts at the first node whose last byte reaches lo and
 *   walks in order (no per-subtree augmentation to keep up to date).
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
/* Freed blocks kept as dead nodes (a power of two, at most 2^16).  Of
 * malloc_bench's allocations, 61% start at one of the last 64 freed
 * addresses, 72% of the last 256, 81% of the last 1024; past 1024 the
 * deeper tree costs what the reuse saves (bench/consumer_bench.c, working
 * sets of 64 and 4096). */
#define LT_GRAVES 1024u

/* A search reads only addr and child[], so they come first: with slabs
 * 8-byte aligned, those 16 bytes straddle a cache line at most once in four
 * nodes. */
struct lt_node {
	uint64_t addr;
	uint32_t child[2]; /* [0] lower addresses, [1] higher; on the free list [0] is "next" */
	uint64_t size;
	uint64_t time_ns;
	uint32_t site;
	uint8_t height;	     /* nil 0, leaf 1 */
	uint8_t dead;	     /* freed: kept for reuse, invisible to every query */
	uint16_t grave;	     /* when dead: its slot in graves[] */
	uint32_t prev, next; /* the nodes before and after it in address order */
};

_Static_assert(sizeof(struct lt_node) == 48,
	       "the node size is documented at the top of this file and in the man page");
_Static_assert((LT_GRAVES & (LT_GRAVES - 1)) == 0 && LT_GRAVES <= 65536,
	       "grave slots are 16-bit and wrap with a mask");

struct mt_livetable {
	struct lt_node **slabs;
	uint32_t nslabs;
	uint32_t slab_cap;
	uint64_t next_unused; /* first index never handed out */
	uint32_t free_head;   /* removed nodes, linked through child[0] */
	uint32_t root;
	size_t count; /* live blocks */
	uint64_t bytes;
	uint32_t ndead;
	uint32_t grave_next;	    /* the slot the next burial takes */
	uint32_t graves[LT_GRAVES]; /* dead nodes' indices, LT_NIL: empty */
	/* The hash index: every node (live or dead) by its addr, open
	 * addressing with linear probing, at most half full. */
	uint32_t *hslots; /* node indices, LT_NIL: empty */
	uint32_t hbits;	  /* 1 << hbits slots */
	uint32_t hused;
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

static void node_set_block(struct lt_node *n, const struct mt_block *b)
{
	n->addr = b->addr;
	n->size = b->size;
	n->time_ns = b->time_ns;
	n->site = b->site;
	n->dead = 0;
}

/* ---- the hash index ---- */

#define LT_HASH_MIN_BITS 6

/* Fibonacci hashing: the top bits of addr times 2^64 / phi mix every bit
 * of the address in, the 16-byte-aligned low ones included. */
static inline uint32_t hash_home(const struct mt_livetable *t, uint64_t addr)
{
	return (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> (64 - t->hbits));
}

static inline uint32_t hash_mask(const struct mt_livetable *t)
{
	return (1u << t->hbits) - 1;
}

/* The node starting at ADDR, live or dead, or LT_NIL. */
static uint32_t hash_find(const struct mt_livetable *t, uint64_t addr)
{
	uint32_t mask = hash_mask(t);

	for (uint32_t j = hash_home(t, addr);; j = (j + 1) & mask) {
		uint32_t i = t->hslots[j];
		if (i == LT_NIL || nd(t, i)->addr == addr)
			return i;
	}
}

/* Put node I (not in the index; its addr in no other node) in a free slot. */
static void hash_put(struct mt_livetable *t, uint32_t i)
{
	uint32_t mask = hash_mask(t);
	uint32_t j = hash_home(t, nd(t, i)->addr);

	while (t->hslots[j] != LT_NIL)
		j = (j + 1) & mask;
	t->hslots[j] = i;
	t->hused++;
}

/* Room for one more node: 0, or -ENOMEM with nothing changed. */
static int hash_reserve(struct mt_livetable *t)
{
	if ((uint64_t)(t->hused + 1) * 2 <= (1ull << t->hbits))
		return 0;
	if (t->hbits >= 31)
		return -ENOMEM; /* 2^31 slots: at most 2^30 nodes */
	uint32_t *old = t->hslots, oldn = 1u << t->hbits;
	uint32_t *slots = calloc((size_t)oldn * 2, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	t->hslots = slots;
	t->hbits++;
	t->hused = 0;
	for (uint32_t j = 0; j < oldn; j++)
		if (old[j] != LT_NIL)
			hash_put(t, old[j]);
	free(old);
	return 0;
}

/* Take node I out of the index.  Linear probing without tombstones: the
 * entries after the hole that could have sat in it move back (Knuth's
 * algorithm R), so every entry stays reachable from its home slot. */
static void hash_del(struct mt_livetable *t, uint32_t i)
{
	uint32_t mask = hash_mask(t);
	uint32_t hole = hash_home(t, nd(t, i)->addr);

	while (t->hslots[hole] != i)
		hole = (hole + 1) & mask;
	for (uint32_t k = (hole + 1) & mask; t->hslots[k] != LT_NIL; k = (k + 1) & mask) {
		uint32_t home = hash_home(t, nd(t, t->hslots[k])->addr);
		/* k's entry may fill the hole when its home is not
		 * cyclically in (hole, k]. */
		if (((k - home) & mask) >= ((k - hole) & mask)) {
			t->hslots[hole] = t->hslots[k];
			hole = k;
		}
	}
	t->hslots[hole] = LT_NIL;
	t->hused--;
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
	t->hbits = LT_HASH_MIN_BITS;
	t->hslots = calloc(1u << LT_HASH_MIN_BITS, sizeof(*t->hslots));
	if (!t->hslots)
		goto fail;
	return t;
fail:
	if (t->slabs)
		free(t->slabs[0]);
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
	free(t->hslots);
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

/* Recompute the height of I from its children. */
static void node_update(struct mt_livetable *t, uint32_t i)
{
	struct lt_node *n = nd(t, i);
	uint8_t hl = nd(t, n->child[0])->height;
	uint8_t hr = nd(t, n->child[1])->height;

	n->height = (uint8_t)(1 + (hl > hr ? hl : hr));
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
		xn->height = (uint8_t)(1 + (hl > hr ? hl : hr));
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
 * soon as a subtree keeps its root and its height: nothing above it can
 * change then (nodes carry no other summary of their subtree). */
static void retrace(struct mt_livetable *t, const uint32_t *path, const uint8_t *dirs, int depth,
		    uint32_t child)
{
	while (depth > 0) {
		depth--;
		uint32_t p = path[depth];
		struct lt_node *pn = nd(t, p);
		uint8_t old_height = pn->height;

		pn->child[dirs[depth]] = child;
		uint32_t r = rebalance(t, p);
		if (r == p && nd(t, p)->height == old_height)
			return;
		child = r;
	}
	t->root = child;
}

/* Unlink node CUR, reached by PATH/DIRS (DEPTH entries), from the tree and
 * free it.  With two children, its in-order successor (leftmost of the right
 * subtree, which has no left child) is unlinked from there and takes CUR's
 * place, children and height: nodes never change index, so the hash index
 * and the graves stay right. */
static void tree_unlink(struct mt_livetable *t, uint32_t *path, uint8_t *dirs, int depth,
			uint32_t cur)
{
	struct lt_node *n = nd(t, cur);
	uint32_t repl = n->child[0] != LT_NIL ? n->child[0] : n->child[1];

	if (n->child[0] != LT_NIL && n->child[1] != LT_NIL) {
		int at = depth;
		path[depth] = cur;
		dirs[depth++] = 1;
		uint32_t victim = n->child[1];
		while (nd(t, victim)->child[0] != LT_NIL) {
			path[depth] = victim;
			dirs[depth++] = 0;
			victim = nd(t, victim)->child[0];
		}
		struct lt_node *v = nd(t, victim);
		repl = v->child[1];
		v->child[0] = n->child[0];
		v->child[1] = n->child[1];
		v->height = n->height;
		if (at == 0)
			t->root = victim;
		else
			nd(t, path[at - 1])->child[dirs[at - 1]] = victim;
		path[at] = victim;
	}
	uint32_t prev = nd(t, cur)->prev, next = nd(t, cur)->next;
	if (prev != LT_NIL)
		nd(t, prev)->next = next;
	if (next != LT_NIL)
		nd(t, next)->prev = prev;
	hash_del(t, cur);
	node_free(t, cur);
	retrace(t, path, dirs, depth, repl);
}

/* The search path to the node starting at ADDR: its index (LT_NIL when
 * there is none) with PATH, DIRS and *DEPTH leading to it. */
static uint32_t find_path(const struct mt_livetable *t, uint64_t addr, uint32_t *path,
			  uint8_t *dirs, int *depth)
{
	uint32_t cur = t->root;

	*depth = 0;
	while (cur != LT_NIL) {
		const struct lt_node *n = nd(t, cur);
		if (n->addr == addr)
			return cur;
		int d = addr > n->addr;
		path[*depth] = cur;
		dirs[(*depth)++] = (uint8_t)d;
		cur = n->child[d];
	}
	return LT_NIL;
}

/* Remove dead node I from the tree for real. */
static void purge(struct mt_livetable *t, uint32_t i)
{
	uint32_t path[LT_STACK];
	uint8_t dirs[LT_STACK];
	int depth;
	const struct lt_node *n = nd(t, i);

	t->graves[n->grave] = LT_NIL;
	t->ndead--;
	find_path(t, n->addr, path, dirs, &depth);
	tree_unlink(t, path, dirs, depth, i);
}

/* Mark live node I dead, removing the node buried LT_GRAVES burials ago if
 * its slot is still taken. */
static void bury(struct mt_livetable *t, uint32_t i)
{
	uint32_t slot = t->grave_next;

	if (t->graves[slot] != LT_NIL)
		purge(t, t->graves[slot]);
	struct lt_node *n = nd(t, i);
	n->dead = 1;
	n->grave = (uint16_t)slot;
	t->graves[slot] = i;
	t->ndead++;
	t->grave_next = (slot + 1) & (LT_GRAVES - 1);
}

/* Bring dead node I back as block B (which overlaps no other node). */
static void revive(struct mt_livetable *t, uint32_t i, const struct mt_block *b)
{
	struct lt_node *n = nd(t, i);

	t->graves[n->grave] = LT_NIL;
	t->ndead--;
	node_set_block(n, b);
}

/* Of the nodes overlapping [addr, last], the lowest-addressed: the one at
 * ADDR (HIT), else the nearest one below (PRED) or above (SUCC) it. */
static uint32_t first_overlap(const struct mt_livetable *t, uint32_t hit, uint32_t pred,
			      uint32_t succ, uint64_t addr, uint64_t last)
{
	if (hit != LT_NIL)
		return hit;
	if (pred != LT_NIL && node_last(nd(t, pred)) >= addr)
		return pred;
	if (succ != LT_NIL && nd(t, succ)->addr <= last)
		return succ;
	return LT_NIL;
}

/* Link a new node for B below PATH, between nodes PRED and SUCC; 0 or
 * -ENOMEM. */
static int link_new(struct mt_livetable *t, const uint32_t *path, const uint8_t *dirs, int depth,
		    const struct mt_block *b, uint32_t pred, uint32_t succ)
{
	if (hash_reserve(t) < 0)
		return -ENOMEM;
	uint32_t i = node_alloc(t);
	if (i == LT_NIL)
		return -ENOMEM;
	struct lt_node *n = nd(t, i);
	node_set_block(n, b);
	n->child[0] = n->child[1] = LT_NIL;
	n->height = 1;
	n->prev = pred;
	n->next = succ;
	if (pred != LT_NIL)
		nd(t, pred)->next = i;
	if (succ != LT_NIL)
		nd(t, succ)->prev = i;
	retrace(t, path, dirs, depth, i);
	hash_put(t, i);
	return 0;
}

int mt_livetable_insert(struct mt_livetable *t, const struct mt_block *b, struct mt_block *clash)
{
	uint32_t path[LT_STACK];
	uint8_t dirs[LT_STACK];

	if (b->size != 0 && b->size - 1 > UINT64_MAX - b->addr)
		return -EINVAL;
	uint64_t last = block_last(b->addr, b->size);

	/* The common cases without a descent: the address is live (a clash,
	 * and the lowest-addressed one: whatever lies below ends before it),
	 * or was freed lately and the new block ends before the next node. */
	uint32_t same = hash_find(t, b->addr);
	if (same != LT_NIL && !nd(t, same)->dead) {
		if (clash)
			node_to_block(nd(t, same), clash);
		return -EEXIST;
	}
	uint32_t after = same != LT_NIL ? nd(t, same)->next : LT_NIL;
	if (same != LT_NIL && (after == LT_NIL || nd(t, after)->addr > last)) {
		revive(t, same, b);
		t->count++;
		t->bytes += b->size;
		return 0;
	}

	/* At most LT_GRAVES + 1 rounds: each one but the last purges a dead
	 * node in the way. */
	for (;;) {
		/* The nearest nodes below and above b->addr are both on the
		 * path to its leaf position; b overlaps something iff it
		 * overlaps one of them. */
		uint32_t pred = LT_NIL, succ = LT_NIL, cur = t->root, hit = LT_NIL;
		int depth = 0;
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
		if (hit != LT_NIL && nd(t, hit)->dead) {
			/* Reuse of a freed address: nothing below it can
			 * overlap (the dead node did not), only what follows. */
			uint32_t s = nd(t, hit)->next;
			if (s == LT_NIL || nd(t, s)->addr > last) {
				revive(t, hit, b);
				break;
			}
			hit = s;
		}
		uint32_t o = first_overlap(t, hit, pred, succ, b->addr, last);
		if (o == LT_NIL) {
			int rc = link_new(t, path, dirs, depth, b, pred, succ);
			if (rc < 0)
				return rc;
			break;
		}
		if (!nd(t, o)->dead) {
			if (clash)
				node_to_block(nd(t, o), clash);
			return -EEXIST;
		}
		purge(t, o);
	}
	t->count++;
	t->bytes += b->size;
	return 0;
}

bool mt_livetable_erase(struct mt_livetable *t, uint64_t addr, struct mt_block *out)
{
	uint32_t cur = hash_find(t, addr);

	if (cur == LT_NIL || nd(t, cur)->dead)
		return false;
	const struct lt_node *n = nd(t, cur);
	t->count--;
	t->bytes -= n->size;
	if (out)
		node_to_block(n, out);
	bury(t, cur);
	return true;
}

bool mt_livetable_find_containing(const struct mt_livetable *t, uint64_t addr, struct mt_block *out)
{
	/* The candidate is the last node starting at or below ADDR; when it is
	 * dead, nothing live contains ADDR (every node below ends before it). */
	uint32_t cur = hash_find(t, addr), best = LT_NIL;

	if (cur != LT_NIL) {
		/* the common question: a block's own address */
		best = cur;
		cur = LT_NIL;
	} else {
		cur = t->root;
	}
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
	if (best == LT_NIL || nd(t, best)->dead || node_last(nd(t, best)) < addr)
		return false;
	if (out)
		node_to_block(nd(t, best), out);
	return true;
}

/* In-order walk of the live blocks from the first node whose last byte is
 * at or above LO, stopping at the first starting at or above HI (with
 * TO_END, never). */
static int walk_from(const struct mt_livetable *t, uint64_t lo, uint64_t hi, bool to_end,
		     mt_block_cb cb, void *ctx)
{
	uint32_t stack[LT_STACK];
	int sp = 0;
	uint32_t cur = t->root;

	/* Last bytes are in address order: the stack gets every node whose
	 * last byte reaches LO and whose left subtree holds the rest. */
	while (cur != LT_NIL) {
		const struct lt_node *n = nd(t, cur);
		if (node_last(n) >= lo) {
			stack[sp++] = cur;
			cur = n->child[0];
		} else {
			cur = n->child[1];
		}
	}
	while (sp > 0) {
		const struct lt_node *n = nd(t, stack[--sp]);
		if (!to_end && n->addr >= hi)
			return 0;
		if (!n->dead) {
			struct mt_block b;
			node_to_block(n, &b);
			int rc = cb(ctx, &b);
			if (rc)
				return rc;
		}
		for (cur = n->child[1]; cur != LT_NIL; cur = nd(t, cur)->child[0])
			stack[sp++] = cur;
	}
	return 0;
}

int mt_livetable_range(const struct mt_livetable *t, uint64_t lo, uint64_t hi, mt_block_cb cb,
		       void *ctx)
{
	if (lo >= hi)
		return 0;
	return walk_from(t, lo, hi, false, cb, ctx);
}

int mt_livetable_walk(const struct mt_livetable *t, mt_block_cb cb, void *ctx)
{
	return walk_from(t, 0, 0, true, cb, ctx);
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
	/* The node and the most the index takes for it (a quarter full: 16);
	 * the slab overhead (at most 32 bytes per 1024 nodes) rounds to 0, and
	 * the dead nodes are a fixed amount, not per block. */
	return sizeof(struct lt_node) + 4 * sizeof(uint32_t);
}

/* ---- invariant checker (tests) ---- */

struct lt_check {
	const struct mt_livetable *t;
	bool have_prev;
	uint64_t prev_last;
	size_t count;
	uint64_t bytes;
	uint32_t ndead;
	uint32_t prev; /* the node before, LT_NIL at first */
};

/* Height of subtree I, or -1 when it breaks an invariant. */
static int check_subtree(struct lt_check *c, uint32_t i, int level)
{
	const struct mt_livetable *t = c->t;

	if (i == LT_NIL)
		return 0;
	if (level >= LT_STACK || i >= t->next_unused)
		return -1; /* a cycle, or an index never handed out */

	const struct lt_node *n = nd(t, i);
	if (n->size != 0 && n->size - 1 > UINT64_MAX - n->addr)
		return -1; /* wraps past the top of the address space */

	int hl = check_subtree(c, n->child[0], level + 1);
	if (hl < 0)
		return -1;

	/* In order: strictly after the previous node, live or dead, without
	 * overlap. */
	uint64_t last = node_last(n);
	if (c->have_prev && c->prev_last >= n->addr)
		return -1;
	/* linked to the node before it, both ways */
	if (n->prev != c->prev || (c->prev != LT_NIL && nd(t, c->prev)->next != i))
		return -1;
	c->have_prev = true;
	c->prev_last = last;
	c->prev = i;
	if (hash_find(t, n->addr) != i)
		return -1; /* not reachable through the hash index */
	if (n->dead) {
		/* listed in its grave, once */
		if (n->dead != 1 || n->grave >= LT_GRAVES || t->graves[n->grave] != i)
			return -1;
		c->ndead++;
	} else {
		c->count++;
		c->bytes += n->size;
	}

	int hr = check_subtree(c, n->child[1], level + 1);
	if (hr < 0)
		return -1;
	if (hl - hr > 1 || hr - hl > 1)
		return -1;
	int h = 1 + (hl > hr ? hl : hr);
	if (n->height != h)
		return -1;
	return h;
}

bool mt_livetable_check_invariants(const struct mt_livetable *t)
{
	struct lt_check c = { .t = t };

	if (t->nslabs == 0 || t->nslabs > t->slab_cap || t->next_unused < 1 || t->hbits > 32 ||
	    t->next_unused > (uint64_t)t->nslabs * LT_SLAB_NODES || t->grave_next >= LT_GRAVES)
		return false;
	const struct lt_node *nil = nd(t, LT_NIL);
	if (nil->height != 0 || nil->child[0] != LT_NIL || nil->child[1] != LT_NIL)
		return false;
	if (check_subtree(&c, t->root, 0) < 0)
		return false;
	if (c.prev != LT_NIL && nd(t, c.prev)->next != LT_NIL)
		return false;
	if (c.count != t->count || c.bytes != t->bytes || c.ndead != t->ndead)
		return false;

	/* Every taken grave holds a dead node of the tree that points back
	 * (the tree walk matched each dead node to its own grave). */
	uint32_t taken = 0;
	for (uint32_t g = 0; g < LT_GRAVES; g++)
		taken += t->graves[g] != LT_NIL;
	if (taken != t->ndead)
		return false;

	/* The index holds the tree's nodes (each found above) and no more. */
	uint32_t used = 0;
	for (uint64_t j = 0; j < (1ull << t->hbits); j++)
		used += t->hslots[j] != LT_NIL;
	if (used != t->hused || used != t->count + t->ndead ||
	    (uint64_t)used * 2 > (1ull << t->hbits))
		return false;

	/* Every node handed out is either in the tree or on the free list. */
	uint64_t nfree = 0;
	for (uint32_t i = t->free_head; i != LT_NIL; i = nd(t, i)->child[0]) {
		if (i >= t->next_unused || ++nfree > t->next_unused)
			return false;
	}
	return 1 + t->count + t->ndead + nfree == t->next_unused;
}
