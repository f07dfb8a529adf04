/* grow_sites: four allocation sites with four shapes over time, paced by
 * the target itself (one tick every TICK_MS), for attach's verdicts.
 *
 *   site            every tick                        live bytes over time
 *   leak_steady     keeps one LEAK_SIZE block          rises for ever: growing
 *   grow_plateau    keeps one PLATEAU_SIZE block,      rises, then holds: plateau
 *                   only during the first PLATEAU_MS
 *   churn_ring      frees and reallocates CHURN_PER_TICK  flat, with heavy churn
 *                   of its RING_N blocks
 *   shrink_pool     (first tick: POOL_N blocks)        falls: shrinking
 *                   frees one block
 *
 * Byte sizes differ per site so that each site's live bytes are exactly its
 * live blocks times its size; the tests check that too.
 *
 * grow_sites --plateau-ms N makes grow_plateau grow for N ms instead.
 *
 * Protocol (tests/targets/protocol.h): "ready PID", wait for "go", then
 * print "info ..." with the constants above and tick until a line arrives on
 * stdin: "exit" frees everything and exits 0.  The pacing sleep is a poll()
 * on stdin, so the target answers at once.  Nothing allocates outside the
 * four sites after "go": the arrays of pointers are static.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define TICK_MS 20
#define LEAK_SIZE 512
#define LEAK_MAX 200000            /* 4000 s of ticks */
#define PLATEAU_SIZE 2048
#define PLATEAU_MS 2000            /* default; grow_sites --plateau-ms N */
#define PLATEAU_MAX_MS 10000
#define RING_N 64
#define RING_SIZE 256
#define CHURN_PER_TICK 16
#define POOL_N 400
#define POOL_SIZE 1024

static void *leaks[LEAK_MAX];
static long leak_n;
static void *plateau[PLATEAU_MAX_MS / TICK_MS + 16];
static long plateau_ms = PLATEAU_MS;
static long plateau_n;
static void *ring[RING_N];
static long ring_next;
static void *pool[POOL_N];
static long pool_n;
static bool pool_made;

static void *checked(void *p)
{
	if (!p)
		proto_die("malloc returned NULL");
	return p;
}

NOINLINE static void leak_steady(void)
{
	if (leak_n < LEAK_MAX)
		leaks[leak_n++] = checked(malloc(LEAK_SIZE));
}

NOINLINE static void grow_plateau(void)
{
	long cap = (long)(sizeof(plateau) / sizeof(plateau[0]));

	if (plateau_n < cap)
		plateau[plateau_n++] = checked(malloc(PLATEAU_SIZE));
}

/* One slot of the ring: its old block freed, a new one allocated here. */
NOINLINE static void churn_ring(long slot)
{
	free(ring[slot]);
	ring[slot] = checked(malloc(RING_SIZE));
}

NOINLINE static void shrink_pool(void)
{
	if (!pool_made) {
		for (long i = 0; i < POOL_N; i++)
			pool[i] = checked(malloc(POOL_SIZE));
		pool_n = POOL_N;
		pool_made = true;
	} else if (pool_n > 0) {
		free(pool[--pool_n]);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tick(double since_go)
{
	leak_steady();
	if (since_go * 1000.0 < (double)plateau_ms)
		grow_plateau();
	for (int i = 0; i < CHURN_PER_TICK; i++) {
		churn_ring(ring_next);
		ring_next = (ring_next + 1) % RING_N;
	}
	shrink_pool();
}

static void release(void)
{
	for (long i = 0; i < leak_n; i++)
		free(leaks[i]);
	for (long i = 0; i < plateau_n; i++)
		free(plateau[i]);
	for (long i = 0; i < RING_N; i++)
		free(ring[i]);
	for (long i = 0; i < pool_n; i++)
		free(pool[i]);
}

int main(int argc, char **argv)
{
	char line[64];
	double start, next;

	if (argc == 3 && strcmp(argv[1], "--plateau-ms") == 0)
		plateau_ms = strtol(argv[2], NULL, 10);
	else if (argc != 1)
		proto_die("usage: grow_sites [--plateau-ms N]");
	if (plateau_ms < 0 || plateau_ms > PLATEAU_MAX_MS)
		proto_die("--plateau-ms: 0 to %d", PLATEAU_MAX_MS);

	setvbuf(stdout, NULL, _IOLBF, 0);
	proto_ready();
	proto_line("info tick_ms=%d leak_size=%d plateau_size=%d plateau_ms=%ld ring_n=%d "
		   "ring_size=%d churn_per_tick=%d pool_n=%d pool_size=%d",
		   TICK_MS, LEAK_SIZE, PLATEAU_SIZE, plateau_ms, RING_N, RING_SIZE,
		   CHURN_PER_TICK, POOL_N, POOL_SIZE);
	/* The ring is filled at once, so its live bytes are flat from the
	 * first sample on. */
	for (long i = 0; i < RING_N; i++)
		churn_ring(i);
	start = now_s();
	next = start;
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		double now = now_s();
		int ms, r;

		if (now >= next) {
			tick(now - start);
			next += TICK_MS / 1000.0;
			/* Behind by more than a few ticks (a loaded machine):
			 * go on from now rather than burst. */
			if (now - next > 5 * TICK_MS / 1000.0)
				next = now + TICK_MS / 1000.0;
			continue;
		}
		ms = (int)((next - now) * 1000.0) + 1;
		r = poll(&pfd, 1, ms);
		if (r < 0 && errno != EINTR)
			proto_die("poll: %s", strerror(errno));
		if (r > 0) {
			if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") == 0)
				break;
			proto_die("unexpected line '%s'", line);
		}
	}
	release();
	proto_line("bye ticks=%ld", leak_n);
	return 0;
}
