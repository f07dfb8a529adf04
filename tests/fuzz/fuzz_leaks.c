/* libFuzzer target for the leak check (src/census/leaks.c): every word it
 * reads is memory the target writes, so any content, any layout of blocks
 * must give a classification that adds up, in bounded work, never a
 * crash.
 *
 * Input:  byte 0      how many blocks (1 + b % 64)
 *         then        per block, 1 byte: its usable size (24 + 16 * (b % 16))
 *                     and 1 byte: the gap before it (16 * (b % 4))
 *         the rest    the memory: the heap's bytes (and, past them, a root
 *                     region of 256 bytes); each 8-byte word is taken as
 *                     the address of a block plus an offset (w % (heap
 *                     length + 64)), so that most words point into or near
 *                     blocks, at starts and inside, or is left as it is
 *                     when its top bit is set
 *         a hole      the last block's bytes cannot be read when byte 0's
 *                     top bit is set
 * Properties (a broken one abort()s): mark returns 0; every block is in one
 * class; the classes' bytes add up to the blocks' usable sizes; the
 * definitely lost groups' indirect bytes add up to the indirectly lost
 * bytes; each reachable group's chain starts at a root and ends at its
 * group; no block found for a word outside every block.
 *
 * Built by tests/fuzz/meson.build with clang -fsanitize=fuzzer,address,
 * undefined; run by hand with
 *   build/tests/fuzz/fuzz_leaks -max_total_time=60 WORKDIR
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "census/leaks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAP 0x100000ull
#define ROOT 0x10000ull
#define ROOTLEN 256u
#define MAXB 64

/* per block: at most 264 usable, 8 of header, a gap of 48; 16 before the first */
static uint8_t heap[16 + MAXB * (264 + 8 + 48)], root[ROOTLEN];
static size_t heaplen;
static uint64_t hole_lo, hole_hi;

static int fz_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (len > (1u << 30) || (addr < hole_hi && addr + len > hole_lo))
		return -14;
	if (addr >= HEAP && addr + len <= HEAP + heaplen && addr + len >= addr) {
		memcpy(buf, heap + (addr - HEAP), len);
		return 0;
	}
	if (addr >= ROOT && addr + len <= ROOT + ROOTLEN && addr + len >= addr) {
		memcpy(buf, root + (addr - ROOT), len);
		return 0;
	}
	return -14;
}

static uint32_t fz_label(void *ctx, const struct mt_leaks_root *r, uint64_t *lo, uint64_t *hi)
{
	(void)ctx;
	*lo = r->where;
	*hi = r->where + 8;
	return (uint32_t)(r->where & 0xff);
}

/* Fill IMG from the input's words, most made to point near blocks. */
static void fill(uint8_t *img, size_t len, const uint8_t **d, size_t *n)
{
	for (size_t o = 0; o + 8 <= len && *n >= 8; o += 8, *d += 8, *n -= 8) {
		uint64_t w;
		memcpy(&w, *d, 8);
		if (!(w >> 63))
			w = HEAP + w % (heaplen + 64);
		memcpy(img + o, &w, 8);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned nb = 1 + data[0] % MAXB;
	bool hole = data[0] & 0x80;
	data++;
	size--;
	struct mt_maps maps = { NULL, 0 };
	struct mt_memsrc src = { fz_read, NULL, NULL };
	struct mt_census_config cc = { &src, &maps, NULL, NULL, NULL };
	struct mt_census *c = mt_census_new(&cc);
	if (!c)
		abort();
	uint64_t at = HEAP + 16, total = 0, last = 0, lastu = 0;
	for (unsigned i = 0; i < nb && size >= 2; i++, data += 2, size -= 2) {
		uint64_t u = 24 + 16 * (data[0] % 16);
		at += 16 * (data[1] % 4);
		struct mt_glheap_chunk ch = { at - 16, at, u + 8, u, 0, MT_CHUNK_LIVE, false, 0 };
		if (mt_census_chunk(c, &ch) != 0)
			abort();
		total += u;
		last = at;
		lastu = u;
		at += u + 8;
	}
	heaplen = at - HEAP;
	memset(heap, 0, sizeof heap);
	memset(root, 0, sizeof root);
	hole_lo = hole ? last : 0;
	hole_hi = hole ? last + lastu : 0;
	fill(heap, heaplen, &data, &size);
	fill(root, ROOTLEN, &data, &size);
	if (mt_census_finish(c, NULL) != 0)
		abort();

	const char *why;
	struct mt_leaks_config cfg = { &src, c, NULL, NULL, fz_label, NULL, true, 0x1234, NULL,
				       NULL };
	struct mt_leaks *l = mt_leaks_new(&cfg, &why);
	if (!l)
		abort();
	struct mt_leaks_root r = { MT_ROOT_GLOBAL, 0, 0 };
	if (mt_leaks_root_range(l, ROOT, ROOT + ROOTLEN, &r) != 0 ||
	    mt_leaks_root_value(l, HEAP + 40, &r) != 0 || mt_leaks_mark(l) != 0)
		abort();

	struct mt_leaks_totals t;
	mt_leaks_totals(l, &t);
	size_t n;
	mt_census_blocks(c, &n);
	uint64_t blocks = 0, bytes = 0;
	for (int k = 0; k < MT_LEAK__KINDS; k++) {
		blocks += t.blocks[k];
		bytes += t.bytes[k];
	}
	if (blocks != n || bytes != total)
		abort();
	struct mt_leaks_group *g;
	size_t ng;
	if (mt_leaks_groups(l, &g, &ng) != 0)
		abort();
	uint64_t indirect = 0;
	for (size_t i = 0; i < ng; i++) {
		if (g[i].kind == MT_LEAK_DEFINITE)
			indirect += g[i].indirect_bytes;
		if (g[i].kind == MT_LEAK_REACHABLE) {
			struct mt_leaks_link ch[8];
			size_t k = mt_leaks_chain(l, g[i].path, ch, 8);
			if (g[i].path == MT_LEAKS_NO_PATH || k < 2 || !ch[0].root ||
			    ch[k - 1].root || ch[k - 1].id != g[i].group)
				abort();
		} else if (g[i].path != MT_LEAKS_NO_PATH) {
			abort();
		}
	}
	if (indirect != t.bytes[MT_LEAK_INDIRECT])
		abort();
	size_t bi;
	uint64_t lo, hi;
	if (mt_leaks_find(l, HEAP + heaplen + 8, &bi, &lo, &hi) || mt_leaks_find(l, 8, &bi, &lo, &hi))
		abort();
	free(g);
	mt_leaks_destroy(l);
	mt_census_destroy(c);
	return 0;
}
