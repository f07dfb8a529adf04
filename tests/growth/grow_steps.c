/* grow_steps: planted growth, one known step at a time, for snapshots and
 * diff.
 *
 * After "go", base_hold() allocates BASE_N blocks that stay as they are.
 * Each "step" line then runs do_step():
 *
 *   planted_grow   keeps K more blocks of PLANTED_SIZE(j), j = 0..K-1:
 *                  the growth a diff must show, exactly K blocks and
 *                  PLANTED_STEP_BYTES bytes per step
 *   ring_churn     frees and reallocates each of RING_N blocks with the
 *                  same sizes: busy, but its live blocks and bytes stay
 *                  the same from the first step on
 *   scratch_churn  allocates SCRATCH_N blocks and frees them all again:
 *                  nothing live
 *
 * and answers with one line holding what is live per site, which the tests
 * compare with memtrace's reports and diffs:
 *
 *   stepped n=3 planted_blocks=21 planted_bytes=N base_blocks=5
 *     base_bytes=N ring_blocks=8 ring_bytes=N scratch_blocks=0 scratch_bytes=0
 *
 * (one line).  "exit" frees everything and exits 0.  Before "go" it prints
 * "info k=K planted_step_bytes=N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define K 7
#define PLANTED_SIZE(j) (48 + 40 * (j))
#define PLANTED_MAX 7000
#define BASE_N 5
#define BASE_SIZE 4000
#define RING_N 8
#define RING_SIZE(i) (64 + 16 * (i))
#define SCRATCH_N 20
#define SCRATCH_SIZE 100

static void *planted[PLANTED_MAX];
static long planted_n;
static long long planted_bytes;
static void *base[BASE_N];
static long long base_bytes;
static void *ring[RING_N];
static long long ring_bytes;

static void *checked(void *p)
{
	if (!p)
		proto_die("malloc returned NULL");
	return p;
}

NOINLINE static void base_hold(void)
{
	for (int i = 0; i < BASE_N; i++) {
		size_t size = BASE_SIZE;

		base[i] = checked(malloc(size));
		base_bytes += (long long)size;
	}
}

NOINLINE static void planted_grow(void)
{
	if (planted_n + K > PLANTED_MAX)
		proto_die("planted[] is full");
	for (int j = 0; j < K; j++) {
		planted[planted_n++] = checked(malloc(PLANTED_SIZE(j)));
		planted_bytes += PLANTED_SIZE(j);
	}
}

NOINLINE static void ring_churn(void)
{
	for (int i = 0; i < RING_N; i++) {
		if (ring[i])
			ring_bytes -= RING_SIZE(i);
		free(ring[i]);
		ring[i] = checked(malloc(RING_SIZE(i)));
		ring_bytes += RING_SIZE(i);
	}
}

NOINLINE static void scratch_churn(void)
{
	void *tmp[SCRATCH_N];

	for (int i = 0; i < SCRATCH_N; i++)
		tmp[i] = checked(malloc(SCRATCH_SIZE));
	for (int i = 0; i < SCRATCH_N; i++)
		free(tmp[i]);
}

NOINLINE static void do_step(void)
{
	planted_grow();
	ring_churn();
	scratch_churn();
}

static void release(void)
{
	for (long i = 0; i < planted_n; i++)
		free(planted[i]);
	for (int i = 0; i < BASE_N; i++)
		free(base[i]);
	for (int i = 0; i < RING_N; i++)
		free(ring[i]);
}

int main(void)
{
	char line[64];
	long long step_bytes = 0;
	long n = 0;

	for (int j = 0; j < K; j++)
		step_bytes += PLANTED_SIZE(j);
	setvbuf(stdout, NULL, _IOLBF, 0);
	proto_line("info k=%d planted_step_bytes=%lld", K, step_bytes);
	proto_ready();
	base_hold();
	proto_line("based base_blocks=%d base_bytes=%lld", BASE_N, base_bytes);
	while (proto_wait(line, sizeof(line))) {
		if (strcmp(line, "exit") == 0)
			break;
		if (strcmp(line, "step") != 0)
			proto_die("expected 'step' or 'exit', got '%s'", line);
		do_step();
		n++;
		proto_line("stepped n=%ld planted_blocks=%ld planted_bytes=%lld base_blocks=%d "
			   "base_bytes=%lld ring_blocks=%d ring_bytes=%lld scratch_blocks=0 "
			   "scratch_bytes=0",
			   n, planted_n, planted_bytes, BASE_N, base_bytes, RING_N, ring_bytes);
	}
	release();
	return 0;
}
