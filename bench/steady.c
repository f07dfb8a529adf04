/* steady: a process whose heap is in a steady state -- every allocation is
 * freed again soon, through SITES different call sites -- for measuring
 * memtrace's own memory over a long attach (bench/attach_memory.py).
 *
 * usage: steady [SITES]   prints "ready PID", runs until killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define KEEP 64

static void *ring[KEEP];
static unsigned next;

/* Each depth of recursion is a distinct call stack: SITES sites. */
static NOINLINE void churn(int depth, size_t size)
{
	if (depth > 0) {
		churn(depth - 1, size);
		return;
	}
	free(ring[next]);
	ring[next] = malloc(size);
	if (ring[next])
		memset(ring[next], 1, size);
	next = (next + 1) % KEEP;
}

int main(int argc, char **argv)
{
	int sites = argc > 1 ? atoi(argv[1]) : 50;
	if (sites < 1)
		sites = 1;
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	unsigned x = 12345;
	struct timespec pause = { 0, 2000000 }; /* 2 ms: a modest, steady rate */
	for (;;) {
		for (int i = 0; i < 20; i++) {
			x = x * 1103515245u + 12345u;
			churn((int)(x % (unsigned)sites), 16 + x % 512);
		}
		nanosleep(&pause, NULL);
	}
}
