/* target_unknown: blocks allocated BEFORE "ready" (so before memtrace
 * attaches) and released after "go".
 *
 * The contract: frees of blocks allocated before attach are counted in
 * "unknown_frees" and never appear in any site.  realloc of such a block is
 * a free of it (an unknown free) plus an allocation at realloc's caller;
 * realloc(p, 0) of such a block is an unknown free only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define PRE_N 40
#define PRE_FREED 34     /* freed with free()           */
#define PRE_REALLOCED 4  /* grown with realloc()        */
#define PRE_ZEROED 2     /* released with realloc(p, 0) */

static struct site_expect e_pre = { .function = "pre_attach_alloc" };
static struct site_expect e_free_pre = { .function = "free_pre_attach" };
static struct site_expect e_realloc_pre = { .function = "realloc_pre_attach" };
static struct site_expect e_zero_pre = { .function = "zero_pre_attach" };
static struct site_expect e_after = { .function = "after_attach" };

static uint64_t rng = 0x5eed0004;
static uint64_t sum = CKSUM_INIT;
static long long unknown_frees;

static size_t pre_size(int i)
{
	return 16 + 8 * (size_t)i;
}

/* Runs before "ready": memtrace never sees these allocations. */
NOINLINE static void pre_attach_alloc(void **out)
{
	for (int i = 0; i < PRE_N; i++) {
		out[i] = malloc(pre_size(i));
		if (!out[i])
			proto_die("malloc returned NULL");
		block_fill(out[i], pre_size(i), &rng);
	}
}

NOINLINE static void free_pre_attach(void **blocks)
{
	for (int i = 0; i < PRE_FREED; i++) {
		block_fold(blocks[i], pre_size(i), &sum);
		free(blocks[i]);
		unknown_frees++;
	}
}

NOINLINE static void realloc_pre_attach(void **blocks)
{
	for (int i = PRE_FREED; i < PRE_FREED + PRE_REALLOCED; i++) {
		void *p;

		block_fold(blocks[i], 8, &sum);
		p = realloc(blocks[i], 1000);
		if (!p)
			proto_die("realloc returned NULL");
		unknown_frees++;
		exp_alloc(&e_realloc_pre, 1000);
		block_fill(p, 1000, &rng);
		proto_hold(p);
	}
}

NOINLINE static void zero_pre_attach(void **blocks)
{
	for (int i = PRE_FREED + PRE_REALLOCED; i < PRE_N; i++) {
		void *p;

		block_fold(blocks[i], pre_size(i), &sum);
		p = realloc(blocks[i], 0);
		unknown_frees++;
		if (p) { /* not glibc's behaviour; still count it right */
			exp_alloc(&e_zero_pre, 0);
			proto_hold(p);
		}
	}
}

NOINLINE static void after_attach(void)
{
	for (int i = 0; i < 25; i++) {
		void *p = malloc(72);
		if (!p)
			proto_die("malloc returned NULL");
		exp_alloc(&e_after, 72);
		block_fill(p, 72, &rng);
		block_fold(p, 72, &sum);
		if (i < 15) {
			proto_hold(p);
		} else {
			free(p);
			exp_free(&e_after, 72);
		}
	}
}

int main(void)
{
	static const struct site_expect *all[] = {
		&e_pre, &e_free_pre, &e_realloc_pre, &e_zero_pre, &e_after,
	};
	void *pre[PRE_N];
	char line[64];

	pre_attach_alloc(pre);
	proto_ready();

	after_attach();
	free_pre_attach(pre);
	realloc_pre_attach(pre);
	zero_pre_attach(pre);

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		proto_expect(all[i]);
	proto_expect_unknown_frees(unknown_frees);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	proto_free_held();
	return 0;
}
