/* The few machine and kernel facilities the agent (src/agent/agent.c)
 * needs, without libc: x86_64 Linux. */
#ifndef MT_AGENT_SYS_H
#define MT_AGENT_SYS_H

#include <stdint.h>

#define MT_AGENT_SYS_gettid 186
#define MT_AGENT_SYS_futex 202
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
