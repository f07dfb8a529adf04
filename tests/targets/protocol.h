/* The test-target side of the end-to-end protocol (see tests/e2e/harness.py).
 *
 *   target                                harness
 *   ------                                -------
 *   "ready PID"            ------------>  starts memtrace, waits for
 *   blocks on stdin                       "memtrace: tracing ..."
 *                          <------------  "go"
 *   works, counting what it does
 *   "expect function=..."  ------------>  (one line per site function)
 *   "expect unknown_frees=N"
 *   "done checksum=HEX ..."
 *   blocks on stdin                       SIGINT memtrace, checks its report
 *                          <------------  "exit" (or a target-specific word)
 *   frees what it holds, exits 0
 *
 * In run mode (proto_set_run_mode) nothing is read from stdin: the target is
 * started by `memtrace run` and proto_ready()/proto_wait() return at once.
 *
 * Every line goes out with an fflush, since stdout is a pipe.  Nothing here
 * allocates after proto_ready(): the stdio buffers of stdin and stdout are
 * both created before "ready" is printed, so a traced target makes no
 * allocator call from this file.
 */
#ifndef MT_TARGET_PROTOCOL_H
#define MT_TARGET_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the target expects memtrace to report for one function: the sum
 * over every call site in that function.  Frees are credited to the site
 * that allocated the block, wherever the free happens. */
struct site_expect {
	const char *function;
	long long live_blocks;
	long long live_bytes;
	long long allocs;
	long long frees;
};

static inline void exp_alloc(struct site_expect *s, size_t size)
{
	s->allocs++;
	s->live_blocks++;
	s->live_bytes += (long long)size;
}

static inline void exp_free(struct site_expect *s, size_t size)
{
	s->frees++;
	s->live_blocks--;
	s->live_bytes -= (long long)size;
}

/* dst += src, field by field (per-thread counts summed after join) */
void exp_add(struct site_expect *dst, const struct site_expect *src);

void proto_set_run_mode(bool on);
bool proto_run_mode(void);

/* "ready PID", then wait for "go" (not in run mode). */
void proto_ready(void);
/* One "expect function=..." line. */
void proto_expect(const struct site_expect *s);
void proto_expect_unknown_frees(long long n);
/* Any other line ("storm", "info calls=N", ...): the harness keeps them. */
void proto_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "done checksum=%016llx" followed by EXTRA (may be NULL or ""). */
void proto_done(uint64_t checksum, const char *extra);
/* Wait for the next stdin line; copies it without the newline into BUF.
 * Returns false at end of input.  In run mode returns false at once. */
bool proto_wait(char *buf, size_t len);
/* Print "error: ..." on stderr and exit with status 98: the target itself
 * found something wrong (bad protocol input, a broken allocator result). */
void proto_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Blocks a target keeps until "exit": proto_hold() notes one (in a static
 * table, so holding allocates nothing), proto_free_held() frees them all
 * (after memtrace detached). */
void proto_hold(void *p);
void proto_free_held(void);
/* P, or the target dies saying WHAT returned NULL. */
void *proto_checked(void *p, const char *what);

/* Deterministic data: a seeded PRNG (splitmix64) and a checksum (FNV-1a
 * over 64-bit words) of what the target wrote into its blocks. */
uint64_t prng_next(uint64_t *state);
void cksum_add(uint64_t *h, uint64_t v);
#define CKSUM_INIT 0xcbf29ce484222325ULL

/* Write PRNG words at the start and the end of a block (at most 16 bytes,
 * whatever the size), and fold them back into a checksum before it is
 * freed: the checksum proves each block held what was written into it. */
void block_fill(void *p, size_t size, uint64_t *rng);
void block_fold(const void *p, size_t size, uint64_t *h);

#endif
