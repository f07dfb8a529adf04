/* malloc_bench: how long one malloc or free takes, untraced or traced.
 *
 *     malloc_bench [--wait] [--rate R] THREADS CALLS
 *
 * Starts THREADS threads; each makes exactly CALLS allocator calls against
 * a working set of WORKING_SET slots: a random slot is freed if it holds a
 * block, else filled with malloc() of a random size in [16, 4096].  About
 * half the slots are live at any time.  Each thread has its own xorshift64
 * generator seeded from its index, so every run makes the same calls.
 *
 * With --rate R each thread paces itself to R calls a second (it sleeps
 * after every 1000 calls until their due time), as a service allocates at
 * its own pace: bench/run.py's --paced runs measure what memtrace's CPU
 * costs at such a rate.  ns_per_call then includes the sleeps.
 *
 * Prints `ready PID` once the threads exist (they wait on a barrier), then
 * with --wait blocks until a line arrives on stdin (bench/run.py attaches
 * memtrace first, then writes `go`).  When every thread is done it prints
 *
 *     result threads=T calls=N ns_per_call=X wall_ns_per_call=Y allocs=A cpu_s=C
 *
 * N is the total number of calls, X the mean time of one call as a thread
 * sees it (the sum of the threads' loop times over N), Y the wall time
 * over N, A how many of the N calls were mallocs (a tracer that counts
 * allocations only, as heaptrack does, is checked against it) and C the
 * CPU seconds, user and system, the process has used so far (so that
 * what a tracer running it as a child used can be told from its own).  With --wait it then blocks on stdin again, so memtrace can be
 * stopped while the process is alive, and exits on the next line or EOF.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define WORKING_SET 64
#define MIN_SIZE 16
#define MAX_SIZE 4096

struct worker {
	pthread_t thread;
	unsigned index;
	uint64_t calls;
	uint64_t allocs;
	uint64_t elapsed_ns;
	unsigned char touched;	/* reads of the blocks, so no store is dead */
};

static pthread_barrier_t start_barrier;
static uint64_t rate;	/* calls a second per thread, 0: unpaced */

static uint64_t now_ns(void)
{
	return bench_clock_ns(CLOCK_MONOTONIC);
}

/* Sleep until CALLS calls are due, RATE a second from START. */
static void pace(uint64_t start, uint64_t calls)
{
	uint64_t due = start + (uint64_t)((double)calls * 1e9 / (double)rate);
	struct timespec ts = { (time_t)(due / 1000000000u), (long)(due % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned char *slots[WORKING_SET] = { 0 };
	uint64_t rng = 0x9e3779b97f4a7c15u * (w->index + 1);
	unsigned char sum = 0;
	uint64_t start, allocs = 0;	/* a local: no store per call to w */

	pthread_barrier_wait(&start_barrier);
	start = now_ns();
	for (uint64_t i = 0; i < w->calls; i++) {
		if (rate && i % 1000 == 0 && i)
			pace(start, i);
		uint64_t r = bench_xorshift64(&rng);
		unsigned slot = (unsigned)(r >> 58);	/* top 6 bits: 0..63 */

		if (slots[slot]) {
			sum += slots[slot][0];
			free(slots[slot]);
			slots[slot] = NULL;
		} else {
			size_t size = MIN_SIZE + (size_t)((r >> 16) %
				(MAX_SIZE - MIN_SIZE + 1));
			unsigned char *p = malloc(size);

			if (!p) {
				fprintf(stderr, "malloc_bench: malloc(%zu): %s\n",
					size, strerror(errno));
				exit(1);
			}
			p[0] = (unsigned char)i;
			slots[slot] = p;
			allocs++;
		}
	}
	w->elapsed_ns = now_ns() - start;
	w->allocs = allocs;
	/* Untimed and uncounted: give back what is still held. */
	for (unsigned s = 0; s < WORKING_SET; s++)
		free(slots[s]);
	w->touched = sum;
	return NULL;
}

static int parse_count(const char *text, const char *what, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || *end || v == 0 || text[0] == '-') {
		fprintf(stderr, "malloc_bench: bad %s '%s'\n", what, text);
		return -1;
	}
	*out = v;
	return 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void wait_for_line(void)
{
	char line[64];

	if (!fgets(line, sizeof line, stdin))
		return;	/* EOF counts as the signal too */
}

int main(int argc, char **argv)
{
	struct worker *workers;
	uint64_t nthreads, calls, total_ns = 0, allocs = 0, wall_start, wall_ns;
	int wait = 0, argi = 1;

	if (argc > argi && strcmp(argv[argi], "--wait") == 0) {
		wait = 1;
		argi++;
	}
	if (argc > argi + 1 && strcmp(argv[argi], "--rate") == 0) {
		if (parse_count(argv[argi + 1], "rate", &rate))
			return 2;
		argi += 2;
	}
	if (argc - argi != 2) {
		fprintf(stderr, "usage: malloc_bench [--wait] [--rate R] THREADS CALLS\n");
		return 2;
	}
	if (parse_count(argv[argi], "thread count", &nthreads) ||
	    parse_count(argv[argi + 1], "call count", &calls) ||
	    nthreads > 1024)
		return 2;

	workers = calloc(nthreads, sizeof *workers);
	if (!workers || pthread_barrier_init(&start_barrier, NULL,
					     (unsigned)nthreads + 1)) {
		fprintf(stderr, "malloc_bench: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		workers[i].index = i;
		workers[i].calls = calls;
		if (pthread_create(&workers[i].thread, NULL, worker_main,
				   &workers[i])) {
			fprintf(stderr, "malloc_bench: cannot create thread\n");
			return 1;
		}
	}

	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (wait)
		wait_for_line();

	wall_start = now_ns();
	pthread_barrier_wait(&start_barrier);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(workers[i].thread, NULL);
		total_ns += workers[i].elapsed_ns;
		allocs += workers[i].allocs;
	}
	wall_ns = now_ns() - wall_start;

	printf("result threads=%" PRIu64 " calls=%" PRIu64
	       " ns_per_call=%.1f wall_ns_per_call=%.1f allocs=%" PRIu64
	       " cpu_s=%.3f\n",
	       nthreads, nthreads * calls,
	       (double)total_ns / (double)(nthreads * calls),
	       (double)wall_ns / (double)(nthreads * calls), allocs,
	       cpu_seconds());
	fflush(stdout);
	if (wait)
		wait_for_line();
	free(workers);
	return 0;
}
