/* target_rss: grows its resident memory on demand, through malloc or
 * around it, for the report's coverage line (tests/e2e/test_rss.py).
 *
 *   target_rss malloc   each "grow" mallocs GROW_N blocks of GROW_SIZE
 *                       bytes (below glibc's mmap threshold: from the
 *                       heap) and writes every page of them
 *   target_rss mmap     each "grow" maps GROW_N * GROW_SIZE bytes of
 *                       anonymous memory with mmap(2), which no allocator
 *                       hook sees, and writes every page of it
 *
 * After a grow it prints "expect function=grow_malloc ..." (malloc: the
 * blocks of that grow, all still live) and "grown BYTES" (what it holds in
 * all).  On "exit" it frees and unmaps what it holds and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define GROW_N 1024
#define GROW_SIZE (64 * 1024)   /* 64 MiB a grow */
#define MAX_GROWS 4
#define PAGE 4096

static void *blocks[MAX_GROWS][GROW_N];
static void *maps[MAX_GROWS];
static int grows;
static uint64_t rng = 0x5eed0551;

/* Every page written: resident, and not a shared zero page. */
static void touch(char *p, size_t size)
{
	for (size_t off = 0; off < size; off += PAGE)
		p[off] = (char)(1 + prng_next(&rng) % 255);
}

NOINLINE static void grow_malloc(void)
{
	struct site_expect e = { .function = "grow_malloc" };
	for (int i = 0; i < GROW_N; i++) {
		blocks[grows][i] = proto_checked(malloc(GROW_SIZE), "malloc");
		exp_alloc(&e, GROW_SIZE);
		touch(blocks[grows][i], GROW_SIZE);
	}
	proto_expect(&e);
}

NOINLINE static void grow_mmap(void)
{
	size_t len = (size_t)GROW_N * GROW_SIZE;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		proto_die("mmap of %zu bytes failed", len);
	maps[grows] = p;
	touch(p, len);
}

int main(int argc, char **argv)
{
	char line[64];
	bool use_mmap = argc == 2 && strcmp(argv[1], "mmap") == 0;

	if (argc != 2 || (!use_mmap && strcmp(argv[1], "malloc") != 0))
		proto_die("usage: target_rss malloc|mmap");
	proto_ready();
	while (proto_wait(line, sizeof(line)) && strcmp(line, "exit") != 0) {
		if (strcmp(line, "grow") != 0 || grows == MAX_GROWS)
			proto_die("expected 'grow' (at most %d) or 'exit', got '%s'", MAX_GROWS,
				  line);
		if (use_mmap)
			grow_mmap();
		else
			grow_malloc();
		grows++;
		proto_line("grown %llu", (unsigned long long)grows * GROW_N * GROW_SIZE);
	}
	for (int g = 0; g < grows; g++) {
		if (maps[g])
			munmap(maps[g], (size_t)GROW_N * GROW_SIZE);
		for (int i = 0; !use_mmap && i < GROW_N; i++)
			free(blocks[g][i]);
	}
	return 0;
}
