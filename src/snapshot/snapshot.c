/* See snapshot.h; the message is src/snapshot/snapshot.proto.
 *
 * Decoding trusts nothing, in this order:
 *   1. the 12-byte header: magic, then the version (refused when newer);
 *   2. the zstd frame, streamed into a buffer that grows only as data
 *      really comes out, never past MT_SNAPSHOT_MAX_DECOMPRESSED, and
 *      with a bounded window; nothing may follow the frame;
 *   3. protobuf-c's unpack, through an allocator that refuses to hand out
 *      more than MT_SNAPSHOT_MAX_UNPACKED in all (2-byte empty records
 *      become ~90-byte structures: 45 times the input);
 *   4. the copy into struct mt_snapshot: counts fit 32 bits, build-ids
 *      fit 64 bytes, text holds no NUL;
 *   5. mt_snapshot_valid(): every index and value rule.
 * Only then does the caller see the snapshot.
 */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "util/atomicfile.h"
#include "util/errors.h"
#include "snapshot/snapshot.pb-c.h"

/* zstd's default level: the 54 MiB message of 100000 sites (snapshot.h)
 * packs and compresses in about half a second, to 23 MiB. */
#define SNAP_ZSTD_LEVEL 3
/* Frames we write use windows of at most 2^21 bytes at level 3; 2^25 leaves
 * room for higher levels while a hostile header cannot make the decoder
 * allocate more than 32 MiB of window. */
#define SNAP_ZSTD_WINDOW_LOG_MAX 25

static const uint8_t zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };  /* 0xFD2FB528 LE */

static void say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- validation ------------------------------------------------------ */

/* The verdicts a census gives (census_report.h), as the constants a read
 * census points to; another one (from a newer memtrace) is "unknown". */
static const char *known_verdict(const char *v)
{
	static const char *const known[] = { "retention", "normal", "unknown" };
	if (!v || !v[0])
		return NULL;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(v, known[i]) == 0)
			return known[i];
	return "unknown";
}

static bool time_valid(double ms)
{
	return isfinite(ms) && ms >= 0;
}

static bool census_rows_valid(const struct mt_census_row *rows, size_t n, bool typed,
			      char *why, size_t whylen)
{
	const char *table = typed ? "types" : "sizes";
	if (n && !rows) {
		say(why, whylen, "census %s: a table with entries but no array", table);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		bool named = rows[i].type && rows[i].type[0];
		if (named != typed || (!typed && rows[i].type)) {
			say(why, whylen, typed ? "census types[%zu] has no type name" :
			    "census sizes[%zu] has a type name", i);
			return false;
		}
	}
	return true;
}

static bool census_valid(const struct mt_census_report *c, char *why, size_t whylen)
{
	if (!memchr(c->reason, 0, sizeof c->reason) ||
	    !memchr(c->allocator, 0, sizeof c->allocator)) {
		say(why, whylen, "census reason or allocator not terminated");
		return false;
	}
	if (!time_valid(c->paused_ms) || !time_valid(c->took_ms)) {
		say(why, whylen, "census times %g and %g ms are not finite numbers of "
		    "milliseconds", c->paused_ms, c->took_ms);
		return false;
	}
	const char *v = c->heap.verdict;
	if (v && (!known_verdict(v) || strcmp(known_verdict(v), v) != 0)) {
		say(why, whylen, "census verdict \"%.32s\" is none of retention, normal, unknown",
		    v);
		return false;
	}
	if (c->nwarnings && !c->warnings) {
		say(why, whylen, "census warnings: a table with entries but no array");
		return false;
	}
	for (size_t i = 0; i < c->nwarnings; i++) {
		if (!c->warnings[i]) {
			say(why, whylen, "census warnings[%zu] is NULL", i);
			return false;
		}
	}
	return census_rows_valid(c->types, c->ntypes, true, why, whylen) &&
	       census_rows_valid(c->sizes, c->nsizes, false, why, whylen);
}

/* The growth series: bounded, times in order, values for every site. */
static bool series_valid(const struct mt_snapshot *s, char *why, size_t whylen)
{
	if (s->nseries > MT_SNAPSHOT_MAX_SERIES) {
		say(why, whylen, "a series of %u points (at most %u)", s->nseries,
		    MT_SNAPSHOT_MAX_SERIES);
		return false;
	}
	if (s->nseries && !s->series_t) {
		say(why, whylen, "a series with points but no times");
		return false;
	}
	for (uint32_t j = 0; j < s->nseries; j++) {
		double t = s->series_t[j];
		if (!isfinite(t) || t < 0 || (j && t < s->series_t[j - 1])) {
			say(why, whylen, "series time %u is %g: not a finite, non-negative "
			    "time after the one before", j, t);
			return false;
		}
	}
	if (s->nseries && s->nsites && !s->series_bytes) {
		say(why, whylen, "a series with times but no values");
		return false;
	}
	return true;
}

bool mt_snapshot_valid(const struct mt_snapshot *s, char *why, size_t whylen)
{
	if (s->pid < 0) {
		say(why, whylen, "negative pid %d", s->pid);
		return false;
	}
	if (s->depth < 0) {
		say(why, whylen, "negative stack depth %d", s->depth);
		return false;
	}
	if (!isfinite(s->duration_s) || s->duration_s < 0) {
		say(why, whylen, "duration %g is not a finite number of seconds", s->duration_s);
		return false;
	}
	if ((s->nmodules && !s->modules) || (s->nframes && !s->frames) ||
	    (s->nstacks && !s->stacks) || (s->nsites && !s->sites)) {
		say(why, whylen, "a table with entries but no array");
		return false;
	}
	if (s->exe_module > s->nmodules) {
		say(why, whylen, "main executable is module %u, but there are %u modules",
		    s->exe_module, s->nmodules);
		return false;
	}
	for (uint32_t i = 0; i < s->nmodules; i++) {
		if (s->modules[i].build_id_len > sizeof s->modules[i].build_id) {
			say(why, whylen, "module %u: build-id of %u bytes (at most %zu)", i,
			    s->modules[i].build_id_len, sizeof s->modules[i].build_id);
			return false;
		}
	}
	for (uint32_t i = 0; i < s->nframes; i++) {
		const struct mt_snap_frame *f = &s->frames[i];
		if (f->module > s->nmodules) {
			say(why, whylen, "frame %u: module %u, but there are %u modules", i,
			    f->module, s->nmodules);
			return false;
		}
		if (f->line < 0) {
			say(why, whylen, "frame %u: negative line %d", i, f->line);
			return false;
		}
	}
	for (uint32_t i = 0; i < s->nstacks; i++) {
		const struct mt_snap_stack *st = &s->stacks[i];
		if (st->nframes == 0 || !st->frames) {
			say(why, whylen, "stack %u has no frames", i);
			return false;
		}
		if (st->site_frame >= st->nframes) {
			say(why, whylen, "stack %u: site frame %u, but the stack has %u frames", i,
			    st->site_frame, st->nframes);
			return false;
		}
		for (uint32_t j = 0; j < st->nframes; j++) {
			if (st->frames[j] >= s->nframes) {
				say(why, whylen, "stack %u: frame %u is %u, but there are %u frames",
				    i, j, st->frames[j], s->nframes);
				return false;
			}
		}
	}
	for (uint32_t i = 0; i < s->nsites; i++) {
		if (s->sites[i].stack >= s->nstacks) {
			say(why, whylen, "site %u: stack %u, but there are %u stacks", i,
			    s->sites[i].stack, s->nstacks);
			return false;
		}
	}
	return series_valid(s, why, whylen) &&
	       (!s->census || census_valid(s->census, why, whylen));
}

/* ---- a census of one's own --------------------------------------------- */

/* A copy of N rows (type names copied for type rows, dropped for size rows). */
static struct mt_census_row *copy_rows(const struct mt_census_row *rows, size_t n, bool typed)
{
	struct mt_census_row *out = calloc(n + 1, sizeof *out);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = rows[i];
		out[i].type = NULL;
		if (!typed)
			continue;
		const char *t = rows[i].type && rows[i].type[0] ? rows[i].type : "?";
		if (!(out[i].type = strdup(t))) {
			struct mt_census_report tmp = { .types = out, .ntypes = i };
			mt_census_report_free(&tmp);
			return NULL;
		}
	}
	return out;
}

int mt_snapshot_set_census(struct mt_snapshot *s, const struct mt_census_report *c)
{
	if (!c) {
		mt_census_report_free(s->census);
		free(s->census);
		s->census = NULL;
		return 0;
	}
	struct mt_census_report *n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	*n = *c;
	n->types = n->sizes = NULL;
	n->warnings = NULL;
	n->ntypes = n->nsizes = n->nwarnings = 0;
	n->reason[sizeof n->reason - 1] = '\0';
	n->allocator[sizeof n->allocator - 1] = '\0';
	n->heap.verdict = known_verdict(c->heap.verdict);
	if ((c->ntypes && !c->types) || (c->nsizes && !c->sizes) ||
	    (c->nwarnings && !c->warnings))
		goto invalid;  /* not a census: take none rather than invent rows */
	if (!(n->types = copy_rows(c->types, c->ntypes, true)))
		goto fail;
	n->ntypes = c->ntypes;
	if (!(n->sizes = copy_rows(c->sizes, c->nsizes, false)))
		goto fail;
	n->nsizes = c->nsizes;
	if (!(n->warnings = calloc(c->nwarnings + 1, sizeof *n->warnings)))
		goto fail;
	for (size_t i = 0; i < c->nwarnings; i++) {
		if (!(n->warnings[i] = strdup(c->warnings[i] ? c->warnings[i] : "")))
			goto fail;
		n->nwarnings = i + 1;
	}
	mt_census_report_free(s->census);
	free(s->census);
	s->census = n;
	return 0;
invalid:
	free(n);
	return -EINVAL;
fail:
	mt_census_report_free(n);
	free(n);
	return -ENOMEM;
}

/* ---- encoding -------------------------------------------------------- */

/* protobuf-c only reads the bytes it packs. */
static ProtobufCBinaryData text(const char *s)
{
	if (!s)
		s = "";
	return (ProtobufCBinaryData){ .len = strlen(s), .data = (uint8_t *)(uintptr_t)s };
}

/* The protobuf message of S: the arrays below, pointing into S. */
struct pb {
	Mtsnap__Snapshot msg;
	Mtsnap__Module *modules, **pmodules;
	Mtsnap__Frame *frames, **pframes;
	Mtsnap__Stack *stacks, **pstacks;
	Mtsnap__Site *sites, **psites;
	Mtsnap__Census census;
	Mtsnap__HeapSummary heap;
	Mtsnap__CensusRow *rows, **prows;   /* the types, then the sizes */
	ProtobufCBinaryData *warnings;
};

static void pb_free(struct pb *p)
{
	free(p->modules);
	free(p->pmodules);
	free(p->frames);
	free(p->pframes);
	free(p->stacks);
	free(p->pstacks);
	free(p->sites);
	free(p->psites);
	free(p->rows);
	free(p->prows);
	free(p->warnings);
}

/* calloc N entries for ARR and N pointers for PTRS; true also when N is 0. */
#define ALLOC_TABLE(arr, ptrs, n)                                              \
	((n) == 0 || (((arr) = calloc((n), sizeof *(arr))) != NULL &&          \
		      ((ptrs) = calloc((n), sizeof *(ptrs))) != NULL))

static void census_row_build(Mtsnap__CensusRow *pr, const struct mt_census_row *r)
{
	mtsnap__census_row__init(pr);
	pr->type = text(r->type);
	pr->size = r->size;
	pr->blocks = r->blocks;
	pr->bytes = r->bytes;
}

static void heap_build(Mtsnap__HeapSummary *ph, const struct mt_heap_summary *h)
{
	mtsnap__heap_summary__init(ph);
	ph->known = h->known;
	ph->rss_bytes = h->rss_bytes;
	ph->mapped_bytes = h->mapped_bytes;
	ph->live_bytes = h->live_bytes;
	ph->free_bytes = h->free_bytes;
	ph->trimmable_bytes = h->trimmable_bytes;
	ph->arenas = h->arenas;
	ph->verdict = text(h->verdict);
}

/* P's census message, pointing into C. */
static bool census_build(struct pb *p, const struct mt_census_report *c)
{
	size_t nrows = c->ntypes + c->nsizes;
	if (!ALLOC_TABLE(p->rows, p->prows, nrows))
		return false;
	if (c->nwarnings && !(p->warnings = calloc(c->nwarnings, sizeof *p->warnings)))
		return false;
	Mtsnap__Census *m = &p->census;
	mtsnap__census__init(m);
	m->available = c->available;
	m->reason = text(c->reason);
	m->allocator = text(c->allocator);
	m->complete = c->complete;
	m->blocks = c->blocks;
	m->bytes = c->bytes;
	m->freed_blocks = c->freed_blocks;
	m->freed_bytes = c->freed_bytes;
	m->paused_ms = c->paused_ms;
	m->took_ms = c->took_ms;
	m->tcache_bytes = c->tcache_bytes;
	m->fastbin_bytes = c->fastbin_bytes;
	m->bin_bytes = c->bin_bytes;
	m->top_bytes = c->top_bytes;
	m->overhead_bytes = c->overhead_bytes;
	for (size_t i = 0; i < nrows; i++) {
		p->prows[i] = &p->rows[i];
		census_row_build(&p->rows[i], i < c->ntypes ? &c->types[i] :
				 &c->sizes[i - c->ntypes]);
	}
	m->n_types = c->ntypes;
	m->types = p->prows;
	m->n_sizes = c->nsizes;
	m->sizes = p->prows ? p->prows + c->ntypes : NULL;
	for (size_t i = 0; i < c->nwarnings; i++)
		p->warnings[i] = text(c->warnings[i]);
	m->n_warnings = c->nwarnings;
	m->warnings = p->warnings;
	heap_build(&p->heap, &c->heap);
	m->heap = &p->heap;
	return true;
}

static bool pb_build(struct pb *p, const struct mt_snapshot *s)
{
	memset(p, 0, sizeof *p);
	if (!ALLOC_TABLE(p->modules, p->pmodules, s->nmodules) ||
	    !ALLOC_TABLE(p->frames, p->pframes, s->nframes) ||
	    !ALLOC_TABLE(p->stacks, p->pstacks, s->nstacks) ||
	    !ALLOC_TABLE(p->sites, p->psites, s->nsites))
		return false;

	Mtsnap__Snapshot *m = &p->msg;
	mtsnap__snapshot__init(m);
	m->memtrace_version = text(s->memtrace_version);
	m->pid = s->pid;
	m->comm = text(s->comm);
	m->exe = text(s->exe);
	m->exe_module = s->exe_module;
	m->start_unix_ns = s->start_unix_ns;
	m->time_unix_ns = s->time_unix_ns;
	m->duration_s = s->duration_s;
	m->events = s->events;
	m->unknown_frees = s->unknown_frees;
	m->lost_events = s->lost_events;
	m->engine = text(s->engine);
	m->allocator = text(s->allocator);
	m->depth = s->depth;
	m->sample_bytes = s->sample_bytes;
	m->unsampled_frees = s->unsampled_frees;

	for (uint32_t i = 0; i < s->nmodules; i++) {
		const struct mt_snap_module *sm = &s->modules[i];
		Mtsnap__Module *pm = p->pmodules[i] = &p->modules[i];
		mtsnap__module__init(pm);
		pm->path = text(sm->path);
		pm->build_id.len = sm->build_id_len;
		pm->build_id.data = (uint8_t *)(uintptr_t)sm->build_id;
	}
	for (uint32_t i = 0; i < s->nframes; i++) {
		const struct mt_snap_frame *sf = &s->frames[i];
		Mtsnap__Frame *pf = p->pframes[i] = &p->frames[i];
		mtsnap__frame__init(pf);
		pf->module = sf->module;
		pf->module_offset = sf->module_offset;
		pf->address = sf->address;
		pf->function = text(sf->function);
		pf->offset = sf->offset;
		pf->file = text(sf->file);
		pf->line = sf->line;
		pf->inlined = sf->inlined;
	}
	for (uint32_t i = 0; i < s->nstacks; i++) {
		const struct mt_snap_stack *ss = &s->stacks[i];
		Mtsnap__Stack *ps = p->pstacks[i] = &p->stacks[i];
		mtsnap__stack__init(ps);
		ps->n_frames = ss->nframes;
		ps->frames = ss->frames;
		ps->site_frame = ss->site_frame;
	}
	for (uint32_t i = 0; i < s->nsites; i++) {
		const struct mt_snap_site *ss = &s->sites[i];
		Mtsnap__Site *ps = p->psites[i] = &p->sites[i];
		mtsnap__site__init(ps);
		ps->stack = ss->stack;
		ps->live_blocks = ss->live_blocks;
		ps->live_bytes = ss->live_bytes;
		ps->allocs = ss->allocs;
		ps->frees = ss->frees;
		ps->alloc_bytes = ss->alloc_bytes;
		if (s->nseries) {
			ps->n_series_live_bytes = s->nseries;
			ps->series_live_bytes = s->series_bytes + (size_t)i * s->nseries;
		}
	}
	m->n_series_t = s->nseries;
	m->series_t = s->series_t;
	m->n_modules = s->nmodules;
	m->modules = p->pmodules;
	m->n_frames = s->nframes;
	m->frames = p->pframes;
	m->n_stacks = s->nstacks;
	m->stacks = p->pstacks;
	m->n_sites = s->nsites;
	m->sites = p->psites;
	if (s->census) {
		if (!census_build(p, s->census))
			return false;
		m->census = &p->census;
	}
	return true;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint32_t mt_snapshot_format_for(const struct mt_snapshot *s)
{
	return s->sample_bytes ? MT_SNAPSHOT_VERSION_SAMPLED : MT_SNAPSHOT_VERSION_EXACT;
}

enum mt_err mt_snapshot_encode(const struct mt_snapshot *s, uint8_t **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (!mt_snapshot_valid(s, NULL, 0))
		return MT_E_INTERNAL;

	enum mt_err rc = MT_E_IO;
	struct pb p;
	uint8_t *packed = NULL, *out = NULL;
	ZSTD_CCtx *cctx = NULL;
	if (!pb_build(&p, s))
		goto done;
	size_t plen = mtsnap__snapshot__get_packed_size(&p.msg);
	packed = malloc(plen ? plen : 1);
	if (!packed)
		goto done;
	mtsnap__snapshot__pack(&p.msg, packed);

	size_t bound = ZSTD_compressBound(plen);
	out = malloc(MT_SNAPSHOT_HEADER_LEN + bound);
	cctx = ZSTD_createCCtx();
	if (!out || !cctx)
		goto done;
	memcpy(out, MT_SNAPSHOT_MAGIC, MT_SNAPSHOT_MAGIC_LEN);
	put_le32(out + MT_SNAPSHOT_MAGIC_LEN, mt_snapshot_format_for(s));
	/* One-shot compression records the content size in the frame header;
	 * the checksum makes a flipped bit "corrupt" rather than wrong data. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
						SNAP_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)))
		goto done;
	size_t clen = ZSTD_compress2(cctx, out + MT_SNAPSHOT_HEADER_LEN, bound, packed, plen);
	if (ZSTD_isError(clen))
		goto done;  /* only when out of memory: the bound always fits */
	*buf = out;
	*len = MT_SNAPSHOT_HEADER_LEN + clen;
	out = NULL;
	rc = 0;
done:
	ZSTD_freeCCtx(cctx);
	free(out);
	free(packed);
	pb_free(&p);
	return rc;
}

enum mt_err mt_snapshot_write(const struct mt_snapshot *s, const char *path, char *err,
			      size_t errlen)
{
	char why[256];
	if (!mt_snapshot_valid(s, why, sizeof why)) {
		say(err, errlen, "invalid snapshot (memtrace bug): %s", why);
		return MT_E_INTERNAL;
	}
	uint8_t *buf;
	size_t len;
	enum mt_err rc = mt_snapshot_encode(s, &buf, &len);
	if (rc != MT_E_OK) {
		say(err, errlen, "cannot encode the snapshot: out of memory");
		return rc;
	}
	rc = mt_atomic_write(path, buf, len, err, errlen) < 0 ? MT_E_IO : MT_E_OK;
	free(buf);
	return rc;
}

/* ---- decoding -------------------------------------------------------- */

static enum mt_err bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum mt_err bad(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return MT_E_BAD_SNAPSHOT;
}

/* The header of the first LEN bytes of a file, which may be all of it
 * (COMPLETE) or its beginning.  0 when it is a snapshot header of a
 * version we read, or when more bytes are needed to tell (not COMPLETE). */
static enum mt_err check_header(const uint8_t *buf, size_t len, bool complete, uint32_t *version,
				char *err, size_t errlen)
{
	if (len == 0)
		return complete ? bad(err, errlen, "empty file") : 0;
	size_t m = len < MT_SNAPSHOT_MAGIC_LEN ? len : MT_SNAPSHOT_MAGIC_LEN;
	if (memcmp(buf, MT_SNAPSHOT_MAGIC, m) != 0)
		return bad(err, errlen, "not a memtrace snapshot");
	if (len < MT_SNAPSHOT_HEADER_LEN)
		return complete ? bad(err, errlen, "truncated") : 0;
	uint32_t v = get_le32(buf + MT_SNAPSHOT_MAGIC_LEN);
	if (v == 0)
		return bad(err, errlen, "corrupt: format version 0");
	if (v > MT_SNAPSHOT_VERSION) {
		say(err, errlen, "written by a newer memtrace (format %u, this one reads up to %u)",
		    v, MT_SNAPSHOT_VERSION);
		return MT_E_SNAPSHOT_VERSION;
	}
	if (version)
		*version = v;
	return 0;
}


/* Decompress the one zstd frame of SRC into *OUT (free it), *OUTLEN. */
static enum mt_err decompress(const uint8_t *src, size_t len, uint8_t **out, size_t *outlen,
			      char *err, size_t errlen)
{
	const size_t limit = MT_SNAPSHOT_MAX_DECOMPRESSED;
	*out = NULL;
	*outlen = 0;
	/* A skippable frame would decompress to nothing: insist on a real one. */
	size_t m = len < sizeof zstd_magic ? len : sizeof zstd_magic;
	if (memcmp(src, zstd_magic, m) != 0)
		return bad(err, errlen, "corrupt: no zstd frame after the header");
	if (len < sizeof zstd_magic)
		return bad(err, errlen, "truncated");

	/* The frame header's content size is only a hint: the buffer grows as
	 * data really comes out, so a header that lies costs nothing. */
	unsigned long long claimed = ZSTD_getFrameContentSize(src, len);
	bool known = claimed != ZSTD_CONTENTSIZE_UNKNOWN && claimed != ZSTD_CONTENTSIZE_ERROR;
	if (known && claimed > limit)
		return bad(err, errlen, "corrupt: %llu bytes uncompressed, more than the %zu "
			   "this memtrace accepts", claimed, limit);
	size_t cap = len < limit / 4 ? 4 * len : limit;
	if (known && claimed < cap)
		cap = (size_t)claimed;
	if (cap < 4096)
		cap = 4096;

	enum mt_err rc;
	uint8_t *buf = malloc(cap);
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (!buf || !dctx) {
		rc = bad(err, errlen, "out of memory");
		goto fail;
	}
	if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax,
						SNAP_ZSTD_WINDOW_LOG_MAX))) {
		rc = bad(err, errlen, "cannot set up zstd");
		goto fail;
	}
	ZSTD_inBuffer in = { src, len, 0 };
	size_t used = 0;
	for (;;) {
		ZSTD_outBuffer o = { buf, cap, used };
		size_t in_before = in.pos, out_before = used;
		size_t r = ZSTD_decompressStream(dctx, &o, &in);
		used = o.pos;
		if (ZSTD_isError(r)) {
			rc = bad(err, errlen, "corrupt: %s", ZSTD_getErrorName(r));
			goto fail;
		}
		if (used > limit) {
			rc = bad(err, errlen, "corrupt: more than %zu bytes uncompressed", limit);
			goto fail;
		}
		if (r == 0)
			break;  /* the frame is complete and its checksum verified */
		if (used == cap) {
			/* Full: grow, up to one byte past the limit to see it crossed. */
			size_t ncap = cap <= limit / 2 ? cap * 2 : limit + 1;
			uint8_t *nbuf = realloc(buf, ncap);
			if (!nbuf) {
				rc = bad(err, errlen, "out of memory");
				goto fail;
			}
			buf = nbuf;
			cap = ncap;
			continue;
		}
		/* Room left, yet the frame is not done: zstd wants more input. */
		if (in.pos == in.size) {
			rc = bad(err, errlen, "truncated");
			goto fail;
		}
		if (in.pos == in_before && used == out_before) {
			rc = bad(err, errlen, "corrupt: zstd makes no progress");
			goto fail;
		}
	}
	if (in.pos < in.size) {
		rc = bad(err, errlen, "corrupt: %zu bytes after the compressed data",
			 in.size - in.pos);
		goto fail;
	}
	ZSTD_freeDCtx(dctx);
	*out = buf;
	*outlen = used;
	return 0;
fail:
	ZSTD_freeDCtx(dctx);
	free(buf);
	return rc;
}

/* protobuf-c's allocator for unpacking: malloc, until BUDGET is spent. */
struct budget {
	size_t left;
	bool over;     /* a request was refused */
	bool oom;      /* malloc itself failed */
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	if (size > b->left) {
		b->over = true;
		return NULL;
	}
	void *p = malloc(size);
	if (!p) {
		b->oom = true;
		return NULL;
	}
	b->left -= size;
	return p;
}

static void budget_free(void *data, void *p)
{
	free(p);
}

/* Copy protobuf text D into *DST as a C string.  The field is named in ERR
 * as TABLE[INDEX].NAME, or NAME when TABLE is NULL. */
static enum mt_err take_text(char **dst, const ProtobufCBinaryData *d, const char *table,
			     uint32_t index, const char *name, char *err, size_t errlen)
{
	if (d->len && memchr(d->data, 0, d->len)) {
		if (table)
			return bad(err, errlen, "corrupt: a NUL byte in %s[%u].%s", table, index,
				   name);
		return bad(err, errlen, "corrupt: a NUL byte in %s", name);
	}
	char *p = malloc(d->len + 1);
	if (!p)
		return bad(err, errlen, "out of memory");
	if (d->len)
		memcpy(p, d->data, d->len);
	p[d->len] = '\0';
	*dst = p;
	return 0;
}

/* A table's count, which must fit struct mt_snapshot's 32 bits. */
static enum mt_err take_count(uint32_t *dst, size_t n, const char *table, char *err, size_t errlen)
{
	if (n > UINT32_MAX)
		return bad(err, errlen, "corrupt: %zu %s", n, table);
	*dst = (uint32_t)n;
	return 0;
}

/* The growth series of M into S (its sites already taken): as many values
 * in every site as there are times, and no more times than a reader takes
 * (the rest of the rules: mt_snapshot_valid). */
static enum mt_err take_series(struct mt_snapshot *s, const Mtsnap__Snapshot *m, char *err,
			       size_t errlen)
{
	if (m->n_series_t > MT_SNAPSHOT_MAX_SERIES)
		return bad(err, errlen, "corrupt: a series of %zu points (at most %u)",
			   m->n_series_t, MT_SNAPSHOT_MAX_SERIES);
	uint32_t n = (uint32_t)m->n_series_t;
	for (uint32_t i = 0; i < s->nsites; i++)
		if (m->sites[i]->n_series_live_bytes != n)
			return bad(err, errlen, "corrupt: sites[%u] has %zu series values for "
				   "%u series times", i, m->sites[i]->n_series_live_bytes, n);
	if (!n)
		return 0;
	if (!(s->series_t = malloc(n * sizeof *s->series_t)))
		return bad(err, errlen, "out of memory");
	memcpy(s->series_t, m->series_t, n * sizeof *s->series_t);
	s->nseries = n;
	/* the file holds these values already: the product is bounded */
	if (!(s->series_bytes = malloc((s->nsites ? s->nsites : 1) * (size_t)n * sizeof(uint64_t))))
		return bad(err, errlen, "out of memory");
	for (uint32_t i = 0; i < s->nsites; i++)
		memcpy(s->series_bytes + (size_t)i * n, m->sites[i]->series_live_bytes,
		       n * sizeof(uint64_t));
	return 0;
}

/* Copy text D into the fixed buffer DST of LEN bytes (NUL included). */
static enum mt_err take_fixed(char *dst, size_t len, const ProtobufCBinaryData *d, const char *name,
			      char *err, size_t errlen)
{
	if (d->len && memchr(d->data, 0, d->len))
		return bad(err, errlen, "corrupt: a NUL byte in census.%s", name);
	if (d->len >= len)
		return bad(err, errlen, "corrupt: census.%s of %zu bytes (at most %zu)", name,
			   d->len, len - 1);
	if (d->len)
		memcpy(dst, d->data, d->len);
	dst[d->len] = '\0';
	return 0;
}

/* The rows of TABLE ("types" or "sizes"): type names only in "types". */
static enum mt_err take_census_rows(struct mt_census_row **dst, size_t *ndst,
				    Mtsnap__CensusRow *const *rows, size_t n, const char *table,
				    char *err, size_t errlen)
{
	bool typed = table[0] == 't';
	if (n && !(*dst = calloc(n, sizeof **dst)))
		return bad(err, errlen, "out of memory");
	*ndst = n;
	for (size_t i = 0; i < n; i++) {
		struct mt_census_row *r = &(*dst)[i];
		r->size = rows[i]->size;
		r->blocks = rows[i]->blocks;
		r->bytes = rows[i]->bytes;
		if (!typed)
			continue;  /* a size row's name is not read: there is none */
		enum mt_err rc = take_text(&r->type, &rows[i]->type, "census.types", (uint32_t)i, "type",
				   err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static void take_heap(struct mt_heap_summary *h, const Mtsnap__HeapSummary *m)
{
	if (!m)
		return;
	h->known = m->known;
	h->rss_bytes = m->rss_bytes;
	h->mapped_bytes = m->mapped_bytes;
	h->live_bytes = m->live_bytes;
	h->free_bytes = m->free_bytes;
	h->trimmable_bytes = m->trimmable_bytes;
	h->arenas = m->arenas;
	/* The longest verdict known is 9 bytes: a longer one, or one holding
	 * a NUL, is from a newer memtrace or corrupt, "unknown" either way. */
	char v[16];
	size_t n = m->verdict.len;
	if (!n) {
		h->verdict = NULL;
	} else if (n >= sizeof v || memchr(m->verdict.data, 0, n)) {
		h->verdict = known_verdict("?");
	} else {
		memcpy(v, m->verdict.data, n);
		v[n] = '\0';
		h->verdict = known_verdict(v);
	}
}

/* The census M in a new *OUT (mt_snapshot_free frees it with the rest). */
static enum mt_err take_census(struct mt_census_report **out, const Mtsnap__Census *m, char *err,
			       size_t errlen)
{
	struct mt_census_report *c = *out = calloc(1, sizeof *c);
	if (!c)
		return bad(err, errlen, "out of memory");
	c->available = m->available;
	c->complete = m->complete;
	c->blocks = m->blocks;
	c->bytes = m->bytes;
	c->freed_blocks = m->freed_blocks;
	c->freed_bytes = m->freed_bytes;
	c->paused_ms = m->paused_ms;
	c->took_ms = m->took_ms;
	c->tcache_bytes = m->tcache_bytes;
	c->fastbin_bytes = m->fastbin_bytes;
	c->bin_bytes = m->bin_bytes;
	c->top_bytes = m->top_bytes;
	c->overhead_bytes = m->overhead_bytes;
	take_heap(&c->heap, m->heap);
	enum mt_err rc;
	if ((rc = take_fixed(c->reason, sizeof c->reason, &m->reason, "reason", err, errlen)) ||
	    (rc = take_fixed(c->allocator, sizeof c->allocator, &m->allocator, "allocator", err,
			     errlen)) ||
	    (rc = take_census_rows(&c->types, &c->ntypes, m->types, m->n_types, "types", err,
				   errlen)) ||
	    (rc = take_census_rows(&c->sizes, &c->nsizes, m->sizes, m->n_sizes, "sizes", err,
				   errlen)))
		return rc;
	if (m->n_warnings && !(c->warnings = calloc(m->n_warnings, sizeof *c->warnings)))
		return bad(err, errlen, "out of memory");
	for (size_t i = 0; i < m->n_warnings; i++) {
		if ((rc = take_text(&c->warnings[i], &m->warnings[i], "census.warnings", (uint32_t)i,
				    "text", err, errlen)))
			return rc;
		c->nwarnings = i + 1;
	}
	return 0;
}

/* Copy M into a new *OUT, checking what the copy needs; indexes are left
 * to mt_snapshot_valid(). */
static enum mt_err convert(const Mtsnap__Snapshot *m, uint32_t version, struct mt_snapshot **out,
			   char *err, size_t errlen)
{
	enum mt_err rc;
	uint32_t n = 0;
	struct mt_snapshot *s = calloc(1, sizeof *s);
	if (!s)
		return bad(err, errlen, "out of memory");
	s->format_version = version;
	s->pid = m->pid;
	s->exe_module = m->exe_module;
	s->start_unix_ns = m->start_unix_ns;
	s->time_unix_ns = m->time_unix_ns;
	s->duration_s = m->duration_s;
	s->events = m->events;
	s->unknown_frees = m->unknown_frees;
	s->lost_events = m->lost_events;
	s->depth = m->depth;
	s->sample_bytes = m->sample_bytes;
	s->unsampled_frees = m->unsampled_frees;
	if ((rc = take_text(&s->memtrace_version, &m->memtrace_version, NULL, 0,
			    "memtrace_version", err, errlen)) ||
	    (rc = take_text(&s->comm, &m->comm, NULL, 0, "comm", err, errlen)) ||
	    (rc = take_text(&s->exe, &m->exe, NULL, 0, "exe", err, errlen)) ||
	    (rc = take_text(&s->engine, &m->engine, NULL, 0, "engine", err, errlen)) ||
	    (rc = take_text(&s->allocator, &m->allocator, NULL, 0, "allocator", err, errlen)))
		goto fail;

	if ((rc = take_count(&n, m->n_modules, "modules", err, errlen)))
		goto fail;
	if (n && !(s->modules = calloc(n, sizeof *s->modules)))
		goto oom;
	s->nmodules = n;
	for (uint32_t i = 0; i < n; i++) {
		const Mtsnap__Module *pm = m->modules[i];
		struct mt_snap_module *sm = &s->modules[i];
		if (pm->build_id.len > sizeof sm->build_id) {
			rc = bad(err, errlen, "corrupt: modules[%u] has a build-id of %zu bytes "
				 "(at most %zu)", i, pm->build_id.len, sizeof sm->build_id);
			goto fail;
		}
		if (pm->build_id.len)
			memcpy(sm->build_id, pm->build_id.data, pm->build_id.len);
		sm->build_id_len = (uint32_t)pm->build_id.len;
		if ((rc = take_text(&sm->path, &pm->path, "modules", i, "path", err, errlen)))
			goto fail;
	}

	if ((rc = take_count(&n, m->n_frames, "frames", err, errlen)))
		goto fail;
	if (n && !(s->frames = calloc(n, sizeof *s->frames)))
		goto oom;
	s->nframes = n;
	for (uint32_t i = 0; i < n; i++) {
		const Mtsnap__Frame *pf = m->frames[i];
		struct mt_snap_frame *sf = &s->frames[i];
		sf->module = pf->module;
		sf->module_offset = pf->module_offset;
		sf->address = pf->address;
		sf->offset = pf->offset;
		sf->line = pf->line;
		sf->inlined = pf->inlined != 0;
		if ((rc = take_text(&sf->function, &pf->function, "frames", i, "function", err,
				    errlen)) ||
		    (rc = take_text(&sf->file, &pf->file, "frames", i, "file", err, errlen)))
			goto fail;
	}

	if ((rc = take_count(&n, m->n_stacks, "stacks", err, errlen)))
		goto fail;
	if (n && !(s->stacks = calloc(n, sizeof *s->stacks)))
		goto oom;
	s->nstacks = n;
	for (uint32_t i = 0; i < n; i++) {
		const Mtsnap__Stack *ps = m->stacks[i];
		struct mt_snap_stack *ss = &s->stacks[i];
		if ((rc = take_count(&ss->nframes, ps->n_frames, "frames in a stack", err, errlen)))
			goto fail;
		ss->site_frame = ps->site_frame;
		if (ss->nframes) {
			ss->frames = malloc((size_t)ss->nframes * sizeof *ss->frames);
			if (!ss->frames)
				goto oom;
			memcpy(ss->frames, ps->frames, (size_t)ss->nframes * sizeof *ss->frames);
		}
	}

	if ((rc = take_count(&n, m->n_sites, "sites", err, errlen)))
		goto fail;
	if (n && !(s->sites = calloc(n, sizeof *s->sites)))
		goto oom;
	s->nsites = n;
	for (uint32_t i = 0; i < n; i++) {
		const Mtsnap__Site *ps = m->sites[i];
		s->sites[i] = (struct mt_snap_site){
			.stack = ps->stack, .live_blocks = ps->live_blocks,
			.live_bytes = ps->live_bytes, .allocs = ps->allocs, .frees = ps->frees,
			.alloc_bytes = ps->alloc_bytes,
		};
	}
	if ((rc = take_series(s, m, err, errlen)))
		goto fail;
	if (m->census && (rc = take_census(&s->census, m->census, err, errlen)))
		goto fail;
	*out = s;
	return 0;
oom:
	rc = bad(err, errlen, "out of memory");
fail:
	mt_snapshot_free(s);
	return rc;
}

enum mt_err mt_snapshot_decode(const uint8_t *buf, size_t len, struct mt_snapshot **out,
			       char *err, size_t errlen)
{
	*out = NULL;
	uint32_t version = 0;
	enum mt_err rc = check_header(buf, len, true, &version, err, errlen);
	if (rc)
		return rc;
	uint8_t *raw;
	size_t rawlen;
	rc = decompress(buf + MT_SNAPSHOT_HEADER_LEN, len - MT_SNAPSHOT_HEADER_LEN, &raw,
			&rawlen, err, errlen);
	if (rc)
		return rc;

	struct budget b = { .left = MT_SNAPSHOT_MAX_UNPACKED };
	ProtobufCAllocator alloc = { .alloc = budget_alloc, .free = budget_free,
				     .allocator_data = &b };
	Mtsnap__Snapshot *m = mtsnap__snapshot__unpack(&alloc, rawlen, raw);
	free(raw);
	if (!m) {
		if (b.oom)
			return bad(err, errlen, "out of memory");
		if (b.over)
			return bad(err, errlen, "corrupt: decoding it would take more than "
				   "%llu MiB", (unsigned long long)MT_SNAPSHOT_MAX_UNPACKED >> 20);
		return bad(err, errlen, "corrupt: not a valid snapshot message (protobuf)");
	}
	struct mt_snapshot *s = NULL;
	rc = convert(m, version, &s, err, errlen);
	mtsnap__snapshot__free_unpacked(m, &alloc);
	if (rc)
		return rc;
	char why[192];
	if (!mt_snapshot_valid(s, why, sizeof why)) {
		mt_snapshot_free(s);
		return bad(err, errlen, "corrupt: %s", why);
	}
	*out = s;
	return 0;
}

/* ---- files ----------------------------------------------------------- */

/* read(2) up to LEN bytes, fewer only at the end of the file; -1 on error. */
static ssize_t read_full(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

enum mt_err mt_snapshot_read(const char *path, struct mt_snapshot **out, char *err, size_t errlen)
{
	/* No snapshot we accept is larger than the zstd bound of the limit. */
	const size_t max_file = MT_SNAPSHOT_HEADER_LEN +
		ZSTD_compressBound(MT_SNAPSHOT_MAX_DECOMPRESSED);
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		say(err, errlen, "cannot open: %s", strerror(errno));
		return MT_E_IO;
	}
	enum mt_err rc;
	uint8_t *buf = NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		say(err, errlen, "cannot read: %s", strerror(errno));
		rc = MT_E_IO;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		/* read(2) would fail with EISDIR: say so without trying */
		say(err, errlen, "cannot read: %s", strerror(EISDIR));
		rc = MT_E_IO;
		goto out;
	}

	/* The header first: something else (a core dump, /dev/zero) is
	 * refused without reading the rest. */
	uint8_t head[MT_SNAPSHOT_HEADER_LEN];
	ssize_t hl = read_full(fd, head, sizeof head);
	if (hl < 0) {
		say(err, errlen, "cannot read: %s", strerror(errno));
		rc = MT_E_IO;
		goto out;
	}
	if ((rc = check_header(head, (size_t)hl, (size_t)hl < sizeof head, NULL, err, errlen)))
		goto out;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_file) {
		rc = bad(err, errlen, "corrupt: larger than any snapshot (%zu bytes)", max_file);
		goto out;
	}

	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, used = sizeof head;
	if (cap < 2 * sizeof head)
		cap = 2 * sizeof head;
	buf = malloc(cap);
	if (!buf) {
		rc = bad(err, errlen, "out of memory");
		goto out;
	}
	memcpy(buf, head, sizeof head);
	for (;;) {
		if (used == cap) {
			/* A file that grew, or a pipe: grow up to one byte past the limit. */
			size_t ncap = cap <= max_file / 2 ? cap * 2 : max_file + 1;
			uint8_t *nbuf = realloc(buf, ncap);
			if (!nbuf) {
				rc = bad(err, errlen, "out of memory");
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		ssize_t r = read_full(fd, buf + used, cap - used);
		if (r < 0) {
			say(err, errlen, "cannot read: %s", strerror(errno));
			rc = MT_E_IO;
			goto out;
		}
		used += (size_t)r;
		if (used > max_file) {
			rc = bad(err, errlen, "corrupt: larger than any snapshot (%zu bytes)",
				 max_file);
			goto out;
		}
		if (used < cap)
			break;  /* the end of the file */
	}
	rc = mt_snapshot_decode(buf, used, out, err, errlen);
out:
	free(buf);
	close(fd);
	return rc;
}

void mt_snapshot_free(struct mt_snapshot *s)
{
	if (!s)
		return;
	free(s->memtrace_version);
	free(s->comm);
	free(s->exe);
	free(s->engine);
	free(s->allocator);
	if (s->modules)
		for (uint32_t i = 0; i < s->nmodules; i++)
			free(s->modules[i].path);
	if (s->frames)
		for (uint32_t i = 0; i < s->nframes; i++) {
			free(s->frames[i].function);
			free(s->frames[i].file);
		}
	if (s->stacks)
		for (uint32_t i = 0; i < s->nstacks; i++)
			free(s->stacks[i].frames);
	free(s->modules);
	free(s->frames);
	free(s->stacks);
	free(s->sites);
	free(s->series_t);
	free(s->series_bytes);
	mt_census_report_free(s->census);
	free(s->census);
	free(s);
}
