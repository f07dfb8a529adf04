/* libFuzzer target for the ring reader (src/engine/ringdec.c): the shared region
 * is memory a hostile target writes, before and while memtrace reads it.
 *
 * Input:  byte 0   mode bits: 1 make the header valid (else the bytes are
 *                  the header as they come), 2 give those records small
 *                  generations (0..3: next, old and ahead ones, so
 *                  cross-ring waits and forced emits are reached), 4 give
 *                  the records the producers would write a right seq and
 *                  check word (so kinds, functions and ordering are
 *                  reached), 8 a small drain budget
 *         byte 1   bits 0-1: rings - 1, bits 2-4: log2 generation slots
 *                  (0..7); byte 2: log2 capacity (1..4)
 *         then     the region's bytes, then per drain round: one byte per
 *                  ring of how far its producer moves the head, and one
 *                  hostile 8-byte write (2-byte offset, 8-byte value; the
 *                  generation table included)
 * Properties (a broken one abort()s): mt_ringdec_new() refuses or accepts
 * without touching memory past the region; every drain ends, consumes no
 * more than its budget, and emits only events that passed the reader's
 * checks (known kind and function, a thread id, user-space addresses,
 * no wrap-around but for failed allocations).
 *
 * Built by tests/fuzz/meson.build with clang -fsanitize=fuzzer,address,
 * undefined; run by hand with
 *   build/tests/fuzz/fuzz_ringdec -max_total_time=60 WORKDIR
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/allocfn.h"
#include "agent/ring.h"
#include "engine/ringdec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REGION 8192
#define ROUNDS 4

struct fsink {
	uint64_t events;
};

static void fz_emit(void *ctx, const struct mt_event *ev)
{
	struct fsink *s = ctx;
	if ((unsigned)ev->kind > MT_EV_REALLOC || (unsigned)ev->fn >= MT_FN__COUNT ||
	    ev->tid <= 0 || ev->addr >= (1ULL << 56) || ev->old_addr >= (1ULL << 56) ||
	    (ev->addr && ev->size > (1ULL << 56) - ev->addr))
		abort();   /* a failed allocation (addr 0) may ask for any size */
	s->events++;
}

static uint32_t fz_stack(void *ctx, uint64_t hash)
{
	return (uint32_t)hash;
}

static uint64_t take(const uint8_t **p, const uint8_t *end, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && *p < end; i++, (*p)++)
		v |= (uint64_t)**p << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	const uint8_t *p = data, *end = data + size;
	unsigned mode = (unsigned)take(&p, end, 1);
	unsigned b1 = (unsigned)take(&p, end, 1);
	uint32_t nrings = (b1 & 3) + 1;
	uint32_t gcap = 1u << ((b1 >> 2) & 7);
	uint32_t cap = 1u << ((take(&p, end, 1) % 4) + 1);

	static _Alignas(64) uint8_t region[MAX_REGION];
	_Static_assert(sizeof(struct mt_ring_region) +
			       4 * (sizeof(struct mt_ring) + 16 * sizeof(struct mt_ring_rec)) +
			       128 * sizeof(uint32_t) <= MAX_REGION,
		       "the largest valid region fits");
	size_t len = (mode & 1) ? mt_ring_region_bytes_gens(nrings, cap, gcap)
				: (size_t)(end - p) < MAX_REGION ? (size_t)(end - p) : MAX_REGION;
	if (len < 8)
		len = 8;
	memset(region, 0, sizeof region);
	size_t img = (size_t)(end - p) < len ? (size_t)(end - p) : len;
	memcpy(region, p, img);
	p += img;
	struct mt_ring_region *rg = (struct mt_ring_region *)region;
	if (mode & 1) {
		rg->magic = MT_RING_MAGIC;
		rg->version = MT_RING_VERSION;
		rg->header_size = sizeof(struct mt_ring_region);
		rg->ring_header_size = sizeof(struct mt_ring);
		rg->record_size = sizeof(struct mt_ring_rec);
		rg->nrings = nrings;
		rg->capacity = cap;
		rg->region_size = len;
		rg->gens_cap = gcap;
	}

	struct fsink s = { 0 };
	struct mt_ringdec_ops ops = { .emit = fz_emit, .stack = fz_stack, .ctx = &s };
	struct mt_ringdec *d;
	/* the reader is told the exact length: ASan catches a read beyond */
	if (mt_ringdec_new(region, len, &ops, &d) != 0)
		return 0;
	size_t budget = (mode & 8) ? 3 : 1000;
	for (int round = 0; round < ROUNDS; round++) {
		/* the producers move on */
		for (uint32_t i = 0; (mode & 1) && i < nrings; i++) {
			/* from the geometry we wrote: the header may be
			   scribbled on by now */
			uint8_t *rb = region + sizeof *rg +
				      i * (sizeof(struct mt_ring) + cap * sizeof(struct mt_ring_rec));
			struct mt_ring *r = (struct mt_ring *)rb;
			struct mt_ring_rec *recs = (struct mt_ring_rec *)(rb + sizeof *r);
			uint64_t adv = take(&p, end, 1) % (cap + 2);   /* may overrun */
			uint64_t h = r->head;
			for (uint64_t k = 0; (mode & 4) && k < adv && k < cap; k++) {
				struct mt_ring_rec *rec = &recs[(h + k) & (cap - 1)];
				rec->seq = (uint32_t)(h + k);
				if (mode & 2)
					rec->gen %= 4;
				rec->check = mt_ring_rec_check(rec);
			}
			r->head = h + adv;
		}
		/* and the target scribbles somewhere */
		uint64_t off = take(&p, end, 2) % len / 8 * 8;
		uint64_t val = take(&p, end, 8);
		if (off + 8 <= len)
			memcpy(region + off, &val, 8);
		uint64_t before = s.events;
		size_t n = mt_ringdec_drain(d, budget);
		if (n > budget || s.events - before > n + nrings)
			abort();
	}
	mt_ringdec_destroy(d);
	return 0;
}
