/* Plans for the instruction an entry breakpoint displaces.
 *
 * The breakpoint engine never removes a breakpoint to let a thread pass
 * (other threads would run past it unseen).  Instead, each hooked entry's
 * first instruction is decoded once, at install time, into a plan:
 *
 *   OOL       executed out of line: a copy sits in a slot in a page memtrace
 *             maps into the target, followed by an absolute jump back to the
 *             next original instruction; a RIP-relative operand is
 *             re-displaced for the slot's address.
 *   EMU_JMP   jmp rel: emulated by setting the PC.
 *   EMU_CALL  call rel: emulated by pushing the return address.
 *   OOL_JCC   jcc rel: a slot with a short jcc over two absolute jumps.
 *   EMU_RET   a plain ret: emulated by popping the return address (ld.so's
 *             _dl_debug_state is a lone `ret`).
 *   UNSUPPORTED  the function is not hooked, and `why` says why.
 *
 * The only file that talks to capstone is arch/ARCH/insn_plan.c.
 */
#ifndef MT_INSN_PLAN_H
#define MT_INSN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define MT_SLOT_SIZE 64

enum mt_plan_kind {
	MT_PLAN_OOL,
	MT_PLAN_EMU_JMP,
	MT_PLAN_EMU_CALL,
	MT_PLAN_OOL_JCC,
	MT_PLAN_EMU_RET,
	MT_PLAN_UNSUPPORTED,
};

struct mt_insn_plan {
	enum mt_plan_kind kind;
	unsigned len;          /* bytes of the displaced instruction */
	uint64_t addr;         /* where it sits in the target */
	uint64_t target;       /* branch target (EMU_JMP, EMU_CALL, OOL_JCC) */
	unsigned cc;           /* condition code (OOL_JCC) */
	int disp_offset;       /* RIP-relative displacement offset in the insn, -1 if none */
	uint8_t bytes[16];     /* the original instruction */
	char text[256];        /* "cmpb $0, 0x141b46(%rip)": for --verbose */
	const char *why;       /* UNSUPPORTED: the reason */
};

/* Decode the first instruction of CODE (N bytes, sitting at ADDR). 0, or
 * -EINVAL when it does not decode. */
int mt_insn_plan_make(const uint8_t *code, size_t n, uint64_t addr, struct mt_insn_plan *out);

/* Generate the out-of-line slot code for an OOL / OOL_JCC plan placed at
 * SLOT_ADDR into BUF (MT_SLOT_SIZE bytes).  Returns the bytes used, or
 * -ERANGE when a RIP-relative operand cannot reach from the slot. */
int mt_insn_plan_slot(const struct mt_insn_plan *p, uint64_t slot_addr, uint8_t *buf);

/* Where a thread whose PC is at OFFSET inside the slot would be had it run
 * the original code: for moving threads out of a slot before it is unmapped.
 * 0 when OFFSET is not an instruction boundary of the slot. */
uint64_t mt_insn_plan_slot_pc_to_orig(const struct mt_insn_plan *p, unsigned offset);

#endif
