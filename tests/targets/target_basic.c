/* target_basic: one thread, a handful of functions each allocating a known
 * number of blocks of known sizes.
 *
 *   target_basic              the attach protocol (protocol.h); on "exit"
 *                             frees everything it holds and exits 0
 *   target_basic --run-mode   for `memtrace run`: never reads stdin, prints
 *                             its expectations and exits 3 without freeing,
 *                             so the expectations are exactly the leaks
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define LEAK_SMALL_N 100
#define LEAK_SMALL_SIZE 24
#define LEAK_BIG_N 3
#define LEAK_BIG_SIZE (1024 * 1024) /* above the mmap threshold */
#define CHURN_N 1000
#define LIST_N 50
#define CALLOC_N 20
#define ZERO_N 5
#define RECURSE_DEPTH 10
#define TWO_A_N 5
#define TWO_B_N 7
#define HALF_N 64
#define FREE_NULL_N 10

struct node {
	struct node *next;
	uint64_t v[4];
}; /* 40 bytes */

static struct site_expect e_leak_small = { .function = "leak_small" };
static struct site_expect e_leak_big = { .function = "leak_big" };
static struct site_expect e_churn = { .function = "churn" };
static struct site_expect e_make_list = { .function = "make_list" };
static struct site_expect e_free_list = { .function = "free_list" };
static struct site_expect e_calloc_matrix = { .function = "calloc_matrix" };
static struct site_expect e_zero_size = { .function = "zero_size" };
static struct site_expect e_recurse = { .function = "recurse" };
static struct site_expect e_two_sites = { .function = "two_sites" };
static struct site_expect e_half_keep = { .function = "half_keep" };
static struct site_expect e_free_evens = { .function = "free_evens" };
static struct site_expect e_free_null = { .function = "free_null" };

static uint64_t rng = 0x5eed0001;
static uint64_t sum = CKSUM_INIT;

NOINLINE static void leak_small(void)
{
	for (int i = 0; i < LEAK_SMALL_N; i++) {
		void *p = proto_checked(malloc(LEAK_SMALL_SIZE), "malloc");
		exp_alloc(&e_leak_small, LEAK_SMALL_SIZE);
		block_fill(p, LEAK_SMALL_SIZE, &rng);
		block_fold(p, LEAK_SMALL_SIZE, &sum);
		proto_hold(p);
	}
}

NOINLINE static void leak_big(void)
{
	for (int i = 0; i < LEAK_BIG_N; i++) {
		void *p = proto_checked(malloc(LEAK_BIG_SIZE), "malloc");
		exp_alloc(&e_leak_big, LEAK_BIG_SIZE);
		block_fill(p, LEAK_BIG_SIZE, &rng);
		block_fold(p, LEAK_BIG_SIZE, &sum);
		proto_hold(p);
	}
}

NOINLINE static void churn(void)
{
	for (int i = 0; i < CHURN_N; i++) {
		size_t size = 1 + prng_next(&rng) % 512;
		void *p = proto_checked(malloc(size), "malloc");
		exp_alloc(&e_churn, size);
		block_fill(p, size, &rng);
		block_fold(p, size, &sum);
		free(p);
		exp_free(&e_churn, size);
	}
}

NOINLINE static struct node *make_list(void)
{
	struct node *head = NULL;

	for (int i = 0; i < LIST_N; i++) {
		struct node *n = proto_checked(malloc(sizeof(*n)), "malloc");
		exp_alloc(&e_make_list, sizeof(*n));
		n->next = head;
		for (int j = 0; j < 4; j++)
			n->v[j] = prng_next(&rng);
		head = n;
	}
	return head;
}

/* Frees blocks make_list allocated: the frees belong to make_list. */
NOINLINE static void free_list(struct node *head)
{
	while (head) {
		struct node *next = head->next;
		for (int j = 0; j < 4; j++)
			cksum_add(&sum, head->v[j]);
		free(head);
		exp_free(&e_make_list, sizeof(*head));
		head = next;
	}
}

NOINLINE static void calloc_matrix(void)
{
	for (int i = 0; i < CALLOC_N; i++) {
		unsigned char *p = proto_checked(calloc(7, 13), "calloc");
		exp_alloc(&e_calloc_matrix, 7 * 13);
		for (int j = 0; j < 7 * 13; j++)
			if (p[j] != 0)
				proto_die("calloc memory not zeroed");
		block_fill(p, 7 * 13, &rng);
		block_fold(p, 7 * 13, &sum);
		proto_hold(p);
	}
}

/* glibc returns a unique minimum-size block for malloc(0): a live block of
 * zero requested bytes. */
NOINLINE static void zero_size(void)
{
	for (int i = 0; i < ZERO_N; i++) {
		void *p = malloc(0);
		if (p) {
			exp_alloc(&e_zero_size, 0);
			proto_hold(p);
		}
	}
}

NOINLINE static void recurse(int depth)
{
	void *p = proto_checked(malloc(32), "malloc");

	exp_alloc(&e_recurse, 32);
	block_fill(p, 32, &rng);
	block_fold(p, 32, &sum);
	proto_hold(p);
	if (depth > 1)
		recurse(depth - 1);
}

/* Two call instructions in one function: two sites, one expectation. */
NOINLINE static void two_sites(void)
{
	for (int i = 0; i < TWO_A_N; i++) {
		void *p = proto_checked(malloc(48), "malloc");
		exp_alloc(&e_two_sites, 48);
		block_fill(p, 48, &rng);
		proto_hold(p);
	}
	for (int i = 0; i < TWO_B_N; i++) {
		void *p = proto_checked(malloc(80), "malloc");
		exp_alloc(&e_two_sites, 80);
		block_fill(p, 80, &rng);
		proto_hold(p);
	}
}

NOINLINE static void half_keep(void **out)
{
	for (int i = 0; i < HALF_N; i++) {
		out[i] = proto_checked(malloc(100 + (size_t)i), "malloc");
		exp_alloc(&e_half_keep, 100 + (size_t)i);
		block_fill(out[i], 100 + (size_t)i, &rng);
	}
}

NOINLINE static void free_evens(void **blocks)
{
	for (int i = 0; i < HALF_N; i++) {
		if (i % 2 == 0) {
			block_fold(blocks[i], 100 + (size_t)i, &sum);
			free(blocks[i]);
			exp_free(&e_half_keep, 100 + (size_t)i);
		} else {
			proto_hold(blocks[i]);
		}
	}
}

/* free(NULL) is not counted anywhere. */
NOINLINE static void free_null(void)
{
	for (int i = 0; i < FREE_NULL_N; i++)
		free(NULL);
}

int main(int argc, char **argv)
{
	static const struct site_expect *all[] = {
		&e_leak_small, &e_leak_big, &e_churn, &e_make_list, &e_free_list,
		&e_calloc_matrix, &e_zero_size, &e_recurse, &e_two_sites,
		&e_half_keep, &e_free_evens, &e_free_null,
	};
	void *half[HALF_N];
	char line[64];

	if (argc > 1 && strcmp(argv[1], "--run-mode") == 0)
		proto_set_run_mode(true);
	else if (argc > 1)
		proto_die("usage: target_basic [--run-mode]");

	proto_ready();

	leak_small();
	leak_big();
	churn();
	free_list(make_list());
	calloc_matrix();
	zero_size();
	recurse(RECURSE_DEPTH);
	two_sites();
	half_keep(half);
	free_evens(half);
	free_null();

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		proto_expect(all[i]);
	proto_expect_unknown_frees(0);
	proto_done(sum, NULL);

	if (proto_run_mode()) {
		fflush(stdout);
		exit(3); /* what was held leaks, on purpose */
	}
	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	proto_free_held();
	return 0;
}
