/* target_realloc: calloc, realloc (grow, shrink, move, same size, NULL, 0,
 * failure), reallocarray, each from its own function.
 *
 * The accounting rules being tested (contract): realloc(p, n) is a free of
 * p, credited to the site that allocated p, plus an allocation of n bytes
 * at realloc's caller, even when the block stays in place;
 * realloc(NULL, n) is only an allocation; realloc(p, 0) is only a free
 * (glibc frees p and returns NULL); a failed realloc changes nothing.
 * reallocarray(p, n, m) is realloc(p, n * m).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

static struct site_expect e_origin = { .function = "origin_alloc" };
static struct site_expect e_do_calloc = { .function = "do_calloc" };
static struct site_expect e_grow = { .function = "grow" };
static struct site_expect e_shrink = { .function = "shrink" };
static struct site_expect e_move = { .function = "move" };
static struct site_expect e_free_moved = { .function = "free_moved" };
static struct site_expect e_realloc_null = { .function = "realloc_null" };
static struct site_expect e_realloc_zero = { .function = "realloc_zero" };
static struct site_expect e_realloc_same = { .function = "realloc_same" };
static struct site_expect e_realloc_fail = { .function = "realloc_fail" };
static struct site_expect e_chain = { .function = "chain" };
static struct site_expect e_ra_new = { .function = "reallocarray_new" };
static struct site_expect e_ra_grow = { .function = "reallocarray_grow" };

static uint64_t rng = 0x5eed0002;
static uint64_t sum = CKSUM_INIT;

/* The site of every block that some other function reallocates. */
NOINLINE static void *origin_alloc(size_t size)
{
	void *p = proto_checked(malloc(size), "malloc");

	exp_alloc(&e_origin, size);
	block_fill(p, size, &rng);
	return p;
}

NOINLINE static void do_calloc(void)
{
	for (int i = 0; i < 14; i++) {
		unsigned char *p = proto_checked(calloc(5, 24), "calloc");
		exp_alloc(&e_do_calloc, 5 * 24);
		for (int j = 0; j < 5 * 24; j++)
			if (p[j])
				proto_die("calloc memory not zeroed");
		block_fill(p, 5 * 24, &rng);
		block_fold(p, 5 * 24, &sum);
		if (i < 10) {
			proto_hold(p);
		} else {
			free(p);
			exp_free(&e_do_calloc, 5 * 24);
		}
	}
}

/* 10 blocks of 32 B from origin_alloc grown to 64 B. */
NOINLINE static void grow(void **blocks)
{
	for (int i = 0; i < 10; i++) {
		void *p = origin_alloc(32);
		block_fold(p, 32, &sum);
		blocks[i] = proto_checked(realloc(p, 64), "realloc");
		exp_free(&e_origin, 32);
		exp_alloc(&e_grow, 64);
		block_fill(blocks[i], 64, &rng);
	}
}

/* grow's blocks shrunk to 16 B: the frees are grow's. */
NOINLINE static void shrink(void **blocks)
{
	for (int i = 0; i < 10; i++) {
		block_fold(blocks[i], 8, &sum); /* the head survives a realloc */
		blocks[i] = proto_checked(realloc(blocks[i], 16), "realloc");
		exp_free(&e_grow, 64);
		exp_alloc(&e_shrink, 16);
		block_fill(blocks[i], 16, &rng);
		proto_hold(blocks[i]);
	}
}

/* 16 B -> 1 MiB while the next block is live: realloc must move it (and a
 * 1 MiB block is above the mmap threshold anyway). */
NOINLINE static void *move(void)
{
	void *p = origin_alloc(16);
	void *barrier = origin_alloc(16);
	uintptr_t old = (uintptr_t)p;
	uint64_t head = 0;
	void *q;

	proto_hold(barrier);
	for (int i = 0; i < 8; i++)
		head |= (uint64_t)((unsigned char *)p)[i] << (8 * i);
	q = proto_checked(realloc(p, 1024 * 1024), "realloc");
	exp_free(&e_origin, 16);
	exp_alloc(&e_move, 1024 * 1024);
	if ((uintptr_t)q == old)
		proto_die("realloc(16 B -> 1 MiB) did not move the block");
	for (int i = 0; i < 8; i++)
		if (((unsigned char *)q)[i] != (unsigned char)(head >> (8 * i)))
			proto_die("realloc lost the block's contents");
	cksum_add(&sum, head);
	block_fill(q, 1024 * 1024, &rng);
	return q;
}

/* A free in another function is still move's. */
NOINLINE static void free_moved(void *p)
{
	block_fold(p, 1024 * 1024, &sum);
	free(p);
	exp_free(&e_move, 1024 * 1024);
}

NOINLINE static void realloc_null(void)
{
	for (int i = 0; i < 6; i++) {
		void *p = proto_checked(realloc(NULL, 200), "realloc");
		exp_alloc(&e_realloc_null, 200);
		block_fill(p, 200, &rng);
		block_fold(p, 200, &sum);
		proto_hold(p);
	}
}

/* realloc(p, 0): glibc frees p and returns NULL. */
NOINLINE static void realloc_zero(void)
{
	for (int i = 0; i < 5; i++) {
		void *p = origin_alloc(50);
		void *q;

		block_fold(p, 50, &sum);
		q = realloc(p, 0);
		exp_free(&e_origin, 50);
		if (q) { /* not glibc's behaviour; still count it right */
			exp_alloc(&e_realloc_zero, 0);
			proto_hold(q);
		}
	}
}

/* Same size: the block stays where it is, still a free plus an alloc. */
NOINLINE static void realloc_same(void)
{
	for (int i = 0; i < 4; i++) {
		void *p = origin_alloc(100);
		void *q;

		block_fold(p, 100, &sum);
		q = proto_checked(realloc(p, 100), "realloc");
		exp_free(&e_origin, 100);
		exp_alloc(&e_realloc_same, 100);
		block_fold(q, 100, &sum);
		proto_hold(q);
	}
}

/* A realloc that fails leaves p allocated where it was: nothing changes. */
NOINLINE static void realloc_fail(void)
{
	volatile size_t huge = SIZE_MAX / 2;

	for (int i = 0; i < 3; i++) {
		void *p = origin_alloc(40);
		void *q = realloc(p, huge);

		if (q)
			proto_die("realloc of %zu bytes succeeded", (size_t)huge);
		block_fold(p, 40, &sum);
		proto_hold(p);
	}
}

/* realloc(NULL) then 20 reallocs of the same block, all in one function. */
NOINLINE static void chain(void)
{
	size_t size = 8;
	void *p = proto_checked(realloc(NULL, size), "realloc");

	exp_alloc(&e_chain, size);
	block_fill(p, size, &rng);
	for (int i = 0; i < 20; i++) {
		size_t next = 8 * (size_t)(i + 2);
		block_fold(p, 8, &sum);
		p = proto_checked(realloc(p, next), "realloc");
		exp_free(&e_chain, size);
		exp_alloc(&e_chain, next);
		size = next;
		block_fill(p, size, &rng);
	}
	block_fold(p, size, &sum);
	proto_hold(p);
}

NOINLINE static void reallocarray_new(void **blocks)
{
	for (int i = 0; i < 4; i++) {
		blocks[i] = proto_checked(reallocarray(NULL, 12, 10), "reallocarray");
		exp_alloc(&e_ra_new, 120);
		block_fill(blocks[i], 120, &rng);
	}
}

NOINLINE static void reallocarray_grow(void **blocks)
{
	for (int i = 0; i < 4; i++) {
		if (i < 2) {
			block_fold(blocks[i], 8, &sum);
			blocks[i] = proto_checked(reallocarray(blocks[i], 25, 10), "reallocarray");
			exp_free(&e_ra_new, 120);
			exp_alloc(&e_ra_grow, 250);
			block_fill(blocks[i], 250, &rng);
		}
		proto_hold(blocks[i]);
	}
}

int main(void)
{
	static const struct site_expect *all[] = {
		&e_origin, &e_do_calloc, &e_grow, &e_shrink, &e_move,
		&e_free_moved, &e_realloc_null, &e_realloc_zero, &e_realloc_same,
		&e_realloc_fail, &e_chain, &e_ra_new, &e_ra_grow,
	};
	void *blocks[10];
	void *moved[3];
	char line[64];

	proto_ready();

	do_calloc();
	grow(blocks);
	shrink(blocks);
	for (int i = 0; i < 3; i++)
		moved[i] = move();
	free_moved(moved[0]);
	proto_hold(moved[1]);
	proto_hold(moved[2]);
	realloc_null();
	realloc_zero();
	realloc_same();
	realloc_fail();
	chain();
	reallocarray_new(blocks);
	reallocarray_grow(blocks);

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		proto_expect(all[i]);
	proto_expect_unknown_frees(0);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	proto_free_held();
	return 0;
}
