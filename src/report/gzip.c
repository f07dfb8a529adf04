/* gzip with zlib: the only file that calls it.  pprof files are gzipped
 * protobuf (pprof.h); deflateInit2's windowBits 15 + 16 asks zlib for the
 * gzip wrapper (header and CRC-32 trailer) rather than zlib's own. */
#include <zlib.h>

#include "report/gzip.h"

#define GZIP_WINDOW (15 + 16)
#define CHUNK 16384

/* Deflate what Z has in with FLUSH, writing every output chunk to F.
 * Z_OK or Z_STREAM_END; else a zlib error or Z_ERRNO when F failed. */
static int pump(z_stream *z, int flush, FILE *f)
{
	unsigned char out[CHUNK];
	int rc;
	do {
		z->next_out = out;
		z->avail_out = sizeof out;
		rc = deflate(z, flush);
		if (rc == Z_STREAM_ERROR)
			return rc;
		if (rc == Z_BUF_ERROR) /* no progress possible: not an error */
			rc = Z_OK;
		size_t n = sizeof out - z->avail_out;
		if (n && fwrite(out, 1, n, f) != n)
			return Z_ERRNO;
	} while (z->avail_out == 0);
	return rc;
}

int mt_gzip_write(FILE *f, const uint8_t *buf, size_t len)
{
	z_stream z = { 0 };
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	int rc = Z_OK;
	/* avail_in is 32 bits: feed a large buffer in pieces */
	while (len > 0 && rc == Z_OK) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		z.next_in = (Bytef *)buf;
		z.avail_in = n;
		rc = pump(&z, Z_NO_FLUSH, f);
		buf += n;
		len -= n;
	}
	if (rc == Z_OK)
		rc = pump(&z, Z_FINISH, f);
	deflateEnd(&z);
	if (rc != Z_STREAM_END || fflush(f) != 0 || ferror(f))
		return -1;
	return 0;
}
