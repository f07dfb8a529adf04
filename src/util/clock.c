/* The monotonic clock.  See clock.h. */
#include <time.h>

#include "util/clock.h"

uint64_t mt_clock_ns(void)
{
	struct timespec ts;
	/* Cannot fail for CLOCK_MONOTONIC with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t mt_clock_ms(void)
{
	return mt_clock_ns() / 1000000u;
}

double mt_clock_s(void)
{
	return (double)mt_clock_ns() / 1e9;
}
