/* Unit tests for the live-block table (src/model/livetable.c).
 *
 * The last test drives 1,200,000 random operations against a byte-map model
 * of two 1 MiB windows of the address space, one at 0 and one ending at
 * UINT64_MAX, and compares every result.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/livetable.h"

static struct mt_block
blk(uint64_t addr, uint64_t size, uint32_t site, uint64_t time_ns)
{
	struct mt_block b = { .addr = addr, .size = size, .site = site, .time_ns = time_ns };
	return b;
}

static bool
block_eq(const struct mt_block *a, const struct mt_block *b)
{
	return a->addr == b->addr && a->size == b->size && a->site == b->site &&
	       a->time_ns == b->time_ns;
}

static int
ins(struct mt_livetable *t, uint64_t addr, uint64_t size)
{
	struct mt_block b = blk(addr, size, (uint32_t)(addr * 7 + 1), addr ^ 0x5a5a);
	return mt_livetable_insert(t, &b, NULL);
}

/* Address of the block containing ADDR, or 42 as "none" (no test block starts at 42). */
static uint64_t
containing(const struct mt_livetable *t, uint64_t addr)
{
	struct mt_block b;
	return mt_livetable_find_containing(t, addr, &b) ? b.addr : 42;
}

/* Collects the start addresses a range or walk reports. */
struct collect {
	uint64_t addr[64];
	size_t n;
	size_t stop_after;   /* return 7 after this many; 0 = never */
};

static int
collect_cb(void *ctx, const struct mt_block *b)
{
	struct collect *c = ctx;
	ck_assert_uint_lt(c->n, 64);
	c->addr[c->n++] = b->addr;
	return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

static size_t
range_addrs(const struct mt_livetable *t, uint64_t lo, uint64_t hi, uint64_t *out)
{
	struct collect c = { .n = 0 };
	ck_assert_int_eq(mt_livetable_range(t, lo, hi, collect_cb, &c), 0);
	memcpy(out, c.addr, c.n * sizeof(*out));
	return c.n;
}

START_TEST(test_empty)
{
	struct mt_livetable *t = mt_livetable_new();
	struct collect c = { .n = 0 };

	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(mt_livetable_count(t), 0);
	ck_assert_uint_eq(mt_livetable_bytes(t), 0);
	ck_assert(!mt_livetable_find_containing(t, 0, NULL));
	ck_assert(!mt_livetable_find_containing(t, UINT64_MAX, NULL));
	ck_assert(!mt_livetable_erase(t, 0, NULL));
	ck_assert_int_eq(mt_livetable_range(t, 0, UINT64_MAX, collect_cb, &c), 0);
	ck_assert_int_eq(mt_livetable_walk(t, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 0);
	ck_assert(mt_livetable_check_invariants(t));
	mt_livetable_destroy(t);
	mt_livetable_destroy(NULL);
}
END_TEST

START_TEST(test_insert_find_erase)
{
	struct mt_livetable *t = mt_livetable_new();
	struct mt_block in = blk(0x1000, 0x20, 17, 123456789), out;

	ck_assert_int_eq(mt_livetable_insert(t, &in, NULL), 0);
	ck_assert_uint_eq(mt_livetable_count(t), 1);
	ck_assert_uint_eq(mt_livetable_bytes(t), 0x20);

	ck_assert(mt_livetable_find_containing(t, 0x1000, &out));
	ck_assert(block_eq(&in, &out));
	ck_assert(mt_livetable_find_containing(t, 0x101f, &out));
	ck_assert(block_eq(&in, &out));
	ck_assert(mt_livetable_find_containing(t, 0x1010, NULL));
	ck_assert(!mt_livetable_find_containing(t, 0xfff, &out));
	ck_assert(!mt_livetable_find_containing(t, 0x1020, &out));

	/* Erase is by exact start only. */
	ck_assert(!mt_livetable_erase(t, 0x1001, &out));
	ck_assert(!mt_livetable_erase(t, 0xfff, &out));
	ck_assert_uint_eq(mt_livetable_count(t), 1);
	memset(&out, 0, sizeof(out));
	ck_assert(mt_livetable_erase(t, 0x1000, &out));
	ck_assert(block_eq(&in, &out));
	ck_assert_uint_eq(mt_livetable_count(t), 0);
	ck_assert_uint_eq(mt_livetable_bytes(t), 0);
	ck_assert(!mt_livetable_erase(t, 0x1000, NULL));
	ck_assert(!mt_livetable_find_containing(t, 0x1000, NULL));
	ck_assert(mt_livetable_check_invariants(t));

	/* The same range can be reused once freed. */
	ck_assert_int_eq(mt_livetable_insert(t, &in, NULL), 0);
	ck_assert(mt_livetable_erase(t, 0x1000, NULL));
	mt_livetable_destroy(t);
}
END_TEST

START_TEST(test_adjacent)
{
	struct mt_livetable *t = mt_livetable_new();

	ck_assert_int_eq(ins(t, 110, 10), 0);   /* [110, 120) */
	ck_assert_int_eq(ins(t, 100, 10), 0);   /* [100, 110), touches from below */
	ck_assert_int_eq(ins(t, 120, 5), 0);    /* [120, 125), touches from above */
	ck_assert_uint_eq(containing(t, 99), 42);
	ck_assert_uint_eq(containing(t, 100), 100);
	ck_assert_uint_eq(containing(t, 109), 100);
	ck_assert_uint_eq(containing(t, 110), 110);
	ck_assert_uint_eq(containing(t, 119), 110);
	ck_assert_uint_eq(containing(t, 120), 120);
	ck_assert_uint_eq(containing(t, 124), 120);
	ck_assert_uint_eq(containing(t, 125), 42);
	ck_assert_uint_eq(mt_livetable_bytes(t), 25);

	/* Removing the middle leaves the neighbours intact and the gap free. */
	ck_assert(mt_livetable_erase(t, 110, NULL));
	ck_assert_uint_eq(containing(t, 109), 100);
	ck_assert_uint_eq(containing(t, 110), 42);
	ck_assert_uint_eq(containing(t, 119), 42);
	ck_assert_uint_eq(containing(t, 120), 120);
	ck_assert_int_eq(ins(t, 110, 10), 0);
	ck_assert(mt_livetable_check_invariants(t));
	mt_livetable_destroy(t);
}
END_TEST

START_TEST(test_zero_size)
{
	struct mt_livetable *t = mt_livetable_new();
	struct mt_block clash;

	/* A 0-byte block occupies [200, 201) for lookups and overlap. */
	ck_assert_int_eq(ins(t, 200, 0), 0);
	ck_assert_uint_eq(mt_livetable_count(t), 1);
	ck_assert_uint_eq(mt_livetable_bytes(t), 0);
	ck_assert_uint_eq(containing(t, 199), 42);
	ck_assert_uint_eq(containing(t, 200), 200);
	ck_assert_uint_eq(containing(t, 201), 42);

	struct mt_block b = blk(199, 2, 1, 1);
	ck_assert_int_eq(mt_livetable_insert(t, &b, &clash), -EEXIST);
	ck_assert_uint_eq(clash.addr, 200);
	ck_assert_uint_eq(clash.size, 0);
	ck_assert_int_eq(ins(t, 200, 0), -EEXIST);
	ck_assert_int_eq(ins(t, 200, 8), -EEXIST);

	/* Neighbours on both sides, zero-sized or not. */
	ck_assert_int_eq(ins(t, 201, 0), 0);
	ck_assert_int_eq(ins(t, 190, 10), 0);   /* [190, 200) */
	ck_assert_int_eq(ins(t, 202, 3), 0);
	ck_assert_uint_eq(containing(t, 199), 190);
	ck_assert_uint_eq(containing(t, 200), 200);
	ck_assert_uint_eq(containing(t, 201), 201);
	ck_assert_uint_eq(containing(t, 202), 202);

	uint64_t a[8];
	ck_assert_uint_eq(range_addrs(t, 200, 201, a), 1);
	ck_assert_uint_eq(a[0], 200);
	ck_assert_uint_eq(range_addrs(t, 199, 202, a), 3);
	ck_assert_uint_eq(a[0], 190);
	ck_assert_uint_eq(a[1], 200);
	ck_assert_uint_eq(a[2], 201);

	ck_assert(mt_livetable_erase(t, 200, NULL));
	ck_assert_uint_eq(containing(t, 200), 42);
	ck_assert_uint_eq(mt_livetable_bytes(t), 13);
	ck_assert(mt_livetable_check_invariants(t));
	mt_livetable_destroy(t);
}
END_TEST

START_TEST(test_address_extremes)
{
	struct mt_livetable *t = mt_livetable_new();
	struct mt_block out;
	uint64_t a[8];

	/* Address 0. */
	ck_assert_int_eq(ins(t, 0, 0), 0);
	ck_assert_uint_eq(containing(t, 0), 0);
	ck_assert_int_eq(ins(t, 1, 15), 0);
	ck_assert_uint_eq(containing(t, 15), 1);
	ck_assert(mt_livetable_erase(t, 0, NULL));
	ck_assert_int_eq(ins(t, 0, 2), -EEXIST);
	ck_assert_int_eq(ins(t, 0, 1), 0);
	ck_assert_uint_eq(containing(t, 0), 0);

	/* The top of the address space: [UINT64_MAX - 15, 2^64) fits... */
	ck_assert_int_eq(ins(t, UINT64_MAX - 15, 16), 0);
	ck_assert(mt_livetable_find_containing(t, UINT64_MAX, &out));
	ck_assert_uint_eq(out.addr, UINT64_MAX - 15);
	ck_assert_uint_eq(out.size, 16);
	ck_assert_uint_eq(containing(t, UINT64_MAX - 16), 42);
	/* ...but one more byte wraps, and wrapping is refused, not a clash. */
	ck_assert_int_eq(ins(t, UINT64_MAX - 31, 33), -EINVAL);
	ck_assert_int_eq(ins(t, UINT64_MAX, 2), -EINVAL);
	ck_assert_int_eq(ins(t, 2, UINT64_MAX), -EINVAL);
	ck_assert_int_eq(ins(t, 1, UINT64_MAX), -EEXIST);   /* [1, 2^64) fits, but clashes */
	ck_assert_int_eq(ins(t, UINT64_MAX, 1), -EEXIST);
	ck_assert_int_eq(ins(t, UINT64_MAX, 0), -EEXIST);
	ck_assert_int_eq(ins(t, UINT64_MAX - 31, 16), 0);   /* adjacent below */

	ck_assert(mt_livetable_erase(t, UINT64_MAX - 15, NULL));
	ck_assert_int_eq(ins(t, UINT64_MAX, 0), 0);
	ck_assert_uint_eq(containing(t, UINT64_MAX), UINT64_MAX);
	ck_assert_int_eq(ins(t, UINT64_MAX - 1, 1), 0);
	ck_assert_uint_eq(containing(t, UINT64_MAX - 1), UINT64_MAX - 1);

	/* hi is exclusive: the byte at UINT64_MAX is beyond any range. */
	ck_assert_uint_eq(range_addrs(t, UINT64_MAX - 1, UINT64_MAX, a), 1);
	ck_assert_uint_eq(a[0], UINT64_MAX - 1);
	ck_assert_uint_eq(range_addrs(t, 0, UINT64_MAX, a), 4);
	ck_assert_uint_eq(a[0], 0);
	ck_assert_uint_eq(a[1], 1);
	ck_assert_uint_eq(a[2], UINT64_MAX - 31);
	ck_assert_uint_eq(a[3], UINT64_MAX - 1);

	/* A block covering everything but the last byte. */
	struct mt_livetable *u = mt_livetable_new();
	ck_assert_int_eq(ins(u, 0, UINT64_MAX), 0);
	ck_assert_int_eq(ins(u, UINT64_MAX, 0), 0);
	ck_assert_uint_eq(containing(u, UINT64_MAX - 1), 0);
	ck_assert_uint_eq(containing(u, UINT64_MAX), UINT64_MAX);
	ck_assert_uint_eq(mt_livetable_bytes(u), UINT64_MAX);
	ck_assert(mt_livetable_check_invariants(u));
	mt_livetable_destroy(u);

	ck_assert(mt_livetable_check_invariants(t));
	mt_livetable_destroy(t);
}
END_TEST

START_TEST(test_overlap_refused)
{
	struct mt_livetable *t = mt_livetable_new();
	struct mt_block clash, b;

	ck_assert_int_eq(ins(t, 1000, 100), 0);   /* [1000, 1100) */
	ck_assert_int_eq(ins(t, 1200, 100), 0);   /* [1200, 1300) */
	for (uint64_t i = 0; i < 50; i++)         /* make the tree a few levels deep */
		ck_assert_int_eq(ins(t, 10000 + i * 10, 5), 0);
	size_t count = mt_livetable_count(t);
	uint64_t bytes = mt_livetable_bytes(t);

	static const struct {
		uint64_t addr, size, clash;
	} cases[] = {
		{ 1000, 100, 1000 },  /* identical */
		{ 1000, 1, 1000 },    /* same start */
		{ 1000, 0, 1000 },    /* same start, 0 bytes */
		{ 990, 11, 1000 },    /* tail overlaps the head */
		{ 1099, 50, 1000 },   /* head overlaps the tail */
		{ 1099, 0, 1000 },    /* 0 bytes on the last byte */
		{ 1050, 1, 1000 },    /* inside */
		{ 900, 1000, 1000 },  /* covers both: the lower one is reported */
		{ 1150, 51, 1200 },   /* reaches the second one by one byte */
		{ 1100, 101, 1200 },  /* fills the gap and one byte more */
		{ 0, 20000, 1000 },   /* covers everything */
		{ 10001, 9, 10000 },  /* straddles two small ones */
		{ 10005, 6, 10010 },  /* from a gap into the next one */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = blk(cases[i].addr, cases[i].size, 99, 99);
		memset(&clash, 0, sizeof(clash));
		ck_assert_msg(mt_livetable_insert(t, &b, &clash) == -EEXIST, "case %zu", i);
		ck_assert_msg(clash.addr == cases[i].clash, "case %zu: clash at %" PRIu64, i,
			      clash.addr);
		ck_assert_int_eq(mt_livetable_insert(t, &b, NULL), -EEXIST);
	}
	/* The clash is reported whole. */
	b = blk(1050, 1, 0, 0);
	ck_assert_int_eq(mt_livetable_insert(t, &b, &clash), -EEXIST);
	b = blk(1000, 100, 1000 * 7 + 1, 1000 ^ 0x5a5a);
	ck_assert(block_eq(&clash, &b));

	/* Nothing changed. */
	ck_assert_uint_eq(mt_livetable_count(t), count);
	ck_assert_uint_eq(mt_livetable_bytes(t), bytes);
	ck_assert_uint_eq(containing(t, 1150), 42);
	ck_assert(mt_livetable_check_invariants(t));

	/* The gap fits exactly. */
	ck_assert_int_eq(ins(t, 1100, 100), 0);
	mt_livetable_destroy(t);
}
END_TEST

START_TEST(test_range)
{
	struct mt_livetable *t = mt_livetable_new();
	uint64_t a[64];
	size_t n;

	/* Blocks [i*100, i*100 + 50) for i = 1..40, inserted out of order. */
	for (uint64_t i = 0; i < 40; i++)
		ck_assert_int_eq(ins(t, ((i * 17) % 40 + 1) * 100, 50), 0);

	n = range_addrs(t, 0, UINT64_MAX, a);
	ck_assert_uint_eq(n, 40);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(a[i], (i + 1) * 100);

	/* Partial overlap at both ends. */
	n = range_addrs(t, 549, 801, a);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(a[0], 500);
	ck_assert_uint_eq(a[3], 800);
	/* Ends are exclusive: stopping at a block's start excludes it;
	 * starting at its end excludes it. */
	n = range_addrs(t, 550, 800, a);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(a[0], 600);
	ck_assert_uint_eq(a[1], 700);
	/* Entirely in a gap. */
	ck_assert_uint_eq(range_addrs(t, 650, 700, a), 0);
	/* Empty and inverted ranges. */
	ck_assert_uint_eq(range_addrs(t, 600, 600, a), 0);
	ck_assert_uint_eq(range_addrs(t, 700, 600, a), 0);
	/* One byte. */
	ck_assert_uint_eq(range_addrs(t, 4049, 4050, a), 1);
	ck_assert_uint_eq(a[0], 4000);
	ck_assert_uint_eq(range_addrs(t, 4050, UINT64_MAX, a), 0);

	/* Early stop returns the callback's value. */
	struct collect c = { .stop_after = 3 };
	ck_assert_int_eq(mt_livetable_range(t, 1000, 3000, collect_cb, &c), 7);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_uint_eq(c.addr[2], 1200);
	mt_livetable_destroy(t);
}
END_TEST

START_TEST(test_walk_count_bytes)
{
	struct mt_livetable *t = mt_livetable_new();
	struct collect c = { .n = 0 };
	uint64_t bytes = 0;

	for (uint64_t i = 0; i < 60; i += 2) {
		ck_assert_int_eq(ins(t, (60 - i) * 1000, i), 0);
		bytes += i;
	}
	ck_assert_uint_eq(mt_livetable_count(t), 30);
	ck_assert_uint_eq(mt_livetable_bytes(t), bytes);
	ck_assert_int_eq(mt_livetable_walk(t, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 30);
	for (size_t i = 1; i < c.n; i++)
		ck_assert_uint_lt(c.addr[i - 1], c.addr[i]);
	ck_assert_uint_eq(c.addr[0], 2000);

	c = (struct collect){ .stop_after = 5 };
	ck_assert_int_eq(mt_livetable_walk(t, collect_cb, &c), 7);
	ck_assert_uint_eq(c.n, 5);
	mt_livetable_destroy(t);
}
END_TEST

START_TEST(test_bytes_per_block)
{
	/* The figure documented in livetable.c and the man page. */
	ck_assert_uint_eq(mt_livetable_bytes_per_block(), 64);
}
END_TEST

/* Sorted insertion is the classic way to unbalance a tree; erasing from one
 * end and reusing freed nodes exercises the free list. */
START_TEST(test_sequential)
{
	struct mt_livetable *t = mt_livetable_new();
	const uint64_t n = 100000;

	for (uint64_t i = 0; i < n; i++)
		ck_assert_int_eq(ins(t, i * 16, 16), 0);
	ck_assert(mt_livetable_check_invariants(t));
	for (uint64_t i = 0; i < n; i++)
		ck_assert_int_eq(ins(t, UINT64_MAX - (i + 1) * 16 + 1, 16), 0);
	ck_assert(mt_livetable_check_invariants(t));
	ck_assert_uint_eq(mt_livetable_count(t), 2 * n);
	ck_assert_uint_eq(mt_livetable_bytes(t), 2 * n * 16);
	ck_assert_uint_eq(containing(t, 12345 * 16 + 3), 12345 * 16);

	for (uint64_t i = 0; i < n; i++)
		ck_assert(mt_livetable_erase(t, i * 16, NULL));
	ck_assert(mt_livetable_check_invariants(t));
	for (uint64_t i = 0; i < n; i += 2)
		ck_assert_int_eq(ins(t, i * 8, 0), 0);
	ck_assert(mt_livetable_check_invariants(t));
	for (uint64_t i = n; i-- > 0;)
		ck_assert(mt_livetable_erase(t, UINT64_MAX - (i + 1) * 16 + 1, NULL));
	ck_assert_uint_eq(mt_livetable_count(t), n / 2);
	ck_assert_uint_eq(mt_livetable_bytes(t), 0);
	ck_assert(mt_livetable_check_invariants(t));
	mt_livetable_destroy(t);
}
END_TEST

/* ---- randomized comparison against a model ---- */

/* Fail without ck_assert's per-call bookkeeping (it writes to a file on
 * every success, far too slow for millions of checks). */
#define REQUIRE(cond, ...)                              \
	do {                                            \
		if (!(cond))                            \
			ck_abort_msg(__VA_ARGS__);      \
	} while (0)

#define WIN_BITS 20
#define WIN ((uint64_t)1 << WIN_BITS)
#define MAX_LIVE (1u << 18)
#define NOPS 1200000u
#define PHASE 131072u

static const uint64_t win_base[2] = { 0, UINT64_MAX - WIN + 1 };

/* The model: a byte map per window (block id + 1, 0 = free), the blocks by
 * id, and a dense list of live ids for picking one at random. */
struct model {
	uint32_t *owner[2];
	struct mt_block *blocks;
	uint32_t *live;
	uint32_t *pos;
	uint32_t *free_ids;
	uint32_t nlive, nfree;
	uint64_t bytes;
};

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint64_t
rnd(uint64_t n)
{
	return rng() % n;
}

/* Window of ADDR and its offset there; -1 outside both. */
static int
window_of(uint64_t addr, uint64_t *off)
{
	if (addr < WIN) {
		*off = addr;
		return 0;
	}
	if (addr >= win_base[1]) {
		*off = addr - win_base[1];
		return 1;
	}
	*off = 0;
	return -1;
}

static uint64_t
span(uint64_t size)
{
	return size ? size : 1;
}

static struct model *
model_new(void)
{
	struct model *m = calloc(1, sizeof(*m));
	ck_assert_ptr_nonnull(m);
	for (int w = 0; w < 2; w++) {
		m->owner[w] = calloc(WIN, sizeof(uint32_t));
		ck_assert_ptr_nonnull(m->owner[w]);
	}
	m->blocks = calloc(MAX_LIVE, sizeof(*m->blocks));
	m->live = calloc(MAX_LIVE, sizeof(uint32_t));
	m->pos = calloc(MAX_LIVE, sizeof(uint32_t));
	m->free_ids = calloc(MAX_LIVE, sizeof(uint32_t));
	ck_assert(m->blocks && m->live && m->pos && m->free_ids);
	for (uint32_t i = 0; i < MAX_LIVE; i++)
		m->free_ids[i] = MAX_LIVE - 1 - i;
	m->nfree = MAX_LIVE;
	return m;
}

static void
model_destroy(struct model *m)
{
	free(m->owner[0]);
	free(m->owner[1]);
	free(m->blocks);
	free(m->live);
	free(m->pos);
	free(m->free_ids);
	free(m);
}

/* The block containing ADDR, or NULL. */
static const struct mt_block *
model_find(const struct model *m, uint64_t addr)
{
	uint64_t off;
	int w = window_of(addr, &off);
	if (w < 0 || m->owner[w][off] == 0)
		return NULL;
	return &m->blocks[m->owner[w][off] - 1];
}

/* What insert must answer for B (which must not cross a window edge unless
 * it wraps); *clash gets the lowest overlapping block. */
static int
model_insert_result(const struct model *m, const struct mt_block *b,
		    const struct mt_block **clash)
{
	uint64_t off;
	if (b->size > 0 && b->size - 1 > UINT64_MAX - b->addr)
		return -EINVAL;
	int w = window_of(b->addr, &off);
	for (uint64_t i = 0; i < span(b->size); i++) {
		if (m->owner[w][off + i]) {
			*clash = &m->blocks[m->owner[w][off + i] - 1];
			return -EEXIST;
		}
	}
	return 0;
}

static void
model_mark(struct model *m, const struct mt_block *b, uint32_t val)
{
	uint64_t off;
	int w = window_of(b->addr, &off);
	for (uint64_t i = 0; i < span(b->size); i++)
		m->owner[w][off + i] = val;
}

static void
model_insert(struct model *m, const struct mt_block *b)
{
	uint32_t id = m->free_ids[--m->nfree];
	m->blocks[id] = *b;
	m->pos[id] = m->nlive;
	m->live[m->nlive++] = id;
	m->bytes += b->size;
	model_mark(m, b, id + 1);
}

static void
model_erase(struct model *m, uint32_t id)
{
	model_mark(m, &m->blocks[id], 0);
	m->bytes -= m->blocks[id].size;
	uint32_t last = m->live[--m->nlive];
	m->live[m->pos[id]] = last;
	m->pos[last] = m->pos[id];
	m->free_ids[m->nfree++] = id;
}

/* Blocks the model says overlap [lo, hi), in address order. */
static size_t
model_range(const struct model *m, uint64_t lo, uint64_t hi, uint32_t *ids, size_t max)
{
	size_t n = 0;
	if (lo >= hi)
		return 0;
	for (int w = 0; w < 2; w++) {
		uint64_t wlo = win_base[w], whi_incl = win_base[w] + (WIN - 1);
		if (hi <= wlo || lo > whi_incl)
			continue;
		uint64_t a = lo > wlo ? lo - wlo : 0;
		uint64_t b = hi - 1 < whi_incl ? hi - 1 - wlo : WIN - 1;   /* inclusive */
		uint32_t prev = 0;
		for (uint64_t off = a; off <= b; off++) {
			uint32_t o = m->owner[w][off];
			if (o && o != prev) {
				REQUIRE(n < max, "model range overflow");
				ids[n++] = o - 1;
			}
			prev = o;
		}
	}
	return n;
}

struct gather {
	struct mt_block *b;
	size_t n, max;
};

static int
gather_cb(void *ctx, const struct mt_block *b)
{
	struct gather *g = ctx;
	if (g->n == g->max)
		return -1;
	g->b[g->n++] = *b;
	return 0;
}

/* An address worth probing: random in a window, or at or next to the edge
 * of a live block. */
static uint64_t
pick_addr(const struct model *m)
{
	uint64_t r = rnd(100);
	if (r < 50 || m->nlive == 0)
		return win_base[rnd(2)] + rnd(WIN);
	const struct mt_block *b = &m->blocks[m->live[rnd(m->nlive)]];
	uint64_t last = b->addr + span(b->size) - 1;
	switch (r % 4) {
	case 0: return b->addr;
	case 1: return b->addr - 1;    /* may wrap to UINT64_MAX: still modelled */
	case 2: return last;
	default: return last + 1;      /* may wrap to 0 */
	}
}

static uint64_t
pick_size(void)
{
	uint64_t r = rnd(1000);
	if (r < 100)
		return 0;
	if (r < 850)
		return 1 + rnd(16);
	if (r < 990)
		return 17 + rnd(240);
	return 257 + rnd(3840);
}

START_TEST(test_random_vs_model)
{
	struct mt_livetable *t = mt_livetable_new();
	struct model *m = model_new();
	enum { RANGE_MAX = 1u << 20 };
	uint32_t *ids = malloc(RANGE_MAX * sizeof(*ids));
	struct gather g = { .b = malloc(RANGE_MAX * sizeof(*g.b)), .max = RANGE_MAX };
	struct mt_block got, clash;
	const struct mt_block *want;
	unsigned long stats[8] = { 0 };
	size_t peak = 0;
	enum { RECENT = 1200 };   /* a little more than the table keeps dead (1024) */
	uint64_t recent[RECENT];
	size_t nrecent = 0;

	ck_assert(ids && g.b);
	rng_state = 20240611;
	for (uint32_t op = 0; op < NOPS; op++) {
		/* Alternate phases that grow and shrink the table, so it goes
		 * from empty to tens of thousands of blocks and back. */
		bool grow = (op / PHASE) % 2 == 0;
		uint64_t r = rnd(100);
		uint64_t p_ins = grow ? 50 : 15, p_erase = grow ? 15 : 50;

		if (r < p_ins && m->nlive < MAX_LIVE) {
			struct mt_block b = { .site = (uint32_t)rng(), .time_ns = op };
			b.size = pick_size();
			int w = (int)rnd(2);
			uint64_t off;
			if (rnd(4) == 0 && nrecent > 0) {
				/* Where a block was freed lately (the allocator's
				 * reuse, which the table serves in place), in any
				 * size: the same, smaller, larger. */
				w = window_of(recent[rnd(nrecent < RECENT ? nrecent : RECENT)], &off);
			} else if (rnd(5) == 0 && m->nlive > 0) {
				/* Right after or right before a live block. */
				const struct mt_block *n = &m->blocks[m->live[rnd(m->nlive)]];
				int nw = window_of(n->addr, &off);
				w = nw;
				off = rnd(2) ? off + span(n->size) : off - span(b.size);
				if (off >= WIN)   /* off the window's edge (or wrapped) */
					off = rnd(WIN);
			} else {
				off = rnd(WIN);
			}
			if (w == 1 && rnd(100) == 0) {
				/* Past the top of the address space. */
				b.size = WIN - off + 1 + rnd(1000);
			} else if (off + span(b.size) > WIN) {
				b.size = WIN - off;
			}
			b.addr = win_base[w] + off;

			int want_rc = model_insert_result(m, &b, &want);
			memset(&clash, 0xee, sizeof(clash));
			int rc = mt_livetable_insert(t, &b, &clash);
			REQUIRE(rc == want_rc, "op %u: insert [%#" PRIx64 ", +%" PRIu64 "): %d, want %d",
				op, b.addr, b.size, rc, want_rc);
			if (rc == -EEXIST)
				REQUIRE(block_eq(&clash, want), "op %u: clash at %#" PRIx64 ", want %#" PRIx64,
					op, clash.addr, want->addr);
			if (rc == 0)
				model_insert(m, &b);
			stats[rc == 0 ? 0 : rc == -EEXIST ? 1 : 2]++;
		} else if (r < p_ins + p_erase) {
			uint64_t addr;
			if (m->nlive > 0 && rnd(10) < 7)
				addr = m->blocks[m->live[rnd(m->nlive)]].addr;
			else
				addr = pick_addr(m);
			want = model_find(m, addr);
			if (want && want->addr != addr)
				want = NULL;
			memset(&got, 0xee, sizeof(got));
			bool ok = mt_livetable_erase(t, addr, &got);
			REQUIRE(ok == (want != NULL), "op %u: erase %#" PRIx64 ": %d", op, addr, ok);
			if (ok) {
				REQUIRE(block_eq(&got, want), "op %u: erase %#" PRIx64 " returned %#" PRIx64,
					op, addr, got.addr);
				recent[nrecent++ % RECENT] = addr;
				model_erase(m, (uint32_t)(want - m->blocks));
			}
			stats[ok ? 3 : 4]++;
		} else if (r < p_ins + p_erase + 20) {
			uint64_t addr = pick_addr(m);
			want = model_find(m, addr);
			memset(&got, 0xee, sizeof(got));
			bool ok = mt_livetable_find_containing(t, addr, &got);
			REQUIRE(ok == (want != NULL), "op %u: find %#" PRIx64 ": %d", op, addr, ok);
			REQUIRE(!ok || block_eq(&got, want), "op %u: find %#" PRIx64 " gave %#" PRIx64,
				op, addr, got.addr);
			stats[5]++;
		} else {
			uint64_t lo = pick_addr(m), hi, q = rnd(10000);
			if (q < 1500)
				hi = lo - rnd(3);            /* empty or inverted */
			else if (q < 9970)
				hi = lo + 1 + rnd(4096);
			else if (q < 9998)
				hi = lo + rnd(WIN);
			else
				hi = UINT64_MAX - rnd(2);    /* across both windows */
			if (hi < lo && q >= 1500)
				hi = UINT64_MAX;             /* wrapped: clamp */
			size_t n = model_range(m, lo, hi, ids, RANGE_MAX);
			g.n = 0;
			int rc = mt_livetable_range(t, lo, hi, gather_cb, &g);
			REQUIRE(rc == 0 && g.n == n, "op %u: range [%#" PRIx64 ", %#" PRIx64 "): %zu blocks, want %zu",
				op, lo, hi, g.n, n);
			for (size_t i = 0; i < n; i++)
				REQUIRE(block_eq(&g.b[i], &m->blocks[ids[i]]),
					"op %u: range block %zu is %#" PRIx64, op, i, g.b[i].addr);
			stats[6]++;
		}

		REQUIRE(mt_livetable_count(t) == m->nlive, "op %u: count %zu, want %u",
			op, mt_livetable_count(t), m->nlive);
		REQUIRE(mt_livetable_bytes(t) == m->bytes, "op %u: bytes", op);
		if (m->nlive > peak)
			peak = m->nlive;

		if (op % 65536 == 65535) {
			REQUIRE(mt_livetable_check_invariants(t), "op %u: invariants", op);
			/* The whole table, in order. */
			size_t n = model_range(m, 0, UINT64_MAX, ids, RANGE_MAX);
			/* ...plus a block starting at UINT64_MAX, beyond any range. */
			const struct mt_block *top = model_find(m, UINT64_MAX);
			bool top_only = top && top->addr == UINT64_MAX;
			g.n = 0;
			REQUIRE(mt_livetable_walk(t, gather_cb, &g) == 0, "op %u: walk", op);
			REQUIRE(g.n == n + top_only, "op %u: walk gave %zu, want %zu", op, g.n, n);
			for (size_t i = 0; i < n; i++)
				REQUIRE(block_eq(&g.b[i], &m->blocks[ids[i]]), "op %u: walk %zu", op, i);
			REQUIRE(!top_only || block_eq(&g.b[n], top), "op %u: walk top", op);
			stats[7]++;
		}
	}

	/* Drain it. */
	while (m->nlive > 0) {
		uint32_t id = m->live[rnd(m->nlive)];
		REQUIRE(mt_livetable_erase(t, m->blocks[id].addr, &got), "drain");
		REQUIRE(block_eq(&got, &m->blocks[id]), "drain");
		model_erase(m, id);
	}
	ck_assert_uint_eq(mt_livetable_count(t), 0);
	ck_assert_uint_eq(mt_livetable_bytes(t), 0);
	ck_assert(mt_livetable_check_invariants(t));

	/* Every path was exercised. */
	for (int i = 0; i < 8; i++)
		ck_assert_msg(stats[i] > 0, "operation kind %d never happened", i);
	ck_assert_uint_gt(peak, 10000);
	ck_assert_uint_gt(stats[0] + stats[1] + stats[2] + stats[3] + stats[4] + stats[5] + stats[6],
			  1000000);

	free(ids);
	free(g.b);
	model_destroy(m);
	mt_livetable_destroy(t);
}
END_TEST

static Suite *
livetable_suite(void)
{
	Suite *s = suite_create("livetable");
	TCase *tc = tcase_create("basic");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_insert_find_erase);
	tcase_add_test(tc, test_adjacent);
	tcase_add_test(tc, test_zero_size);
	tcase_add_test(tc, test_address_extremes);
	tcase_add_test(tc, test_overlap_refused);
	tcase_add_test(tc, test_range);
	tcase_add_test(tc, test_walk_count_bytes);
	tcase_add_test(tc, test_bytes_per_block);
	tcase_add_test(tc, test_sequential);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_test(tc, test_random_vs_model);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(livetable_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
