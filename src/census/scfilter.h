/* Running a seccomp filter (classic BPF, as PTRACE_SECCOMP_GET_FILTER
 * returns it) on one system call, to know before memtrace makes a target
 * thread run it whether the kernel would allow it, refuse it, or kill the
 * target.  A filter is untrusted input: a program the kernel would not
 * have loaded, or one that jumps or loads out of bounds, is an error.
 * Pure; tests/unit/test_scfilter.c. */
#ifndef MT_SCFILTER_H
#define MT_SCFILTER_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The filter PROG (N instructions) on the call D: 0 and *RET (the filter's
 * SECCOMP_RET_* value), or -EINVAL for an invalid program. */
int mt_scfilter_run(const struct sock_filter *prog, size_t n, const struct seccomp_data *d,
		    uint32_t *ret);

/* Of two filters' results, the one the kernel acts on (the action of
 * highest precedence: KILL_PROCESS first, ALLOW last). */
uint32_t mt_scfilter_combine(uint32_t a, uint32_t b);

/* Does the kernel run the call under RET (ALLOW or LOG)? */
bool mt_scfilter_allows(uint32_t ret);

/* RET in words: "kill the process", "fail it with errno 1", ... */
const char *mt_scfilter_describe(uint32_t ret, char *buf, size_t len);

#endif
