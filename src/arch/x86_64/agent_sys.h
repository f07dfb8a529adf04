/* The few machine and kernel facilities the agent (src/agent/agent.c)
 * needs, without libc: x86_64 Linux. */
#ifndef MT_AGENT_SYS_H
#define MT_AGENT_SYS_H

#include <stdint.h>

#include "arch/x86_64/dwarf_regs.h"

#define MT_AGENT_SYS_kill 62
#define MT_AGENT_SYS_gettid 186
#define MT_AGENT_SYS_futex 202
#define MT_AGENT_SYS_clock_gettime 228
#define MT_AGENT_CLOCK_MONOTONIC 1
#define MT_AGENT_ESRCH 3
#define MT_AGENT_FUTEX_WAIT 0
#define MT_AGENT_FUTEX_WAKE 1

/* The 32-bit word at OFF from the thread pointer: glibc keeps the thread
 * id in its struct pthread there (memtrace finds OFF and checks it). */
static inline uint32_t mt_agent_fs_u32(uint32_t off)
{
	uint32_t v;
	__asm__ volatile("movl %%fs:(%1), %0" : "=r"(v) : "r"((uint64_t)off));
	return v;
}

/* The thread pointer itself (the TCB's first word points to itself, as
 * the x86_64 TLS ABI has it). */
static inline uint64_t mt_agent_tp(void)
{
	uint64_t v;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(v));
	return v;
}

static inline long mt_agent_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long mt_agent_gettid(void)
{
	return mt_agent_syscall6(MT_AGENT_SYS_gettid, 0, 0, 0, 0, 0, 0);
}

/* CLOCK_MONOTONIC in nanoseconds, by the system call (the agent has no
 * vDSO): only paths that are about to sleep anyway read it.  0 when the
 * call fails (a seccomp filter may refuse it). */
static inline uint64_t mt_agent_clock_ns(void)
{
	struct { long sec, nsec; } ts = { 0, 0 };
	if (mt_agent_syscall6(MT_AGENT_SYS_clock_gettime, MT_AGENT_CLOCK_MONOTONIC, (long)&ts, 0,
			      0, 0, 0) != 0)
		return 0;
	return (uint64_t)ts.sec * 1000000000u + (uint64_t)ts.nsec;
}

/* Whether process PID exists, as kill(PID, 0) tells (a process we may not
 * signal exists too); false for a pid this pid namespace does not see. */
static inline int mt_agent_pid_exists(int32_t pid)
{
	return mt_agent_syscall6(MT_AGENT_SYS_kill, pid, 0, 0, 0, 0, 0) != -MT_AGENT_ESRCH;
}

/* Shared futexes (no FUTEX_PRIVATE_FLAG): memtrace waits on the same words
 * through its own mapping of the memfd. */
static inline void mt_agent_futex_wake(uint32_t *w)
{
	mt_agent_syscall6(MT_AGENT_SYS_futex, (long)w, MT_AGENT_FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
}

/* Sleeps while *W == VAL, at most NS nanoseconds (or until a signal). */
static inline void mt_agent_futex_wait(uint32_t *w, uint32_t val, long ns)
{
	struct { long sec, nsec; } ts = { ns / 1000000000L, ns % 1000000000L };
	mt_agent_syscall6(MT_AGENT_SYS_futex, (long)w, MT_AGENT_FUTEX_WAIT, (long)val, (long)&ts,
			  0, 0);
}

#endif
