/* A process image to read: the live target, a frozen copy of it, or (in
 * tests and the fuzzer) a heap image built in memory.  The census readers
 * (glheap.c, the type namer) see memory only through this, so they are
 * pure and can be fed hostile bytes.
 *
 * Everything read through it is untrusted: the target can write it. */
#ifndef MT_MEMSRC_H
#define MT_MEMSRC_H

#include <stddef.h>
#include <stdint.h>

struct mt_memsrc {
	/* Copy LEN bytes at ADDR into BUF: 0, or -errno (-EFAULT: some byte
	 * of the range is not mapped).  A short read is an error. */
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	/* Bytes of [LO, HI) (page-aligned) that are resident: 0 and *BYTES,
	 * or -errno (then residency is unknown).  May be NULL. */
	int (*resident)(void *ctx, uint64_t lo, uint64_t hi, uint64_t *bytes);
	void *ctx;
};

static inline int mt_memsrc_read(const struct mt_memsrc *s, uint64_t addr, void *buf,
				 size_t len)
{
	return s->read(s->ctx, addr, buf, len);
}

#endif
