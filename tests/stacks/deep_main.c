/* stk_deep: blocks allocated under DEEP_N calls of one recursive function,
 * more than --depth's maximum, so that at any --depth every frame memtrace
 * unwinds above the allocator's entry is rec:
 *
 *   main -> rec -> rec -> ... (DEEP_N calls of rec) -> malloc
 *
 * 8 blocks, none freed.  One "expect stack=rec,rec,rec,rec,rec" line
 * (stk.h), true at any --depth from 5: test_deep.py checks the rest of
 * each stack itself.
 * On "exit" the target frees what it holds and exits 0. */
#include <stdlib.h>
#include <string.h>

#include "stk.h"

#define DEEP_N 200
#define BLOCKS 8

static int line_rec_malloc, line_rec_rec;
/* Written after each call returns, so that no call to rec is a tail call
 * the compiler could turn into a jump or a loop. */
static volatile int unwound;

NOINLINE static void *rec(int n, size_t size)
{
	void *p;

	if (n <= 1) {
		p = malloc(size); line_rec_malloc = __LINE__;
	} else {
		p = rec(n - 1, size); line_rec_rec = __LINE__;
	}
	unwound++;
	return p;
}

int main(int argc, char **argv)
{
	struct stk_path path = {
		.stack = "rec,rec,rec,rec,rec",
		.files = "deep_main.c,deep_main.c,deep_main.c,deep_main.c,deep_main.c",
	};
	void *held[BLOCKS];
	uint64_t rng = 0x5eed0d33, sum = CKSUM_INIT;
	char line[64];

	if (argc > 1)
		proto_die("usage: stk_deep");
	proto_ready();
	for (int i = 0; i < BLOCKS; i++) {
		size_t size = 24 + (size_t)i * 8;

		held[i] = rec(DEEP_N, size);
		block_fill(held[i], size, &rng);
		block_fold(held[i], size, &sum);
		stk_alloc(&path, size);
	}
	path.lines[0] = line_rec_malloc;
	for (int i = 1; i < 5; i++)
		path.lines[i] = line_rec_rec;
	stk_expect(&path);
	proto_line("deep calls=%d", DEEP_N);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < BLOCKS; i++)
		free(held[i]);
	return 0;
}
