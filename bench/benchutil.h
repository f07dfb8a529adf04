/* What bench/malloc_bench.c and bench/consumer_bench.c share: the clock
 * they time with, and the generator whose sequence consumer_bench replays
 * from malloc_bench. */
#ifndef MT_BENCHUTIL_H
#define MT_BENCHUTIL_H

#include <stdint.h>
#include <time.h>

/* CLOCK's time in ns. */
static inline uint64_t bench_clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Marsaglia's xorshift64: state must never be 0. */
static inline uint64_t bench_xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

#endif
