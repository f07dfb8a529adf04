/* target_resample: blocks recorded under one memtrace and freed under the
 * next, both sampling (tests/e2e/test_sampling_reattach.py).
 *
 *   "ready PID", then on "go"   keep_blocks() allocates KEEP_N blocks of
 *                               KEEP_SIZE and keeps them; prints "kept N"
 *   on "free"                   free_kept() frees them all, then churn()
 *                               makes CHURN_N malloc/free pairs of sizes
 *                               16 B - 4 KiB; expect lines for churn and
 *                               the done line
 *   on "exit"                   exits 0
 *
 * A memtrace attached for "free" only knows the blocks it saw allocated:
 * the kept ones were recorded (some of them) by the memtrace before, and
 * their frees are none of its business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define KEEP_N 20000
#define KEEP_SIZE 4096
#define CHURN_N 50000

static void *kept[KEEP_N];
static struct site_expect e_churn = { .function = "churn" };
static uint64_t sum = CKSUM_INIT;
static uint64_t rng = 0x5eed0020;

NOINLINE static void keep_blocks(void)
{
	for (int i = 0; i < KEEP_N; i++) {
		kept[i] = malloc(KEEP_SIZE);
		if (!kept[i])
			proto_die("malloc(%d) failed", KEEP_SIZE);
		memset(kept[i], 0x5a, 64);
	}
}

NOINLINE static void free_kept(void)
{
	for (int i = 0; i < KEEP_N; i++)
		free(kept[i]);
}

NOINLINE static void churn(void)
{
	for (int i = 0; i < CHURN_N; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		size_t size = 16 + (size_t)(rng % 4081);
		unsigned char *p = malloc(size);
		if (!p)
			proto_die("malloc(%zu) failed", size);
		exp_alloc(&e_churn, size);
		p[0] = (unsigned char)i;
		cksum_add(&sum, p[0]);
		free(p);
		exp_free(&e_churn, size);
	}
}

static void want(const char *word)
{
	char line[64];
	if (!proto_wait(line, sizeof line) || strcmp(line, word) != 0)
		proto_die("expected %s", word);
}

int main(void)
{
	proto_ready();
	keep_blocks();
	proto_line("kept %d", KEEP_N);
	want("free");
	free_kept();
	churn();
	proto_expect(&e_churn);
	proto_done(sum, NULL);
	want("exit");
	return 0;
}
