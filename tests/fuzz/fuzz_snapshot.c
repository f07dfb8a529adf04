/* libFuzzer target for the snapshot reader (src/snapshot/snapshot.c).
 *
 * Any input: mt_snapshot_decode() must not crash, leak or hit undefined
 * behaviour, and must either refuse it with a documented status and one
 * line, or return a snapshot that
 *   - passes mt_snapshot_valid(), and
 *   - re-encodes into a file that decodes to the same snapshot, whose
 *     encoding is the same bytes again (the writer is deterministic).
 * A broken property abort()s, which libFuzzer reports as a crash.
 *
 * Mutating the file's bytes alone would hardly ever get past zstd: nearly
 * every change to compressed data breaks the frame or its checksum.  So
 * the custom mutator below mostly decompresses the protobuf message,
 * mutates that, and compresses it again; one time in four it mutates the
 * file's bytes as they are, to exercise the header and zstd checks.
 *
 * Built by tests/fuzz/meson.build with clang -fsanitize=fuzzer,address,
 * undefined and lowered decoding limits; run by hand with
 *   build/tests/fuzz/fuzz_snapshot -jobs=1 WORKDIR build/tests/fuzz/seeds tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "util/errors.h"
#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* The largest message the mutator unpacks to mutate. */
#define MUTATE_MAX_RAW (1u << 20)

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	const size_t hdr = MT_SNAPSHOT_HEADER_LEN;
	if (seed % 4 == 0 || size <= hdr || max_size <= hdr ||
	    memcmp(data, MT_SNAPSHOT_MAGIC, MT_SNAPSHOT_MAGIC_LEN) != 0)
		return LLVMFuzzerMutate(data, size, max_size);
	unsigned long long n = ZSTD_getFrameContentSize(data + hdr, size - hdr);
	if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR || n > MUTATE_MAX_RAW)
		return LLVMFuzzerMutate(data, size, max_size);
	size_t cap = (size_t)n * 2 + 64;
	uint8_t *raw = malloc(cap);
	uint8_t *out = malloc(max_size - hdr);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t rc = size;
	if (!raw || !out || !cctx)
		goto done;
	size_t rawlen = ZSTD_decompress(raw, cap, data + hdr, size - hdr);
	if (ZSTD_isError(rawlen)) {
		rc = LLVMFuzzerMutate(data, size, max_size);
		goto done;
	}
	rawlen = LLVMFuzzerMutate(raw, rawlen, cap);
	/* as the writer does: content size and checksum */
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	size_t clen = ZSTD_compress2(cctx, out, max_size - hdr, raw, rawlen);
	if (ZSTD_isError(clen)) {
		rc = LLVMFuzzerMutate(data, size, max_size);
		goto done;
	}
	memcpy(data + hdr, out, clen);
	rc = hdr + clen;
done:
	ZSTD_freeCCtx(cctx);
	free(out);
	free(raw);
	return rc;
}

static void check_refused(enum mt_err rc, const struct mt_snapshot *s, const char *err)
{
	if (rc != MT_E_BAD_SNAPSHOT && rc != MT_E_SNAPSHOT_VERSION)
		abort();
	if (s || !err[0] || strchr(err, '\n'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mt_snapshot *s = NULL, *t = NULL;
	char err[256] = "";
	enum mt_err rc = mt_snapshot_decode(data, size, &s, err, sizeof err);
	if (rc != MT_E_OK) {
		check_refused(rc, s, err);
		return 0;
	}
	if (!s || !mt_snapshot_valid(s, NULL, 0))
		abort();

	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	if (mt_snapshot_encode(s, &a, &alen) != 0)
		abort();
	if (mt_snapshot_decode(a, alen, &t, err, sizeof err) != 0)
		abort();
	if (mt_snapshot_encode(t, &b, &blen) != 0)
		abort();
	if (alen != blen || memcmp(a, b, alen) != 0)
		abort();
	if (t->nsites != s->nsites || t->nframes != s->nframes || t->pid != s->pid)
		abort();
	if (t->nseries != s->nseries ||
	    (s->nseries && (memcmp(t->series_t, s->series_t, s->nseries * sizeof(double)) ||
			    memcmp(t->series_bytes, s->series_bytes,
				   (size_t)s->nsites * s->nseries * sizeof(uint64_t)))))
		abort();
	if (!t->census != !s->census ||
	    (s->census && (t->census->ntypes != s->census->ntypes ||
			   t->census->nsizes != s->census->nsizes ||
			   t->census->nwarnings != s->census->nwarnings ||
			   t->census->bytes != s->census->bytes)))
		abort();
	free(a);
	free(b);
	mt_snapshot_free(t);
	mt_snapshot_free(s);
	return 0;
}
