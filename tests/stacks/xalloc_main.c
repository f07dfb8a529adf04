/* stk_xalloc LIB: dlopen()s LIB (the stripped libstk_xalloc.so) and
 * allocates through its xmalloc, from two callers:
 *
 *   malloc <- [static helper, no name] <- xmalloc <- alloc_a / alloc_b <- main
 *
 * xmalloc is a default wrapper and the helper is its own: the sites are
 * alloc_a and alloc_b.  Every 3rd block of each is freed again. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "stk.h"

#define A_N 17
#define B_N 11

typedef void *alloc_fn(size_t size);

static alloc_fn *xmalloc_fn;
static int line_a, line_b, line_main_a, line_main_b;
static uint64_t rng = 0x5eed0308;
static uint64_t sum = CKSUM_INIT;

NOINLINE void *alloc_a(size_t size);
NOINLINE void *alloc_b(size_t size);

NOINLINE void *alloc_a(size_t size)
{
	void *p = xmalloc_fn(size); line_a = __LINE__;

	return p;
}

NOINLINE void *alloc_b(size_t size)
{
	void *p = xmalloc_fn(size); line_b = __LINE__;

	return p;
}

int main(int argc, char **argv)
{
	struct stk_path pa = { .stack = "alloc_a,main", .files = "xalloc_main.c,xalloc_main.c" };
	struct stk_path pb = { .stack = "alloc_b,main", .files = "xalloc_main.c,xalloc_main.c" };
	void *a[A_N], *b[B_N];
	char line[64];

	if (argc != 2)
		proto_die("usage: stk_xalloc LIB");
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (!lib || !(xmalloc_fn = (alloc_fn *)dlsym(lib, "xmalloc")))
		proto_die("cannot load xmalloc from %s: %s", argv[1], dlerror());
	proto_ready();

	for (int i = 0; i < A_N; i++) {
		size_t size = 40 + 8 * (size_t)i;

		a[i] = alloc_a(size); line_main_a = __LINE__;
		block_fill(a[i], size, &rng);
		block_fold(a[i], size, &sum);
		stk_alloc(&pa, size);
	}
	for (int i = 0; i < B_N; i++) {
		size_t size = 700 + (size_t)i;

		b[i] = alloc_b(size); line_main_b = __LINE__;
		block_fill(b[i], size, &rng);
		block_fold(b[i], size, &sum);
		stk_alloc(&pb, size);
	}
	for (int i = 0; i < A_N; i += 3) {
		free(a[i]);
		a[i] = NULL;
		stk_free(&pa, 40 + 8 * (size_t)i);
	}
	for (int i = 0; i < B_N; i += 3) {
		free(b[i]);
		b[i] = NULL;
		stk_free(&pb, 700 + (size_t)i);
	}
	pa.lines[0] = line_a;
	pa.lines[1] = line_main_a;
	pb.lines[0] = line_b;
	pb.lines[1] = line_main_b;
	stk_expect(&pa);
	stk_expect(&pb);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < A_N; i++)
		free(a[i]);
	for (int i = 0; i < B_N; i++)
		free(b[i]);
	return 0;
}
