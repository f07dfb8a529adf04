/* target_threads: 8 threads allocating, reallocating and freeing at once.
 *
 *   target_threads [--early] [--threads N] [--seconds S] [CALLS]
 *       CALLS allocator calls in all (malloc, realloc and free each count
 *       one; default 1048576, rounded up to whole steps per thread).
 *       --early creates the 8 threads before "ready": they wait on a barrier
 *       for "go", so memtrace attaches to 9 existing threads.
 *       --threads N: N worker threads (1 to 8) instead of 8.
 *       --seconds S: each thread goes on for S seconds instead of CALLS
 *       calls (at full speed: "info calls=N" tells how many it made).
 *
 * Each thread works on a ring of SLOTS slots with its own seeded PRNG:
 * an empty slot gets malloc(16 B .. 4 KiB) (site churn_alloc), a full one is
 * freed (churn_free, 3 times in 4) or reallocated to a new random size
 * (churn_realloc).  The frees and the old half of each realloc are credited
 * to whichever site allocated the slot's block, so each slot remembers it.
 * At the end each thread frees its ring and keeps KEEP_BASE + index blocks
 * from keep_alloc.  All 8 threads are alive at once (a barrier), so
 * memtrace must report "threads": 9.
 *
 * The checksum folds each thread's checksum in thread order, so it does not
 * depend on scheduling.  "info calls=N" tells how many allocator calls the
 * threads made (memtrace's "events" must be at least that).
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define THREADS 8
#define SLOTS 64
#define KEEP_BASE 10
#define DEFAULT_CALLS 1048576L

enum site { S_ALLOC, S_REALLOC, S_KEEP, S__COUNT };
static const char *const site_names[S__COUNT] = {
	[S_ALLOC] = "churn_alloc",
	[S_REALLOC] = "churn_realloc",
	[S_KEEP] = "keep_alloc",
};

struct slot {
	void *p;
	size_t size;
	enum site site;
};

struct worker {
	int index;
	long calls_wanted;
	long calls;
	uint64_t rng;
	uint64_t sum;
	struct site_expect exp[S__COUNT];
	struct slot ring[SLOTS];
	void *kept[KEEP_BASE + THREADS];
	pthread_t thread;
};

static pthread_barrier_t start;     /* workers (and main with --early) */
static pthread_barrier_t all_alive; /* the workers, before they end     */
static struct worker workers[THREADS];
static int nthreads = THREADS;
static double seconds;              /* > 0: run this long, not CALLS */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether W has more calls to make. */
static bool more(struct worker *w, double until)
{
	if (!seconds)
		return w->calls < w->calls_wanted;
	return (w->calls & 1023) || now_s() < until;
}

static size_t random_size(struct worker *w)
{
	return 16 + prng_next(&w->rng) % (4096 - 16 + 1);
}

NOINLINE static void churn_alloc(struct worker *w, struct slot *s)
{
	size_t size = random_size(w);

	s->p = malloc(size);
	if (!s->p)
		proto_die("malloc returned NULL");
	w->calls++;
	s->size = size;
	s->site = S_ALLOC;
	exp_alloc(&w->exp[S_ALLOC], size);
	block_fill(s->p, size, &w->rng);
}

NOINLINE static void churn_free(struct worker *w, struct slot *s)
{
	block_fold(s->p, s->size, &w->sum);
	free(s->p);
	w->calls++;
	exp_free(&w->exp[s->site], s->size);
	s->p = NULL;
}

NOINLINE static void churn_realloc(struct worker *w, struct slot *s)
{
	size_t size = random_size(w);
	void *p;

	block_fold(s->p, s->size < 8 ? s->size : 8, &w->sum);
	p = realloc(s->p, size);
	if (!p)
		proto_die("realloc returned NULL");
	w->calls++;
	exp_free(&w->exp[s->site], s->size);
	exp_alloc(&w->exp[S_REALLOC], size);
	s->p = p;
	s->size = size;
	s->site = S_REALLOC;
	block_fill(p, size, &w->rng);
}

NOINLINE static void keep_alloc(struct worker *w)
{
	for (int i = 0; i < KEEP_BASE + w->index; i++) {
		size_t size = 100 * (size_t)(w->index + 1);
		w->kept[i] = malloc(size);
		if (!w->kept[i])
			proto_die("malloc returned NULL");
		w->calls++;
		exp_alloc(&w->exp[S_KEEP], size);
		block_fill(w->kept[i], size, &w->rng);
		block_fold(w->kept[i], size, &w->sum);
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start);
	double until = seconds ? now_s() + seconds : 0;
	while (more(w, until)) {
		struct slot *s = &w->ring[prng_next(&w->rng) % SLOTS];

		if (!s->p)
			churn_alloc(w, s);
		else if (prng_next(&w->rng) % 4 != 0)
			churn_free(w, s);
		else
			churn_realloc(w, s);
	}
	for (int i = 0; i < SLOTS; i++)
		if (w->ring[i].p)
			churn_free(w, &w->ring[i]);
	keep_alloc(w);
	pthread_barrier_wait(&all_alive);
	return NULL;
}

int main(int argc, char **argv)
{
	long calls = DEFAULT_CALLS;
	bool early = false;
	long total = 0;
	struct site_expect exp[S__COUNT];
	uint64_t sum = CKSUM_INIT;
	char line[64];

	static const char usage[] =
		"usage: target_threads [--early] [--threads N] [--seconds S] [CALLS]";
	for (;;) {
		if (argc > 1 && strcmp(argv[1], "--early") == 0) {
			early = true;
			argc--;
			argv++;
		} else if (argc > 2 && strcmp(argv[1], "--threads") == 0) {
			nthreads = atoi(argv[2]);
			if (nthreads < 1 || nthreads > THREADS)
				proto_die(usage);
			argc -= 2;
			argv += 2;
		} else if (argc > 2 && strcmp(argv[1], "--seconds") == 0) {
			seconds = atof(argv[2]);
			if (!(seconds > 0 && seconds <= 3600))
				proto_die(usage);
			argc -= 2;
			argv += 2;
		} else {
			break;
		}
	}
	if (argc > 1) {
		char *end;
		calls = strtol(argv[1], &end, 10);
		if (*end || calls < THREADS || argc > 2)
			proto_die(usage);
	}
	for (int s = 0; s < S__COUNT; s++)
		exp[s] = (struct site_expect){ .function = site_names[s] };

	if (!early)
		proto_ready();

	pthread_barrier_init(&start, NULL, (unsigned)nthreads + (early ? 1 : 0));
	pthread_barrier_init(&all_alive, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		w->index = i;
		w->calls_wanted = (calls + nthreads - 1) / nthreads;
		w->rng = 0x5eed1000 + (uint64_t)i;
		w->sum = CKSUM_INIT;
		if (pthread_create(&w->thread, NULL, work, w) != 0)
			proto_die("pthread_create failed");
	}
	if (early) {
		proto_ready();
		pthread_barrier_wait(&start);
	}
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		pthread_join(w->thread, NULL);
		for (int s = 0; s < S__COUNT; s++)
			exp_add(&exp[s], &w->exp[s]);
		cksum_add(&sum, w->sum);
		total += w->calls;
	}

	for (int s = 0; s < S__COUNT; s++)
		proto_expect(&exp[s]);
	proto_line("info calls=%ld", total);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < nthreads; i++)
		for (int k = 0; k < KEEP_BASE + workers[i].index; k++)
			free(workers[i].kept[k]);
	return 0;
}
