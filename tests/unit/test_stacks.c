/* Unit tests for src/model/stacks.c: interning call stacks into dense ids. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/stacks.h"

/* Asserts that ID names exactly PCS[0..N). */
static void check_frames(const struct mt_stacks *t, uint32_t id, const uint64_t *pcs, int n)
{
	const uint64_t *got = NULL;
	ck_assert_int_eq(mt_stacks_get(t, id, &got), n);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(memcmp(got, pcs, (size_t)n * sizeof *pcs), 0);
}

START_TEST(test_same_stack_same_id)
{
	struct mt_stacks *t = mt_stacks_new();
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(mt_stacks_count(t), 0);

	/* malloc <- leak_small <- main <- __libc_start_call_main */
	const uint64_t a[] = { 0x7ffff7e5a0e0, 0x555555555189, 0x5555555552a4, 0x7ffff7dd924a };
	uint64_t copy[4];
	memcpy(copy, a, sizeof a);
	uint32_t id = mt_stacks_intern(t, a, 4);
	ck_assert_uint_eq(id, 1);
	ck_assert_uint_eq(mt_stacks_intern(t, a, 4), 1);
	/* Equal content at another address is the same stack. */
	ck_assert_uint_eq(mt_stacks_intern(t, copy, 4), 1);
	ck_assert_uint_eq(mt_stacks_count(t), 1);
	check_frames(t, 1, a, 4);

	/* The table keeps its own copy. */
	copy[0] = 0;
	check_frames(t, 1, a, 4);
	mt_stacks_destroy(t);
	mt_stacks_destroy(NULL);
}
END_TEST

/* A stack that is a prefix or suffix of another, or differs in one frame or
 * in the order of its frames, is another stack. */
START_TEST(test_prefix_suffix_differ)
{
	struct mt_stacks *t = mt_stacks_new();
	const uint64_t s[] = { 0x401010, 0x401020, 0x401030, 0x401040, 0x401050 };
	const uint64_t swapped[] = { 0x401020, 0x401010, 0x401030, 0x401040, 0x401050 };
	const uint64_t last[] = { 0x401010, 0x401020, 0x401030, 0x401040, 0x401051 };
	const uint64_t high[] = { 0x401010, 0x401020, 0x401030, 0x401040, 0x401050 | 1ULL << 63 };
	uint32_t ids[16];
	int k = 0;
	ids[k++] = mt_stacks_intern(t, s, 5);
	for (int n = 1; n < 5; n++)
		ids[k++] = mt_stacks_intern(t, s, n);        /* prefixes: innermost frames */
	for (int off = 1; off < 5; off++)
		ids[k++] = mt_stacks_intern(t, s + off, 5 - off); /* suffixes: outer frames */
	ids[k++] = mt_stacks_intern(t, swapped, 5);
	ids[k++] = mt_stacks_intern(t, last, 5);
	ids[k++] = mt_stacks_intern(t, high, 5);
	ck_assert_int_eq(k, 12);
	for (int i = 0; i < k; i++) {
		ck_assert_uint_eq(ids[i], (uint32_t)i + 1); /* all new, dense */
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(ids[i], ids[j]);
	}
	ck_assert_uint_eq(mt_stacks_count(t), 12);

	/* And each is found again. */
	ck_assert_uint_eq(mt_stacks_intern(t, s, 5), ids[0]);
	ck_assert_uint_eq(mt_stacks_intern(t, s, 2), ids[2]);
	ck_assert_uint_eq(mt_stacks_intern(t, s + 3, 2), ids[7]);
	ck_assert_uint_eq(mt_stacks_intern(t, high, 5), ids[11]);
	check_frames(t, ids[7], s + 3, 2);
	ck_assert_uint_eq(mt_stacks_count(t), 12);

	/* All-zero stacks of different lengths differ too. */
	const uint64_t zeros[3] = { 0, 0, 0 };
	uint32_t z1 = mt_stacks_intern(t, zeros, 1), z2 = mt_stacks_intern(t, zeros, 2);
	ck_assert_uint_ne(z1, z2);
	ck_assert_uint_eq(mt_stacks_intern(t, zeros, 2), z2);
	mt_stacks_destroy(t);
}
END_TEST

/* The deepest stack is the allocator's entry and --depth 128 return
 * addresses: 129 pcs (a stack at --depth 128 was once refused and lost). */
START_TEST(test_one_and_max_frames)
{
	ck_assert_int_eq(MT_STACKS_MAX_PCS, MT_STACKS_MAX_DEPTH + 1);
	ck_assert_int_eq(MT_STACKS_MAX_DEPTH, 128);
	struct mt_stacks *t = mt_stacks_new();
	uint64_t deep[MT_STACKS_MAX_PCS + 1];
	for (int i = 0; i <= MT_STACKS_MAX_PCS; i++)
		deep[i] = 0x555555554000 + 0x40 * (uint64_t)i;

	uint32_t one = mt_stacks_intern(t, deep, 1);
	uint32_t max = mt_stacks_intern(t, deep, MT_STACKS_MAX_PCS);
	ck_assert_uint_eq(one, 1);
	ck_assert_uint_eq(max, 2);
	ck_assert_uint_eq(mt_stacks_intern(t, deep, 1), one);
	ck_assert_uint_eq(mt_stacks_intern(t, deep, MT_STACKS_MAX_PCS), max);
	check_frames(t, one, deep, 1);
	check_frames(t, max, deep, MT_STACKS_MAX_PCS);

	/* Out of range: refused, nothing created. */
	ck_assert_uint_eq(mt_stacks_intern(t, deep, MT_STACKS_MAX_PCS + 1), 0);
	ck_assert_uint_eq(mt_stacks_intern(t, deep, 0), 0);
	ck_assert_uint_eq(mt_stacks_intern(t, deep, -1), 0);
	ck_assert_uint_eq(mt_stacks_intern(t, NULL, 3), 0);
	ck_assert_uint_eq(mt_stacks_count(t), 2);

	/* Bad ids. */
	const uint64_t *p = deep;
	ck_assert_int_eq(mt_stacks_get(t, 0, &p), 0);
	ck_assert_ptr_null(p);
	p = deep;
	ck_assert_int_eq(mt_stacks_get(t, 3, &p), 0);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(mt_stacks_get(t, UINT32_MAX, &p), 0);
	ck_assert_int_eq(mt_stacks_get(t, 2, NULL), MT_STACKS_MAX_PCS);
	mt_stacks_destroy(t);
}
END_TEST

/* Frames returned early stay valid while the table grows past many arena
 * chunks and slot doublings; memory grows with the stacks. */
START_TEST(test_pointers_stable)
{
	struct mt_stacks *t = mt_stacks_new();
	size_t empty = mt_stacks_memory(t);
	ck_assert_uint_gt(empty, 0);

	const uint64_t first[] = { 0x7f0000001000, 0x400500, 0x400600 };
	uint32_t id = mt_stacks_intern(t, first, 3);
	const uint64_t *p;
	ck_assert_int_eq(mt_stacks_get(t, id, &p), 3);

	uint64_t s[64];
	for (uint32_t i = 0; i < 20000; i++) {
		for (int k = 0; k < 64; k++)
			s[k] = 0x400000 + 0x10 * (uint64_t)k + ((uint64_t)i << 24);
		ck_assert_uint_eq(mt_stacks_intern(t, s, 64), i + 2);
	}
	const uint64_t *again;
	ck_assert_int_eq(mt_stacks_get(t, id, &again), 3);
	ck_assert_ptr_eq(again, p);
	ck_assert_int_eq(memcmp(p, first, sizeof first), 0);
	ck_assert_uint_eq(mt_stacks_intern(t, first, 3), id);

	/* 20000 * 64 frames are 10 MB; the index and slack add little. */
	size_t mem = mt_stacks_memory(t);
	ck_assert_uint_ge(mem, 20000u * 64 * 8);
	ck_assert_uint_le(mem, 20000u * 64 * 8 * 5 / 4 + empty + (1u << 20));
	mt_stacks_destroy(t);
}
END_TEST

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

#define POOL 50000
#define DRAWS 100000

/* Stack number J of the pool: half are short stacks over a four-address
 * alphabet (so different J often give equal stacks, and many share
 * prefixes), half are long stacks of random return addresses. */
static int make_stack(uint32_t j, uint64_t *out)
{
	rng_state = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)j * 0x100000001b3ULL) ^ 1;
	int n;
	if (j % 2 == 0) {
		n = 1 + (int)(rng() % 8);
		for (int i = 0; i < n; i++)
			out[i] = 0x555555555100 + 0x10 * (rng() % 4);
	} else {
		n = 1 + (int)(rng() % MT_STACKS_MAX_DEPTH);
		for (int i = 0; i < n; i++)
			out[i] = 0x7f0000000000 + (rng() & 0xffffffffff);
	}
	return n;
}

struct ref {
	uint64_t pcs[MT_STACKS_MAX_DEPTH];
	int n;
	uint32_t id;
};

static int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	for (int i = 0; i < x->n; i++)
		if (x->pcs[i] != y->pcs[i])
			return x->pcs[i] < y->pcs[i] ? -1 : 1;
	return 0;
}

/* 100k draws from the pool against a reference: the pool's stacks sorted,
 * where equal neighbours must share an id and every group of equal stacks
 * owns exactly one id, 1..count, whose frames are the group's. */
START_TEST(test_random_vs_reference)
{
	struct mt_stacks *t = mt_stacks_new();
	uint32_t *id_of = calloc(POOL, sizeof *id_of);
	struct ref *refs = calloc(POOL, sizeof *refs);
	ck_assert_ptr_nonnull(id_of);
	ck_assert_ptr_nonnull(refs);
	uint64_t s[MT_STACKS_MAX_DEPTH];

	uint64_t draw = 12345;
	uint32_t next_new = 1, bad = UINT32_MAX;
	for (uint32_t d = 0; d < DRAWS && bad == UINT32_MAX; d++) {
		draw = draw * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t j = (uint32_t)(draw >> 33) % POOL;
		int n = make_stack(j, s);
		uint32_t id = mt_stacks_intern(t, s, n);
		if (id == 0 || (id_of[j] && id_of[j] != id) || id > next_new)
			bad = d;
		else if (id == next_new)
			next_new++;              /* a new id is always the next one */
		id_of[j] = id;
	}
	ck_assert_msg(bad == UINT32_MAX, "draw %u got an inconsistent id", bad);
	ck_assert_uint_eq(mt_stacks_count(t), next_new - 1);

	size_t m = 0;
	for (uint32_t j = 0; j < POOL; j++) {
		if (!id_of[j])
			continue;
		refs[m].n = make_stack(j, refs[m].pcs);
		refs[m].id = id_of[j];
		m++;
	}
	qsort(refs, m, sizeof *refs, cmp_ref);
	size_t groups = 0;
	for (size_t i = 0; i < m; i++) {
		if (i > 0 && cmp_ref(&refs[i - 1], &refs[i]) == 0) {
			ck_assert_uint_eq(refs[i].id, refs[i - 1].id);
			continue;
		}
		groups++;
		const uint64_t *p;
		ck_assert_int_eq(mt_stacks_get(t, refs[i].id, &p), refs[i].n);
		ck_assert_int_eq(memcmp(p, refs[i].pcs, (size_t)refs[i].n * sizeof *p), 0);
	}
	/* Short stacks over four addresses must have collided a lot. */
	ck_assert_uint_lt(groups, m);
	ck_assert_uint_eq(groups, mt_stacks_count(t));

	/* Every id 1..count is some group's. */
	ck_assert_int_eq(mt_stacks_get(t, (uint32_t)groups + 1, NULL), 0);
	for (uint32_t id = 1; id <= groups; id++)
		ck_assert_int_gt(mt_stacks_get(t, id, NULL), 0);

	free(refs);
	free(id_of);
	mt_stacks_destroy(t);
}
END_TEST

static Suite *stacks_suite(void)
{
	Suite *s = suite_create("stacks");
	TCase *tc = tcase_create("intern");
	tcase_add_test(tc, test_same_stack_same_id);
	tcase_add_test(tc, test_prefix_suffix_differ);
	tcase_add_test(tc, test_one_and_max_frames);
	tcase_add_test(tc, test_pointers_stable);
	tcase_add_test(tc, test_random_vs_reference);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stacks_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
