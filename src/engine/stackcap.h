/* Stack capture for the hook engines: unwind a thread stopped at an
 * allocator's entry and intern the result.  The engine calls it through
 * struct mt_stack_source (engine.h). */
#ifndef MT_STACKCAP_H
#define MT_STACKCAP_H

#include <stdint.h>
#include <sys/types.h>

#include "arch/arch.h"
#include "model/stacks.h"
#include "symbols/symbolize.h"

struct mt_stackcap;

/* DEPTH frames above the allocator's own (so pcs[0], the allocator entry,
 * plus DEPTH more). */
struct mt_stackcap *mt_stackcap_new(pid_t pid, struct mt_symbolizer *sym,
				    struct mt_stacks *stacks, int depth);
void mt_stackcap_destroy(struct mt_stackcap *c);
/* The mt_stack_source capture function: ctx is the mt_stackcap. */
uint32_t mt_stackcap_capture(void *ctx, pid_t tid, const mt_regs *regs);
/* Captures that returned 0 (the stack table was out of memory): such an
 * allocation is keyed by its caller alone, so they are counted and shown
 * (--verbose).  0 for NULL. */
uint64_t mt_stackcap_lost(const struct mt_stackcap *c);

#endif
