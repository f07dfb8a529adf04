/* libFuzzer target for the glibc heap reader (src/census/glheap.c): the heap is
 * memory the target writes, and a corrupt or hostile one must never crash
 * memtrace or make it loop.
 *
 * Input:  byte 0   bits 0-2: the release (31, 32, 33, 34, 35, 36, 38, 41),
 *                  bit 3: add a non-main arena and its heap
 *         then     hostile writes of 11 bytes each: region (1 byte, modulo
 *                  the image's regions: libc's rodata, libc's data with
 *                  main_arena and mp_, [heap], the mmapped chunk, the
 *                  non-main heap), offset (2 bytes, modulo the region's
 *                  size, any alignment), 8 bytes written there
 * The image before the writes is the valid one of tests/fuzz/glheap_image.h
 * (so the fuzzer starts deep inside the walk, not at the arena search).
 * Properties (a broken one abort()s): with no writes, find and the walk
 * succeed, complete and exact; with writes, find returns 0, -ENOENT or
 * -ENOTSUP, and the walk returns 0 and reports only chunks that lie inside
 * the image, each once, with a user pointer 16 past its header, and a
 * walk that says it is complete has given no warning.
 *
 * Built by tests/fuzz/meson.build with clang -fsanitize=fuzzer,address,
 * undefined; run by hand with
 *   build/tests/fuzz/fuzz_glheap -max_total_time=60 WORKDIR tests/fuzz/corpus-glheap
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "census/glheap.h"
#include "glheap_image.h"
#include "target/maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned releases[8] = { 31, 32, 33, 34, 35, 36, 38, 41 };

struct fsink {
	const struct gi_image *im;
	uint64_t chunks, last;
	unsigned warnings;
};

static bool inside(const struct gi_image *im, uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < im->nr; i++)
		if (a >= im->r[i].addr && a + len >= a && a + len <= im->r[i].addr + im->r[i].len)
			return true;
	return false;
}

static int fz_chunk(void *ctx, const struct mt_glheap_chunk *c)
{
	struct fsink *s = ctx;
	if (c->addr != c->chunk + 16 || c->size < 16 || !inside(s->im, c->chunk, c->size) ||
	    (unsigned)c->kind >= MT_CHUNK__KINDS || c->usable >= c->size)
		abort();
	s->chunks++;
	return 0;
}

static void fz_warn(void *ctx, const char *msg)
{
	struct fsink *s = ctx;
	if (!msg[0])
		abort();
	s->warnings++;
}

static struct gi_image im;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	gi_build(&im, releases[data[0] & 7], data[0] & 8);
	size_t nwrites = 0;
	for (size_t o = 1; o + 11 <= size; o += 11, nwrites++) {
		struct gi_region *r = &im.r[data[o] % im.nr];
		uint32_t off = (uint32_t)(data[o + 1] | data[o + 2] << 8) % (r->len - 7);
		memcpy(r->bytes + off, data + o + 3, 8);
	}
	struct mt_maps maps = { 0 };
	if (mt_maps_parse(im.maps_text, &maps) < 0)
		abort();
	struct mt_memsrc src = { .read = gi_read, .ctx = &im };
	struct mt_glheap *h = NULL;
	char why[256];
	int rc = mt_glheap_find(&src, &maps, NULL, 0, NULL, &h, why, sizeof why);
	if (rc != 0 && rc != -ENOENT && rc != -ENOTSUP)
		abort();
	if (rc != 0 && nwrites == 0)
		abort();
	if (rc == 0) {
		struct fsink s = { .im = &im };
		struct mt_glheap_cb cb = { fz_chunk, fz_warn, &s };
		struct mt_glheap_stats st;
		if (mt_glheap_walk(h, &src, &maps, &cb, &st) != 0)
			abort();
		if (st.complete && s.warnings)
			abort();
		if (nwrites == 0 && (!st.complete || s.chunks != 10 + ((data[0] & 8) ? 4 : 0)))
			abort();
		uint64_t total = st.live_blocks;
		for (int k = 1; k < MT_CHUNK__KINDS; k++)
			total += st.free_blocks[k];
		if (total != s.chunks)
			abort();
		(void)mt_glheap_quiescent(h, &src, why, sizeof why);
		mt_glheap_destroy(h);
	}
	mt_maps_free(&maps);
	return 0;
}
