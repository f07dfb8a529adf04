/* census_retention: a heap that holds far more free memory than live, for
 * the census's retention verdict (tests/e2e/test_census.py retention).
 *
 * After "ready PID" and "go": BLOCKS blocks of BLOCK_REQUEST bytes (4 KiB
 * chunks; 400 MiB with the default BLOCKS), each written at its start and
 * end so that every page is resident, then 15 of every 16 freed (runs of
 * 15 neighbours coalesce into free chunks of 60 KiB the allocator keeps).
 * It prints
 *   census size=USABLE blocks=N bytes=N   the live blocks (chunk bytes)
 *   freed bytes=N                         the chunk bytes freed
 * and "armed", then waits for "exit": frees the rest, checks every live
 * block's contents, exits 0.  Argument: BLOCKS (default 102400).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define BLOCK_REQUEST 4088   /* chunk 4096, usable 4088 under glibc */
#define MAX_BLOCKS 262144

static void *blocks[MAX_BLOCKS];

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 102400;
	uint64_t rng = 0x5eed0400, sum = CKSUM_INIT, check = CKSUM_INIT;
	unsigned long long live = 0, live_bytes = 0, freed_bytes = 0;
	size_t usable = 0;
	char line[64];

	if (n < 16 || n > MAX_BLOCKS)
		proto_die("BLOCKS must be 16 to %d", MAX_BLOCKS);
	proto_ready();
	for (long i = 0; i < n; i++) {
		blocks[i] = proto_checked(malloc(BLOCK_REQUEST), "malloc");
		block_fill(blocks[i], BLOCK_REQUEST, &rng);
	}
	for (long i = 0; i < n; i++) {
		size_t chunk = malloc_usable_size(blocks[i]) + 8;

		if (i % 16 == 15) {
			usable = malloc_usable_size(blocks[i]);
			block_fold(blocks[i], BLOCK_REQUEST, &sum);
			live++;
			live_bytes += chunk;
			continue;
		}
		freed_bytes += chunk;
		free(blocks[i]);
		blocks[i] = NULL;
	}
	proto_line("census size=%zu blocks=%llu bytes=%llu", usable, live, live_bytes);
	proto_line("freed bytes=%llu", freed_bytes);
	proto_line("armed");
	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (long i = 0; i < n; i++)
		if (blocks[i]) {
			block_fold(blocks[i], BLOCK_REQUEST, &check);
			free(blocks[i]);
		}
	if (check != sum)
		proto_die("a live block changed while the census looked");
	return 0;
}
