/* gzip, the only file that calls zlib (gzip.c). */
#ifndef MT_GZIP_H
#define MT_GZIP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* BUF's LEN bytes as one gzip member (RFC 1952) to F, then F flushed.
 * 0, or -1 (out of memory, zlib refused, or F failed). */
int mt_gzip_write(FILE *f, const uint8_t *buf, size_t len);

#endif
