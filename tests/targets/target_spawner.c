/* target_spawner: creates threads without pause, 4 at a time, until told
 * to stop, while memtrace attaches and detaches again and again.
 *
 * Each thread fills an array on its own stack with a pattern of its
 * index, allocates and frees one block, checks the pattern and returns
 * its index.  Two threads run on one stack, a thread that returns into
 * another's frame, or a clone's result that is not the thread's id shows
 * as a wrong pattern, a wrong return value or a crash: the target dies
 * (status 98, or the signal) instead of printing its "done" line.
 *
 *   "ready PID"; "go": start creating; "stop": join the last batch and
 *   print "done checksum=... threads=N"; "exit": exit 0.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define BATCH 4
#define WORDS 256

static atomic_bool stopping;

static __attribute__((noinline)) void *spawned(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	volatile uintptr_t pattern[WORDS];
	for (int k = 0; k < WORDS; k++)
		pattern[k] = i * WORDS + (uintptr_t)k;
	free(proto_checked(malloc(32 + i % 64), "malloc"));
	for (int k = 0; k < WORDS; k++)
		if (pattern[k] != i * WORDS + (uintptr_t)k)
			proto_die("thread %lu: its stack was written by another", (unsigned long)i);
	return arg;
}

static void *creator(void *unused)
{
	uintptr_t n = 0;
	while (!atomic_load(&stopping)) {
		pthread_t t[BATCH];
		for (int k = 0; k < BATCH; k++)
			if (pthread_create(&t[k], NULL, spawned, (void *)(n + (uintptr_t)k)) != 0)
				proto_die("pthread_create failed");
		for (int k = 0; k < BATCH; k++) {
			void *r;
			if (pthread_join(t[k], &r) != 0 || r != (void *)(n + (uintptr_t)k))
				proto_die("thread %lu returned %p", (unsigned long)(n + k), r);
		}
		n += BATCH;
	}
	return (void *)n;
}

int main(void)
{
	char line[64];
	proto_ready();
	pthread_t c;
	if (pthread_create(&c, NULL, creator, NULL) != 0)
		proto_die("pthread_create failed");
	proto_line("spawning");
	while (proto_wait(line, sizeof line) && strcmp(line, "stop") != 0)
		;
	atomic_store(&stopping, true);
	void *n;
	pthread_join(c, &n);
	char extra[48];
	snprintf(extra, sizeof extra, "threads=%lu", (unsigned long)(uintptr_t)n);
	proto_done((uint64_t)(uintptr_t)n, extra);
	while (proto_wait(line, sizeof line) && strcmp(line, "exit") != 0)
		;
	return 0;
}
