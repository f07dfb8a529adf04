/* Unit tests for src/snapshot/snapshot.c and src/util/atomicfile.c: the snapshot file
 * format (round trip of every field, forward compatibility) and every kind
 * of bad input (empty, truncated at every length, not a snapshot, future
 * version, corrupt zstd, garbage protobuf, indexes out of range, a
 * directory, an unreadable path), and atomic writes that never leave a
 * partial file or a temporary behind. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "util/errors.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot.pb-c.h"

/* ---- a realistic snapshot -------------------------------------------- */

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	ck_assert_ptr_nonnull(p);
	return p;
}

static uint32_t *xframes(uint32_t n, const uint32_t *v)
{
	uint32_t *p = malloc(n * sizeof *p);
	ck_assert_ptr_nonnull(p);
	memcpy(p, v, n * sizeof *p);
	return p;
}

/* A leaky program: main -> handle_request -> (inlined) make_buffer ->
 * xmalloc -> malloc; a second path through a library; a frame with no
 * symbol; a non-UTF-8 file name.  Every field holds a value that is not its
 * default, some at the ends of their ranges. */
static struct mt_snapshot *realistic(void)
{
	struct mt_snapshot *s = calloc(1, sizeof *s);
	ck_assert_ptr_nonnull(s);
	s->format_version = MT_SNAPSHOT_VERSION_EXACT;
	s->memtrace_version = xstrdup("0.1.0");
	s->pid = 48213;
	s->comm = xstrdup("leaky-server");
	s->exe = xstrdup("/srv/bin/leaky-server");
	s->exe_module = 1;
	s->start_unix_ns = 1718000000123456789ULL;
	s->time_unix_ns = 1718000060987654321ULL;
	s->duration_s = 60.864197532;
	s->events = 123456789012ULL;
	s->unknown_frees = 17;
	s->lost_events = 3;
	s->engine = xstrdup("breakpoint");
	s->allocator = xstrdup("/usr/lib/x86_64-linux-gnu/libc.so.6");
	s->depth = 32;

	s->nmodules = 3;
	s->modules = calloc(3, sizeof *s->modules);
	ck_assert_ptr_nonnull(s->modules);
	s->modules[0].path = xstrdup("/srv/bin/leaky-server");
	s->modules[0].build_id_len = 20;
	for (int i = 0; i < 20; i++)
		s->modules[0].build_id[i] = (uint8_t)(0xa0 + i);
	s->modules[1].path = xstrdup("/usr/lib/x86_64-linux-gnu/libc.so.6");
	s->modules[1].build_id_len = 64;   /* the largest */
	for (int i = 0; i < 64; i++)
		s->modules[1].build_id[i] = (uint8_t)(255 - i);
	s->modules[2].path = xstrdup("/opt/plugins/libjit.so");   /* no build-id */

	static const struct {
		uint32_t module;
		uint64_t module_offset, address;
		const char *function;
		uint64_t offset;
		const char *file;
		int32_t line;
		bool inlined;
	} fr[] = {
		{ 1, 0x1189, 0x55d0c1a01189, "xmalloc", 0x19, "/srv/src/util.c", 42, false },
		{ 1, 0x1305, 0x55d0c1a01305, "make_buffer", 0x0, "/srv/src/buf.h", 7, true },
		{ 1, 0x1305, 0x55d0c1a01305, "handle_request", 0x45, "/srv/src/server.c",
		  311, false },
		{ 1, 0x1420, 0x55d0c1a01420, "main", 0x80, "/srv/src/server.c", 2147483647,
		  false },
		{ 2, 0x29d90, 0x7f3a1c029d90, "__libc_start_call_main", 0x80, "", 0, false },
		{ 3, 0x4000, 0x7f3a1d004000, "", 0, "", 0, false },
		{ 0, 0, 0xffffffffffffffffULL, "", 0, "", 0, false },
		{ 2, 0x9a0f1, 0x7f3a1c09a0f1, "g_\xff\xfe_strdup", 0x11,
		  "/build/\xe9t\xe9/gstr.c", 99, false },
	};
	s->nframes = sizeof fr / sizeof fr[0];
	s->frames = calloc(s->nframes, sizeof *s->frames);
	ck_assert_ptr_nonnull(s->frames);
	for (uint32_t i = 0; i < s->nframes; i++) {
		struct mt_snap_frame *f = &s->frames[i];
		f->module = fr[i].module;
		f->module_offset = fr[i].module_offset;
		f->address = fr[i].address;
		f->function = xstrdup(fr[i].function);
		f->offset = fr[i].offset;
		f->file = xstrdup(fr[i].file);
		f->line = fr[i].line;
		f->inlined = fr[i].inlined;
	}

	s->nstacks = 4;
	s->stacks = calloc(4, sizeof *s->stacks);
	ck_assert_ptr_nonnull(s->stacks);
	s->stacks[0] = (struct mt_snap_stack){ xframes(5, (uint32_t[]){ 0, 1, 2, 3, 4 }), 5, 1 };
	s->stacks[1] = (struct mt_snap_stack){ xframes(3, (uint32_t[]){ 7, 5, 4 }), 3, 0 };
	s->stacks[2] = (struct mt_snap_stack){ xframes(1, (uint32_t[]){ 6 }), 1, 0 };
	s->stacks[3] = (struct mt_snap_stack){ xframes(4, (uint32_t[]){ 0, 2, 3, 4 }), 4, 3 };

	s->nsites = 4;
	s->sites = calloc(4, sizeof *s->sites);
	ck_assert_ptr_nonnull(s->sites);
	s->sites[0] = (struct mt_snap_site){ 0, 1000, 4096000, 1500, 500, 6144000 };
	s->sites[1] = (struct mt_snap_site){ 1, 1, 1ULL << 40, 2, 1, (1ULL << 40) + 1 };
	s->sites[2] = (struct mt_snap_site){ 3, 0, 0, 1000000, 1000000, 64000000 };
	s->sites[3] = (struct mt_snap_site){ 2, UINT64_MAX, UINT64_MAX, UINT64_MAX,
					     UINT64_MAX, UINT64_MAX };
	return s;
}

static void assert_same(const struct mt_snapshot *a, const struct mt_snapshot *b)
{
	ck_assert_uint_eq(a->format_version, b->format_version);
	ck_assert_str_eq(a->memtrace_version, b->memtrace_version);
	ck_assert_int_eq(a->pid, b->pid);
	ck_assert_str_eq(a->comm, b->comm);
	ck_assert_str_eq(a->exe, b->exe);
	ck_assert_uint_eq(a->exe_module, b->exe_module);
	ck_assert_uint_eq(a->start_unix_ns, b->start_unix_ns);
	ck_assert_uint_eq(a->time_unix_ns, b->time_unix_ns);
	ck_assert(a->duration_s == b->duration_s);   /* a double travels exactly */
	ck_assert_uint_eq(a->events, b->events);
	ck_assert_uint_eq(a->unknown_frees, b->unknown_frees);
	ck_assert_uint_eq(a->lost_events, b->lost_events);
	ck_assert_uint_eq(a->sample_bytes, b->sample_bytes);
	ck_assert_uint_eq(a->unsampled_frees, b->unsampled_frees);
	ck_assert_str_eq(a->engine, b->engine);
	ck_assert_str_eq(a->allocator, b->allocator);
	ck_assert_int_eq(a->depth, b->depth);

	ck_assert_uint_eq(a->nmodules, b->nmodules);
	for (uint32_t i = 0; i < a->nmodules; i++) {
		ck_assert_str_eq(a->modules[i].path, b->modules[i].path);
		ck_assert_uint_eq(a->modules[i].build_id_len, b->modules[i].build_id_len);
		ck_assert_mem_eq(a->modules[i].build_id, b->modules[i].build_id,
				 a->modules[i].build_id_len);
	}
	ck_assert_uint_eq(a->nframes, b->nframes);
	for (uint32_t i = 0; i < a->nframes; i++) {
		const struct mt_snap_frame *x = &a->frames[i], *y = &b->frames[i];
		ck_assert_uint_eq(x->module, y->module);
		ck_assert_uint_eq(x->module_offset, y->module_offset);
		ck_assert_uint_eq(x->address, y->address);
		ck_assert_str_eq(x->function, y->function);
		ck_assert_uint_eq(x->offset, y->offset);
		ck_assert_str_eq(x->file, y->file);
		ck_assert_int_eq(x->line, y->line);
		ck_assert_int_eq(x->inlined, y->inlined);
	}
	ck_assert_uint_eq(a->nstacks, b->nstacks);
	for (uint32_t i = 0; i < a->nstacks; i++) {
		ck_assert_uint_eq(a->stacks[i].nframes, b->stacks[i].nframes);
		ck_assert_uint_eq(a->stacks[i].site_frame, b->stacks[i].site_frame);
		ck_assert_mem_eq(a->stacks[i].frames, b->stacks[i].frames,
				 a->stacks[i].nframes * sizeof(uint32_t));
	}
	ck_assert_uint_eq(a->nsites, b->nsites);
	for (uint32_t i = 0; i < a->nsites; i++) {
		const struct mt_snap_site *x = &a->sites[i], *y = &b->sites[i];
		ck_assert_uint_eq(x->stack, y->stack);
		ck_assert_uint_eq(x->live_blocks, y->live_blocks);
		ck_assert_uint_eq(x->live_bytes, y->live_bytes);
		ck_assert_uint_eq(x->allocs, y->allocs);
		ck_assert_uint_eq(x->frees, y->frees);
		ck_assert_uint_eq(x->alloc_bytes, y->alloc_bytes);
	}
}

/* A census with every field away from its default: two classes, three
 * sizes, two warnings, a heap that retains. */
static struct mt_census_report *census_fixture(void)
{
	struct mt_census_report *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->available = true;
	snprintf(c->reason, sizeof c->reason, "not used when available, kept all the same");
	snprintf(c->allocator, sizeof c->allocator, "glibc 2.36");
	c->complete = false;
	c->blocks = 40017;
	c->bytes = 3276800123ULL;
	c->freed_blocks = 12;
	c->freed_bytes = 768;
	c->paused_ms = 41.625;
	c->took_ms = 1234.5;
	c->tcache_bytes = 7;
	c->fastbin_bytes = 1ULL << 33;
	c->bin_bytes = 99999;
	c->top_bytes = 135168;
	c->overhead_bytes = 2272;
	c->ntypes = 2;
	c->types = calloc(2, sizeof *c->types);
	ck_assert_ptr_nonnull(c->types);
	c->types[0] = (struct mt_census_row){ xstrdup("Order"), 0, 30000, 1920000 };
	c->types[1] = (struct mt_census_row){ xstrdup("ns::Cache<std::string, int>"), 0, 5,
					      UINT64_MAX };
	c->nsizes = 3;
	c->sizes = calloc(3, sizeof *c->sizes);
	ck_assert_ptr_nonnull(c->sizes);
	c->sizes[0] = (struct mt_census_row){ NULL, 1048560, 4, 4194304 + 64 };
	c->sizes[1] = (struct mt_census_row){ NULL, 24, 10000, 320000 };
	c->sizes[2] = (struct mt_census_row){ NULL, UINT64_MAX, 1, 1 };
	c->nwarnings = 2;
	c->warnings = calloc(2, sizeof *c->warnings);
	ck_assert_ptr_nonnull(c->warnings);
	c->warnings[0] = xstrdup("chunk at 0x55d0c1a05000: size 0x7 is not aligned: region skipped");
	c->warnings[1] = xstrdup("");
	c->heap = (struct mt_heap_summary){
		.known = true, .rss_bytes = 5000000000ULL, .mapped_bytes = 4900000000ULL,
		.live_bytes = 25000000, .free_bytes = 4800000000ULL,
		.trimmable_bytes = 4700000000ULL, .arenas = 9, .verdict = "retention",
	};
	return c;
}

static void assert_same_rows(const struct mt_census_row *a, const struct mt_census_row *b,
			     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].type)
			ck_assert_str_eq(a[i].type, b[i].type);
		else
			ck_assert_ptr_null(b[i].type);
		ck_assert_uint_eq(a[i].size, b[i].size);
		ck_assert_uint_eq(a[i].blocks, b[i].blocks);
		ck_assert_uint_eq(a[i].bytes, b[i].bytes);
	}
}

static void assert_same_census(const struct mt_census_report *a,
			       const struct mt_census_report *b)
{
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(a->available, b->available);
	ck_assert_str_eq(a->reason, b->reason);
	ck_assert_str_eq(a->allocator, b->allocator);
	ck_assert_int_eq(a->complete, b->complete);
	ck_assert_uint_eq(a->blocks, b->blocks);
	ck_assert_uint_eq(a->bytes, b->bytes);
	ck_assert_uint_eq(a->freed_blocks, b->freed_blocks);
	ck_assert_uint_eq(a->freed_bytes, b->freed_bytes);
	ck_assert(a->paused_ms == b->paused_ms);
	ck_assert(a->took_ms == b->took_ms);
	ck_assert_uint_eq(a->tcache_bytes, b->tcache_bytes);
	ck_assert_uint_eq(a->fastbin_bytes, b->fastbin_bytes);
	ck_assert_uint_eq(a->bin_bytes, b->bin_bytes);
	ck_assert_uint_eq(a->top_bytes, b->top_bytes);
	ck_assert_uint_eq(a->overhead_bytes, b->overhead_bytes);
	ck_assert_uint_eq(a->ntypes, b->ntypes);
	assert_same_rows(a->types, b->types, a->ntypes);
	ck_assert_uint_eq(a->nsizes, b->nsizes);
	assert_same_rows(a->sizes, b->sizes, a->nsizes);
	ck_assert_uint_eq(a->nwarnings, b->nwarnings);
	for (size_t i = 0; i < a->nwarnings; i++)
		ck_assert_str_eq(a->warnings[i], b->warnings[i]);
	ck_assert_int_eq(a->heap.known, b->heap.known);
	ck_assert_uint_eq(a->heap.rss_bytes, b->heap.rss_bytes);
	ck_assert_uint_eq(a->heap.mapped_bytes, b->heap.mapped_bytes);
	ck_assert_uint_eq(a->heap.live_bytes, b->heap.live_bytes);
	ck_assert_uint_eq(a->heap.free_bytes, b->heap.free_bytes);
	ck_assert_uint_eq(a->heap.trimmable_bytes, b->heap.trimmable_bytes);
	ck_assert_uint_eq(a->heap.arenas, b->heap.arenas);
	if (a->heap.verdict)
		ck_assert_str_eq(a->heap.verdict, b->heap.verdict);
	else
		ck_assert_ptr_null(b->heap.verdict);
}

/* ---- helpers --------------------------------------------------------- */

static uint8_t *encode(const struct mt_snapshot *s, size_t *len)
{
	uint8_t *buf = NULL;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, len), 0);
	ck_assert_ptr_nonnull(buf);
	return buf;
}

/* Decoding BUF must fail with RC and a reason starting with PREFIX. */
static void expect_bad(const uint8_t *buf, size_t len, enum mt_err rc, const char *prefix)
{
	char err[256] = "";
	struct mt_snapshot *s = (struct mt_snapshot *)1;
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &s, err, sizeof err), rc);
	ck_assert_ptr_null(s);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "reason \"%s\", expected \"%s...\"", err, prefix);
	ck_assert_msg(!strchr(err, '\n'), "reason of more than one line: \"%s\"", err);
}

/* A snapshot file holding MSG, whatever it says. */
static uint8_t *file_of(const Mtsnap__Snapshot *msg, size_t *len)
{
	size_t plen = mtsnap__snapshot__get_packed_size(msg);
	uint8_t *packed = malloc(plen + 1);
	ck_assert_ptr_nonnull(packed);
	mtsnap__snapshot__pack(msg, packed);
	size_t bound = ZSTD_compressBound(plen);
	uint8_t *buf = malloc(MT_SNAPSHOT_HEADER_LEN + bound);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, MT_SNAPSHOT_MAGIC "\x01\0\0\0", MT_SNAPSHOT_HEADER_LEN);
	size_t c = ZSTD_compress(buf + MT_SNAPSHOT_HEADER_LEN, bound, packed, plen, 3);
	ck_assert(!ZSTD_isError(c));
	free(packed);
	*len = MT_SNAPSHOT_HEADER_LEN + c;
	return buf;
}

/* A snapshot file whose zstd frame holds RAW. */
static uint8_t *file_of_raw(const void *raw, size_t rawlen, size_t *len)
{
	size_t bound = ZSTD_compressBound(rawlen);
	uint8_t *buf = malloc(MT_SNAPSHOT_HEADER_LEN + bound);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, MT_SNAPSHOT_MAGIC "\x01\0\0\0", MT_SNAPSHOT_HEADER_LEN);
	size_t c = ZSTD_compress(buf + MT_SNAPSHOT_HEADER_LEN, bound, raw, rawlen, 1);
	ck_assert(!ZSTD_isError(c));
	*len = MT_SNAPSHOT_HEADER_LEN + c;
	return buf;
}

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/mt-test-snapshot-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static char *path_in(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);
	ck_assert_ptr_nonnull(p);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

/* The names in DIR, sorted, joined by spaces: what a test expects to find. */
static char *listing(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	char names[16][256];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ck_assert_int_lt(n, 16);
		snprintf(names[n++], sizeof names[0], "%s", e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
	char *out = calloc(1, 16 * 257 + 1);
	ck_assert_ptr_nonnull(out);
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, names[i]);
	}
	return out;
}

/* Remove DIR, its files and the files of its subdirectories. */
static void rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *p = path_in(dir, e->d_name);
		chmod(p, 0700);
		if (unlink(p) < 0)
			rmtree(p);
		free(p);
	}
	closedir(d);
	chmod(dir, 0700);
	rmdir(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- round trips ----------------------------------------------------- */

/* The sampling mean travels.  A sampled snapshot is written as format 2,
 * so that a memtrace that reads only format 1 refuses it instead of showing
 * its estimates as exact counts; an exact one stays format 1.  A file
 * without the mean (every file written before sampling existed) reads as
 * not sampled, and a format-1 file with it (written by 0.1.0 before the
 * bump) still reads as sampled. */
START_TEST(test_round_trip_sampling)
{
	struct mt_snapshot *s = realistic();
	ck_assert_uint_eq(s->sample_bytes, 0);
	ck_assert_uint_eq(mt_snapshot_format_for(s), 1);
	size_t len0;
	uint8_t *buf0 = encode(s, &len0);
	ck_assert_mem_eq(buf0, "MTSNAP\r\n\x01\0\0\0", 12);
	s->sample_bytes = 524288;
	s->unsampled_frees = 12345;
	ck_assert_uint_eq(mt_snapshot_format_for(s), 2);
	size_t len;
	uint8_t *buf = encode(s, &len);
	ck_assert_mem_eq(buf, "MTSNAP\r\n\x02\0\0\0", 12);
	ck_assert_uint_gt(len, 0);
	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	s->format_version = 2;
	assert_same(s, d);
	ck_assert_uint_eq(d->sample_bytes, 524288);
	ck_assert_uint_eq(d->unsampled_frees, 12345);
	mt_snapshot_free(d);
	/* the format field of S is not what decides */
	s->format_version = 1;
	uint8_t *again = encode(s, &len);
	ck_assert_mem_eq(again, "MTSNAP\r\n\x02\0\0\0", 12);
	free(again);
	buf[8] = 1;
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_uint_eq(d->format_version, 1);
	ck_assert_uint_eq(d->sample_bytes, 524288);
	mt_snapshot_free(d);
	ck_assert_int_eq(mt_snapshot_decode(buf0, len0, &d, err, sizeof err), 0);
	ck_assert_uint_eq(d->format_version, 1);
	ck_assert_uint_eq(d->sample_bytes, 0);
	ck_assert_uint_eq(d->unsampled_frees, 0);
	mt_snapshot_free(d);
	free(buf0);
	free(buf);
	mt_snapshot_free(s);
}
END_TEST

START_TEST(test_round_trip)
{
	struct mt_snapshot *s = realistic();
	size_t len;
	uint8_t *buf = encode(s, &len);
	ck_assert_mem_eq(buf, "MTSNAP\r\n\x01\0\0\0", 12);

	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_ptr_nonnull(d);
	assert_same(s, d);

	/* Encoding is deterministic: the same snapshot, the same bytes. */
	size_t len2;
	uint8_t *buf2 = encode(d, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert_mem_eq(buf, buf2, len);

	free(buf2);
	free(buf);
	mt_snapshot_free(d);
	mt_snapshot_free(s);
}
END_TEST

START_TEST(test_round_trip_file)
{
	char *dir = tmpdir();
	char *path = path_in(dir, "a.mtsnap");
	struct mt_snapshot *s = realistic();
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_write(s, path, err, sizeof err), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	struct mt_snapshot *d = NULL;
	ck_assert_int_eq(mt_snapshot_read(path, &d, err, sizeof err), 0);
	assert_same(s, d);
	mt_snapshot_free(d);

	char *names = listing(dir);
	ck_assert_str_eq(names, "a.mtsnap");   /* no temporary left */
	free(names);
	mt_snapshot_free(s);
	free(path);
	rmtree(dir);
	free(dir);
}
END_TEST

/* Nothing but zeros and empty tables; NULL strings are written as "". */
START_TEST(test_round_trip_empty)
{
	struct mt_snapshot s = { 0 };
	size_t len;
	uint8_t *buf = encode(&s, &len);
	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_uint_eq(d->format_version, MT_SNAPSHOT_VERSION_EXACT);
	ck_assert_str_eq(d->memtrace_version, "");
	ck_assert_str_eq(d->comm, "");
	ck_assert_str_eq(d->exe, "");
	ck_assert_str_eq(d->engine, "");
	ck_assert_str_eq(d->allocator, "");
	ck_assert_uint_eq(d->nmodules + d->nframes + d->nstacks + d->nsites, 0);
	ck_assert_ptr_null(d->modules);
	ck_assert_ptr_null(d->sites);
	mt_snapshot_free(d);
	free(buf);
}
END_TEST

/* A newer memtrace adds fields (never reusing a number): this one skips
 * what it does not know and reads the rest. */
START_TEST(test_unknown_fields_skipped)
{
	Mtsnap__Site site = MTSNAP__SITE__INIT;
	Mtsnap__Site *psite = &site;
	uint32_t fr[] = { 0 };
	Mtsnap__Stack stack = MTSNAP__STACK__INIT;
	Mtsnap__Stack *pstack = &stack;
	Mtsnap__Frame frame = MTSNAP__FRAME__INIT;
	Mtsnap__Frame *pframe = &frame;
	Mtsnap__Snapshot m = MTSNAP__SNAPSHOT__INIT;
	stack.n_frames = 1;
	stack.frames = fr;
	site.live_bytes = 4096;
	m.pid = 7;
	m.n_frames = 1;
	m.frames = &pframe;
	m.n_stacks = 1;
	m.stacks = &pstack;
	m.n_sites = 1;
	m.sites = &psite;
	size_t plen = mtsnap__snapshot__get_packed_size(&m);
	uint8_t raw[256];
	ck_assert_uint_lt(plen + 32, sizeof raw);
	mtsnap__snapshot__pack(&m, raw);
	/* field 100 varint 5; field 101 length-delimited "future" */
	static const uint8_t extra[] = { 0xa0, 0x06, 0x05, 0xaa, 0x06, 0x06,
					 'f', 'u', 't', 'u', 'r', 'e' };
	memcpy(raw + plen, extra, sizeof extra);
	size_t len;
	uint8_t *buf = file_of_raw(raw, plen + sizeof extra, &len);
	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_int_eq(d->pid, 7);
	ck_assert_uint_eq(d->nsites, 1);
	ck_assert_uint_eq(d->sites[0].live_bytes, 4096);
	mt_snapshot_free(d);
	free(buf);
}
END_TEST

/* ---- bad input ------------------------------------------------------- */

START_TEST(test_empty_file)
{
	expect_bad((const uint8_t *)"", 0, MT_E_BAD_SNAPSHOT, "empty file");

	char *dir = tmpdir();
	char *path = path_in(dir, "empty");
	write_file(path, "", 0);
	struct mt_snapshot *d = (struct mt_snapshot *)1;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_read(path, &d, err, sizeof err), MT_E_BAD_SNAPSHOT);
	ck_assert_ptr_null(d);
	ck_assert_str_eq(err, "empty file");
	free(path);
	rmtree(dir);
	free(dir);
}
END_TEST

/* A file cut at any length: never a crash, never a snapshot, always
 * "truncated" (or "empty file" at 0). */
START_TEST(test_truncated_every_length)
{
	struct mt_snapshot *s = realistic();
	size_t len;
	uint8_t *buf = encode(s, &len);
	expect_bad(buf, 0, MT_E_BAD_SNAPSHOT, "empty file");
	for (size_t n = 1; n < len; n++) {
		/* a copy of exactly N bytes, so that ASan sees any overread */
		uint8_t *cut = malloc(n);
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, buf, n);
		char err[256] = "";
		struct mt_snapshot *d = (struct mt_snapshot *)1;
		enum mt_err rc = mt_snapshot_decode(cut, n, &d, err, sizeof err);
		ck_assert_msg(rc == MT_E_BAD_SNAPSHOT && !d && !strcmp(err, "truncated"),
			      "cut at %zu of %zu: rc %d, \"%s\"", n, len, rc, err);
		free(cut);
	}
	free(buf);
	mt_snapshot_free(s);
}
END_TEST

START_TEST(test_wrong_magic)
{
	struct mt_snapshot *s = realistic();
	size_t len;
	uint8_t *buf = encode(s, &len);
	buf[0] = 'X';
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "not a memtrace snapshot");
	/* short and wrong from the first byte */
	expect_bad((const uint8_t *)"{}", 2, MT_E_BAD_SNAPSHOT, "not a memtrace snapshot");
	static const char text[] = "PID COMMAND\n4242 leaky\n";
	expect_bad((const uint8_t *)text, sizeof text - 1, MT_E_BAD_SNAPSHOT,
		   "not a memtrace snapshot");
	/* a text-mode transfer turned \r\n into \n */
	static const char mangled[] = "MTSNAP\n\x01\0\0\0\x28\xb5\x2f\xfd";
	expect_bad((const uint8_t *)mangled, sizeof mangled - 1, MT_E_BAD_SNAPSHOT,
		   "not a memtrace snapshot");
	free(buf);
	mt_snapshot_free(s);
}
END_TEST

START_TEST(test_future_version)
{
	struct mt_snapshot *s = realistic();
	size_t len;
	uint8_t *buf = encode(s, &len);
	buf[8] = 3;
	char err[256];
	struct mt_snapshot *d = (struct mt_snapshot *)1;
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err),
			 MT_E_SNAPSHOT_VERSION);
	ck_assert_ptr_null(d);
	ck_assert_str_eq(err, "written by a newer memtrace (format 3, this one reads up to 2)");
	/* little-endian: 0x01000000 is a (much) newer format, not 1 */
	buf[8] = 0;
	buf[11] = 1;
	expect_bad(buf, len, MT_E_SNAPSHOT_VERSION,
		   "written by a newer memtrace (format 16777216, this one reads up to 2)");
	/* the header alone says so: nothing after it needs to be read */
	expect_bad(buf, MT_SNAPSHOT_HEADER_LEN, MT_E_SNAPSHOT_VERSION, "written by a newer");
	buf[11] = 0;
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: format version 0");
	free(buf);
	mt_snapshot_free(s);
}
END_TEST

START_TEST(test_corrupt_zstd)
{
	struct mt_snapshot *s = realistic();
	size_t len;
	uint8_t *buf = encode(s, &len);
	/* A flipped bit in the compressed data: the checksum, or the data
	 * itself, catches it. */
	buf[len / 2 + 6] ^= 0x10;
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: ");
	buf[len / 2 + 6] ^= 0x10;

	/* Any byte flipped: never a crash; a snapshot only if still valid. */
	for (size_t i = MT_SNAPSHOT_HEADER_LEN; i < len; i++) {
		buf[i] ^= 0xff;
		struct mt_snapshot *d = NULL;
		char err[256];
		enum mt_err rc = mt_snapshot_decode(buf, len, &d, err, sizeof err);
		ck_assert_msg(rc == 0 || rc == MT_E_BAD_SNAPSHOT, "byte %zu: rc %d", i, rc);
		ck_assert(rc == 0 ? d && mt_snapshot_valid(d, NULL, 0) : !d);
		mt_snapshot_free(d);
		buf[i] ^= 0xff;
	}

	/* not zstd at all after a good header */
	static const char notzstd[] = "MTSNAP\r\n\x01\0\0\0PK\x03\x04 zip";
	expect_bad((const uint8_t *)notzstd, sizeof notzstd - 1, MT_E_BAD_SNAPSHOT,
		   "corrupt: no zstd frame after the header");
	/* a zstd skippable frame would decompress to nothing */
	static const char skippable[] = "MTSNAP\r\n\x01\0\0\0\x50\x2a\x4d\x18\x00\0\0\0";
	expect_bad((const uint8_t *)skippable, sizeof skippable - 1, MT_E_BAD_SNAPSHOT,
		   "corrupt: no zstd frame after the header");

	/* something after the frame */
	uint8_t *more = malloc(len + 3);
	ck_assert_ptr_nonnull(more);
	memcpy(more, buf, len);
	memcpy(more + len, "xyz", 3);
	expect_bad(more, len + 3, MT_E_BAD_SNAPSHOT,
		   "corrupt: 3 bytes after the compressed data");
	/* a second frame after the first */
	memcpy(more + len, "\x28\xb5\x2f", 3);
	expect_bad(more, len + 3, MT_E_BAD_SNAPSHOT, "corrupt: 3 bytes after");
	free(more);

	/* A frame header announcing 2^40 bytes is refused before anything is
	 * allocated: magic, descriptor (8-byte content size, single segment),
	 * the size. */
	static const uint8_t bomb[] = { 'M', 'T', 'S', 'N', 'A', 'P', '\r', '\n', 1, 0, 0, 0,
					0x28, 0xb5, 0x2f, 0xfd, 0xe0,
					0, 0, 0, 0, 0, 1, 0, 0,
					0x01, 0x00, 0x00 };
	expect_bad(bomb, sizeof bomb, MT_E_BAD_SNAPSHOT, "corrupt: 1099511627776 bytes "
		   "uncompressed, more than the");
	free(buf);
	mt_snapshot_free(s);
}
END_TEST

START_TEST(test_garbage_protobuf)
{
	/* wire type 7 does not exist */
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07, 0x07 };
	size_t len;
	uint8_t *buf = file_of_raw(garbage, sizeof garbage, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT,
		   "corrupt: not a valid snapshot message (protobuf)");
	free(buf);
	/* a length running past the end: field 15 (modules), 100 bytes */
	static const uint8_t overrun[] = { 0x7a, 0x64, 0x0a, 0x01, 'x' };
	buf = file_of_raw(overrun, sizeof overrun, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: not a valid snapshot message");
	free(buf);
	/* text: a compressed page of English */
	static const char prose[] = "The quick brown fox jumps over the lazy dog. ";
	buf = file_of_raw(prose, sizeof prose - 1, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: ");
	free(buf);
}
END_TEST

/* A protobuf message that decodes, with one rule broken at a time. */
struct bad_msg {
	Mtsnap__Snapshot m;
	Mtsnap__Module mod, *pmod;
	Mtsnap__Frame fr[2], *pfr[2];
	Mtsnap__Stack st, *pst;
	Mtsnap__Site si, *psi;
	uint32_t frames[2];
	uint8_t build_id[65];
};

static void bad_msg_init(struct bad_msg *b)
{
	memset(b, 0, sizeof *b);
	mtsnap__snapshot__init(&b->m);
	mtsnap__module__init(&b->mod);
	mtsnap__frame__init(&b->fr[0]);
	mtsnap__frame__init(&b->fr[1]);
	mtsnap__stack__init(&b->st);
	mtsnap__site__init(&b->si);
	b->pmod = &b->mod;
	b->pfr[0] = &b->fr[0];
	b->pfr[1] = &b->fr[1];
	b->pst = &b->st;
	b->psi = &b->si;
	b->m.exe_module = 1;
	b->m.n_modules = 1;
	b->m.modules = &b->pmod;
	b->m.n_frames = 2;
	b->m.frames = b->pfr;
	b->m.n_stacks = 1;
	b->m.stacks = &b->pst;
	b->m.n_sites = 1;
	b->m.sites = &b->psi;
	b->fr[0].module = 1;
	b->frames[0] = 0;
	b->frames[1] = 1;
	b->st.n_frames = 2;
	b->st.frames = b->frames;
	b->st.site_frame = 1;
	b->si.stack = 0;
}

static void expect_bad_msg(const struct bad_msg *b, const char *reason)
{
	size_t len;
	uint8_t *buf = file_of(&b->m, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, reason);
	free(buf);
}

START_TEST(test_indexes_out_of_range)
{
	struct bad_msg b;
	bad_msg_init(&b);
	{	/* the base case is valid */
		size_t len;
		uint8_t *buf = file_of(&b.m, &len);
		struct mt_snapshot *d = NULL;
		char err[256] = "";
		ck_assert_msg(mt_snapshot_decode(buf, len, &d, err, sizeof err) == 0, "%s", err);
		mt_snapshot_free(d);
		free(buf);
	}

	b.si.stack = 1;
	expect_bad_msg(&b, "corrupt: site 0: stack 1, but there are 1 stacks");
	b.si.stack = UINT32_MAX;
	expect_bad_msg(&b, "corrupt: site 0: stack 4294967295, but there are 1 stacks");
	bad_msg_init(&b);
	b.frames[1] = 2;
	expect_bad_msg(&b, "corrupt: stack 0: frame 1 is 2, but there are 2 frames");
	bad_msg_init(&b);
	b.st.site_frame = 2;
	expect_bad_msg(&b, "corrupt: stack 0: site frame 2, but the stack has 2 frames");
	bad_msg_init(&b);
	b.st.n_frames = 0;
	b.st.site_frame = 0;
	expect_bad_msg(&b, "corrupt: stack 0 has no frames");
	bad_msg_init(&b);
	b.fr[1].module = 2;
	expect_bad_msg(&b, "corrupt: frame 1: module 2, but there are 1 modules");
	bad_msg_init(&b);
	b.m.exe_module = 2;
	expect_bad_msg(&b, "corrupt: main executable is module 2, but there are 1 modules");
	bad_msg_init(&b);
	b.m.n_modules = 0;      /* frame 0 and the exe still name module 1 */
	expect_bad_msg(&b, "corrupt: main executable is module 1, but there are 0 modules");
	bad_msg_init(&b);
	b.m.n_stacks = 0;       /* the site names stack 0 */
	expect_bad_msg(&b, "corrupt: site 0: stack 0, but there are 0 stacks");
	bad_msg_init(&b);
	b.m.n_frames = 0;
	expect_bad_msg(&b, "corrupt: stack 0: frame 0 is 0, but there are 0 frames");
}
END_TEST

START_TEST(test_bad_values)
{
	struct bad_msg b;
	bad_msg_init(&b);
	b.mod.build_id.len = 65;
	b.mod.build_id.data = b.build_id;
	expect_bad_msg(&b, "corrupt: modules[0] has a build-id of 65 bytes (at most 64)");
	bad_msg_init(&b);
	b.fr[1].function.len = 3;
	b.fr[1].function.data = (uint8_t *)"a\0b";
	expect_bad_msg(&b, "corrupt: a NUL byte in frames[1].function");
	bad_msg_init(&b);
	b.m.comm.len = 1;
	b.m.comm.data = (uint8_t *)"";
	expect_bad_msg(&b, "corrupt: a NUL byte in comm");
	bad_msg_init(&b);
	b.fr[0].line = -1;
	expect_bad_msg(&b, "corrupt: frame 0: negative line -1");
	bad_msg_init(&b);
	b.m.pid = -5;
	expect_bad_msg(&b, "corrupt: negative pid -5");
	bad_msg_init(&b);
	b.m.depth = -1;
	expect_bad_msg(&b, "corrupt: negative stack depth -1");
	bad_msg_init(&b);
	b.m.duration_s = NAN;
	expect_bad_msg(&b, "corrupt: duration nan is not");
	b.m.duration_s = -1.5;
	expect_bad_msg(&b, "corrupt: duration -1.5 is not");
	b.m.duration_s = INFINITY;
	expect_bad_msg(&b, "corrupt: duration inf is not");
}
END_TEST

/* What the writer is handed is checked too: nothing a reader would refuse
 * is ever written. */
START_TEST(test_encode_refuses_invalid)
{
	struct mt_snapshot *s = realistic();
	s->sites[2].stack = 4;
	uint8_t *buf = (uint8_t *)1;
	size_t len = 1;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	ck_assert_ptr_null(buf);
	ck_assert_uint_eq(len, 0);

	char *dir = tmpdir();
	char *path = path_in(dir, "x.mtsnap");
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_write(s, path, err, sizeof err), MT_E_INTERNAL);
	ck_assert_str_eq(err, "invalid snapshot (memtrace bug): site 2: stack 4, but there "
		   "are 4 stacks");
	char *names = listing(dir);
	ck_assert_str_eq(names, "");
	free(names);

	s->sites[2].stack = 3;
	s->modules[2].build_id_len = 65;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	s->modules[2].build_id_len = 0;
	s->stacks[1].site_frame = 3;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	s->stacks[1].site_frame = 2;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), 0);
	free(buf);

	free(path);
	rmtree(dir);
	free(dir);
	mt_snapshot_free(s);
}
END_TEST


/* ---- the growth series (attach --record) ----------------------------- */

/* REALISTIC with a series of 3 points: times and every site's values. */
static void add_series(struct mt_snapshot *s)
{
	s->nseries = 3;
	s->series_t = malloc(3 * sizeof *s->series_t);
	s->series_bytes = malloc((size_t)s->nsites * 3 * sizeof *s->series_bytes);
	ck_assert_ptr_nonnull(s->series_t);
	ck_assert_ptr_nonnull(s->series_bytes);
	s->series_t[0] = 0.25;
	s->series_t[1] = 1.0 / 3;
	s->series_t[2] = 1.0 / 3;   /* equal times are in order */
	for (uint32_t i = 0; i < s->nsites; i++)
		for (uint32_t j = 0; j < 3; j++)
			s->series_bytes[i * 3 + j] = i == 3 ? UINT64_MAX - j : (i + 1) * 1000 + j;
}

/* Times and values travel exactly, and the format stays version 1: a
 * reader that does not know the series skips it and misreads nothing. */
START_TEST(test_round_trip_series)
{
	struct mt_snapshot *s = realistic();
	add_series(s);
	size_t len;
	uint8_t *buf = encode(s, &len);
	ck_assert_mem_eq(buf, "MTSNAP\r\n\x01\0\0\0", 12);
	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_msg(mt_snapshot_decode(buf, len, &d, err, sizeof err) == 0, "%s", err);
	assert_same(s, d);
	ck_assert_uint_eq(d->nseries, 3);
	ck_assert_mem_eq(d->series_t, s->series_t, 3 * sizeof(double));
	ck_assert_mem_eq(d->series_bytes, s->series_bytes, 4 * 3 * sizeof(uint64_t));
	free(buf);
	mt_snapshot_free(d);

	/* without one (as every file written before series existed): none read */
	mt_snapshot_free(s);
	s = realistic();
	buf = encode(s, &len);
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_uint_eq(d->nseries, 0);
	ck_assert_ptr_null(d->series_t);
	ck_assert_ptr_null(d->series_bytes);
	free(buf);
	mt_snapshot_free(d);
	mt_snapshot_free(s);
}
END_TEST

/* The reader refuses a series out of line with its times, unbounded, or
 * with times out of order or not finite; the writer refuses to write one. */
START_TEST(test_bad_series)
{
	struct bad_msg b;
	double t[MT_SNAPSHOT_MAX_SERIES + 1];
	uint64_t v[MT_SNAPSHOT_MAX_SERIES + 1];
	for (uint32_t j = 0; j <= MT_SNAPSHOT_MAX_SERIES; j++) {
		t[j] = j;
		v[j] = j;
	}
	bad_msg_init(&b);
	b.m.n_series_t = 2;
	b.m.series_t = t;
	b.si.n_series_live_bytes = 2;
	b.si.series_live_bytes = v;
	{	/* the base case is valid */
		size_t len;
		uint8_t *buf = file_of(&b.m, &len);
		struct mt_snapshot *d = NULL;
		char err[256] = "";
		ck_assert_msg(mt_snapshot_decode(buf, len, &d, err, sizeof err) == 0, "%s", err);
		ck_assert_uint_eq(d->nseries, 2);
		ck_assert_uint_eq(d->series_bytes[1], 1);
		mt_snapshot_free(d);
		free(buf);
	}
	b.si.n_series_live_bytes = 1;
	expect_bad_msg(&b, "corrupt: sites[0] has 1 series values for 2 series times");
	b.si.n_series_live_bytes = 3;
	expect_bad_msg(&b, "corrupt: sites[0] has 3 series values for 2 series times");
	b.m.n_series_t = 0;
	expect_bad_msg(&b, "corrupt: sites[0] has 3 series values for 0 series times");
	b.m.n_series_t = MT_SNAPSHOT_MAX_SERIES + 1;
	b.si.n_series_live_bytes = MT_SNAPSHOT_MAX_SERIES + 1;
	expect_bad_msg(&b, "corrupt: a series of 4097 points (at most 4096)");
	b.m.n_series_t = MT_SNAPSHOT_MAX_SERIES;   /* the bound itself is read */
	b.si.n_series_live_bytes = MT_SNAPSHOT_MAX_SERIES;
	{
		size_t len;
		uint8_t *buf = file_of(&b.m, &len);
		struct mt_snapshot *d = NULL;
		char err[256] = "";
		ck_assert_msg(mt_snapshot_decode(buf, len, &d, err, sizeof err) == 0, "%s", err);
		mt_snapshot_free(d);
		free(buf);
	}
	b.m.n_series_t = 3;
	b.si.n_series_live_bytes = 3;
	t[1] = 5;
	expect_bad_msg(&b, "corrupt: series time 2 is 2: not a finite, non-negative time after "
		       "the one before");
	t[1] = NAN;
	expect_bad_msg(&b, "corrupt: series time 1 is nan");
	t[1] = INFINITY;
	expect_bad_msg(&b, "corrupt: series time 1 is inf");
	t[1] = 1;
	t[0] = -0.5;
	expect_bad_msg(&b, "corrupt: series time 0 is -0.5");
	t[0] = 0;

	struct mt_snapshot *s = realistic();
	add_series(s);
	s->series_t[1] = 0.125;
	uint8_t *buf = (uint8_t *)1;
	size_t len = 1;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	s->series_t[1] = 0.5;
	s->nseries = MT_SNAPSHOT_MAX_SERIES + 1;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	s->nseries = 3;
	free(s->series_bytes);
	s->series_bytes = NULL;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	mt_snapshot_free(s);
}
END_TEST

/* ---- the census ------------------------------------------------------ */

/* Every census field travels, beside the traced sites; the format stays
 * version 1 (a reader of 0.1.0 skips the census and misreads nothing). */
START_TEST(test_round_trip_census)
{
	struct mt_snapshot *s = realistic();
	struct mt_census_report *c = census_fixture();
	ck_assert_int_eq(mt_snapshot_set_census(s, c), 0);
	size_t len;
	uint8_t *buf = encode(s, &len);
	ck_assert_mem_eq(buf, "MTSNAP\r\n\x01\0\0\0", 12);
	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	assert_same(s, d);
	assert_same_census(c, d->census);
	/* deterministic, census included */
	size_t len2;
	uint8_t *buf2 = encode(d, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert_mem_eq(buf, buf2, len);
	free(buf2);
	free(buf);
	mt_snapshot_free(d);

	/* an unavailable census, alone: what census -o writes for jemalloc */
	struct mt_snapshot *only = calloc(1, sizeof *only);
	ck_assert_ptr_nonnull(only);
	struct mt_census_report u = { .available = false };
	snprintf(u.reason, sizeof u.reason, "the process uses jemalloc: no census for it");
	ck_assert_int_eq(mt_snapshot_set_census(only, &u), 0);
	buf = encode(only, &len);
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_ptr_nonnull(d->census);
	ck_assert(!d->census->available);
	ck_assert_str_eq(d->census->reason, "the process uses jemalloc: no census for it");
	ck_assert_uint_eq(d->census->ntypes + d->census->nsizes + d->census->nwarnings, 0);
	ck_assert_ptr_null(d->census->heap.verdict);
	ck_assert_uint_eq(d->nsites, 0);
	free(buf);
	mt_snapshot_free(d);
	mt_snapshot_free(only);

	mt_census_report_free(c);
	free(c);
	mt_snapshot_free(s);
}
END_TEST

/* seed-minimal.mtsnap, written by memtrace 0.1.0 before the census
 * existed (tests/fuzz/corpus/): it reads, without a census. */
static const uint8_t old_snapshot[] = {
  0x4d, 0x54, 0x53, 0x4e, 0x41, 0x50, 0x0d, 0x0a, 0x01, 0x00, 0x00, 0x00,
  0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x7e, 0xcd, 0x03, 0x00, 0xe4, 0x06, 0x0a,
  0x05, 0x30, 0x2e, 0x31, 0x2e, 0x30, 0x10, 0x01, 0x1a, 0x01, 0x74, 0x22,
  0x06, 0x2f, 0x62, 0x69, 0x6e, 0x2f, 0x74, 0x28, 0x01, 0x30, 0x01, 0x38,
  0x02, 0x41, 0x00, 0xf0, 0x3f, 0x48, 0x01, 0x62, 0x0a, 0x62, 0x72, 0x65,
  0x61, 0x6b, 0x70, 0x6f, 0x69, 0x6e, 0x74, 0x6a, 0x0e, 0x2f, 0x6c, 0x69,
  0x62, 0x63, 0x2e, 0x73, 0x6f, 0x2e, 0x36, 0x70, 0x01, 0x7a, 0x0c, 0x0a,
  0x12, 0x02, 0xab, 0xcd, 0x82, 0x01, 0x19, 0x08, 0x01, 0x10, 0xb9, 0x22,
  0x18, 0xa9, 0xa3, 0xd5, 0xaa, 0xd5, 0xaa, 0x15, 0x22, 0x01, 0x66, 0x28,
  0x04, 0x32, 0x03, 0x74, 0x2e, 0x63, 0x38, 0x03, 0x8a, 0x01, 0x03, 0x0a,
  0x01, 0x00, 0x92, 0x01, 0x08, 0x10, 0x01, 0x18, 0x10, 0x20, 0x01, 0x30,
  0x10, 0x03, 0x00, 0x5c, 0xa5, 0xb7, 0xb3, 0x46, 0x0b, 0x9c, 0x52, 0x42,
  0xbf, 0x04
};

START_TEST(test_old_snapshot_has_no_census)
{
	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_decode(old_snapshot, sizeof old_snapshot, &d, err,
					    sizeof err), 0);
	ck_assert_ptr_null(d->census);
	ck_assert_uint_eq(d->nsites, 1);
	ck_assert_uint_eq(d->sites[0].live_bytes, 16);
	ck_assert_str_eq(d->comm, "t");
	/* written again without a census: the very same bytes */
	size_t len;
	uint8_t *buf = encode(d, &len);
	ck_assert_uint_eq(len, sizeof old_snapshot);
	ck_assert_mem_eq(buf, old_snapshot, len);
	free(buf);
	mt_snapshot_free(d);
}
END_TEST

/* set_census copies: the caller's census may go; NULL removes it; a
 * nameless type row is "?", a size row's name is dropped, long text is
 * cut, a verdict of a newer memtrace reads as "unknown". */
START_TEST(test_set_census_copies)
{
	struct mt_snapshot *s = calloc(1, sizeof *s);
	ck_assert_ptr_nonnull(s);
	struct mt_census_report *c = census_fixture();
	ck_assert_int_eq(mt_snapshot_set_census(s, c), 0);
	ck_assert_ptr_ne(s->census->types, c->types);
	ck_assert_ptr_ne(s->census->types[0].type, c->types[0].type);
	ck_assert_ptr_ne(s->census->warnings[0], c->warnings[0]);
	struct mt_census_report *keep = census_fixture();
	mt_census_report_free(c);
	ck_assert_ptr_null(c->types);
	mt_census_report_free(c);   /* twice: harmless */
	free(c);
	assert_same_census(keep, s->census);

	free(keep->types[1].type);
	keep->types[1].type = NULL;
	keep->sizes[1].type = xstrdup("stray");
	memset(keep->allocator, 'x', sizeof keep->allocator);   /* unterminated */
	keep->heap.verdict = "fragmented";
	ck_assert_int_eq(mt_snapshot_set_census(s, keep), 0);   /* replaces */
	ck_assert_str_eq(s->census->types[1].type, "?");
	ck_assert_ptr_null(s->census->sizes[1].type);
	ck_assert_uint_eq(strlen(s->census->allocator), sizeof keep->allocator - 1);
	ck_assert_str_eq(s->census->heap.verdict, "unknown");
	ck_assert(mt_snapshot_valid(s, NULL, 0));

	keep->nwarnings = 3;
	free(keep->warnings[0]);
	free(keep->warnings[1]);
	free(keep->warnings);
	keep->warnings = NULL;
	keep->nwarnings = 3;
	ck_assert_int_eq(mt_snapshot_set_census(s, keep), -EINVAL);
	ck_assert_str_eq(s->census->types[1].type, "?");         /* unchanged */
	keep->nwarnings = 0;
	mt_census_report_free(keep);
	free(keep);

	ck_assert_int_eq(mt_snapshot_set_census(s, NULL), 0);
	ck_assert_ptr_null(s->census);
	mt_snapshot_free(s);
}
END_TEST

/* The reader checks the census like the rest. */
START_TEST(test_bad_census)
{
	Mtsnap__CensusRow row = MTSNAP__CENSUS_ROW__INIT, *prow = &row;
	Mtsnap__HeapSummary heap = MTSNAP__HEAP_SUMMARY__INIT;
	Mtsnap__Census cen = MTSNAP__CENSUS__INIT;
	Mtsnap__Snapshot m = MTSNAP__SNAPSHOT__INIT;
	m.census = &cen;
	cen.available = true;
	cen.heap = &heap;
	uint8_t longtext[300];
	memset(longtext, 'a', sizeof longtext);

	/* valid to begin with */
	size_t len;
	uint8_t *buf = file_of(&m, &len);
	struct mt_snapshot *d = NULL;
	char err[256] = "";
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_ptr_nonnull(d->census);
	ck_assert(d->census->available);
	mt_snapshot_free(d);
	free(buf);

	cen.reason.len = 256;
	cen.reason.data = longtext;
	buf = file_of(&m, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: census.reason of 256 bytes (at most 255)");
	free(buf);
	cen.reason.len = 0;
	cen.allocator.len = 3;
	cen.allocator.data = (uint8_t *)"g\0c";
	buf = file_of(&m, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: a NUL byte in census.allocator");
	free(buf);
	cen.allocator.len = 0;

	cen.n_types = 1;
	cen.types = &prow;
	buf = file_of(&m, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: census types[0] has no type name");
	free(buf);
	row.type.len = 5;
	row.type.data = (uint8_t *)"Order";
	buf = file_of(&m, &len);
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_str_eq(d->census->types[0].type, "Order");
	mt_snapshot_free(d);
	free(buf);
	/* a name on a size row is not read */
	cen.n_types = 0;
	cen.n_sizes = 1;
	cen.sizes = &prow;
	buf = file_of(&m, &len);
	ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
	ck_assert_ptr_null(d->census->sizes[0].type);
	mt_snapshot_free(d);
	free(buf);

	cen.paused_ms = NAN;
	buf = file_of(&m, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: census times nan and 0 ms");
	free(buf);
	cen.paused_ms = 0;
	cen.took_ms = -1;
	buf = file_of(&m, &len);
	expect_bad(buf, len, MT_E_BAD_SNAPSHOT, "corrupt: census times 0 and -1 ms");
	free(buf);
	cen.took_ms = 2;

	/* verdicts: known ones as they are, others "unknown", none NULL */
	static const struct { const char *in; size_t len; const char *out; } v[] = {
		{ "retention", 9, "retention" }, { "normal", 6, "normal" },
		{ "fragmented", 10, "unknown" }, { "no\0rmal", 7, "unknown" },
		{ "a verdict far too long to be one", 32, "unknown" }, { "", 0, NULL },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		heap.verdict.len = v[i].len;
		heap.verdict.data = (uint8_t *)v[i].in;
		buf = file_of(&m, &len);
		ck_assert_int_eq(mt_snapshot_decode(buf, len, &d, err, sizeof err), 0);
		if (v[i].out)
			ck_assert_str_eq(d->census->heap.verdict, v[i].out);
		else
			ck_assert_ptr_null(d->census->heap.verdict);
		mt_snapshot_free(d);
		free(buf);
	}
}
END_TEST

/* The writer refuses a census a reader would refuse. */
START_TEST(test_encode_refuses_bad_census)
{
	struct mt_snapshot *s = realistic();
	struct mt_census_report *c = census_fixture();
	ck_assert_int_eq(mt_snapshot_set_census(s, c), 0);
	uint8_t *buf;
	size_t len;
	s->census->took_ms = INFINITY;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	s->census->took_ms = 1;
	char *t = s->census->types[0].type;
	s->census->types[0].type = NULL;
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	s->census->types[0].type = t;
	s->census->sizes[0].type = t;
	char why[128];
	ck_assert(!mt_snapshot_valid(s, why, sizeof why));
	ck_assert_str_eq(why, "census sizes[0] has a type name");
	s->census->sizes[0].type = NULL;
	s->census->heap.verdict = "maybe";
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), MT_E_INTERNAL);
	s->census->heap.verdict = "normal";
	ck_assert_int_eq(mt_snapshot_encode(s, &buf, &len), 0);
	free(buf);
	mt_census_report_free(c);
	free(c);
	mt_snapshot_free(s);
}
END_TEST

START_TEST(test_read_errors)
{
	char *dir = tmpdir();
	char err[256];
	struct mt_snapshot *d = (struct mt_snapshot *)1;

	/* a directory */
	ck_assert_int_eq(mt_snapshot_read(dir, &d, err, sizeof err), MT_E_IO);
	ck_assert_ptr_null(d);
	ck_assert_str_eq(err, "cannot read: Is a directory");

	/* missing */
	char *missing = path_in(dir, "missing.mtsnap");
	ck_assert_int_eq(mt_snapshot_read(missing, &d, err, sizeof err), MT_E_IO);
	ck_assert_str_eq(err, "cannot open: No such file or directory");

	/* through a file, as if it were a directory */
	char *file = path_in(dir, "file");
	write_file(file, "x", 1);
	char *through = path_in(file, "x.mtsnap");
	ck_assert_int_eq(mt_snapshot_read(through, &d, err, sizeof err), MT_E_IO);
	ck_assert_str_eq(err, "cannot open: Not a directory");

	/* unreadable (root reads it anyway) */
	struct mt_snapshot *s = realistic();
	char *locked = path_in(dir, "locked.mtsnap");
	ck_assert_int_eq(mt_snapshot_write(s, locked, err, sizeof err), 0);
	ck_assert_int_eq(chmod(locked, 0), 0);
	if (geteuid() != 0) {
		ck_assert_int_eq(mt_snapshot_read(locked, &d, err, sizeof err), MT_E_IO);
		ck_assert_str_eq(err, "cannot open: Permission denied");
	}

	/* an endless stream that is not a snapshot is refused at once */
	ck_assert_int_eq(mt_snapshot_read("/dev/zero", &d, err, sizeof err),
			 MT_E_BAD_SNAPSHOT);
	ck_assert_str_eq(err, "not a memtrace snapshot");
	ck_assert_ptr_null(d);

	/* a text file */
	char *text = path_in(dir, "report.txt");
	write_file(text, "live bytes\n", 11);
	ck_assert_int_eq(mt_snapshot_read(text, &d, err, sizeof err), MT_E_BAD_SNAPSHOT);
	ck_assert_str_eq(err, "not a memtrace snapshot");

	/* a truncated file */
	size_t len;
	uint8_t *buf = encode(s, &len);
	char *cut = path_in(dir, "cut.mtsnap");
	write_file(cut, buf, len - 1);
	ck_assert_int_eq(mt_snapshot_read(cut, &d, err, sizeof err), MT_E_BAD_SNAPSHOT);
	ck_assert_str_eq(err, "truncated");

	/* a sparse file larger than any snapshot, with a good header */
	char *huge = path_in(dir, "huge.mtsnap");
	write_file(huge, buf, MT_SNAPSHOT_HEADER_LEN);
	ck_assert_int_eq(truncate(huge, (off_t)(MT_SNAPSHOT_MAX_DECOMPRESSED * 2)), 0);
	ck_assert_int_eq(mt_snapshot_read(huge, &d, err, sizeof err), MT_E_BAD_SNAPSHOT);
	ck_assert_msg(strncmp(err, "corrupt: larger than any snapshot (", 35) == 0, "%s", err);
	free(huge);

	free(buf);
	mt_snapshot_free(s);
	free(missing);
	free(file);
	free(through);
	free(locked);
	free(text);
	free(cut);
	rmtree(dir);
	free(dir);
}
END_TEST

/* Not a regular file: a pipe (memtrace diff <(ssh host cat a.mtsnap) b),
 * with more data than the first read asks for. */
START_TEST(test_read_pipe)
{
	struct mt_snapshot *s = realistic();
	free(s->sites);
	s->nsites = 20000;
	s->sites = calloc(s->nsites, sizeof *s->sites);
	ck_assert_ptr_nonnull(s->sites);
	for (uint32_t i = 0; i < s->nsites; i++)
		s->sites[i] = (struct mt_snap_site){ i % 4, i * 7919u, i * 104729u, i, i / 2,
						     i * 3u };
	size_t len;
	uint8_t *buf = encode(s, &len);
	ck_assert_uint_gt(len, 65536 + 4096);

	/* the whole file fits in the pipe: no writer process needed */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_ge(fcntl(fds[1], F_SETPIPE_SZ, (int)len), (int)len);
	ck_assert_int_eq(write(fds[1], buf, len), (ssize_t)len);
	close(fds[1]);
	char path[64], err[256] = "";
	snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
	struct mt_snapshot *d = NULL;
	ck_assert_msg(mt_snapshot_read(path, &d, err, sizeof err) == 0, "%s", err);
	assert_same(s, d);
	mt_snapshot_free(d);
	close(fds[0]);
	free(buf);
	mt_snapshot_free(s);
}
END_TEST

/* ---- atomic writes --------------------------------------------------- */

START_TEST(test_atomic_replace)
{
	char *dir = tmpdir();
	char *path = path_in(dir, "s.mtsnap");
	char err[256] = "";
	struct mt_snapshot *s = realistic();
	ck_assert_int_eq(mt_snapshot_write(s, path, err, sizeof err), 0);
	s->pid = 1;
	s->sites[0].live_bytes = 1;
	ck_assert_int_eq(mt_snapshot_write(s, path, err, sizeof err), 0);
	struct mt_snapshot *d = NULL;
	ck_assert_int_eq(mt_snapshot_read(path, &d, err, sizeof err), 0);
	assert_same(s, d);
	mt_snapshot_free(d);
	char *names = listing(dir);
	ck_assert_str_eq(names, "s.mtsnap");
	free(names);

	/* a bare file name lands in the current directory */
	char *cwd = getcwd(NULL, 0);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(mt_snapshot_write(s, "here.mtsnap", err, sizeof err), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	free(cwd);
	names = listing(dir);
	ck_assert_str_eq(names, "here.mtsnap s.mtsnap");
	free(names);

	mt_snapshot_free(s);
	free(path);
	rmtree(dir);
	free(dir);
}
END_TEST

/* The write fails half-way (the file size limit, which binds root too):
 * the old snapshot is intact and no temporary is left. */
START_TEST(test_atomic_failure_keeps_old)
{
	char *dir = tmpdir();
	char *path = path_in(dir, "s.mtsnap");
	char err[256] = "";
	struct mt_snapshot small = { .pid = 99 };
	ck_assert_int_eq(mt_snapshot_write(&small, path, err, sizeof err), 0);
	struct stat before;
	ck_assert_int_eq(stat(path, &before), 0);

	/* a snapshot larger than the limit below: many sites of random sizes */
	struct mt_snapshot *big = realistic();
	free(big->sites);
	big->nsites = 20000;
	big->sites = calloc(big->nsites, sizeof *big->sites);
	ck_assert_ptr_nonnull(big->sites);
	srand(1);
	for (uint32_t i = 0; i < big->nsites; i++)
		big->sites[i] = (struct mt_snap_site){ i % 4, (uint64_t)rand(), (uint64_t)rand(),
						       (uint64_t)rand(), 0, (uint64_t)rand() };
	size_t len;
	uint8_t *buf = encode(big, &len);
	free(buf);
	ck_assert_uint_gt(len, 16384);

	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { 8192, 8192 };
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);   /* this test's process only */
	ck_assert_int_eq(mt_snapshot_write(big, path, err, sizeof err), MT_E_IO);
	ck_assert_str_eq(err, "cannot write: File too large");

	struct mt_snapshot *d = NULL;
	ck_assert_int_eq(mt_snapshot_read(path, &d, err, sizeof err), 0);
	ck_assert_int_eq(d->pid, 99);
	mt_snapshot_free(d);
	char *names = listing(dir);
	ck_assert_str_eq(names, "s.mtsnap");
	free(names);

	/* a directory in the way: the rename fails, the temporary goes */
	char *sub = path_in(dir, "sub");
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	char *inner = path_in(sub, "keep");
	write_file(inner, "k", 1);
	ck_assert_int_eq(mt_snapshot_write(&small, sub, err, sizeof err), MT_E_IO);
	ck_assert_msg(strncmp(err, "cannot rename the temporary file over it: ", 42) == 0,
		      "%s", err);
	names = listing(dir);
	ck_assert_str_eq(names, "s.mtsnap sub");
	free(names);

	/* no such directory: nothing to clean up */
	char *nodir = path_in(dir, "nodir/s.mtsnap");
	ck_assert_int_eq(mt_snapshot_write(&small, nodir, err, sizeof err), MT_E_IO);
	ck_assert_msg(strstr(err, "cannot create a temporary file in ") == err &&
		      strstr(err, "/nodir: No such file or directory"), "%s", err);

	/* a directory we may not write (root may) */
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(dir, 0500), 0);
		ck_assert_int_eq(mt_snapshot_write(&small, path, err, sizeof err), MT_E_IO);
		ck_assert_msg(strstr(err, ": Permission denied") != NULL, "%s", err);
		ck_assert_int_eq(chmod(dir, 0700), 0);
		names = listing(dir);
		ck_assert_str_eq(names, "s.mtsnap sub");
		free(names);
	}

	mt_snapshot_free(big);
	free(inner);
	free(sub);
	free(nodir);
	free(path);
	rmtree(dir);
	free(dir);
}
END_TEST

static Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("format");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_round_trip_sampling);
	tcase_add_test(tc, test_round_trip_file);
	tcase_add_test(tc, test_round_trip_empty);
	tcase_add_test(tc, test_unknown_fields_skipped);
	tcase_add_test(tc, test_round_trip_census);
	tcase_add_test(tc, test_round_trip_series);
	tcase_add_test(tc, test_bad_series);
	tcase_add_test(tc, test_old_snapshot_has_no_census);
	tcase_add_test(tc, test_set_census_copies);
	tcase_add_test(tc, test_bad_census);
	tcase_add_test(tc, test_encode_refuses_bad_census);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad input");
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_truncated_every_length);
	tcase_add_test(tc, test_wrong_magic);
	tcase_add_test(tc, test_future_version);
	tcase_add_test(tc, test_corrupt_zstd);
	tcase_add_test(tc, test_garbage_protobuf);
	tcase_add_test(tc, test_indexes_out_of_range);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_encode_refuses_invalid);
	tcase_add_test(tc, test_read_errors);
	tcase_add_test(tc, test_read_pipe);
	suite_add_tcase(s, tc);
	tc = tcase_create("atomic");
	tcase_add_test(tc, test_atomic_replace);
	tcase_add_test(tc, test_atomic_failure_keeps_old);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(snapshot_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
