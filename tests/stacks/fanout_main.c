/* stk_fanout: a program's own static allocator wrapper, pool_alloc(),
 * called from FANOUT different functions (caller0 ... caller11).  The test
 * runs its stripped copy, stk_fanout_stripped, where no symbol names
 * them: memtrace names each function after its .eh_frame FDE, and the test
 * finds their starts in this unstripped build's symbol table.
 *
 * Caller I allocates I + 2 blocks of 24 + 8 * I bytes and frees the first
 * again.  Lines (all counts exact):
 *
 *   expect function=pool_alloc ...   the sum: without --wrapper, every
 *                                    block's site is pool_alloc's call
 *   expect function=callerI ...      each caller's share: with pool_alloc
 *                                    a wrapper, the site is callerI
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stk.h"

#define FANOUT 12

static uint64_t rng = 0x5eed0016;
static uint64_t sum = CKSUM_INIT;

/* static, so that a stripped build has no name for it at all; the check
 * after the call keeps it from being a tail call. */
static NOINLINE void *pool_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		proto_die("pool_alloc: out of memory for %zu bytes", size);
	block_fill(p, size, &rng);
	return p;
}

/* One function per caller, each with its own call of pool_alloc. */
#define CALLER(i) \
	static NOINLINE void *caller##i(size_t size) \
	{ \
		void *p = pool_alloc(size + (i)); \
		block_fold(p, size + (i), &sum); \
		return p; \
	}
CALLER(0) CALLER(1) CALLER(2) CALLER(3) CALLER(4) CALLER(5)
CALLER(6) CALLER(7) CALLER(8) CALLER(9) CALLER(10) CALLER(11)

static void *(*const callers[FANOUT])(size_t) = {
	caller0, caller1, caller2, caller3, caller4, caller5,
	caller6, caller7, caller8, caller9, caller10, caller11,
};

int main(void)
{
	struct site_expect each[FANOUT], all = { .function = "pool_alloc" };
	char names[FANOUT][16];
	void *blocks[FANOUT][FANOUT + 2];
	char line[64];

	proto_ready();
	for (int i = 0; i < FANOUT; i++) {
		/* The caller adds I to the size it is given. */
		size_t size = 24 + 7 * (size_t)i;

		snprintf(names[i], sizeof names[i], "caller%d", i);
		each[i] = (struct site_expect){ .function = names[i] };
		for (int k = 0; k < i + 2; k++) {
			blocks[i][k] = callers[i](size);
			exp_alloc(&each[i], size + (size_t)i);
		}
		free(blocks[i][0]);
		blocks[i][0] = NULL;
		exp_free(&each[i], size + (size_t)i);
	}
	for (int i = 0; i < FANOUT; i++) {
		proto_expect(&each[i]);
		exp_add(&all, &each[i]);
	}
	proto_expect(&all);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < FANOUT; i++)
		for (int k = 0; k < i + 2; k++)
			free(blocks[i][k]);
	return 0;
}
