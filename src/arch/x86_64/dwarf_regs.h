/* x86_64's registers as DWARF numbers them (System V psABI, "DWARF
 * Register Number Mapping"): 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi,
 * 6 rbp, 7 rsp, 8-15 r8-r15, 16 the return address (rip).  Only defines:
 * the freestanding agent includes it too (through agent_sys.h), as does
 * arch.h.  An aarch64 port provides the same names (x29, sp, x30). */
#ifndef MT_DWARF_REGS_H
#define MT_DWARF_REGS_H

#define MT_DWARF_NREGS 17      /* the registers an unwinder is given */
#define MT_DWARF_REG_FP 6      /* the frame pointer, rbp */
#define MT_DWARF_REG_SP 7      /* the stack pointer, rsp */
#define MT_DWARF_REG_RA 16     /* the return address column */

#endif
