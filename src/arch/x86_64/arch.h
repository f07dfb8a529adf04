/* x86_64 specifics: register access, breakpoint and jump encodings, the
 * syscall ABI.  An aarch64 port provides the same names in arch/aarch64/. */
#ifndef MT_ARCH_H
#define MT_ARCH_H

#include <cpuid.h>
#include <stdint.h>
#include <sys/user.h>

typedef struct user_regs_struct mt_regs;

#define MT_ARCH_NAME "x86_64"

/* int3.  After it traps, the PC is one past the breakpoint. */
#define MT_BP_BYTE 0xCC
#define MT_BP_LEN 1
#define MT_BP_PC_AFTER(addr) ((addr) + MT_BP_LEN)

static inline uint64_t mt_regs_pc(const mt_regs *r) { return r->rip; }
static inline void mt_regs_set_pc(mt_regs *r, uint64_t pc) { r->rip = pc; }
static inline uint64_t mt_regs_sp(const mt_regs *r) { return r->rsp; }
static inline void mt_regs_set_sp(mt_regs *r, uint64_t sp) { r->rsp = sp; }
static inline uint64_t mt_regs_ret(const mt_regs *r) { return r->rax; }

/* Integer argument N (0-based) at function entry, System V ABI. */
static inline uint64_t mt_regs_arg(const mt_regs *r, int n)
{
	switch (n) {
	case 0: return r->rdi;
	case 1: return r->rsi;
	case 2: return r->rdx;
	case 3: return r->rcx;
	case 4: return r->r8;
	default: return r->r9;
	}
}

static inline void mt_regs_set_arg(mt_regs *r, int n, uint64_t v)
{
	switch (n) {
	case 0: r->rdi = v; break;
	case 1: r->rsi = v; break;
	case 2: r->rdx = v; break;
	case 3: r->rcx = v; break;
	case 4: r->r8 = v; break;
	default: r->r9 = v; break;
	}
}

/* The thread pointer (%fs base): glibc's struct pthread of the thread. */
static inline uint64_t mt_regs_tp(const mt_regs *r) { return r->fs_base; }

/* At function entry the return address is the word at the stack pointer. */
static inline uint64_t mt_regs_retaddr_slot(const mt_regs *r) { return r->rsp; }

/* The trampoline head of the in-process engine (agent_abi.h):
 *   movabs $HOOK, %r11 ; jmp *0(%rip) ; .quad STUB ; int3 x 8    (32 bytes) */
#define MT_TRAMP_HEAD_LEN 32
static inline void mt_arch_tramp_head(uint8_t *p, uint64_t hook, uint64_t stub)
{
	static const uint8_t head[] = { 0x49, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0,
					0xff, 0x25, 0, 0, 0, 0 };
	for (unsigned i = 0; i < sizeof head; i++)
		p[i] = head[i];
	for (int i = 0; i < 8; i++) {
		p[2 + i] = (uint8_t)(hook >> (8 * i));
		p[16 + i] = (uint8_t)(stub >> (8 * i));
		p[24 + i] = MT_BP_BYTE;
	}
}

/* Drops the cache line holding P from every cache, the writer's too (its
 * dirty copy is written back).  The ring reader does this to each record
 * line it has copied out (ringdec.c): when the agent next writes that slot,
 * a lap later, its store fetches the line from memory, in a stream the
 * prefetchers follow, instead of taking it back from memtrace's core one
 * miss at a time.  clflushopt where the CPU has it (evictions of different
 * lines overlap), else clflush, which every x86_64 has (SSE2) but which
 * waits for the one before. */
static inline void mt_arch_evict_line(const void *p)
{
	static int opt = -1;
	if (opt < 0) {
		unsigned a, b = 0, c, d;
		opt = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 23));
	}
	if (opt)
		__asm__ volatile("clflushopt %0" : : "m"(*(const volatile char *)p));
	else
		__asm__ volatile("clflush %0" : : "m"(*(const volatile char *)p));
}

/* Raw syscalls made on the target's behalf (injection). */
#define MT_SYSCALL_INSN { 0x0f, 0x05 }
#define MT_SYSCALL_INSN_LEN 2
void mt_arch_setup_syscall(mt_regs *r, uint64_t pc, long nr, const uint64_t args[6]);
static inline long mt_regs_syscall_result(const mt_regs *r) { return (long)r->rax; }
/* Registers to restore after an injected syscall interrupted a blocking one:
 * apply the kernel's restart logic by hand (see arch.c). */
void mt_arch_regs_for_resume(mt_regs *r);

#endif
