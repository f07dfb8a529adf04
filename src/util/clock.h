/* memtrace's one clock: CLOCK_MONOTONIC, never set back, not counting
 * suspend, the same in every thread.  Event times (event.h), deadlines,
 * waits and the durations memtrace reports all read it here.  (The agent,
 * freestanding, reads the same clock by its own system call:
 * arch/<machine>/agent_sys.h.)  The wall clock is read only to stamp a
 * report with the date (session_report.c). */
#ifndef MT_CLOCK_H
#define MT_CLOCK_H

#include <stdint.h>

/* Nanoseconds since an arbitrary start (the boot). */
uint64_t mt_clock_ns(void);
/* The same in whole milliseconds: for deadlines of poll(2) timeouts. */
uint64_t mt_clock_ms(void);
/* The same in seconds, with the fraction: for durations shown to people. */
double mt_clock_s(void);

#endif
