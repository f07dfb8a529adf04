/* leaks.c against a fake image: a heap of blocks given as census chunks,
 * a root region, pointers laid out by hand.  memcheck's classes for each
 * shape (its manual's nine cases), cliques, paths, what cannot be read. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "census/leaks.h"

#define GLOB 0x10000ull
#define HEAP 0x100000ull
#define HEAPLEN (1u << 20)
#define GLOBLEN 4096u

static uint8_t heap[HEAPLEN], glob[GLOBLEN];
static uint64_t hole_lo, hole_hi;   /* unreadable bytes of the heap */

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (addr < hole_hi && addr + len > hole_lo)
		return -14;
	if (addr >= HEAP && addr + len <= HEAP + HEAPLEN) {
		memcpy(buf, heap + (addr - HEAP), len);
		return 0;
	}
	if (addr >= GLOB && addr + len <= GLOB + GLOBLEN) {
		memcpy(buf, glob + (addr - GLOB), len);
		return 0;
	}
	return -14;
}

static struct mt_memsrc src = { fake_read, NULL, NULL };
static struct mt_maps nomaps = { NULL, 0 };
static struct mt_census *census;
static struct mt_leaks *lk;

static void put(uint64_t addr, uint64_t v)
{
	if (addr >= HEAP)
		memcpy(heap + (addr - HEAP), &v, 8);
	else
		memcpy(glob + (addr - GLOB), &v, 8);
}

static void setup(void)
{
	memset(heap, 0, sizeof heap);
	memset(glob, 0, sizeof glob);
	hole_lo = hole_hi = 0;
	struct mt_census_config cfg = { &src, &nomaps, NULL, NULL, NULL };
	census = mt_census_new(&cfg);
	lk = NULL;
}

static void teardown(void)
{
	mt_leaks_destroy(lk);
	mt_census_destroy(census);
}

/* A block of USABLE bytes (24 + 16k) at ADDR. */
static void blk(uint64_t addr, uint64_t usable)
{
	struct mt_glheap_chunk ch = { addr - 16, addr, usable + 8, usable, 0, MT_CHUNK_LIVE,
				      false, 0 };
	ck_assert_int_eq(mt_census_chunk(census, &ch), 0);
}

/* Groups: the block's address / 0x1000 (tests lay groups out by page). */
static uint32_t by_page(void *ctx, size_t i, uint64_t addr, uint32_t row)
{
	(void)ctx;
	(void)i;
	(void)row;
	return (uint32_t)(addr >> 12);
}

static uint32_t labels;
static uint32_t label(void *ctx, const struct mt_leaks_root *r, uint64_t *lo, uint64_t *hi)
{
	(void)ctx;
	labels++;
	*lo = r->where & ~0xffull;   /* 256-byte "symbols" */
	*hi = *lo + 256;
	return (uint32_t)(r->where >> 8);
}

static void start(bool guard, uint64_t g)
{
	ck_assert_int_eq(mt_census_finish(census, NULL), 0);
	struct mt_leaks_config cfg = { &src, census, by_page, NULL, label, NULL, guard, g, NULL, NULL };
	const char *why;
	lk = mt_leaks_new(&cfg, &why);
	ck_assert_ptr_nonnull(lk);
}

static const struct mt_leaks_root groot = { MT_ROOT_GLOBAL, 0, 0 };

static void roots(void)
{
	ck_assert_int_eq(mt_leaks_root_range(lk, GLOB, GLOB + GLOBLEN, &groot), 0);
	ck_assert_int_eq(mt_leaks_mark(lk), 0);
}

static enum mt_leak_kind kind_at(uint64_t addr)
{
	size_t i;
	uint64_t lo, hi;
	ck_assert(mt_leaks_find(lk, addr, &i, &lo, &hi));
	ck_assert_uint_eq(lo, addr);
	return mt_leaks_kind(lk, i);
}

/* The group of kind K at page G: its entry (the test fails without). */
static struct mt_leaks_group group(enum mt_leak_kind k, uint32_t g)
{
	struct mt_leaks_group *v;
	size_t n;
	ck_assert_int_eq(mt_leaks_groups(lk, &v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (v[i].kind == k && v[i].group == g) {
			struct mt_leaks_group r = v[i];
			free(v);
			return r;
		}
	}
	free(v);
	ck_abort_msg("no group %d/%u", k, g);
	return (struct mt_leaks_group){ 0 };
}

#define A (HEAP + 0x1010)
#define B (HEAP + 0x2010)
#define C (HEAP + 0x3010)
#define D (HEAP + 0x4010)
#define E (HEAP + 0x5010)

START_TEST(plain_and_reachable)
{
	blk(A, 40);
	blk(B, 40);
	blk(C, 24);
	put(GLOB + 8, A);        /* A held by a global, B by nothing */
	put(A + 16, C);          /* C by A */
	start(false, 0);
	roots();
	ck_assert_int_eq(kind_at(A), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(C), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_DEFINITE);
	struct mt_leaks_totals t;
	mt_leaks_totals(lk, &t);
	ck_assert_uint_eq(t.blocks[MT_LEAK_DEFINITE], 1);
	ck_assert_uint_eq(t.bytes[MT_LEAK_DEFINITE], 40);
	ck_assert_uint_eq(t.blocks[MT_LEAK_REACHABLE], 2);
	ck_assert_uint_eq(t.bytes[MT_LEAK_REACHABLE], 64);
	ck_assert_uint_eq(t.root_bytes, GLOBLEN);
	ck_assert_uint_eq(t.block_bytes, 104);  /* each block once: B in its clique */
}
END_TEST

START_TEST(tree_head_above_its_children)
{
	/* the children lie below the head: each leads a clique of its own at
	 * first, then the head's clique takes them in */
	blk(A, 72);
	blk(B, 72);
	blk(C, 72);
	blk(D, 56);              /* the head */
	put(D, A);
	put(D + 8, B);
	put(D + 16, C);
	start(false, 0);
	roots();
	ck_assert_int_eq(kind_at(D), MT_LEAK_DEFINITE);
	ck_assert_int_eq(kind_at(A), MT_LEAK_INDIRECT);
	ck_assert_int_eq(kind_at(C), MT_LEAK_INDIRECT);
	struct mt_leaks_group g = group(MT_LEAK_DEFINITE, (uint32_t)(D >> 12));
	ck_assert_uint_eq(g.blocks, 1);
	ck_assert_uint_eq(g.bytes, 56);
	ck_assert_uint_eq(g.indirect_bytes, 3 * 72);
	struct mt_leaks_totals t;
	mt_leaks_totals(lk, &t);
	ck_assert_uint_eq(t.blocks[MT_LEAK_DEFINITE], 1);
	ck_assert_uint_eq(t.blocks[MT_LEAK_INDIRECT], 3);
	ck_assert_uint_eq(t.bytes[MT_LEAK_INDIRECT], 216);
}
END_TEST

START_TEST(cycle_lowest_leads)
{
	blk(A, 88);
	blk(B, 88);
	put(A, B);
	put(B + 40, A + 8);      /* an interior pointer back: still the clique's */
	start(false, 0);
	roots();
	ck_assert_int_eq(kind_at(A), MT_LEAK_DEFINITE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_INDIRECT);
	ck_assert_uint_eq(group(MT_LEAK_DEFINITE, (uint32_t)(A >> 12)).indirect_bytes, 88);
}
END_TEST

START_TEST(chain_of_leaders_joins)
{
	/* A leads first (nothing below it), then C reaches B which reaches A:
	 * A's clique joins C's, bytes and all */
	blk(A, 24);
	blk(B, 40);
	blk(C, 56);
	put(A, 0);
	put(B, A);
	put(C, B);
	start(false, 0);
	roots();
	ck_assert_int_eq(kind_at(C), MT_LEAK_DEFINITE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_INDIRECT);
	ck_assert_int_eq(kind_at(A), MT_LEAK_INDIRECT);
	ck_assert_uint_eq(group(MT_LEAK_DEFINITE, (uint32_t)(C >> 12)).indirect_bytes, 64);
}
END_TEST

START_TEST(interior_pointers_are_possible)
{
	/* memcheck's cases 5-8: any chain with an interior pointer */
	blk(A, 40);
	blk(B, 40);
	blk(C, 40);
	blk(D, 40);
	blk(E, 40);
	put(GLOB, A + 8);        /* root -?-> A --> B */
	put(A, B);
	put(GLOB + 8, C);        /* root --> C -?-> D */
	put(C, D + 16);
	put(D + 8, E + 8);       /* D -?-> E */
	start(false, 0);
	roots();
	ck_assert_int_eq(kind_at(A), MT_LEAK_POSSIBLE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_POSSIBLE);
	ck_assert_int_eq(kind_at(C), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(D), MT_LEAK_POSSIBLE);
	ck_assert_int_eq(kind_at(E), MT_LEAK_POSSIBLE);
}
END_TEST

START_TEST(start_pointer_beats_interior)
{
	blk(A, 40);
	blk(B, 40);
	put(GLOB, A + 8);        /* interior first ... */
	put(GLOB + 8, B);
	put(B + 8, A);           /* ... then a start pointer through B */
	start(false, 0);
	roots();
	ck_assert_int_eq(kind_at(A), MT_LEAK_REACHABLE);
}
END_TEST

START_TEST(words_that_are_no_pointers)
{
	blk(A, 40);
	blk(B, 40);
	put(GLOB, A + 40);       /* one past the end: not A's */
	put(GLOB + 8, A - 8);    /* its header: not A's */
	put(GLOB + 16, B + 3);   /* any byte inside counts: interior */
	start(false, 0);
	roots();
	ck_assert_int_eq(kind_at(A), MT_LEAK_DEFINITE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_POSSIBLE);
}
END_TEST

START_TEST(mangled_root_pointer)
{
	uint64_t guard = 0x5a5aa5a5deadbeefull;
	blk(A, 40);
	blk(B, 40);
	uint64_t m = A ^ guard;
	m = (m << 17) | (m >> 47);   /* PTR_MANGLE: xor, then rol 17 */
	put(GLOB, m);
	put(A, 0);
	uint64_t mb = B ^ guard;
	put(A + 8, (mb << 17) | (mb >> 47));   /* in a block: not demangled */
	start(true, guard);
	roots();
	ck_assert_int_eq(kind_at(A), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_DEFINITE);
}
END_TEST

START_TEST(register_and_value_roots)
{
	blk(A, 40);
	blk(B, 40);
	start(false, 0);
	struct mt_leaks_root r = { MT_ROOT_REGISTER, 7, 3 };
	ck_assert_int_eq(mt_leaks_root_value(lk, A, &r), 0);
	ck_assert_int_eq(mt_leaks_root_value(lk, B + 16, &r), 0);
	ck_assert_int_eq(mt_leaks_mark(lk), 0);
	ck_assert_int_eq(kind_at(A), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_POSSIBLE);
}
END_TEST

START_TEST(held_block_is_not_scanned)
{
	/* a stack in a block: in use, but what lies below the stack pointer
	 * (B's pointer, in a dead frame) holds nothing */
	blk(A, 248);
	blk(B, 40);
	blk(C, 40);
	put(A + 8, B);
	put(A + 200, C);
	start(false, 0);
	struct mt_leaks_root r = { MT_ROOT_STACK, 9, 0 };
	ck_assert_int_eq(mt_leaks_root_held(lk, A, &r), 0);
	ck_assert_int_eq(mt_leaks_root_range(lk, A + 128, A + 248, &r), 0);
	put(GLOB, A);            /* reached later by a pointer too: still not scanned */
	roots();
	ck_assert_int_eq(kind_at(A), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(C), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_DEFINITE);
}
END_TEST

START_TEST(paths_and_runs)
{
	/* root -> A (page 1) -> a list of three blocks (page 4) -> Z (page 5) */
	blk(A, 40);
	uint64_t l1 = HEAP + 0x4010, l2 = HEAP + 0x4050, l3 = HEAP + 0x4090, z = HEAP + 0x5010;
	blk(l1, 40);
	blk(l2, 40);
	blk(l3, 40);
	blk(z, 24);
	put(GLOB + 0x100, A);
	put(A, l1);
	put(l1, l2);
	put(l2, l3);
	put(l3 + 8, z);
	start(false, 0);
	labels = 0;
	roots();
	ck_assert_uint_eq(labels, 1);
	struct mt_leaks_group g = group(MT_LEAK_REACHABLE, (uint32_t)(z >> 12));
	ck_assert_uint_ne(g.path, MT_LEAKS_NO_PATH);
	struct mt_leaks_link c[8];
	size_t n = mt_leaks_chain(lk, g.path, c, 8);
	ck_assert_uint_eq(n, 4);
	ck_assert(c[0].root);
	ck_assert_uint_eq(c[0].id, (GLOB + 0x100) >> 8);
	ck_assert_uint_eq(c[1].id, A >> 12);
	ck_assert_uint_eq(c[2].id, l1 >> 12);
	ck_assert(c[2].run);
	ck_assert_uint_eq(c[2].blocks, 3);
	ck_assert_uint_eq(c[2].bytes, 120);
	ck_assert_uint_eq(c[3].id, z >> 12);
	ck_assert_uint_eq(c[3].blocks, 1);
	/* short of room: the root and the links nearest the group */
	n = mt_leaks_chain(lk, g.path, c, 2);
	ck_assert_uint_eq(n, 2);
	ck_assert(c[0].root);
	ck_assert_uint_eq(c[1].id, z >> 12);
}
END_TEST

START_TEST(shortest_chain_wins)
{
	/* B is reached from the root directly and through A: its path is the
	 * direct one, breadth first */
	blk(A, 40);
	blk(B, 40);
	put(GLOB, A);
	put(A, B);
	put(GLOB + 0x200, B);
	start(false, 0);
	roots();
	struct mt_leaks_group g = group(MT_LEAK_REACHABLE, (uint32_t)(B >> 12));
	struct mt_leaks_link c[8];
	ck_assert_uint_eq(mt_leaks_chain(lk, g.path, c, 8), 2);
	ck_assert_uint_eq(c[0].id, (GLOB + 0x200) >> 8);
}
END_TEST

START_TEST(unreadable_block)
{
	blk(A, 40);
	blk(B, 40);
	put(GLOB, A);
	put(A, B);
	hole_lo = A;
	hole_hi = A + 40;
	start(false, 0);
	roots();
	struct mt_leaks_totals t;
	mt_leaks_totals(lk, &t);
	ck_assert_uint_eq(t.block_unreadable, 40);
	ck_assert_int_eq(kind_at(A), MT_LEAK_REACHABLE);
	ck_assert_int_eq(kind_at(B), MT_LEAK_DEFINITE);   /* so the caller must say it */
}
END_TEST

START_TEST(unreadable_root_page)
{
	blk(A, 40);
	put(GLOB + 8, A);
	start(false, 0);
	/* a root range running into memory that cannot be read */
	ck_assert_int_eq(mt_leaks_root_range(lk, GLOB, GLOB + GLOBLEN + 8192, &groot), 0);
	ck_assert_int_eq(mt_leaks_mark(lk), 0);
	struct mt_leaks_totals t;
	mt_leaks_totals(lk, &t);
	ck_assert_uint_eq(t.root_unreadable, 8192);
	ck_assert_int_eq(kind_at(A), MT_LEAK_REACHABLE);
}
END_TEST

START_TEST(many_blocks_find)
{
	/* 8,000 blocks of 24..120 bytes packed: every byte of each finds it */
	uint64_t a = HEAP + 16;
	size_t nb = 0;
	uint64_t addrs[8000], ends[8000];
	while (nb < 8000) {
		uint64_t u = 24 + 16 * (nb % 7);
		blk(a, u);
		addrs[nb] = a;
		ends[nb++] = a + u;
		a += u + 8;
	}
	start(false, 0);
	for (size_t i = 0; i < nb; i += 37) {
		for (uint64_t p = addrs[i] - 8; p < ends[i] + 8; p++) {
			size_t k;
			uint64_t lo, hi;
			bool in = p >= addrs[i] && p < ends[i];
			bool found = mt_leaks_find(lk, p, &k, &lo, &hi);
			if (in)
				ck_assert(found && k == i);
			else
				ck_assert(!found || k != i);
		}
	}
	ck_assert(!mt_leaks_find(lk, 0, &(size_t){ 0 }, &(uint64_t){ 0 }, &(uint64_t){ 0 }));
	ck_assert_int_eq(mt_leaks_mark(lk), 0);
	struct mt_leaks_totals t;
	mt_leaks_totals(lk, &t);
	ck_assert_uint_eq(t.blocks[MT_LEAK_DEFINITE], nb);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("leaks");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, plain_and_reachable);
	tcase_add_test(tc, tree_head_above_its_children);
	tcase_add_test(tc, cycle_lowest_leads);
	tcase_add_test(tc, chain_of_leaders_joins);
	tcase_add_test(tc, interior_pointers_are_possible);
	tcase_add_test(tc, start_pointer_beats_interior);
	tcase_add_test(tc, words_that_are_no_pointers);
	tcase_add_test(tc, mangled_root_pointer);
	tcase_add_test(tc, register_and_value_roots);
	tcase_add_test(tc, held_block_is_not_scanned);
	tcase_add_test(tc, paths_and_runs);
	tcase_add_test(tc, shortest_chain_wins);
	tcase_add_test(tc, unreadable_block);
	tcase_add_test(tc, unreadable_root_page);
	tcase_add_test(tc, many_blocks_find);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
