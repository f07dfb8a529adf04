/* A synthetic process image holding a small glibc malloc heap, laid out
 * as glibc 2.MINOR lays it out (see the comment at the top of
 * src/census/glheap.c), for the fuzzer (tests/fuzz/fuzz_glheap.c) and the unit
 * tests of other releases' layouts (tests/unit/test_glheap.c).
 *
 * The image: a fake libc (a read-only page with the version string, a
 * writable one with main_arena and mp_), a [heap] of 64 KiB, optionally a
 * non-main arena's heap (64 MiB-aligned) and one mmapped chunk.  What is
 * in it, chunk by chunk (main heap):
 *     H+0x000  0x290  the main thread's tcache_perthread_struct
 *     H+0x290  0x20   live  (word0 = 0x1111)
 *     H+0x2b0  0x20   free: tcache bin 0
 *     H+0x2d0  0x30   free: fastbin 1
 *     H+0x300  0x20   live
 *     H+0x320  0x420  free: unsorted
 *     H+0x740  0x20   live
 *     H+0x760  0x100  free: small bin 16
 *     H+0x860  0x40   live
 *     H+0x8a0  top, to H+0x10000
 * Header-only (static functions): included by both users. */
#ifndef MT_GLHEAP_IMAGE_H
#define MT_GLHEAP_IMAGE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define GI_LIBC 0x7f0000000000ULL     /* libc's load address */
#define GI_ARENA (GI_LIBC + 0x1100)
#define GI_MP (GI_LIBC + 0x2000)
#define GI_HEAP 0x555555560000ULL
#define GI_HEAPSZ 0x10000u
#define GI_NHEAP 0x7e0004000000ULL   /* a non-main arena's heap */
#define GI_MMAP 0x7d0000000000ULL
#define GI_MMAPSZ 0x2000u
#define GI_KEY 0x5a5a5a5a12345678ULL

struct gi_region {
	uint64_t addr;
	uint32_t len;
	uint8_t *bytes;
};

struct gi_image {
	unsigned minor;
	bool nonmain;
	uint8_t rodata[4096], data[8192], heap[GI_HEAPSZ], nheap[GI_HEAPSZ], mm[GI_MMAPSZ];
	struct gi_region r[5];
	unsigned nr;
	char maps_text[1024];
};

static int gi_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct gi_image *im = ctx;
	for (unsigned i = 0; i < im->nr; i++) {
		const struct gi_region *r = &im->r[i];
		if (addr >= r->addr && addr + len >= addr && addr + len <= r->addr + r->len) {
			memcpy(buf, r->bytes + (addr - r->addr), len);
			return 0;
		}
	}
	return -EFAULT;
}

static void gi_put(struct gi_image *im, uint64_t addr, uint64_t v)
{
	for (unsigned i = 0; i < im->nr; i++) {
		struct gi_region *r = &im->r[i];
		if (addr >= r->addr && addr + 8 <= r->addr + r->len) {
			memcpy(r->bytes + (addr - r->addr), &v, 8);
			return;
		}
	}
}

static uint64_t gi_protect(const struct gi_image *im, uint64_t pos, uint64_t p)
{
	return im->minor >= 32 ? (pos >> 12) ^ p : p;
}

/* A chunk header at C: size SZ with flags. */
static void gi_chunk(struct gi_image *im, uint64_t c, uint64_t sz)
{
	gi_put(im, c + 8, sz);
}

static void gi_empty_bins(struct gi_image *im, uint64_t a)
{
	for (unsigned i = 1; i < 128; i++) {
		uint64_t b = a + 96 + 16ULL * (i - 1);
		gi_put(im, b + 16, b);
		gi_put(im, b + 24, b);
	}
}

/* Put chunk C (size SZ) alone into bin I of arena A. */
static void gi_bin(struct gi_image *im, uint64_t a, unsigned i, uint64_t c, uint64_t sz)
{
	uint64_t b = a + 96 + 16ULL * (i - 1);
	gi_put(im, b + 16, c);
	gi_put(im, b + 24, c);
	gi_put(im, c + 16, b);
	gi_put(im, c + 24, b);
	gi_put(im, c + sz, sz);                       /* the next chunk's prev_size */
}

static void gi_main_heap(struct gi_image *im)
{
	const uint64_t H = GI_HEAP, T = H + 16;
	uint64_t key = im->minor >= 34 ? GI_KEY : T;
	gi_chunk(im, H, 0x291);
	gi_chunk(im, H + 0x290, 0x21);
	gi_put(im, H + 0x2a0, 0x1111);
	gi_chunk(im, H + 0x2b0, 0x21);               /* tcache bin 0 */
	gi_put(im, T, 1);                            /* counts[0] = 1 (uint16) */
	gi_put(im, T + 128, H + 0x2c0);              /* entries[0] */
	gi_put(im, H + 0x2c0, gi_protect(im, H + 0x2c0, 0));
	gi_put(im, H + 0x2c8, key);
	gi_chunk(im, H + 0x2d0, 0x31);               /* fastbin 1 */
	gi_put(im, GI_ARENA + 16 + 8, H + 0x2d0);
	gi_put(im, H + 0x2e0, gi_protect(im, H + 0x2e0, 0));
	gi_chunk(im, H + 0x300, 0x21);
	gi_chunk(im, H + 0x320, 0x421);              /* unsorted */
	gi_bin(im, GI_ARENA, 1, H + 0x320, 0x420);
	gi_chunk(im, H + 0x740, 0x20);               /* P clear: 0x320 is free */
	gi_chunk(im, H + 0x760, 0x101);              /* small bin 16 */
	gi_bin(im, GI_ARENA, 16, H + 0x760, 0x100);
	gi_chunk(im, H + 0x860, 0x40);
	gi_chunk(im, H + 0x8a0, (GI_HEAPSZ - 0x8a0) | 1);
	gi_put(im, GI_ARENA + 96, H + 0x8a0);        /* top */
	gi_put(im, GI_ARENA + 2184, GI_HEAPSZ);      /* system_mem */
	gi_put(im, GI_ARENA + 2192, GI_HEAPSZ);
	gi_put(im, GI_ARENA + 2176, 1);
}

static void gi_mp(struct gi_image *im)
{
	unsigned soff = im->minor >= 35 ? 96 : 72, ints = im->minor >= 35 ? 60 : 40;
	uint32_t n[4] = { 1, 65536, 1, 0 };
	gi_put(im, GI_MP + 0, 0x20000);
	gi_put(im, GI_MP + 8, 0);
	gi_put(im, GI_MP + 16, 0x20000);
	gi_put(im, GI_MP + 24, 8);
	memcpy(im->data + (GI_MP - GI_LIBC - 0x1000) + ints, n, sizeof n);
	gi_put(im, GI_MP + soff - 16, GI_MMAPSZ);
	gi_put(im, GI_MP + soff - 8, GI_MMAPSZ);
	gi_put(im, GI_MP + soff, GI_HEAP);
	gi_put(im, GI_MP + soff + 8, 64);
	gi_put(im, GI_MP + soff + 16, 1032);
	gi_put(im, GI_MP + soff + 24, 7);
	gi_put(im, GI_MP + soff + 32, 0);
}

/* A non-main arena in its one heap: its maker's tcache (one free chunk in
 * bin 0), two live chunks (A bit), top. */
static void gi_nonmain(struct gi_image *im)
{
	unsigned hinfo = im->minor >= 35 ? 48 : 32;
	uint64_t N = GI_NHEAP, a = N + hinfo, c = (a + 2200 + 15) & ~15ULL;
	gi_put(im, N, a);
	gi_put(im, N + 8, 0);
	gi_put(im, N + 16, GI_HEAPSZ);
	gi_put(im, N + 24, GI_HEAPSZ);
	gi_empty_bins(im, a);
	gi_chunk(im, c, 0x295);
	gi_put(im, c + 16, 1);                       /* counts[0] */
	gi_put(im, c + 16 + 128, c + 0x2d0);         /* entries[0] */
	gi_chunk(im, c + 0x290, 0x35);
	gi_put(im, c + 0x2a0, 0x2222);
	gi_chunk(im, c + 0x2c0, 0x25);
	gi_put(im, c + 0x2d0, gi_protect(im, c + 0x2d0, 0));
	gi_put(im, c + 0x2d8, im->minor >= 34 ? GI_KEY : c + 16);
	gi_chunk(im, c + 0x2e0, 0x45);
	gi_chunk(im, c + 0x320, (N + GI_HEAPSZ - c - 0x320) | 1);
	gi_put(im, a + 96, c + 0x320);
	gi_put(im, a + 2160, GI_ARENA);              /* next: back to main */
	gi_put(im, a + 2176, 1);
	gi_put(im, a + 2184, GI_HEAPSZ);
	gi_put(im, a + 2192, GI_HEAPSZ);
	gi_put(im, GI_ARENA + 2160, a);
}

/* Build the image of glibc 2.MINOR; NONMAIN adds the non-main arena. */
static void gi_build(struct gi_image *im, unsigned minor, bool nonmain)
{
	memset(im, 0, sizeof *im);
	im->minor = minor;
	im->nonmain = nonmain;
	im->r[0] = (struct gi_region){ GI_LIBC, sizeof im->rodata, im->rodata };
	im->r[1] = (struct gi_region){ GI_LIBC + 0x1000, sizeof im->data, im->data };
	im->r[2] = (struct gi_region){ GI_HEAP, GI_HEAPSZ, im->heap };
	im->r[3] = (struct gi_region){ GI_MMAP, GI_MMAPSZ, im->mm };
	im->nr = 4;
	if (nonmain)
		im->r[im->nr++] = (struct gi_region){ GI_NHEAP, GI_HEAPSZ, im->nheap };
	snprintf((char *)im->rodata + 64, 256,
		 "GNU C Library (Debian GLIBC 2.%u-1) stable release version 2.%u.\n", minor, minor);
	gi_empty_bins(im, GI_ARENA);
	gi_put(im, GI_ARENA + 2160, GI_ARENA);       /* next: itself */
	gi_main_heap(im);
	gi_mp(im);
	gi_chunk(im, GI_MMAP, GI_MMAPSZ | 2);
	gi_put(im, GI_MMAP + 16, 0x3333);
	if (nonmain)
		gi_nonmain(im);
	/* In address order, as the kernel prints them. */
	snprintf(im->maps_text, sizeof im->maps_text,
		 "555555560000-555555570000 rw-p 00000000 00:00 0 [heap]\n"
		 "7d0000000000-7d0000002000 rw-p 00000000 00:00 0\n%s"
		 "7f0000000000-7f0000001000 r--p 00000000 08:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
		 "7f0000001000-7f0000003000 rw-p 00001000 08:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6\n",
		 nonmain ? "7e0004000000-7e0004010000 rw-p 00000000 00:00 0\n"
			   "7e0004010000-7e0008000000 ---p 00000000 00:00 0\n" : "");
}

#endif
