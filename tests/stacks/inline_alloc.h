/* stk_inline's allocation helpers: forced inline, so at -O2 the call of
 * malloc sits in outer()'s machine code and only DWARF's inlined-subroutine
 * entries tell that it was written in alloc_inline(), called from
 * mid_inline(), called from outer().  They live in this header so that the
 * inlined frames have another file than their caller. */
#ifndef STK_INLINE_ALLOC_H
#define STK_INLINE_ALLOC_H

#include <stdlib.h>

#include "stk.h"

extern int line_alloc_inline, line_mid_inline;

static inline __attribute__((always_inline)) void *alloc_inline(size_t size)
{
	void *p = malloc(size); line_alloc_inline = __LINE__;

	if (!p)
		proto_die("alloc_inline: out of memory for %zu bytes", size);
	return p;
}

static inline __attribute__((always_inline)) void *mid_inline(size_t size)
{
	void *p = alloc_inline(size + 8); line_mid_inline = __LINE__;

	return p;
}

#endif
