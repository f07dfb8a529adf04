/* stk_wrapper: allocations through the program's own wrapper my_xmalloc
 * (and my_xstrdup, which calls my_xmalloc), from three callers a(), b()
 * and c() (wrapper.h).  What memtrace must report depends on its
 * --wrapper options, so the test names the mode:
 *
 *   stk_wrapper none     no --wrapper: every block's site is my_xmalloc
 *                        (one call instruction): "expect function=my_xmalloc"
 *   stk_wrapper exact    --wrapper my_xmalloc: sites a, b and my_xstrdup
 *   stk_wrapper glob     --wrapper 'my_x*' (or both names): sites a, b, c
 *
 * Known counts: A_N blocks from a, B_N from b, C_N strings from c; every
 * 4th block of each caller is freed again by main.
 */
#include <stdlib.h>
#include <string.h>

#include "wrapper.h"

#define A_N 25
#define B_N 14
#define C_N 9
#define FREE_EVERY 4

static int line_main_a, line_main_b, line_main_c;
static uint64_t rng = 0x5eed0303;
static uint64_t sum = CKSUM_INIT;

static const char *const words[] = {
	"alpha", "bravo charlie", "delta echo foxtrot", "golf",
	"hotel india juliet kilo", "lima", "mike november", "oscar papa quebec romeo", "s",
};

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct stk_path pa = { .stack = "a,main", .files = "wrapper_callers.c,wrapper_main.c" };
	struct stk_path pb = { .stack = "b,main", .files = "wrapper_callers.c,wrapper_main.c" };
	struct stk_path pc = { .stack = "c,main", .files = "wrapper_callers.c,wrapper_main.c" };
	struct stk_path pdup = {
		.stack = "my_xstrdup,c,main",
		.files = "wrapper_lib.c,wrapper_callers.c,wrapper_main.c",
	};
	struct site_expect all = { .function = "my_xmalloc" };
	void *pa_blocks[A_N], *pb_blocks[B_N];
	char *strings[C_N];
	char line[64];

	if (strcmp(mode, "none") != 0 && strcmp(mode, "exact") != 0 && strcmp(mode, "glob") != 0)
		proto_die("usage: stk_wrapper none|exact|glob");
	proto_ready();

	for (int i = 0; i < A_N; i++) {
		size_t size = 32 + (size_t)i;

		pa_blocks[i] = a(size); line_main_a = __LINE__;
		block_fill(pa_blocks[i], size, &rng);
		block_fold(pa_blocks[i], size, &sum);
		stk_alloc(&pa, size);
	}
	for (int i = 0; i < B_N; i++) {
		size_t size = 1000 + 8 * (size_t)i;

		pb_blocks[i] = b(size); line_main_b = __LINE__;
		block_fill(pb_blocks[i], size, &rng);
		block_fold(pb_blocks[i], size, &sum);
		stk_alloc(&pb, size);
	}
	for (int i = 0; i < C_N; i++) {
		size_t size = strlen(words[i]) + 1;

		strings[i] = c(words[i]); line_main_c = __LINE__;
		if (strcmp(strings[i], words[i]) != 0)
			proto_die("my_xstrdup copied '%s' as '%s'", words[i], strings[i]);
		block_fold(strings[i], size, &sum);
		stk_alloc(&pc, size);
		stk_alloc(&pdup, size);
	}
	for (int i = 0; i < A_N; i += FREE_EVERY) {
		free(pa_blocks[i]);
		pa_blocks[i] = NULL;
		stk_free(&pa, 32 + (size_t)i);
	}
	for (int i = 0; i < B_N; i += FREE_EVERY) {
		free(pb_blocks[i]);
		pb_blocks[i] = NULL;
		stk_free(&pb, 1000 + 8 * (size_t)i);
	}
	for (int i = 0; i < C_N; i += FREE_EVERY) {
		size_t size = strlen(words[i]) + 1;

		free(strings[i]);
		strings[i] = NULL;
		stk_free(&pc, size);
		stk_free(&pdup, size);
	}

	pa.lines[0] = line_a;
	pa.lines[1] = line_main_a;
	pb.lines[0] = line_b;
	pb.lines[1] = line_main_b;
	pc.lines[0] = line_c;
	pc.lines[1] = line_main_c;
	pdup.lines[0] = line_xstrdup;
	pdup.lines[1] = line_c;
	pdup.lines[2] = line_main_c;
	if (strcmp(mode, "none") == 0) {
		/* One site, my_xmalloc's call of malloc, holds everything. */
		struct stk_path *parts[] = { &pa, &pb, &pc };

		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			all.allocs += parts[i]->allocs;
			all.frees += parts[i]->frees;
			all.live_blocks += parts[i]->blocks;
			all.live_bytes += parts[i]->bytes;
		}
		proto_expect(&all);
		proto_line("info xmalloc_line=%d", line_xmalloc);
	} else {
		stk_expect(&pa);
		stk_expect(&pb);
		stk_expect(strcmp(mode, "exact") == 0 ? &pdup : &pc);
	}
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < A_N; i++)
		free(pa_blocks[i]);
	for (int i = 0; i < B_N; i++)
		free(pb_blocks[i]);
	for (int i = 0; i < C_N; i++)
		free(strings[i]);
	return 0;
}
