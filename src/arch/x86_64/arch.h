/* x86_64 specifics: register access, breakpoint and jump encodings, the
 * syscall ABI.  An aarch64 port provides the same names in arch/aarch64/. */
#ifndef MT_ARCH_H
#define MT_ARCH_H

#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/user.h>
#include <linux/audit.h>

#include "arch/x86_64/dwarf_regs.h"

typedef struct user_regs_struct mt_regs;

#define MT_ARCH_NAME "x86_64"

/* The AUDIT_ARCH_ value a seccomp filter sees in struct seccomp_data. */
#define MT_ARCH_AUDIT AUDIT_ARCH_X86_64

/* int3.  After it traps, the PC is one past the breakpoint. */
#define MT_BP_BYTE 0xCC
#define MT_BP_LEN 1
#define MT_BP_PC_AFTER(addr) ((addr) + MT_BP_LEN)

static inline uint64_t mt_regs_pc(const mt_regs *r) { return r->rip; }
static inline void mt_regs_set_pc(mt_regs *r, uint64_t pc) { r->rip = pc; }
static inline uint64_t mt_regs_sp(const mt_regs *r) { return r->rsp; }
static inline void mt_regs_set_sp(mt_regs *r, uint64_t sp) { r->rsp = sp; }
static inline uint64_t mt_regs_ret(const mt_regs *r) { return r->rax; }
static inline uint64_t mt_regs_fp(const mt_regs *r) { return r->rbp; }

/* REGS as an unwinder wants them, in DWARF's order (dwarf_regs.h). */
static inline void mt_arch_regs_to_dwarf(const mt_regs *r, uint64_t w[MT_DWARF_NREGS])
{
	w[0] = r->rax;  w[1] = r->rdx;  w[2] = r->rcx;  w[3] = r->rbx;
	w[4] = r->rsi;  w[5] = r->rdi;  w[6] = r->rbp;  w[7] = r->rsp;
	w[8] = r->r8;   w[9] = r->r9;   w[10] = r->r10; w[11] = r->r11;
	w[12] = r->r12; w[13] = r->r13; w[14] = r->r14; w[15] = r->r15;
	w[16] = r->rip;
}

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

/* glibc's tcbhead_t at the thread pointer: the dynamic thread vector
 * (a pointer one 16-byte entry past the start of the block that holds
 * it) and the pointer guard. */
#define MT_ARCH_TCB_DTV 8
#define MT_ARCH_TCB_POINTER_GUARD 0x30

/* glibc's PTR_DEMANGLE: rotate right 17 (0x11), then xor the guard. */
static inline uint64_t mt_arch_ptr_demangle(uint64_t w, uint64_t guard)
{
	return ((w >> 17) | (w << 47)) ^ guard;
}

/* The general registers that may hold a pointer, for the leak check:
 * up to MT_ARCH_NREGS words in W, their names in NAMES. */
#define MT_ARCH_NREGS 16
static inline void mt_arch_reg_words(const mt_regs *r, uint64_t w[MT_ARCH_NREGS])
{
	w[0] = r->rax;  w[1] = r->rbx;  w[2] = r->rcx;  w[3] = r->rdx;
	w[4] = r->rsi;  w[5] = r->rdi;  w[6] = r->rbp;  w[7] = r->rsp;
	w[8] = r->r8;   w[9] = r->r9;   w[10] = r->r10; w[11] = r->r11;
	w[12] = r->r12; w[13] = r->r13; w[14] = r->r14; w[15] = r->r15;
}
static const char *const mt_arch_reg_names[MT_ARCH_NREGS] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

/* Bytes below the stack pointer that a leaf function may use (the
 * System V red zone): a leak check scans a stack from SP - this. */
#define MT_ARCH_RED_ZONE 128

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

/* The jump a hook writes over an entry point: jmp rel32, e9 <rel32>
 * (MT_TRAMP_JMP_LEN bytes, tramp_plan.h). */
#define MT_JMP_OPCODE 0xe9
#define MT_JMP_LEN 5
static inline bool mt_arch_is_jump(const uint8_t *code) { return code[0] == MT_JMP_OPCODE; }
/* The jump at ADDR to ADDR + MT_JMP_LEN + REL, into P[0..MT_JMP_LEN). */
static inline void mt_arch_put_jump(uint8_t *p, int32_t rel)
{
	p[0] = MT_JMP_OPCODE;
	for (int i = 0; i < 4; i++)
		p[1 + i] = (uint8_t)((uint32_t)rel >> (8 * i));
}
/* Where the jump in MEM (the bytes at ADDR) goes; 0 when it is none. */
static inline uint64_t mt_arch_jump_target(uint64_t addr, const uint8_t *mem)
{
	if (!mt_arch_is_jump(mem))
		return 0;
	uint32_t rel = (uint32_t)mem[1] | (uint32_t)mem[2] << 8 | (uint32_t)mem[3] << 16 |
		       (uint32_t)mem[4] << 24;
	return addr + MT_JMP_LEN + (uint64_t)(int64_t)(int32_t)rel;
}

/* Whether CODE[0..N) is a return, then multi-byte nop padding (66/0f/2e/90
 * prefixes, the 0f 1f and 2e 0f 1f 84 nops' operand bytes) that nothing
 * executes: a patch of N bytes may cover it whole (ld.so's
 * _dl_debug_state, inj_engine.c). */
static inline bool mt_arch_is_padded_ret(const uint8_t *code, unsigned n)
{
	if (code[0] != 0xc3)
		return false;
	for (unsigned i = 1; i < n; i++)
		if (code[i] != 0x66 && code[i] != 0x0f && code[i] != 0x2e && code[i] != 0x90 &&
		    code[i] != 0x1f && code[i] != 0x84 && code[i] != 0x00 && code[i] != 0x44 &&
		    code[i] != 0x40 && code[i] != 0x80)
			return false;
	return true;
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
