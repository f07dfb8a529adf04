/* target_oddprologue: calloc and free are the program's own
 * (oddprologue.S), with prologues the inject engine's jump cannot patch,
 * so with the inject engine they are not hooked (no breakpoint: a SIGKILL
 * of memtrace would leave it behind) while malloc and realloc (glibc's)
 * take trampolines; with the breakpoint engine all four are hooked.
 *
 * What it checks, besides the usual exact counts (breakpoint engine):
 * blocks made on one thread are freed on another, and the freed addresses
 * are handed out again at once; the program's calloc calls glibc's malloc,
 * which counts once, as the calloc, at calloc's caller.  With the inject
 * engine, what is seen of the hooked calls is exact and nothing is planted
 * in the unhooked ones (tests/e2e/test_oddprologue.py).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define ROUNDS 400

static struct site_expect e_mk_malloc = { .function = "make_malloc" };
static struct site_expect e_mk_calloc = { .function = "make_calloc" };
static struct site_expect e_worker = { .function = "worker_alloc" };
static struct site_expect e_grow = { .function = "grow" };

static uint64_t sum = CKSUM_INIT;
static int to_worker[2], from_worker[2];

static size_t size_of(int i)
{
	return 24 + 40 * (size_t)(i % 50);
}

static void send_ptr(int fd, void *p)
{
	if (write(fd, &p, sizeof p) != sizeof p)
		proto_die("pipe write failed");
}

static void *recv_ptr(int fd)
{
	void *p;
	if (read(fd, &p, sizeof p) != sizeof p)
		proto_die("pipe read failed");
	return p;
}

NOINLINE static void *make_malloc(int i)
{
	void *p = proto_checked(malloc(size_of(i)), "malloc");
	exp_alloc(&e_mk_malloc, size_of(i));
	return p;
}

NOINLINE static void *make_calloc(int i)
{
	void *p = proto_checked(calloc(3, size_of(i)), "calloc");
	for (size_t k = 0; k < 3 * size_of(i); k++)
		if (((unsigned char *)p)[k])
			proto_die("calloc returned a block that is not zeroed");
	exp_alloc(&e_mk_calloc, 3 * size_of(i));
	return p;
}

NOINLINE static void *worker_alloc(int i)
{
	void *p = proto_checked(malloc(size_of(i) + 8), "malloc");
	exp_alloc(&e_worker, size_of(i) + 8);
	return p;
}

NOINLINE static void *grow(void *p, int i)
{
	void *q = proto_checked(realloc(p, size_of(i) * 2), "realloc");
	exp_alloc(&e_grow, size_of(i) * 2);
	return q;
}

/* Frees what main sends (made on main's thread), and sends back blocks
 * of its own for main to free; a NULL ends it. */
static void *worker(void *arg)
{
	(void)arg;
	static uint64_t wrng = 0x5eed0011;
	for (int i = 0;; i++) {
		void *p = recv_ptr(to_worker[0]);
		if (!p)
			break;
		block_fold(p, 16, &sum);
		free(p);
		void *q = worker_alloc(i);
		block_fill(q, size_of(i) + 8, &wrng);
		send_ptr(from_worker[1], q);
	}
	return NULL;
}

int main(void)
{
	static const struct site_expect *all[] = {
		&e_mk_malloc, &e_mk_calloc, &e_worker, &e_grow,
	};
	static uint64_t rng = 0x5eed0010;
	int regrown = 0;
	char line[64];
	if (pipe(to_worker) || pipe(from_worker))
		proto_die("pipe failed");
	proto_ready();

	pthread_t th;
	if (pthread_create(&th, NULL, worker, NULL))
		proto_die("pthread_create failed");
	for (int i = 0; i < ROUNDS; i++) {
		/* made here, freed by the worker */
		void *a = i % 2 ? make_calloc(i) : make_malloc(i);
		block_fill(a, 16, &rng);
		if (i % 2)
			exp_free(&e_mk_calloc, 3 * size_of(i));
		else
			exp_free(&e_mk_malloc, size_of(i));
		send_ptr(to_worker[1], a);
		/* made by the worker, freed here */
		void *b = recv_ptr(from_worker[0]);
		block_fold(b, 16, &sum);
		if (i % 5 == 0) {
			b = grow(b, i);        /* frees the worker's block */
			regrown++;
			exp_free(&e_worker, size_of(i) + 8);
			if (i % 10 == 0) {
				proto_hold(b);
				continue;
			}
			free(b);
			exp_free(&e_grow, size_of(i) * 2);
		} else if (i % 7 == 0) {
			proto_hold(b);
		} else {
			free(b);
			exp_free(&e_worker, size_of(i) + 8);
		}
		/* kept: one calloc block in every 25 rounds */
		if (i % 25 == 0)
			proto_hold(make_calloc(i));
	}
	send_ptr(to_worker[1], NULL);
	pthread_join(th, NULL);

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		proto_expect(all[i]);
	/* the worker's blocks that realloc (not free) released */
	proto_line("info worker_regrown=%d", regrown);
	proto_done(sum, NULL);
	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	proto_free_held();
	return 0;
}
