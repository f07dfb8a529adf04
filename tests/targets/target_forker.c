/* target_forker: a parent that forks a worker when told, as a pre-fork
 * server does (tests/e2e/test_detach.py --fork).
 *
 *   "ready PID", "go" (protocol.h), then one command per stdin line:
 *     fork   fork a worker: it prints "worker PID" and allocates pass after
 *            pass (malloc, calloc, realloc and free of PRNG sizes, every
 *            block filled and folded into the pass's checksum, the same
 *            seed each pass); on SIGUSR2 it prints "worker PID passes=N"
 *            after its current pass; on SIGUSR1 it ends that pass, prints
 *            "worker PID passes=N bad=B checksum=HEX" (B: passes whose
 *            checksum is not the first's) and exits 0
 *     reap   wait for the worker: "reaped PID status=S" (waitpid's status)
 *     exit   exit 0
 *
 * A worker forked after memtrace was killed inherits its jumps, and the
 * agent's state wiped (MADV_WIPEONFORK): its calls run through the agent
 * to the original code, and memtrace detach must find the jumps without
 * the agent's records.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))
#define SLOTS 64
#define CALLS 2000

static volatile sig_atomic_t stop_asked, status_asked;

static void on_usr1(int sig)
{
	(void)sig;
	stop_asked = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	status_asked = 1;
}

/* One pass: CALLS allocator calls over SLOTS blocks; its checksum. */
NOINLINE static uint64_t pass(void)
{
	void *slot[SLOTS] = { 0 };
	size_t size[SLOTS] = { 0 };
	uint64_t rng = 0x5eed0016, sum = CKSUM_INIT;
	for (int i = 0; i < CALLS; i++) {
		uint64_t r = prng_next(&rng);
		int k = (int)(r % SLOTS);
		size_t n = 16 + (size_t)(r >> 32) % 2048;
		if (slot[k]) {
			block_fold(slot[k], size[k], &sum);
			/* realloc keeps the block's first bytes */
			if ((r >> 8) & 1) {
				uint64_t head;
				memcpy(&head, slot[k], sizeof head);
				slot[k] = proto_checked(realloc(slot[k], n), "realloc");
				cksum_add(&sum, head ^ *(uint64_t *)slot[k]);
			}
			free(slot[k]);
			slot[k] = NULL;
			continue;
		}
		slot[k] = proto_checked((r >> 9) & 1 ? calloc(1, n) : malloc(n), "malloc");
		size[k] = n;
		block_fill(slot[k], n, &rng);
	}
	for (int k = 0; k < SLOTS; k++)
		if (slot[k]) {
			block_fold(slot[k], size[k], &sum);
			free(slot[k]);
		}
	return sum;
}

static void worker(void)
{
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, on_usr2);
	proto_line("worker %d", (int)getpid());
	uint64_t first = 0;
	long passes = 0, bad = 0;
	for (;;) {
		uint64_t sum = pass();
		if (passes++ == 0)
			first = sum;
		bad += sum != first;
		if (status_asked) {
			status_asked = 0;
			proto_line("worker %d passes=%ld", (int)getpid(), passes);
		}
		if (stop_asked)
			break;
	}
	proto_line("worker %d passes=%ld bad=%ld checksum=%016llx", (int)getpid(), passes, bad,
		   (unsigned long long)first);
	exit(0);
}

int main(void)
{
	char line[64];
	pid_t child = 0;
	proto_ready();
	while (proto_wait(line, sizeof line)) {
		if (strcmp(line, "fork") == 0) {
			fflush(stdout);
			child = fork();
			if (child < 0)
				proto_die("fork failed");
			if (child == 0)
				worker();
		} else if (strcmp(line, "reap") == 0) {
			int st = 0;
			if (child <= 0 || waitpid(child, &st, 0) != child)
				proto_die("no worker to reap");
			proto_line("reaped %d status=%d", (int)child, st);
			child = 0;
		} else if (strcmp(line, "exit") == 0) {
			return 0;
		} else {
			proto_die("unknown command '%s'", line);
		}
	}
	return 0;
}
