/* Plans for the jump patch of the in-process engine (issue 5, point 2).
 *
 * The in-process engine replaces the first bytes of each hooked allocator
 * entry with a 5-byte `jmp rel32` to a per-function trampoline placed within
 * +-2 GiB.  The trampoline first calls the hook (the agent's entry, which
 * records the event and returns), then runs the instructions the jump
 * displaced, relocated, then jumps back to the first original instruction
 * the patch did not touch:
 *
 *   ADDR        e9 <rel32>            jmp TRAMP
 *   ADDR+5      cc ...                int3 up to PATCH_LEN (never executed)
 *   ADDR+LEN    the rest of the function, untouched
 *
 *   TRAMP+0     e8 <rel32>            call HOOK   pushes TRAMP+5: the hook
 *                                                 finds the caller's return
 *                                                 address at 8(%rsp), its
 *                                                 own at 0(%rsp)
 *   TRAMP+5     the displaced instructions, relocated
 *   TRAMP+k     e9 <rel32>            jmp ADDR+LEN
 *
 * The hook must preserve every register and the flags: the displaced
 * instructions run after it with the caller's arguments.  The stack inside
 * the hook is 16-byte aligned (the caller's call left it at 8 mod 16).
 *
 * Planning is pure: it decodes bytes it is given and builds the patch and
 * the trampoline for given addresses.  Installing them (stopping threads,
 * checking no thread's PC is inside the patched bytes, writing) is the
 * engine's job.  The only files that talk to capstone are
 * arch/ARCH/insn_plan.c and arch/ARCH/tramp_plan.c. */
#ifndef MT_TRAMP_PLAN_H
#define MT_TRAMP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define MT_TRAMP_JMP_LEN 5      /* the patch: e9 <rel32> */
#define MT_TRAMP_MAX_PATCH 16
#define MT_TRAMP_MAX 128

struct mt_tramp_plan {
	int ok;                 /* 1: patch and tramp are ready to install */
	const char *why;        /* !ok: why the function keeps the breakpoint engine */
	unsigned patch_len;     /* >= 5: the whole instructions covering the first 5 bytes */
	uint8_t patch[MT_TRAMP_MAX_PATCH]; /* jmp rel32 + int3 padding, for ADDR */
	uint8_t tramp[MT_TRAMP_MAX];       /* call hook + relocated insns + jmp back */
	unsigned tramp_len;
	unsigned ninsn;         /* instructions covered by the patch */
};

/* Plan the patch of the function at ADDR whose code is CODE[0..N) (N: the
 * function's size from its ELF symbol, or at least 64 bytes when unknown).
 * The patch covers the whole instructions overlapping the first 5 bytes.
 *
 * OK when every covered instruction can be relocated into a trampoline at
 * TRAMP_ADDR (RIP-relative operands re-displaced; relative jmp/call/jcc
 * rewritten to rel32 forms reaching their original targets; anything else
 * copied), and no branch in CODE targets the inside of the covered bytes
 * (offsets 1..patch_len-1): relative jumps and calls, RIP-relative addresses
 * taken into them, and jump tables of 32-bit offsets sitting inside CODE.
 *
 * Returns 0 when out->ok; otherwise out->why says why and the result is
 * -ERANGE when an address cannot be reached with a 32-bit displacement
 * (the trampoline, the hook, the way back, a re-displaced operand or a
 * branch target), or -EINVAL (too short, does not decode, an instruction
 * that cannot run elsewhere, a branch into the patched bytes). */
int mt_tramp_plan_make(const uint8_t *code, size_t n, uint64_t addr, uint64_t tramp_addr,
                       uint64_t hook_target, struct mt_tramp_plan *out);

#endif
