/* census.c against a fake process image: modules holding vtables and
 * typeinfos as the Itanium C++ ABI lays them out (and hostile ones), a
 * heap given as chunks.  Also the block table and the verdict. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "census/census.h"
#include "report/report.h"
#include "model/tracker.h"

extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* ---- the fake image -------------------------------------------------- */

#define LIBSTD 0x10000ull   /* "libstdc++": the class typeinfo classes */
#define APP 0x20000ull      /* "the program": its classes */
#define REGION 0x10000ull

/* The census as the tracker's prior blocks, as session_census.c gives it. */
static void set_prior(struct mt_tracker *t, struct mt_census *c)
{
	struct mt_prior_blocks prior = mt_census_prior(c);
	mt_tracker_set_census(t, &prior);
}

static uint8_t libstd[REGION], app[REGION];
static unsigned long reads;
static uint64_t resident_bytes;
static int resident_fail;

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	reads++;
	uint8_t *base = addr >= LIBSTD && addr < LIBSTD + REGION ? libstd
			: addr >= APP && addr < APP + REGION ? app : NULL;
	uint64_t start = base == libstd ? LIBSTD : APP;
	if (!base || addr + len > start + REGION || addr + len < addr)
		return -14;
	memcpy(buf, base + (addr - start), len);
	return 0;
}

static int fake_resident(void *ctx, uint64_t lo, uint64_t hi, uint64_t *bytes)
{
	(void)ctx;
	(void)lo;
	if (resident_fail)
		return -5;
	*bytes = resident_bytes < hi - lo ? resident_bytes : hi - lo;
	return 0;
}

static struct mt_memsrc src = { fake_read, fake_resident, NULL };
static struct mt_map map_v[3];
static struct mt_maps maps = { map_v, 3 };

static void put64(uint64_t addr, uint64_t v)
{
	uint8_t *base = addr < APP ? libstd : app;
	memcpy(base + (addr - (addr < APP ? LIBSTD : APP)), &v, 8);
}

static void putstr(uint64_t addr, const char *s)
{
	uint8_t *base = addr < APP ? libstd : app;
	memcpy(base + (addr - (addr < APP ? LIBSTD : APP)), s, strlen(s) + 1);
}

/* A vtable at AT with offset-to-top OTT and typeinfo TI: its address point. */
static uint64_t vtable(uint64_t at, uint64_t ott, uint64_t ti)
{
	put64(at, ott);
	put64(at + 8, ti);
	put64(at + 16, 0x4242);   /* a "function" */
	return at + 16;
}

/* A typeinfo at AT of class-typeinfo vptr TIVP, named by the string at NAME. */
static uint64_t typeinfo(uint64_t at, uint64_t tivp, uint64_t name)
{
	put64(at, tivp);
	put64(at + 8, name);
	return at;
}

static uint64_t CT_VP, W_VP, G_VP, BADTI_VP, CYCLE_VP, NONUL_VP, BADCH_VP, OTT_VP,
	FAKETI_VP, NORTTI_VP, LOCAL_VP;

static void build_image(void)
{
	memset(libstd, 0, sizeof libstd);
	memset(app, 0, sizeof app);
	putstr(LIBSTD + 0x000, "N10__cxxabiv117__class_type_infoE");
	putstr(LIBSTD + 0x040, "N10__cxxabiv120__si_class_type_infoE");
	/* __si_class_type_info's vtable and typeinfo (an si typeinfo itself) */
	uint64_t si_vp = vtable(LIBSTD + 0x300, 0, LIBSTD + 0x120);
	typeinfo(LIBSTD + 0x120, si_vp, LIBSTD + 0x040);
	/* __class_type_info's: its typeinfo is an si typeinfo */
	typeinfo(LIBSTD + 0x100, si_vp, LIBSTD + 0x000);
	CT_VP = vtable(LIBSTD + 0x200, 0, LIBSTD + 0x100);

	putstr(APP + 0x000, "6Widget");
	W_VP = vtable(APP + 0x200, 0, typeinfo(APP + 0x100, CT_VP, APP + 0x000));
	putstr(APP + 0x300, "N2ns6GadgetE");
	G_VP = vtable(APP + 0x400, 0, typeinfo(APP + 0x340, si_vp, APP + 0x300));
	/* typeinfo out of every mapping */
	BADTI_VP = vtable(APP + 0x500, 0, 0xdead0000);
	/* typeinfo pointing back at the vtable: its "vptr" is 0 */
	CYCLE_VP = vtable(APP + 0x600, 0, APP + 0x600);
	/* a name running to the end of its mapping with no NUL */
	memset(app + REGION - 8, 'A', 8);
	NONUL_VP = vtable(APP + 0x800, 0, typeinfo(APP + 0x700, CT_VP, APP + REGION - 8));
	/* a name of characters no mangled name has */
	putstr(APP + 0x900, "6Wid get");
	BADCH_VP = vtable(APP + 0xa00, 0, typeinfo(APP + 0x940, CT_VP, APP + 0x900));
	/* a secondary vtable: offset-to-top -16 */
	OTT_VP = vtable(APP + 0xb00, (uint64_t)-16, APP + 0x100);
	/* a "typeinfo" whose vptr is Widget's: no class typeinfo class */
	FAKETI_VP = vtable(APP + 0xd00, 0, typeinfo(APP + 0xc00, W_VP, APP + 0x000));
	/* -fno-rtti: no typeinfo at all (named by its symbol) */
	NORTTI_VP = vtable(APP + 0xe00, 0, 0);
	/* a class in an anonymous namespace: GCC's '*' */
	putstr(APP + 0xf00, "*N12_GLOBAL__N_15LocalE");
	LOCAL_VP = vtable(APP + 0x1000, 0, typeinfo(APP + 0xf40, CT_VP, APP + 0xf00));

	map_v[0] = (struct mt_map){ .start = LIBSTD, .end = LIBSTD + REGION, .r = true,
				    .path = "/usr/lib/libstdc++.so.6" };
	map_v[1] = (struct mt_map){ .start = APP, .end = APP + REGION, .r = true, .path = "/app" };
	map_v[2] = (struct mt_map){ .start = 0x100000, .end = 0x10000000, .r = true, .w = true,
				    .path = "[heap]" };
}

static int demangle(const char *m, char *out, size_t len)
{
	int st = -1;
	char *d = __cxa_demangle(m, NULL, NULL, &st);
	if (!d || st)
		return free(d), -1;
	snprintf(out, len, "%s", d);
	free(d);
	return 0;
}

static bool symbol(void *ctx, uint64_t addr, char *out, size_t len)
{
	(void)ctx;
	if (addr >= APP + 0xe00 && addr < APP + 0xe40) {
		snprintf(out, len, "_ZTV5Plain");
		return true;
	}
	return false;
}

static struct mt_census *census_new(void)
{
	build_image();
	struct mt_census_config cfg = { &src, &maps, demangle, symbol, NULL };
	struct mt_census *c = mt_census_new(&cfg);
	ck_assert_ptr_nonnull(c);
	return c;
}

static uint64_t next_addr = 0x200010;

static void live(struct mt_census *c, uint64_t word0, uint64_t size)
{
	struct mt_glheap_chunk ch = { .chunk = next_addr - 16, .addr = next_addr, .size = size,
				      .usable = size - 8, .word0 = word0, .kind = MT_CHUNK_LIVE };
	ck_assert_int_eq(mt_census_chunk(c, &ch), 0);
	next_addr += size;
}

static const struct mt_census_row *type_row(const struct mt_census_report *r, const char *t)
{
	for (size_t i = 0; i < r->ntypes; i++)
		if (strcmp(r->types[i].type, t) == 0)
			return &r->types[i];
	return NULL;
}

static const struct mt_census_row *size_row(const struct mt_census_report *r, uint64_t usable)
{
	for (size_t i = 0; i < r->nsizes; i++)
		if (r->sizes[i].size == usable)
			return &r->sizes[i];
	return NULL;
}

/* ---- naming ----------------------------------------------------------- */

START_TEST(test_names_classes)
{
	struct mt_census *c = census_new();
	for (int i = 0; i < 3; i++)
		live(c, W_VP, 48);
	live(c, G_VP, 64);
	live(c, G_VP, 64);
	live(c, LOCAL_VP, 32);
	live(c, NORTTI_VP, 32);
	ck_assert_int_eq(mt_census_finish(c, NULL), 0);
	struct mt_census_report r;
	ck_assert_int_eq(mt_census_report(c, "glibc 2.36", 1.5, 20, 0, &r), 0);
	ck_assert_uint_eq(r.ntypes, 4);
	ck_assert_uint_eq(r.nsizes, 0);
	const struct mt_census_row *w = type_row(&r, "Widget");
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(w->blocks, 3);
	ck_assert_uint_eq(w->bytes, 144);
	ck_assert_uint_eq(type_row(&r, "ns::Gadget")->blocks, 2);
	ck_assert_ptr_nonnull(type_row(&r, "(anonymous namespace)::Local"));
	ck_assert_ptr_nonnull(type_row(&r, "Plain"));
	/* largest bytes first */
	ck_assert_str_eq(r.types[0].type, "Widget");
	ck_assert_str_eq(r.types[1].type, "ns::Gadget");
	ck_assert_uint_eq(r.blocks, 7);
	ck_assert_uint_eq(r.bytes, 144 + 128 + 64);
	ck_assert_str_eq(r.allocator, "glibc 2.36");
	ck_assert(r.available);
	mt_census_report_free(&r);
	mt_census_destroy(c);
}
END_TEST

/* Every hostile vtable falls to the size rows: nothing is misnamed. */
START_TEST(test_hostile_vtables)
{
	struct mt_census *c = census_new();
	uint64_t bad[] = { BADTI_VP, CYCLE_VP, NONUL_VP, BADCH_VP, OTT_VP, FAKETI_VP,
			   APP + REGION - 4, /* the vtable's words run off the mapping */
			   W_VP + 1,         /* misaligned */
			   0x300000,         /* heap, not a module */
			   0xffffffffffffff00ull, 0 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		live(c, bad[i], 96);
	/* a block too small for a word: never read as a vptr */
	struct mt_glheap_chunk tiny = { .chunk = 0x9000000, .addr = 0x9000010, .size = 16,
					.usable = 0, .word0 = W_VP, .kind = MT_CHUNK_LIVE };
	ck_assert_int_eq(mt_census_chunk(c, &tiny), 0);
	mt_census_finish(c, NULL);
	struct mt_census_report r;
	ck_assert_int_eq(mt_census_report(c, "glibc 2.36", 0, 0, 0, &r), 0);
	ck_assert_uint_eq(r.ntypes, 0);
	ck_assert_uint_eq(r.nsizes, 2);
	ck_assert_uint_eq(size_row(&r, 88)->blocks, sizeof bad / sizeof bad[0]);
	ck_assert_uint_eq(size_row(&r, 0)->blocks, 1);
	mt_census_report_free(&r);
	mt_census_destroy(c);
}
END_TEST

/* A million objects of one class: the vtable is read once. */
START_TEST(test_cache_per_vptr)
{
	struct mt_census *c = census_new();
	live(c, W_VP, 48);
	unsigned long before = reads;
	for (int i = 0; i < 100000; i++)
		live(c, W_VP, 48);
	ck_assert_uint_eq(reads, before);
	mt_census_finish(c, NULL);
	ck_assert_uint_eq(mt_census_live_blocks(c), 100001);
	mt_census_destroy(c);
}
END_TEST

/* ---- the block table ------------------------------------------------- */

START_TEST(test_table_many_and_frees)
{
	struct mt_census *c = census_new();
	enum { N = 1000000 };
	/* walk order is not address order: arenas come in any order */
	for (int i = 0; i < N; i++) {
		uint64_t a = 0x10000000ull + (uint64_t)((i * 7919ull) % N) * 64;
		struct mt_glheap_chunk ch = { .chunk = a - 16, .addr = a, .size = 64, .usable = 56,
					      .word0 = i % 2 ? W_VP : 7, .kind = MT_CHUNK_LIVE };
		ck_assert_int_eq(mt_census_chunk(c, &ch), 0);
	}
	mt_census_finish(c, NULL);
	/* 16 bytes a block, the table cut to whole pages */
	ck_assert_double_le(mt_census_bytes_per_block(c), 16.0 + 4096.0 / N);
	ck_assert_double_ge(mt_census_bytes_per_block(c), 16.0);
	for (int i = 0; i < N; i += 2)
		ck_assert(mt_census_free(c, 0x10000000ull + (uint64_t)i * 64));
	ck_assert(!mt_census_free(c, 0x10000000ull));        /* twice */
	ck_assert(!mt_census_free(c, 0x10000000ull + 8));    /* not a block's start */
	ck_assert(!mt_census_holds(c, 0x10000000ull));
	ck_assert(mt_census_holds(c, 0x10000000ull + 64));
	ck_assert_uint_eq(mt_census_live_blocks(c), N / 2);
	ck_assert_uint_eq(mt_census_live_bytes(c), (uint64_t)N / 2 * 64);
	struct mt_census_report r;
	mt_census_report(c, "glibc 2.36", 0, 0, 0, &r);
	ck_assert_uint_eq(r.blocks, N);
	ck_assert_uint_eq(r.freed_blocks, N / 2);
	ck_assert_uint_eq(r.freed_bytes, (uint64_t)N / 2 * 64);
	/* rows are what was censused; freed_* what left since */
	uint64_t rows = 0;
	for (size_t i = 0; i < r.ntypes; i++)
		rows += r.types[i].blocks;
	for (size_t i = 0; i < r.nsizes; i++)
		rows += r.sizes[i].blocks;
	ck_assert_uint_eq(rows, N);
	mt_census_report_free(&r);
	mt_census_destroy(c);
}
END_TEST

/* Descending, and sorted runs one after the other, as arenas come. */
START_TEST(test_table_orders)
{
	for (int order = 0; order < 2; order++) {
		struct mt_census *c = census_new();
		enum { N = 100000 };
		for (int i = 0; i < N; i++) {
			uint64_t k = order == 0 ? (uint64_t)(N - 1 - i)
						: (uint64_t)((i % 4) * (N / 4) + i / 4);
			uint64_t a = 0x10000000ull + k * 32;
			struct mt_glheap_chunk ch = { .chunk = a - 16, .addr = a, .size = 32,
						      .usable = 24, .kind = MT_CHUNK_LIVE };
			ck_assert_int_eq(mt_census_chunk(c, &ch), 0);
		}
		mt_census_finish(c, NULL);
		for (int i = 0; i < N; i++)
			ck_assert_msg(mt_census_free(c, 0x10000000ull + (uint64_t)i * 32),
				      "order %d: block %d not found", order, i);
		ck_assert_uint_eq(mt_census_live_blocks(c), 0);
		mt_census_destroy(c);
	}
}
END_TEST

START_TEST(test_table_huge_block)
{
	struct mt_census *c = census_new();
	uint64_t huge = 100ull << 30;   /* past the 32-bit size field */
	struct mt_glheap_chunk ch = { .chunk = 0x7f0000000000ull, .addr = 0x7f0000000010ull,
				      .size = huge, .usable = huge - 16, .kind = MT_CHUNK_LIVE,
				      .mmapped = true, .arena = ~0u };
	ck_assert_int_eq(mt_census_chunk(c, &ch), 0);
	mt_census_finish(c, NULL);
	ck_assert_uint_eq(mt_census_live_bytes(c), huge);
	ck_assert(mt_census_free(c, 0x7f0000000010ull));
	ck_assert_uint_eq(mt_census_live_bytes(c), 0);
	mt_census_destroy(c);
}
END_TEST

/* ---- heap summary and verdict ---------------------------------------- */

START_TEST(test_verdict)
{
	const uint64_t MiB = 1 << 20;
	ck_assert_str_eq(mt_census_verdict(25 * MiB, 375 * MiB), "retention");
	ck_assert_str_eq(mt_census_verdict(25 * MiB, 64 * MiB), "retention");
	ck_assert_str_eq(mt_census_verdict(25 * MiB, 64 * MiB - 1), "normal");   /* floor */
	ck_assert_str_eq(mt_census_verdict(0, 63 * MiB), "normal");
	ck_assert_str_eq(mt_census_verdict(500 * MiB, 400 * MiB), "normal");
	ck_assert_str_eq(mt_census_verdict(400 * MiB, 400 * MiB), "normal");   /* not more */
}
END_TEST

static void free_chunk(struct mt_census *c, enum mt_chunk_kind k, uint64_t chunk,
		       uint64_t size, unsigned arena)
{
	struct mt_glheap_chunk ch = { .chunk = chunk, .addr = chunk + 16, .size = size,
				      .usable = size - 8, .kind = k, .arena = arena };
	ck_assert_int_eq(mt_census_chunk(c, &ch), 0);
}

START_TEST(test_heap_summary)
{
	struct mt_census *c = census_new();
	resident_bytes = UINT64_MAX;
	resident_fail = 0;
	live(c, 0, 1 << 20);
	/* a binned chunk of 3 pages + 16 at a page start: the pages past its
	 * first 48 bytes: 2 whole ones */
	free_chunk(c, MT_CHUNK_UNSORTED, 0x1000000, 3 * 4096 + 16, 0);
	free_chunk(c, MT_CHUNK_TCACHE, 0x2000000, 8192, 0);      /* malloc_trim keeps it */
	free_chunk(c, MT_CHUNK_TOP, 0x3000000, 5 * 4096, 1);     /* not the main arena's */
	free_chunk(c, MT_CHUNK_TOP, 0x4000000, 5 * 4096, 0);     /* down to MINSIZE: 4 pages */
	struct mt_glheap_stats st = { .arenas = 2, .mapped_bytes = 200 << 20,
				      .live_bytes = 1 << 20, .complete = true };
	st.free_bytes[MT_CHUNK_UNSORTED] = 3 * 4096 + 16;
	st.free_bytes[MT_CHUNK_TCACHE] = 8192;
	st.free_bytes[MT_CHUNK_TOP] = 10 * 4096;
	st.free_bytes[MT_CHUNK_SMALLBIN] = 100 << 20;
	mt_census_finish(c, &st);
	struct mt_census_report r;
	mt_census_report(c, "glibc 2.36", 0, 0, 300 << 20, &r);
	ck_assert(r.heap.known);
	ck_assert_uint_eq(r.heap.trimmable_bytes, (2 + 4) * 4096);
	ck_assert_uint_eq(r.heap.free_bytes, 3 * 4096 + 16 + 8192 + 10 * 4096 + (100 << 20));
	ck_assert_uint_eq(r.tcache_bytes, 8192);
	ck_assert_uint_eq(r.bin_bytes, 3 * 4096 + 16 + (100 << 20));
	ck_assert_uint_eq(r.top_bytes, 10 * 4096);
	ck_assert_uint_eq(r.heap.rss_bytes, 300 << 20);
	ck_assert_uint_eq(r.heap.arenas, 2);
	ck_assert_str_eq(r.heap.verdict, "retention");
	ck_assert(r.complete);
	ck_assert_uint_eq(r.nwarnings, 0);
	mt_census_report_free(&r);
	mt_census_destroy(c);
}
END_TEST

/* Pages not resident are not trimmable; unknown residency is said. */
START_TEST(test_trimmable_residency)
{
	struct mt_census *c = census_new();
	resident_bytes = 4096;
	resident_fail = 0;
	free_chunk(c, MT_CHUNK_LARGEBIN, 0x1000000, 9 * 4096, 0);
	resident_fail = 1;
	free_chunk(c, MT_CHUNK_LARGEBIN, 0x2000000, 9 * 4096, 0);
	mt_census_finish(c, NULL);
	struct mt_census_report r;
	mt_census_report(c, "glibc 2.36", 0, 0, 0, &r);
	ck_assert_uint_eq(r.heap.trimmable_bytes, 4096 + 8 * 4096);
	ck_assert_uint_eq(r.nwarnings, 1);
	ck_assert_ptr_nonnull(strstr(r.warnings[0], "residency"));
	mt_census_report_free(&r);
	mt_census_destroy(c);
	resident_fail = 0;
}
END_TEST

START_TEST(test_warnings_bounded)
{
	struct mt_census *c = census_new();
	for (int i = 0; i < 1000; i++)
		mt_census_warn(c, "heap 0x1000: bad chunk size");
	mt_census_finish(c, NULL);
	struct mt_census_report r;
	mt_census_report(c, "glibc 2.36", 0, 0, 0, &r);
	ck_assert_uint_eq(r.nwarnings, 65);
	ck_assert_str_eq(r.warnings[64], "936 more warnings not kept");
	mt_census_report_free(&r);
	mt_census_destroy(c);
}
END_TEST

START_TEST(test_unavailable)
{
	struct mt_census_report r;
	mt_census_report_unavailable(&r, "the process uses jemalloc");
	ck_assert(!r.available);
	ck_assert_str_eq(r.reason, "the process uses jemalloc");
	mt_census_report_free(&r);
}
END_TEST

START_TEST(test_allocator_refusal)
{
	char buf[256];
	ck_assert_ptr_null(mt_census_allocator_refusal("/usr/lib/x86_64-linux-gnu/libc.so.6",
						       buf, sizeof buf));
	ck_assert_ptr_null(mt_census_allocator_refusal("/lib64/libc-2.31.so", buf, sizeof buf));
	ck_assert_str_eq(mt_census_allocator_refusal("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
						     buf, sizeof buf),
			 "the process uses jemalloc (a census reads glibc's malloc only)");
	ck_assert_ptr_nonnull(strstr(mt_census_allocator_refusal("/opt/libtcmalloc_minimal.so.4",
								 buf, sizeof buf), "tcmalloc"));
	ck_assert_ptr_nonnull(strstr(mt_census_allocator_refusal("/usr/lib/libmimalloc.so.2",
								 buf, sizeof buf), "mimalloc"));
	ck_assert_ptr_nonnull(strstr(mt_census_allocator_refusal("/srv/bin/static-server", buf,
								 sizeof buf),
				     "linked into static-server"));
	ck_assert_ptr_nonnull(strstr(mt_census_allocator_refusal("", buf, sizeof buf),
				     "no malloc found"));
	/* a long name is cut, the line stays whole */
	char longpath[600];
	memset(longpath, 'x', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = 0;
	ck_assert_ptr_nonnull(strstr(mt_census_allocator_refusal(longpath, buf, sizeof buf),
				     "(a census reads glibc's malloc only)"));
}
END_TEST

/* ---- the tracker matches frees of censused blocks --------------------- */

static struct mt_census *two_blocks(void)
{
	struct mt_census *c = census_new();
	struct mt_glheap_chunk a = { .chunk = 0x5000, .addr = 0x5010, .size = 48, .usable = 40,
				     .word0 = W_VP, .kind = MT_CHUNK_LIVE };
	struct mt_glheap_chunk b = { .chunk = 0x6000, .addr = 0x6010, .size = 112,
				     .usable = 104, .kind = MT_CHUNK_LIVE };
	mt_census_chunk(c, &a);
	mt_census_chunk(c, &b);
	mt_census_finish(c, NULL);
	return c;
}

START_TEST(test_tracker_census_free)
{
	struct mt_census *c = two_blocks();
	struct mt_tracker *t = mt_tracker_new();
	set_prior(t, c);
	struct mt_event ev = { .kind = MT_EV_FREE, .addr = 0x5010, .caller = 1 };
	mt_tracker_event(t, &ev);
	ev.addr = 0x7010;   /* neither traced nor censused */
	mt_tracker_event(t, &ev);
	ev.addr = 0x5010;   /* a second free of it: unknown now */
	mt_tracker_event(t, &ev);
	struct mt_tracker_stats st;
	mt_tracker_stats(t, &st);
	ck_assert_uint_eq(st.census_frees, 1);
	ck_assert_uint_eq(st.unknown_frees, 2);
	ck_assert_uint_eq(mt_census_live_blocks(c), 1);
	ck_assert_uint_eq(mt_census_live_bytes(c), 112);
	mt_tracker_destroy(t);
	mt_census_destroy(c);
}
END_TEST

/* realloc of a censused block: released (even when another thread was
 * handed its address before the realloc returned), the new block traced. */
START_TEST(test_tracker_census_realloc)
{
	struct mt_census *c = two_blocks();
	struct mt_tracker *t = mt_tracker_new();
	set_prior(t, c);
	struct mt_event ev = { .kind = MT_EV_REALLOC_BEGIN, .tid = 1, .old_addr = 0x6010 };
	mt_tracker_event(t, &ev);
	/* thread 2 is handed 0x6010 first */
	struct mt_event al = { .kind = MT_EV_ALLOC, .tid = 2, .addr = 0x6010, .size = 100,
			       .caller = 9 };
	mt_tracker_event(t, &al);
	ev = (struct mt_event){ .kind = MT_EV_REALLOC, .tid = 1, .old_addr = 0x6010,
				.addr = 0x8010, .size = 300, .caller = 8 };
	mt_tracker_event(t, &ev);
	struct mt_tracker_stats st;
	mt_tracker_stats(t, &st);
	ck_assert_uint_eq(st.census_frees, 1);
	ck_assert_uint_eq(st.unknown_frees, 0);
	ck_assert_uint_eq(st.inconsistencies, 0);
	ck_assert_uint_eq(st.live_blocks, 2);   /* thread 2's block and the realloc's */
	ck_assert_uint_eq(mt_census_live_blocks(c), 1);
	/* realloc in place of the other one */
	ev = (struct mt_event){ .kind = MT_EV_REALLOC, .tid = 1, .old_addr = 0x5010,
				.addr = 0x5010, .size = 40, .caller = 8 };
	mt_tracker_event(t, &ev);
	mt_tracker_stats(t, &st);
	ck_assert_uint_eq(st.census_frees, 2);
	ck_assert_uint_eq(mt_census_live_blocks(c), 0);
	ck_assert_uint_eq(st.live_blocks, 3);
	mt_tracker_destroy(t);
	mt_census_destroy(c);
}
END_TEST

/* With sampling a censused block's free is matched all the same. */
START_TEST(test_tracker_census_sampling)
{
	struct mt_census *c = two_blocks();
	struct mt_tracker *t = mt_tracker_new();
	mt_tracker_set_sampling(t, 4096);
	set_prior(t, c);
	struct mt_event ev = { .kind = MT_EV_FREE, .addr = 0x6010 };
	mt_tracker_event(t, &ev);
	ev.addr = 0x9999;
	mt_tracker_event(t, &ev);
	struct mt_tracker_stats st;
	mt_tracker_stats(t, &st);
	ck_assert_uint_eq(st.census_frees, 1);
	ck_assert_uint_eq(st.unsampled_frees, 1);
	mt_tracker_destroy(t);
	mt_census_destroy(c);
}
END_TEST

/* While the census is pending (the copy being walked), frees the tracker
 * does not hold wait; then they are matched or counted unknown. */
START_TEST(test_tracker_census_pending)
{
	struct mt_census *c = two_blocks();
	struct mt_tracker *t = mt_tracker_new();
	mt_tracker_census_pending(t);
	struct mt_event ev = { .kind = MT_EV_FREE, .addr = 0x5010 };
	mt_tracker_event(t, &ev);
	ev.addr = 0x7010;
	mt_tracker_event(t, &ev);
	/* a realloc of a censused block, begun and ended while pending */
	struct mt_event rb = { .kind = MT_EV_REALLOC_BEGIN, .tid = 3, .old_addr = 0x6010 };
	mt_tracker_event(t, &rb);
	struct mt_event re = { .kind = MT_EV_REALLOC, .tid = 3, .old_addr = 0x6010,
			       .addr = 0x9010, .size = 500 };
	mt_tracker_event(t, &re);
	struct mt_tracker_stats st;
	mt_tracker_stats(t, &st);
	ck_assert_uint_eq(st.unknown_frees, 0);
	ck_assert_uint_eq(st.census_frees, 0);
	set_prior(t, c);
	mt_tracker_stats(t, &st);
	ck_assert_uint_eq(st.census_frees, 2);
	ck_assert_uint_eq(st.unknown_frees, 1);
	ck_assert_uint_eq(st.live_blocks, 1);
	ck_assert_uint_eq(mt_census_live_blocks(c), 0);
	mt_tracker_destroy(t);
	mt_census_destroy(c);
}
END_TEST

/* No census after all: what was held is unknown. */
START_TEST(test_tracker_census_none)
{
	struct mt_tracker *t = mt_tracker_new();
	mt_tracker_census_pending(t);
	struct mt_event ev = { .kind = MT_EV_FREE, .addr = 0x5010 };
	mt_tracker_event(t, &ev);
	mt_tracker_set_census(t, NULL);
	struct mt_tracker_stats st;
	mt_tracker_stats(t, &st);
	ck_assert_uint_eq(st.unknown_frees, 1);
	mt_tracker_destroy(t);
}
END_TEST

/* The census section of the table and the JSON. */
START_TEST(test_report_census)
{
	struct mt_census *c = census_new();
	for (int i = 0; i < 3; i++)
		live(c, W_VP, 48);
	live(c, 0, 4096);
	live(c, 0, 32);
	struct mt_glheap_stats st = { .arenas = 1, .complete = false };
	st.free_bytes[MT_CHUNK_SMALLBIN] = 80 << 20;
	mt_census_warn(c, "heap 0x55d0c000: chunk 0x55d0c2a0: bad size 0x7fff, skipped");
	mt_census_finish(c, &st);
	mt_census_free(c, next_addr - 32);
	struct mt_census_report r;
	mt_census_report(c, "glibc 2.36", 2.25, 30, 100 << 20, &r);
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(mt_report_census_table(f, &r, 0), 0);
	fclose(f);
	ck_assert_msg(strstr(buf, "census: 5 blocks, 4.2 KiB (4272 B) live before attach "
			     "(glibc 2.36, incomplete: see the warnings), threads paused 2.2 ms\n"),
		      "%s", buf);
	ck_assert_msg(strstr(buf, "census: 1 of those blocks, 32 B (32 B), freed since attach"),
		      "%s", buf);
	ck_assert_msg(strstr(buf, "verdict: retention: the allocator holds 80.0 MiB free"), "%s",
		      buf);
	ck_assert_msg(strstr(buf, "warning: heap 0x55d0c000: chunk 0x55d0c2a0"), "%s", buf);
	ck_assert_msg(strstr(buf, "    1            1         4096  size 4088\n"
			     "    2            3          144  Widget\n"
			     "    3            1           32  size 24\n"), "%s", buf);
	free(buf);

	f = open_memstream(&buf, &len);
	ck_assert_int_eq(mt_report_census_json(f, 42, "prog", &r), 0);
	fclose(f);
	ck_assert_msg(strstr(buf, "\"census_unavailable\": null"), "%s", buf);
	ck_assert_msg(strstr(buf, "\"verdict\": \"retention\""), "%s", buf);
	ck_assert_msg(strstr(buf, "\"freed_blocks\": 1"), "%s", buf);
	ck_assert_msg(strstr(buf, "\"type\": \"Widget\""), "%s", buf);
	ck_assert_msg(strstr(buf, "\"complete\": false"), "%s", buf);
	free(buf);
	mt_census_report_free(&r);

	mt_census_report_unavailable(&r, "the process uses jemalloc");
	f = open_memstream(&buf, &len);
	mt_report_census_json(f, 42, "prog", &r);
	fclose(f);
	ck_assert_msg(strstr(buf, "\"census\": null"), "%s", buf);
	ck_assert_msg(strstr(buf, "\"census_unavailable\": \"the process uses jemalloc\""), "%s",
		      buf);
	ck_assert_msg(strstr(buf, "\"heap\": null"), "%s", buf);
	free(buf);
	f = open_memstream(&buf, &len);
	mt_report_census_table(f, &r, 0);
	fclose(f);
	ck_assert_str_eq(buf, "census: not available: the process uses jemalloc\n");
	free(buf);
	mt_census_destroy(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("census");
	TCase *tc = tcase_create("census");
	tcase_add_test(tc, test_names_classes);
	tcase_add_test(tc, test_hostile_vtables);
	tcase_add_test(tc, test_cache_per_vptr);
	tcase_add_test(tc, test_table_many_and_frees);
	tcase_add_test(tc, test_table_orders);
	tcase_add_test(tc, test_table_huge_block);
	tcase_add_test(tc, test_verdict);
	tcase_add_test(tc, test_heap_summary);
	tcase_add_test(tc, test_trimmable_residency);
	tcase_add_test(tc, test_warnings_bounded);
	tcase_add_test(tc, test_unavailable);
	tcase_add_test(tc, test_allocator_refusal);
	tcase_add_test(tc, test_tracker_census_free);
	tcase_add_test(tc, test_tracker_census_realloc);
	tcase_add_test(tc, test_tracker_census_sampling);
	tcase_add_test(tc, test_tracker_census_pending);
	tcase_add_test(tc, test_tracker_census_none);
	tcase_add_test(tc, test_report_census);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
