/* Stack expectations for the tests/stacks targets, on top of the e2e
 * protocol (tests/targets/protocol.h: ready / go / expect / done / exit).
 *
 * A target prints one line per distinct call path it allocated through:
 *
 *   expect stack=f3,f2,f1,f0,main blocks=N bytes=N allocs=N frees=N
 *          lines=14,9,9,9,65 files=chain_f3.c,chain_f2.c,...,chain_main.c
 *          [inlined=0,0,...] [module=libstk_plugin.so]
 *
 * (one line on the wire).  Meaning: the sites whose JSON stack, after the
 * allocator's and the wrappers' frames at its start, begins with these
 * functions at these source lines hold exactly N live blocks / bytes and
 * counted N allocs / frees; their frames have these file base names and
 * inlined flags, position by position, and the site is in a module of
 * that base name.  Function names hold no comma.
 *
 * Lines are the target's own __LINE__ of each call, taken on the same
 * source line as the call, so the test never hard-codes a line number.
 */
#ifndef STK_H
#define STK_H

#include <stddef.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define STK_MAX_FRAMES 8

struct stk_path {
	const char *stack;                  /* "f3,f2,f1,f0,main" */
	int lines[STK_MAX_FRAMES];          /* 0 ends the list */
	const char *files;                  /* "f3.c,f2.c" or NULL */
	const char *inlined;                /* "1,1,0" or NULL */
	const char *module;                 /* base name of the site's module, or NULL */
	long long blocks, bytes, allocs, frees;
};

static inline void stk_alloc(struct stk_path *p, size_t size)
{
	p->allocs++;
	p->blocks++;
	p->bytes += (long long)size;
}

static inline void stk_free(struct stk_path *p, size_t size)
{
	p->frees++;
	p->blocks--;
	p->bytes -= (long long)size;
}

/* One "expect stack=..." line. */
void stk_expect(const struct stk_path *p);

#endif
