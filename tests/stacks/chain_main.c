/* stk_chain: blocks allocated through a chain of functions, one per
 * translation unit (chain.h), so every site's stack is known exactly.
 *
 *   stk_chain            main -> f0 -> f1 -> f2 -> f3 -> malloc: 40 blocks,
 *                        every 5th freed again by main (frees credited to
 *                        f3's site)
 *   stk_chain --multi    also f3's calloc site through the same chain, and
 *                        main -> f2 -> f3 -> malloc: the malloc site is then
 *                        reached through two stacks (for --group-by)
 *   stk_chain --run-mode for `memtrace run`: never reads stdin, prints its
 *                        expectations and exits 3 without freeing
 *
 * One "expect stack=..." line per distinct stack (stk.h).  On "exit" the
 * target frees what it holds and exits 0.
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"

#define CHAIN_N 40
#define DIRECT_N 12
#define FREE_EVERY 5

static int line_main_f0, line_main_f2;

static void *held[CHAIN_N + DIRECT_N];
static size_t held_size[CHAIN_N + DIRECT_N];
static int held_n;
static uint64_t rng = 0x5eed0301;
static uint64_t sum = CKSUM_INIT;

static void keep(void *p, size_t size)
{
	block_fill(p, size, &rng);
	block_fold(p, size, &sum);
	held[held_n] = p;
	held_size[held_n] = size;
	held_n++;
}

int main(int argc, char **argv)
{
	bool multi = argc > 1 && strcmp(argv[1], "--multi") == 0;
	bool run_mode = argc > 1 && strcmp(argv[1], "--run-mode") == 0;
	struct stk_path via_f0 = {
		.stack = "f3,f2,f1,f0,main",
		.files = "chain_f3.c,chain_f2.c,chain_f1.c,chain_f0.c,chain_main.c",
	};
	struct stk_path via_f0_calloc = via_f0;
	struct stk_path direct = {
		.stack = "f3,f2,main",
		.files = "chain_f3.c,chain_f2.c,chain_main.c",
	};
	char line[64];

	if (argc > 2 || (argc > 1 && !multi && !run_mode))
		proto_die("usage: stk_chain [--multi | --run-mode]");
	proto_set_run_mode(run_mode);
	proto_ready();

	for (int i = 0; i < CHAIN_N; i++) {
		int kind = multi && i % 4 == 3;
		size_t size = 16 + (size_t)(i % 7) * 8;
		void *p = f0(size, kind); line_main_f0 = __LINE__;

		stk_alloc(kind ? &via_f0_calloc : &via_f0, size);
		keep(p, size);
	}
	for (int i = 0; multi && i < DIRECT_N; i++) {
		size_t size = 200 + (size_t)i;
		void *p = f2(size, 0); line_main_f2 = __LINE__;

		stk_alloc(&direct, size);
		keep(p, size);
	}
	/* Frees from main: credited to the site that allocated each block. */
	for (int i = 0; i < CHAIN_N; i += FREE_EVERY) {
		int kind = multi && i % 4 == 3;

		free(held[i]);
		held[i] = NULL;
		stk_free(kind ? &via_f0_calloc : &via_f0, held_size[i]);
	}

	via_f0.lines[0] = line_f3_malloc;
	via_f0_calloc.lines[0] = line_f3_calloc;
	via_f0.lines[1] = via_f0_calloc.lines[1] = line_f2;
	via_f0.lines[2] = via_f0_calloc.lines[2] = line_f1;
	via_f0.lines[3] = via_f0_calloc.lines[3] = line_f0;
	via_f0.lines[4] = via_f0_calloc.lines[4] = line_main_f0;
	direct.lines[0] = line_f3_malloc;
	direct.lines[1] = line_f2;
	direct.lines[2] = line_main_f2;
	stk_expect(&via_f0);
	if (multi) {
		stk_expect(&via_f0_calloc);
		stk_expect(&direct);
	}
	proto_done(sum, NULL);
	if (run_mode)
		exit(3); /* what it holds now is what memtrace run reports */

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < held_n; i++)
		free(held[i]);
	return 0;
}
