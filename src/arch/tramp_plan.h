/* Plans for the jump patch of the in-process engine (issue 5, point 2).
 *
 * The in-process engine replaces the first bytes of each hooked allocator
 * entry with a 5-byte `jmp rel32` to JUMP_TO, within +-2 GiB (the entry of
 * its trampoline, which passes control to the agent: agent_abi.h).  The
 * agent runs the original function by calling TRAMP_ADDR, where the
 * instructions the jump displaced run relocated, then a jump back to the
 * first original instruction the patch did not touch:
 *
 *   ADDR        e9 <rel32>            jmp JUMP_TO
 *   ADDR+5      cc ...                int3 up to PATCH_LEN (never executed)
 *   ADDR+LEN    the rest of the function, untouched
 *
 *   TRAMP_ADDR  the displaced instructions, relocated
 *   TRAMP+k     e9 <rel32>            jmp ADDR+LEN
 *
 * Planning is pure: it decodes bytes it is given and builds the patch and
 * the relocated code for given addresses.  Installing them (stopping
 * threads, checking no thread's PC is inside the patched bytes, writing) is
 * the engine's job.  The only files that talk to capstone are
 * arch/ARCH/insn_plan.c and arch/ARCH/tramp_plan.c. */
#ifndef MT_TRAMP_PLAN_H
#define MT_TRAMP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"

#define MT_TRAMP_JMP_LEN MT_JMP_LEN  /* the patch: a jmp rel32 (arch.h) */
#define MT_TRAMP_MAX_PATCH 16
#define MT_TRAMP_MAX 128

struct mt_tramp_plan {
	int ok;                 /* 1: patch and tramp are ready to install */
	const char *why;        /* !ok: why the function cannot be patched (it stays unhooked) */
	unsigned patch_len;     /* >= 5: the whole instructions covering the first 5 bytes */
	uint8_t patch[MT_TRAMP_MAX_PATCH]; /* jmp rel32 + int3 padding, for ADDR */
	uint8_t tramp[MT_TRAMP_MAX];       /* relocated insns + jmp back */
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
int mt_tramp_plan_make(const uint8_t *code, size_t n, uint64_t addr, uint64_t jump_to,
                       uint64_t tramp_addr, struct mt_tramp_plan *out);

#endif
