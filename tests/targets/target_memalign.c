/* target_memalign: posix_memalign, aligned_alloc, memalign, valloc and
 * pvalloc, each from its own function.
 *
 * glibc facts this exercises: aligned_alloc and memalign are one function
 * (one address, two names) before glibc 2.38; posix_memalign with an
 * alignment of at most 16 calls malloc internally, which memtrace must not
 * count twice; posix_memalign with an alignment that is not a power of two
 * fails with EINVAL and allocates nothing; pvalloc rounds the size up to a
 * page but the contract counts the REQUESTED size.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

static struct site_expect e_pm64 = { .function = "pm_align64" };
static struct site_expect e_pm16 = { .function = "pm_align16" };
static struct site_expect e_pm_einval = { .function = "pm_einval" };
static struct site_expect e_al = { .function = "al_alloc" };
static struct site_expect e_mem = { .function = "mem_align" };
static struct site_expect e_v = { .function = "v_alloc" };
static struct site_expect e_pv = { .function = "pv_alloc" };
static struct site_expect e_free_some = { .function = "free_some" };

static uint64_t rng = 0x5eed0003;
static uint64_t sum = CKSUM_INIT;

static void check_aligned(void *p, size_t align, const char *what)
{
	if (!p)
		proto_die("%s returned NULL", what);
	if ((uintptr_t)p % align != 0)
		proto_die("%s returned %p, not aligned to %zu", what, p, align);
}

NOINLINE static void pm_align64(void **out)
{
	for (int i = 0; i < 10; i++) {
		void *p = NULL;
		int rc = posix_memalign(&p, 64, 100);
		if (rc != 0)
			proto_die("posix_memalign: %s", strerror(rc));
		check_aligned(p, 64, "posix_memalign");
		exp_alloc(&e_pm64, 100);
		block_fill(p, 100, &rng);
		out[i] = p;
	}
}

NOINLINE static void pm_align16(void)
{
	for (int i = 0; i < 6; i++) {
		void *p = NULL;
		int rc = posix_memalign(&p, 16, 40);
		if (rc != 0)
			proto_die("posix_memalign: %s", strerror(rc));
		check_aligned(p, 16, "posix_memalign");
		exp_alloc(&e_pm16, 40);
		block_fill(p, 40, &rng);
		block_fold(p, 40, &sum);
		if (i % 2) {
			proto_hold(p);
		} else {
			free(p);
			exp_free(&e_pm16, 40);
		}
	}
}

NOINLINE static void pm_einval(void)
{
	for (int i = 0; i < 3; i++) {
		void *p = &rng; /* must come back untouched */
		int rc = posix_memalign(&p, 24, 100);
		if (rc != EINVAL || p != &rng)
			proto_die("posix_memalign(24) did not fail with EINVAL");
	}
}

NOINLINE static void al_alloc(void)
{
	for (int i = 0; i < 8; i++) {
		void *p = aligned_alloc(256, 512);
		check_aligned(p, 256, "aligned_alloc");
		exp_alloc(&e_al, 512);
		block_fill(p, 512, &rng);
		block_fold(p, 512, &sum);
		if (i < 4) {
			proto_hold(p);
		} else {
			free(p);
			exp_free(&e_al, 512);
		}
	}
}

NOINLINE static void mem_align(void)
{
	for (int i = 0; i < 3; i++) {
		void *p = memalign(4096, 3000);
		check_aligned(p, 4096, "memalign");
		exp_alloc(&e_mem, 3000);
		block_fill(p, 3000, &rng);
		block_fold(p, 3000, &sum);
		proto_hold(p);
	}
}

NOINLINE static void v_alloc(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = valloc(5000);
		check_aligned(p, (size_t)sysconf(_SC_PAGESIZE), "valloc");
		exp_alloc(&e_v, 5000);
		block_fill(p, 5000, &rng);
		block_fold(p, 5000, &sum);
		proto_hold(p);
	}
}

NOINLINE static void pv_alloc(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = pvalloc(100);
		check_aligned(p, (size_t)sysconf(_SC_PAGESIZE), "pvalloc");
		exp_alloc(&e_pv, 100);
		block_fill(p, 100, &rng);
		block_fold(p, 100, &sum);
		proto_hold(p);
	}
}

/* Frees half of pm_align64's blocks: those frees are pm_align64's. */
NOINLINE static void free_some(void **blocks)
{
	for (int i = 0; i < 10; i++) {
		block_fold(blocks[i], 100, &sum);
		if (i < 5) {
			free(blocks[i]);
			exp_free(&e_pm64, 100);
		} else {
			proto_hold(blocks[i]);
		}
	}
}

int main(void)
{
	static const struct site_expect *all[] = {
		&e_pm64, &e_pm16, &e_pm_einval, &e_al, &e_mem, &e_v, &e_pv,
		&e_free_some,
	};
	void *blocks[10];
	char line[64];

	proto_ready();

	pm_align64(blocks);
	pm_align16();
	pm_einval();
	al_alloc();
	mem_align();
	v_alloc();
	pv_alloc();
	free_some(blocks);

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		proto_expect(all[i]);
	proto_expect_unknown_frees(0);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	proto_free_held();
	return 0;
}
