/* consumer_bench: how many events a second memtrace's tracker accounts.
 *
 *     consumer_bench [WORKING_SET [EVENTS [ROUNDS]]]
 *
 * Records the event stream malloc_bench makes (a random slot of
 * WORKING_SET, default 64, is freed if it holds a block, else filled with
 * malloc() of a random size in [16, 4096]; real glibc addresses, four call
 * sites), EVENTS events (default 4000000), then feeds it ROUNDS times
 * (default 5) to a fresh tracker (model/tracker.c: live-block table and
 * per-site counters) and prints the best round:
 *
 *     consumer working_set=64 events=4000000 ns_per_event=X mevents_per_s=Y
 *
 * Only the model is timed, in this thread's CPU time (a shared machine's
 * other work steals wall time, not CPU time): no ring, no target.  Timing
 * is reported, never judged (not a test).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "benchutil.h"
#include "model/tracker.h"

static uint64_t cpu_ns(void)
{
	return bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static uint64_t arg(int argc, char **argv, int i, uint64_t dflt)
{
	return argc > i ? strtoull(argv[i], NULL, 0) : dflt;
}

/* The stream malloc_bench's loop makes, into EV (N entries). */
static void record(struct mt_event *ev, size_t n, size_t ws)
{
	void **slots = calloc(ws, sizeof *slots);
	uint64_t rng = 0x9e3779b97f4a7c15u;

	if (!slots)
		exit(1);
	for (size_t i = 0; i < n; i++) {
		uint64_t r = bench_xorshift64(&rng);
		size_t slot = (size_t)((r >> 20) % ws);

		ev[i] = (struct mt_event){ .tid = 1, .caller = 0x401000 + 16 * (r & 3) };
		if (slots[slot]) {
			ev[i].kind = MT_EV_FREE;
			ev[i].fn = MT_FN_FREE;
			ev[i].addr = (uint64_t)(uintptr_t)slots[slot];
			free(slots[slot]);
			slots[slot] = NULL;
		} else {
			size_t size = 16 + (size_t)((r >> 4) % 4081);

			slots[slot] = malloc(size);
			if (!slots[slot])
				exit(1);
			ev[i].kind = MT_EV_ALLOC;
			ev[i].fn = MT_FN_MALLOC;
			ev[i].addr = (uint64_t)(uintptr_t)slots[slot];
			ev[i].size = size;
		}
		ev[i].time_ns = i;
	}
	for (size_t s = 0; s < ws; s++)
		free(slots[s]);
	free(slots);
}

int main(int argc, char **argv)
{
	size_t ws = (size_t)arg(argc, argv, 1, 64);
	size_t n = (size_t)arg(argc, argv, 2, 4000000);
	unsigned rounds = (unsigned)arg(argc, argv, 3, 5);
	struct mt_event *ev = malloc(n * sizeof *ev);
	uint64_t best = UINT64_MAX;

	if (!ev || ws == 0 || n == 0)
		return 1;
	record(ev, n, ws);
	for (unsigned r = 0; r < rounds; r++) {
		struct mt_tracker *t = mt_tracker_new();
		if (!t)
			return 1;
		uint64_t start = cpu_ns();
		for (size_t i = 0; i < n; i++)
			mt_tracker_event(t, &ev[i]);
		uint64_t ns = cpu_ns() - start;
		struct mt_tracker_stats st;
		mt_tracker_stats(t, &st);
		if (st.inconsistencies || st.unknown_frees)
			fprintf(stderr, "consumer_bench: %" PRIu64 " inconsistencies, %" PRIu64
				" unknown frees\n", st.inconsistencies, st.unknown_frees);
		mt_tracker_destroy(t);
		if (ns < best)
			best = ns;
	}
	printf("consumer working_set=%zu events=%zu ns_per_event=%.1f mevents_per_s=%.2f\n", ws,
	       n, (double)best / (double)n, (double)n * 1e3 / (double)best);
	free(ev);
	return 0;
}
