/* stk_chain: main -> f0 -> f1 -> f2 -> f3 -> malloc, one function per
 * translation unit (chain_f0.c ... chain_f3.c), so that no compiler pass
 * can merge, clone or inline them: the stack memtrace unwinds is exactly
 * the one written here.  Each function records the source line of its
 * call in a global (taken on the call's own line). */
#ifndef STK_CHAIN_H
#define STK_CHAIN_H

#include <stddef.h>

#include "stk.h"

/* kind 0: f3 calls malloc(size); kind 1: calloc(1, size) (a second call
 * instruction, so a second site, in the same function) */
void *f0(size_t size, int kind);
void *f1(size_t size, int kind);
void *f2(size_t size, int kind);
void *f3(size_t size, int kind);

extern int line_f0, line_f1, line_f2, line_f3_malloc, line_f3_calloc;

#endif
