/* Unit tests for accounting in the agent: src/agent/ltab.h (the live
 * table and the per-ring counts, the same static inlines the agent runs)
 * and src/engine/acctread.c (memtrace's reader of the counts).
 *
 * The table: put, take, the second bucket, no room, a stale entry taken
 * out and handed back; neighbouring granules in neighbouring buckets.  The
 * counts: a ring's table full sends nothing wrong.  The reader: the
 * baseline, deltas, keys out of range, never-claimed rings, counters that
 * go down.  And threads allocating and freeing each other's blocks through
 * one small table while the reader reads: the totals equal what the
 * threads did, and no read ever saw more frees than allocations. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ltab.h"
#include "engine/acctread.h"

static struct mt_ltab_bucket *table_new(uint64_t buckets)
{
	struct mt_ltab_bucket *t = aligned_alloc(64, buckets * sizeof *t);
	ck_assert_ptr_nonnull(t);
	memset(t, 0, buckets * sizeof *t);
	return t;
}

/* The next address from *FROM on (16-byte steps) whose home is HOME and
 * whose second bucket is ALT (any: UINT64_MAX). */
static uint64_t addr_at_home(uint64_t home, uint64_t alt, uint32_t mask, uint64_t *from)
{
	for (uint64_t a = *from;; a += 16)
		if (mt_ltab_home(a, mask) == home &&
		    (alt == UINT64_MAX || mt_ltab_alt(home, a, mask) == alt)) {
			*from = a + 16;
			return a;
		}
}

START_TEST(put_take)
{
	const uint32_t mask = 63;
	struct mt_ltab_bucket *t = table_new(mask + 1);
	uint64_t a = 0x7f0000001010, b = 0x7f0000002020, val, stale;
	ck_assert_int_eq(mt_ltab_take(t, mask, a, &val), 0);
	ck_assert_int_eq(mt_ltab_put(t, mask, a, mt_ltab_val(4000, 17), &stale), 1);
	ck_assert_uint_eq(stale, 0);
	ck_assert_int_eq(mt_ltab_take(t, mask, b, &val), 0);
	ck_assert_int_eq(mt_ltab_take(t, mask, a, &val), 1);
	ck_assert_uint_eq(mt_ltab_val_size(val), 4000);
	ck_assert_uint_eq(mt_ltab_val_slot(val), 17);
	ck_assert_int_eq(mt_ltab_take(t, mask, a, &val), 0);
	free(t);
}
END_TEST

/* Eight blocks of one home bucket and one second bucket fit; the ninth
 * finds no room; every one of the eight comes back with its value. */
START_TEST(second_bucket_then_full)
{
	const uint32_t mask = 255;
	struct mt_ltab_bucket *t = table_new(mask + 1);
	uint64_t from = 0x7f0000000000, a[9], stale, val;
	a[0] = addr_at_home(40, UINT64_MAX, mask, &from);
	uint64_t alt = mt_ltab_alt(40, a[0], mask);
	ck_assert_uint_ne(alt, 40);
	for (int i = 1; i < 9; i++)
		a[i] = addr_at_home(40, alt, mask, &from);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(mt_ltab_put(t, mask, a[i], mt_ltab_val(100 + i, i), &stale), 1);
	ck_assert_int_eq(mt_ltab_put(t, mask, a[8], mt_ltab_val(1, 1), &stale), 0);
	for (int i = 7; i >= 0; i--) {
		ck_assert_int_eq(mt_ltab_take(t, mask, a[i], &val), 1);
		ck_assert_uint_eq(mt_ltab_val_size(val), 100 + i);
		ck_assert_uint_eq(mt_ltab_val_slot(val), i);
	}
	for (uint32_t i = 0; i <= mask; i++)
		for (uint32_t w = 0; w < MT_LTAB_WAYS; w++)
			ck_assert_uint_eq(t[i].e[w].addr, 0);
	free(t);
}
END_TEST

/* An address put again while its entry is still there (its free unseen):
 * the old value comes out as stale, and one entry is left. */
START_TEST(stale_entry)
{
	const uint32_t mask = 63;
	struct mt_ltab_bucket *t = table_new(mask + 1);
	uint64_t a = 0x5555000010a0, stale, val;
	ck_assert_int_eq(mt_ltab_put(t, mask, a, mt_ltab_val(48, 3), &stale), 1);
	ck_assert_int_eq(mt_ltab_put(t, mask, a, mt_ltab_val(64, 9), &stale), 1);
	ck_assert_uint_ne(stale, 0);
	ck_assert_uint_eq(mt_ltab_val_size(stale & ~(1ULL << 63)), 48);
	ck_assert_uint_eq(mt_ltab_val_slot(stale), 3);
	ck_assert_int_eq(mt_ltab_take(t, mask, a, &val), 1);
	ck_assert_uint_eq(mt_ltab_val_size(val), 64);
	ck_assert_int_eq(mt_ltab_take(t, mask, a, &val), 0);
	free(t);
}
END_TEST

/* Blocks close together share lines: granules next to each other have
 * buckets next to each other, within a 16 MiB window. */
START_TEST(locality)
{
	const uint32_t mask = (1u << 18) - 1;
	uint64_t a = 0x55d0c0a00000;
	for (int i = 0; i < 1000; i++) {
		uint64_t h = mt_ltab_home(a + (uint64_t)i * 256, mask);
		ck_assert_uint_eq(mt_ltab_home(a + (uint64_t)i * 256 + 255, mask), h);
		ck_assert_uint_eq(mt_ltab_home(a + (uint64_t)(i + 1) * 256, mask), (h + 1) & mask);
	}
}
END_TEST

START_TEST(rcount_table)
{
	struct mt_ltab_rcount t[16];
	memset(t, 0, sizeof t);
	struct mt_ltab_rcount *e = mt_ltab_rcount_of(t, 15, 5);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->slot1, 6);
	ck_assert_ptr_eq(mt_ltab_rcount_of(t, 15, 5), e);
	int got = 1;
	for (uint32_t s = 100; s < 140; s++)
		got += mt_ltab_rcount_of(t, 15, s) != NULL;
	ck_assert_int_eq(got, 16);   /* every entry taken, then none */
	ck_assert_ptr_null(mt_ltab_rcount_of(t, 15, 200));
	ck_assert_ptr_eq(mt_ltab_rcount_of(t, 15, 5), e);
}
END_TEST

/* ---- the reader ---------------------------------------------------------- */

#define NRINGS 4u
#define PER_RING 8u
#define NSLOTS 64u

struct region {
	char *areas;                        /* NRINGS areas */
	struct mt_ltab_count g[NSLOTS];     /* shared counts */
	uint32_t owners[NRINGS];
};

static struct region *region_new(void)
{
	struct region *r = calloc(1, sizeof *r);
	ck_assert_ptr_nonnull(r);
	r->areas = aligned_alloc(64, NRINGS * mt_ltab_area_bytes(PER_RING));
	ck_assert_ptr_nonnull(r->areas);
	memset(r->areas, 0, NRINGS * mt_ltab_area_bytes(PER_RING));
	return r;
}

static void region_free(struct region *r)
{
	free(r->areas);
	free(r);
}

static struct mt_ltab_rcount *ring_table(struct region *r, uint32_t i)
{
	return (struct mt_ltab_rcount *)(r->areas + i * mt_ltab_area_bytes(PER_RING) +
					 MT_SCACHE_BYTES);
}

static struct mt_acctread *reader_new(struct region *r, bool owners)
{
	struct mt_acctread_geom g = {
		.counts = r->areas, .nrings = NRINGS, .per_ring = PER_RING,
		.gcounts = r->g, .nslots = NSLOTS,
		.owners = owners ? r->owners : NULL, .owner_stride = sizeof r->owners[0],
	};
	struct mt_acctread *rd = mt_acctread_new(&g);
	ck_assert_ptr_nonnull(rd);
	return rd;
}

/* As the agent counts: ring RING's table, else the shared counts. */
static void count(struct region *r, uint32_t ring, uint32_t slot, int freed, uint64_t size)
{
	struct mt_ltab_rcount *e = mt_ltab_rcount_of(ring_table(r, ring), PER_RING - 1, slot);
	if (e) {
		mt_ltab_bump(freed ? &e->c.frees : &e->c.allocs, 1);
		mt_ltab_bump(freed ? &e->c.freed_bytes : &e->c.alloc_bytes, size);
		return;
	}
	__atomic_fetch_add(freed ? &r->g[slot].frees : &r->g[slot].allocs, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(freed ? &r->g[slot].freed_bytes : &r->g[slot].alloc_bytes, size,
			   __ATOMIC_RELEASE);
}

struct got {
	struct mt_counts per[NSLOTS];
	int calls;
	int negative;      /* a read left a stack with more frees than allocations */
};

static void collect(void *ctx, uint32_t slot, const struct mt_counts *d)
{
	struct got *g = ctx;
	ck_assert_uint_lt(slot, NSLOTS);
	struct mt_counts *c = &g->per[slot];
	c->allocs += d->allocs;
	c->alloc_bytes += d->alloc_bytes;
	c->frees += d->frees;
	c->freed_bytes += d->freed_bytes;
	if (c->frees > c->allocs || c->freed_bytes > c->alloc_bytes)
		g->negative = 1;
	g->calls++;
}

START_TEST(reader_baseline_and_deltas)
{
	struct region *r = region_new();
	r->owners[1] = 77;
	count(r, 1, 3, 0, 100);             /* before the reader: baseline */
	struct mt_acctread *rd = reader_new(r, true);
	struct got g = { 0 };
	mt_acctread_sync(rd, collect, &g);
	ck_assert_int_eq(g.calls, 0);
	count(r, 1, 3, 0, 40);
	count(r, 1, 3, 1, 100);             /* a block of before: held back */
	count(r, 1, 9, 0, 8);
	mt_acctread_sync(rd, collect, &g);
	ck_assert_int_eq(g.calls, 2);
	ck_assert_uint_eq(g.per[3].allocs, 1);
	ck_assert_uint_eq(g.per[3].alloc_bytes, 40);
	ck_assert_uint_eq(g.per[3].frees, 1);
	ck_assert_uint_eq(g.per[3].freed_bytes, 40);   /* clamped to what was allocated */
	ck_assert_uint_eq(g.per[9].allocs, 1);
	struct mt_acctread_stats st;
	mt_acctread_stats(rd, &st);
	ck_assert_uint_eq(st.clamped, 1);
	ck_assert_uint_eq(st.allocs, 2);
	/* nothing new: nothing emitted */
	g.calls = 0;
	mt_acctread_sync(rd, collect, &g);
	ck_assert_int_eq(g.calls, 0);
	mt_acctread_destroy(rd);
	region_free(r);
}
END_TEST

/* A ring never claimed is skipped; keys out of range are skipped; a
 * stack whose counter goes down is given up for good. */
START_TEST(reader_distrusts)
{
	struct region *r = region_new();
	struct mt_acctread *rd = reader_new(r, true);
	r->owners[0] = 5;
	count(r, 0, 4, 0, 10);
	count(r, 2, 6, 0, 10);              /* ring 2 not claimed: not read */
	struct mt_ltab_rcount *e = mt_ltab_rcount_of(ring_table(r, 0), PER_RING - 1, 4);
	struct mt_ltab_rcount *bad = &ring_table(r, 0)[(e - ring_table(r, 0) + 1) % PER_RING];
	bad->slot1 = NSLOTS + 5;             /* no such stack */
	bad->c.allocs = 1000;
	struct got g = { 0 };
	mt_acctread_sync(rd, collect, &g);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_uint_eq(g.per[4].allocs, 1);
	e->c.allocs = 0;                     /* scribbled on */
	mt_acctread_sync(rd, collect, &g);
	e->c.allocs = 50;
	mt_acctread_sync(rd, collect, &g);
	ck_assert_uint_eq(g.per[4].allocs, 1);
	struct mt_acctread_stats st;
	mt_acctread_stats(rd, &st);
	ck_assert_uint_eq(st.rejected, 1);
	mt_acctread_destroy(rd);
	region_free(r);
}
END_TEST

/* ---- threads ------------------------------------------------------------- */

#define HANDOFF 64u
#define ROUNDS 200000

struct shared {
	struct region *r;
	struct mt_ltab_bucket *t;
	uint32_t mask;
	uint64_t handoff[HANDOFF];          /* blocks passed between the threads */
	int done;
};

struct worker {
	struct shared *s;
	uint32_t ring;
	uint64_t puts, takes, put_bytes, take_bytes;
	struct mt_counts per[NSLOTS];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	uint64_t x = 0x9e3779b97f4a7c15ULL * (w->ring + 1);
	for (int i = 0; i < ROUNDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint32_t k = (uint32_t)(x % HANDOFF);
		/* take the block in slot k (whoever put it), or put a new one */
		uint64_t a = __atomic_exchange_n(&s->handoff[k], 0, __ATOMIC_ACQ_REL);
		if (a) {
			uint64_t val;
			if (mt_ltab_take(s->t, s->mask, a, &val)) {
				uint32_t slot = mt_ltab_val_slot(val);
				count(s->r, w->ring, slot, 1, mt_ltab_val_size(val));
				w->per[slot].frees++;
				w->per[slot].freed_bytes += mt_ltab_val_size(val);
			}
			continue;
		}
		/* a fresh address: ring-unique, so no two threads hold one */
		uint64_t addr = 0x7f0000000000 + ((uint64_t)i * 4 + w->ring) * 64;
		uint32_t slot = (uint32_t)((x >> 20) % 40);
		uint64_t size = 16 + (x >> 40) % 4000, stale;
		if (mt_ltab_put(s->t, s->mask, addr, mt_ltab_val(size, slot), &stale)) {
			count(s->r, w->ring, slot, 0, size);
			w->per[slot].allocs++;
			w->per[slot].alloc_bytes += size;
		}
		ck_assert_uint_eq(stale, 0);
		uint64_t want = 0;
		if (!__atomic_compare_exchange_n(&s->handoff[k], &want, addr, 0, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED)) {
			/* slot taken meanwhile: free it ourselves */
			uint64_t val;
			if (mt_ltab_take(s->t, s->mask, addr, &val)) {
				count(s->r, w->ring, slot, 1, size);
				w->per[slot].frees++;
				w->per[slot].freed_bytes += size;
			}
		}
	}
	return NULL;
}

START_TEST(threads_and_reader)
{
	struct shared s = { .r = region_new(), .mask = 15 };
	s.t = table_new(s.mask + 1);
	struct mt_acctread *rd = reader_new(s.r, false);
	struct worker w[3];
	pthread_t th[3];
	for (uint32_t i = 0; i < 3; i++) {
		w[i] = (struct worker){ .s = &s, .ring = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	struct got g = { 0 };
	for (int i = 0; i < 2000; i++)
		mt_acctread_sync(rd, collect, &g);
	for (uint32_t i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	mt_acctread_sync(rd, collect, &g);
	ck_assert_int_eq(g.negative, 0);
	for (uint32_t slot = 0; slot < NSLOTS; slot++) {
		struct mt_counts want = { 0 };
		for (int i = 0; i < 3; i++) {
			want.allocs += w[i].per[slot].allocs;
			want.alloc_bytes += w[i].per[slot].alloc_bytes;
			want.frees += w[i].per[slot].frees;
			want.freed_bytes += w[i].per[slot].freed_bytes;
		}
		ck_assert_uint_eq(g.per[slot].allocs, want.allocs);
		ck_assert_uint_eq(g.per[slot].alloc_bytes, want.alloc_bytes);
		ck_assert_uint_eq(g.per[slot].frees, want.frees);
		ck_assert_uint_eq(g.per[slot].freed_bytes, want.freed_bytes);
	}
	struct mt_acctread_stats st;
	mt_acctread_stats(rd, &st);
	ck_assert_uint_eq(st.clamped, 0);
	ck_assert_uint_eq(st.rejected, 0);
	ck_assert_uint_gt(st.allocs, 1000);
	mt_acctread_destroy(rd);
	free(s.t);
	region_free(s.r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ltab");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, put_take);
	tcase_add_test(tc, second_bucket_then_full);
	tcase_add_test(tc, stale_entry);
	tcase_add_test(tc, locality);
	tcase_add_test(tc, rcount_table);
	tcase_add_test(tc, reader_baseline_and_deltas);
	tcase_add_test(tc, reader_distrusts);
	tcase_add_test(tc, threads_and_reader);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
