/* stk_inline (built -O2 -g): outer() allocates through two forced-inline
 * helpers (inline_alloc.h), so the stack at malloc is one machine frame,
 * outer's, holding two inlined ones:
 *
 *   alloc_inline  inlined  inline_alloc.h: the malloc call's line
 *   mid_inline    inlined  inline_alloc.h: the alloc_inline call's line
 *   outer                  inline_main.c: the mid_inline call's line
 *   main                   inline_main.c: the outer call's line
 *
 * outer() is noinline and main() does more after calling it, so both stay
 * real frames.
 */
#include <string.h>

#include "inline_alloc.h"

#define OUTER_N 16
#define FREE_EVERY 3

int line_alloc_inline, line_mid_inline;
static int line_outer, line_main;
static void *held[OUTER_N];
static uint64_t rng = 0x5eed0304;
static uint64_t sum = CKSUM_INIT;
static struct stk_path path = {
	.stack = "alloc_inline,mid_inline,outer,main",
	.files = "inline_alloc.h,inline_alloc.h,inline_main.c,inline_main.c",
	.inlined = "1,1,0,0",
};

NOINLINE void outer(int n);

NOINLINE void outer(int n)
{
	for (int i = 0; i < n; i++) {
		size_t size = 40 + 4 * (size_t)i;

		held[i] = mid_inline(size); line_outer = __LINE__;
		stk_alloc(&path, size + 8);
		block_fill(held[i], size + 8, &rng);
		block_fold(held[i], size + 8, &sum);
	}
}

int main(void)
{
	char line[64];

	proto_ready();
	outer(OUTER_N); line_main = __LINE__;
	for (int i = 0; i < OUTER_N; i += FREE_EVERY) {
		free(held[i]);
		held[i] = NULL;
		stk_free(&path, 40 + 4 * (size_t)i + 8);
	}
	path.lines[0] = line_alloc_inline;
	path.lines[1] = line_mid_inline;
	path.lines[2] = line_outer;
	path.lines[3] = line_main;
	stk_expect(&path);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < OUTER_N; i++)
		free(held[i]);
	return 0;
}
