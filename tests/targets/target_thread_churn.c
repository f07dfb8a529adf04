/* target_thread_churn: 200 short-lived threads, created and joined in
 * batches of 4 while memtrace traces the process.
 *
 * Thread i (0..199):
 *   thread_alloc   mallocs 10 blocks of 32 + i bytes, frees 8, keeps 2
 *   thread_calloc  callocs one block of 4 x (8 + i) bytes, which the main
 *                  thread frees in free_callocs after joining the batch
 *   thread_realloc when i >= 4, reallocates to 300 bytes the second kept
 *                  block of thread i - 4 (a thread already joined): the
 *                  free is credited to thread_alloc
 * The 4 threads of a batch wait on a barrier, so memtrace sees at least 5
 * threads at once.  Each thread counts into its own expectations, which
 * the main thread sums after joining it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define NTHREADS 200
#define BATCH 4
#define PER_THREAD 10
#define KEPT 2

enum site { S_ALLOC, S_CALLOC, S_REALLOC, S_FREE_CALLOCS, S__COUNT };
static const char *const site_names[S__COUNT] = {
	[S_ALLOC] = "thread_alloc",
	[S_CALLOC] = "thread_calloc",
	[S_REALLOC] = "thread_realloc",
	[S_FREE_CALLOCS] = "free_callocs",
};

struct kept_block {
	void *p;
	size_t size;
	enum site site;
};

struct worker {
	int index;
	uint64_t sum;
	struct site_expect exp[S__COUNT];
	void *cblock;
	size_t csize;
	pthread_t thread;
};

static struct kept_block kept[NTHREADS][KEPT];
static struct worker workers[NTHREADS];
static pthread_barrier_t batch_alive;

static size_t alloc_size(int i)
{
	return 32 + (size_t)i;
}

NOINLINE static void thread_alloc(struct worker *w, uint64_t *rng)
{
	void *blocks[PER_THREAD];
	size_t size = alloc_size(w->index);

	for (int k = 0; k < PER_THREAD; k++) {
		blocks[k] = malloc(size);
		if (!blocks[k])
			proto_die("malloc returned NULL");
		exp_alloc(&w->exp[S_ALLOC], size);
		block_fill(blocks[k], size, rng);
	}
	for (int k = 0; k < PER_THREAD; k++) {
		block_fold(blocks[k], size, &w->sum);
		if (k < KEPT) {
			kept[w->index][k] = (struct kept_block){ blocks[k], size, S_ALLOC };
		} else {
			free(blocks[k]);
			exp_free(&w->exp[S_ALLOC], size);
		}
	}
}

NOINLINE static void thread_calloc(struct worker *w, uint64_t *rng)
{
	w->csize = 4 * (8 + (size_t)w->index);
	w->cblock = calloc(4, 8 + (size_t)w->index);
	if (!w->cblock)
		proto_die("calloc returned NULL");
	exp_alloc(&w->exp[S_CALLOC], w->csize);
	block_fill(w->cblock, w->csize, rng);
}

NOINLINE static void thread_realloc(struct worker *w, uint64_t *rng)
{
	struct kept_block *b = &kept[w->index - BATCH][1];
	void *p;

	block_fold(b->p, 8, &w->sum);
	p = realloc(b->p, 300);
	if (!p)
		proto_die("realloc returned NULL");
	exp_free(&w->exp[b->site], b->size);
	exp_alloc(&w->exp[S_REALLOC], 300);
	*b = (struct kept_block){ p, 300, S_REALLOC };
	block_fill(p, 300, rng);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = 0x5eed2000 + (uint64_t)w->index;

	pthread_barrier_wait(&batch_alive);
	thread_alloc(w, &rng);
	thread_calloc(w, &rng);
	if (w->index >= BATCH)
		thread_realloc(w, &rng);
	return NULL;
}

/* Frees blocks the (joined) threads calloc'ed: those frees are
 * thread_calloc's. */
NOINLINE static void free_callocs(struct worker *batch, int n, struct site_expect *calloc_exp,
				  uint64_t *sum)
{
	for (int i = 0; i < n; i++) {
		block_fold(batch[i].cblock, batch[i].csize, sum);
		free(batch[i].cblock);
		exp_free(calloc_exp, batch[i].csize);
	}
}

int main(void)
{
	struct site_expect exp[S__COUNT];
	uint64_t sum = CKSUM_INIT;
	char line[64];

	for (int s = 0; s < S__COUNT; s++)
		exp[s] = (struct site_expect){ .function = site_names[s] };

	proto_ready();

	pthread_barrier_init(&batch_alive, NULL, BATCH);
	for (int b = 0; b < NTHREADS; b += BATCH) {
		for (int i = b; i < b + BATCH; i++) {
			workers[i].index = i;
			workers[i].sum = CKSUM_INIT;
			if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
				proto_die("pthread_create failed");
		}
		for (int i = b; i < b + BATCH; i++) {
			pthread_join(workers[i].thread, NULL);
			for (int s = 0; s < S__COUNT; s++)
				exp_add(&exp[s], &workers[i].exp[s]);
			cksum_add(&sum, workers[i].sum);
		}
		free_callocs(&workers[b], BATCH, &exp[S_CALLOC], &sum);
	}

	for (int s = 0; s < S__COUNT; s++)
		proto_expect(&exp[s]);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < NTHREADS; i++)
		for (int k = 0; k < KEPT; k++)
			free(kept[i][k].p);
	return 0;
}
