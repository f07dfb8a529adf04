/* x86_64 specifics: register access, breakpoint and jump encodings, the
 * syscall ABI.  An aarch64 port provides the same names in arch/aarch64/. */
#ifndef MT_ARCH_H
#define MT_ARCH_H

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

/* At function entry the return address is the word at the stack pointer. */
static inline uint64_t mt_regs_retaddr_slot(const mt_regs *r) { return r->rsp; }

/* Raw syscalls made on the target's behalf (injection). */
#define MT_SYSCALL_INSN { 0x0f, 0x05 }
#define MT_SYSCALL_INSN_LEN 2
void mt_arch_setup_syscall(mt_regs *r, uint64_t pc, long nr, const uint64_t args[6]);
static inline long mt_regs_syscall_result(const mt_regs *r) { return (long)r->rax; }
/* Registers to restore after an injected syscall interrupted a blocking one:
 * apply the kernel's restart logic by hand (see arch.c). */
void mt_arch_regs_for_resume(mt_regs *r);

#endif
