/* target_churn: many threads of heavy random-size malloc/free, in passes of
 * a fixed amount of work, for tests that attach and detach (or kill
 * memtrace) while the allocator is busy.
 *
 *   target_churn THREADS CALLS PASSES [PAUSE_US]
 *       THREADS  worker threads (1..256), created before "ready": they wait
 *                on a barrier for "go", so memtrace attaches to all of them
 *       CALLS    allocator calls per thread per pass
 *       PASSES   passes per thread; 0: pass after pass until "stop" on
 *                stdin (each thread then ends after its current pass, and
 *                every thread does at least one); meanwhile "status" on
 *                stdin prints "status passes=N min_passes=M slowest=TID":
 *                the passes completed by all threads, by the slowest one,
 *                and that thread's id (for a test's report if it is stuck)
 *       PAUSE_US sleep this long after each pass (default 0)
 *
 * A pass: a table of SLOTS slots, a PRNG seeded from the thread's index.
 * Each call picks a slot; an empty one gets malloc (1 in 8: calloc) of 16 B
 * .. 4 KiB, a full one is freed (1 in 8: realloc'd to a new size).  The top
 * quarter of the slots is picked 16 times less often, so some blocks are
 * kept for a while.  Every block gets PRNG words written into it and folded
 * back into the pass's checksum before it is freed or reallocated, so the
 * checksum proves each block held what was written.  The pass ends by
 * freeing every slot.  Every pass of a thread makes the same calls and must
 * give the same checksum: "info ... bad_passes=N" counts those that did not.
 *
 * The checksum printed on "done" folds each thread's first-pass checksum
 * in thread order: it depends on THREADS and CALLS only, never on tracing,
 * scheduling or the number of passes, so a traced run must print the
 * checksum of an untraced one (e.g. `target_churn THREADS CALLS 1`).
 *
 * Progress: each time the passes completed by all threads together reach a
 * multiple of THREADS, the thread that completed it prints "passes N".
 * After the work: "info threads=T calls_per_pass=C passes=N bad_passes=M",
 * "done checksum=HEX", then wait for "exit" (or end of input) and exit 0.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define MAX_THREADS 256
#define SLOTS 256
#define KEEP_FROM (SLOTS * 3 / 4)
#define MIN_SIZE 16
#define MAX_SIZE 4096

struct worker {
	int index;
	uint64_t first_sum;
	atomic_long passes;
	long bad_passes;
	atomic_int tid;
	pthread_t thread;
};

static int n_threads;
static long calls_per_pass;
static long passes_wanted;	/* 0: until stop */
static long pause_us;
static pthread_barrier_t start;
static atomic_bool stop_flag;
static atomic_long passes_done;

static size_t random_size(uint64_t *rng)
{
	return MIN_SIZE + (size_t)(prng_next(rng) % (MAX_SIZE - MIN_SIZE + 1));
}

static NOINLINE uint64_t one_pass(int index)
{
	void *slot[SLOTS] = { 0 };
	size_t size[SLOTS] = { 0 };
	uint64_t rng = 0x5eed0000ULL + (uint64_t)index;
	uint64_t fill = 0xf111ULL * ((uint64_t)index + 1);
	uint64_t h = CKSUM_INIT;

	for (long i = 0; i < calls_per_pass; i++) {
		uint64_t r = prng_next(&rng);
		unsigned s = (unsigned)(r >> 56);	/* 0..255 */

		if (s >= KEEP_FROM && (r & 0xf) != 0)
			s -= SLOTS / 4;		/* the kept quarter: 1 in 16 */
		if (!slot[s]) {
			size_t n = random_size(&rng);

			if ((r >> 8 & 7) == 0)
				slot[s] = proto_checked(calloc(1, n), "calloc");
			else
				slot[s] = proto_checked(malloc(n), "malloc");
			size[s] = n;
			block_fill(slot[s], n, &fill);
		} else if ((r >> 8 & 7) == 0) {
			size_t n = random_size(&rng);

			block_fold(slot[s], size[s], &h);
			slot[s] = proto_checked(realloc(slot[s], n), "realloc");
			size[s] = n;
			block_fill(slot[s], n, &fill);
		} else {
			block_fold(slot[s], size[s], &h);
			free(slot[s]);
			slot[s] = NULL;
		}
	}
	for (unsigned s = 0; s < SLOTS; s++) {
		if (slot[s]) {
			block_fold(slot[s], size[s], &h);
			free(slot[s]);
		}
	}
	return h;
}

static void pause_a_while(void)
{
	struct timespec ts = { pause_us / 1000000, (pause_us % 1000000) * 1000 };

	if (pause_us > 0)
		nanosleep(&ts, NULL);
}

static void *work(void *arg)
{
	struct worker *w = arg;

	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	pthread_barrier_wait(&start);
	for (;;) {
		uint64_t h = one_pass(w->index);
		long total;

		if (atomic_load(&w->passes) == 0)
			w->first_sum = h;
		else if (h != w->first_sum)
			w->bad_passes++;
		atomic_fetch_add(&w->passes, 1);
		total = atomic_fetch_add(&passes_done, 1) + 1;
		if (total % n_threads == 0)
			proto_line("passes %ld", total);
		if (passes_wanted ? atomic_load(&w->passes) >= passes_wanted
				  : atomic_load(&stop_flag))
			break;
		pause_a_while();
	}
	return NULL;
}

static long arg_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		proto_die("bad %s '%s' (%ld..%ld)", what, s, min, max);
	return v;
}

int main(int argc, char **argv)
{
	static struct worker workers[MAX_THREADS];
	char line[64];
	uint64_t sum = CKSUM_INIT;
	long passes = 0, bad = 0;

	if (argc != 4 && argc != 5)
		proto_die("usage: target_churn THREADS CALLS PASSES [PAUSE_US]");
	n_threads = (int)arg_long(argv[1], 1, MAX_THREADS, "THREADS");
	calls_per_pass = arg_long(argv[2], 1, 1L << 40, "CALLS");
	passes_wanted = arg_long(argv[3], 0, 1L << 40, "PASSES");
	pause_us = argc == 5 ? arg_long(argv[4], 0, 10000000, "PAUSE_US") : 0;

	if (pthread_barrier_init(&start, NULL, (unsigned)n_threads + 1) != 0)
		proto_die("pthread_barrier_init failed");
	for (int i = 0; i < n_threads; i++) {
		workers[i].index = i;
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
			proto_die("pthread_create failed");
	}
	proto_ready();
	pthread_barrier_wait(&start);

	if (passes_wanted == 0) {
		for (;;) {
			if (!proto_wait(line, sizeof line))
				proto_die("end of input while waiting for 'stop'");
			if (strcmp(line, "stop") == 0)
				break;
			if (strcmp(line, "status") != 0)
				proto_die("expected 'stop' or 'status', got '%s'", line);
			int slowest = 0;
			for (int i = 1; i < n_threads; i++)
				if (atomic_load(&workers[i].passes) <
				    atomic_load(&workers[slowest].passes))
					slowest = i;
			proto_line("status passes=%ld min_passes=%ld slowest=%d",
				   atomic_load(&passes_done),
				   atomic_load(&workers[slowest].passes),
				   atomic_load(&workers[slowest].tid));
		}
		atomic_store(&stop_flag, true);
	}
	for (int i = 0; i < n_threads; i++) {
		if (pthread_join(workers[i].thread, NULL) != 0)
			proto_die("pthread_join failed");
		cksum_add(&sum, workers[i].first_sum);
		passes += atomic_load(&workers[i].passes);
		bad += workers[i].bad_passes;
	}
	proto_line("info threads=%d calls_per_pass=%ld passes=%ld bad_passes=%ld",
		   n_threads, calls_per_pass, passes, bad);
	proto_done(sum, NULL);
	while (proto_wait(line, sizeof line) && strcmp(line, "exit") != 0)
		;
	return 0;
}
