/* Unwinding a stopped thread with libdwfl (unwind.c): registers + stack
 * -> pcs, and the unwind rules the agent unwinds with by itself.  Works
 * on a symbolizer's modules (symbolize.h: when the maps are read again,
 * and one thread at a time).
 */
#ifndef MT_UNWIND_H
#define MT_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/arch.h"

struct mt_symbolizer;
struct mt_agent_rule;

/* Reads LEN bytes of the target at ADDR into BUF: 0, or -errno. */
typedef int (*mt_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* Unwind thread TID, stopped with REGS, with libdwfl: CFI (.eh_frame, then
 * .debug_frame) where a module has it, libdw's frame-pointer fallback where
 * it does not (JIT code, hand-written assembly).  REGS may be those of any
 * instruction: at an allocator's first one the return address is at [rsp],
 * and the CFI says so.  PCS[0] is the pc of REGS, then return addresses,
 * innermost first; at most MAX.  Memory is read only through READ (8 bytes
 * at a time; the caller serves it from a copy of the stack); a failed read
 * ends the stack there.  Returns the count, >= 1 (0 only when MAX < 1).
 * A frame in a module loaded since the last look at the maps makes it look
 * again (see symbolize.h) and unwind once more. */
int mt_unwind(struct mt_symbolizer *s, pid_t tid, const mt_regs *regs, mt_read_fn read,
	      void *ctx, uint64_t *pcs, int max);

/* The unwind rule for code at ADDR (agent_abi.h), from the same .eh_frame
 * reduction mt_unwind's fast path uses: ADDR is the looked-up address
 * itself (a return address - 1 for every frame but the first, as the agent
 * does).  SLOW when the CFI is more than the rule can say, when ADDR is in
 * no module (the maps are read again first, when due: see symbolize.h), or
 * when an offset does not fit 32 bits.  Returns 0, OUT filled (out->addr =
 * ADDR, reserved fields 0). */
int mt_symbolizer_agent_rule(struct mt_symbolizer *s, uint64_t addr, struct mt_agent_rule *out);

#endif
