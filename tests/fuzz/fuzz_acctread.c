/* libFuzzer target for the reader of the agent's counts
 * (src/engine/acctread.c): the count tables and the shared counts are
 * memory a hostile target writes, before and while memtrace reads them.
 *
 * Input:  byte 0   bits 0-1: rings - 1; bit 2: give the reader the rings'
 *                  owner words (else it reads every ring)
 *         byte 1   log2 entries per ring (0..3), log2 stack slots (0..4)
 *         then     the tables' bytes as they are when the reader starts,
 *                  then per read round: up to 8 hostile 8-byte writes (a
 *                  2-byte offset, an 8-byte value), the first byte of the
 *                  round saying how many
 * Properties (a broken one abort()s): every read ends; every stack it
 * reports is one of the table's; per stack, the frees it reported in all
 * never exceed the allocations, nor the freed bytes the allocated ones;
 * and it reads no byte outside the tables (AddressSanitizer).
 *
 * Built by tests/fuzz/meson.build with clang -fsanitize=fuzzer,address,
 * undefined; run by hand with
 *   build/tests/fuzz/fuzz_acctread -max_total_time=60 WORKDIR
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ltab.h"
#include "engine/acctread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUNDS 6
#define MAX_SLOTS 16u

struct sums {
	uint32_t nslots;
	struct mt_counts per[MAX_SLOTS];
};

static void emit(void *ctx, uint32_t slot, const struct mt_counts *d)
{
	struct sums *s = ctx;
	if (slot >= s->nslots)
		abort();
	struct mt_counts *c = &s->per[slot];
	c->allocs += d->allocs;
	c->alloc_bytes += d->alloc_bytes;
	c->frees += d->frees;
	c->freed_bytes += d->freed_bytes;
	if (c->frees > c->allocs || c->freed_bytes > c->alloc_bytes)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t nrings = (data[0] & 3u) + 1;
	int owners = (data[0] & 4) != 0;
	uint32_t per_ring = 1u << (data[1] & 3u);
	uint32_t nslots = 1u << ((data[1] >> 2) % 5u);
	data += 2;
	size -= 2;

	size_t areas = nrings * mt_ltab_area_bytes(per_ring);
	size_t gbytes = nslots * sizeof(struct mt_ltab_count);
	size_t obytes = nrings * sizeof(uint32_t);
	size_t total = areas + gbytes + obytes;
	/* three allocations of their exact sizes: a read past one is caught */
	char *a = malloc(areas), *g = malloc(gbytes), *o = malloc(obytes);
	if (!a || !g || !o)
		abort();
	char *parts[3] = { a, g, o };
	size_t lens[3] = { areas, gbytes, obytes };
	size_t used = 0;
	for (int p = 0; p < 3; p++) {
		size_t n = size - used < lens[p] ? size - used : lens[p];
		memcpy(parts[p], data + used, n);
		memset(parts[p] + n, 0, lens[p] - n);
		used += n;
	}
	struct mt_acctread_geom geom = {
		.counts = a, .nrings = nrings, .per_ring = per_ring,
		.gcounts = g, .nslots = nslots,
		.owners = owners ? o : NULL, .owner_stride = sizeof(uint32_t),
	};
	struct mt_acctread *r = mt_acctread_new(&geom);
	struct sums sums = { .nslots = nslots };
	for (int round = 0; r && round < ROUNDS; round++) {
		mt_acctread_sync(r, emit, &sums);
		if (used >= size)
			continue;
		int writes = data[used++] % 9;
		for (int w = 0; w < writes && size - used >= 10; w++, used += 10) {
			size_t off = ((size_t)data[used] | (size_t)data[used + 1] << 8) % total;
			off &= ~(size_t)7;
			for (int p = 0; p < 3; p++) {
				if (off + 8 <= lens[p]) {
					memcpy(parts[p] + off, data + used + 2, 8);
					break;
				}
				off = off >= lens[p] ? off - lens[p] : SIZE_MAX / 2;
			}
		}
	}
	if (r)
		mt_acctread_sync(r, emit, &sums);
	mt_acctread_destroy(r);
	free(a);
	free(g);
	free(o);
	return 0;
}
