/* Unit tests for src/census/glheap.c: glibc malloc's heap read without symbols.
 *
 * The real test uses this machine's glibc: the test allocates a known set
 * of blocks (live, freed into tcache, fastbins and bins, mmapped, and from
 * a second thread so a non-main arena exists), then forks.  The child is a
 * frozen copy of that heap (it only pause()s); the parent finds and walks
 * it through process_vm_readv, so its own mallocs do not disturb what it
 * reads and a bad address is -EFAULT, not a crash.  Corrupt heaps are the
 * same image read through a memsrc that overlays bytes. */
#include <check.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "census/glheap.h"
#include "target/maps.h"
#include "census/memsrc.h"
#include "../fuzz/glheap_image.h"

/* ---- a memsrc reading another process, with optional overlays ---- */

struct patch {
	uint64_t addr;
	uint8_t bytes[8];
	size_t len;
};

struct psrc {
	pid_t pid;
	struct patch patch[8];
	size_t npatch;
};

static int p_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct psrc *s = ctx;
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(s->pid, &l, 1, &r, 1, 0);
	if (n != (ssize_t)len)
		return -EFAULT;
	for (size_t i = 0; i < s->npatch; i++) {
		const struct patch *p = &s->patch[i];
		for (size_t k = 0; k < p->len; k++)
			if (p->addr + k >= addr && p->addr + k < addr + len)
				((uint8_t *)buf)[p->addr + k - addr] = p->bytes[k];
	}
	return 0;
}

static void add_patch(struct psrc *s, uint64_t addr, uint64_t v, size_t len)
{
	struct patch *p = &s->patch[s->npatch++];
	p->addr = addr;
	memcpy(p->bytes, &v, len);
	p->len = len;
}

/* ---- the known heap ---- */

enum { NLIVE = 600, NTC = 5, NFAST = 20, NBIG = 6, NMM = 2, NTHR = 50 };

struct known {
	void *live[NLIVE];
	void *tc[NTC];          /* freed, size 100: tcache */
	void *fast[NFAST];      /* freed, size 40: 7 tcache then fastbin */
	void *big[NBIG];        /* freed, size 5000: unsorted or large bin */
	void *guard[NBIG];
	void *mm[NMM];          /* 1 MiB: mmapped */
	void *thr_live[NTHR];
	void *thr_free[10];
	void *xfree[3];         /* main arena's, freed by the thread: its tcache */
	pthread_t thr;
	uint64_t tp_main, tp_thr;
	struct mallinfo2 mi;
	int go[2], park[2];
};

static struct known K;

enum { NHUGE = 700 };
static void *thr_huge[NHUGE];   /* 70 MB in the thread's arena: two heaps */
static bool two_heaps;

static void *thread_main(void *arg)
{
	char c = 0;
	(void)arg;
	for (int i = 0; two_heaps && i < NHUGE; i++)
		thr_huge[i] = malloc(100000);
	for (int i = 0; i < NTHR; i++)
		K.thr_live[i] = malloc(64);
	for (int i = 0; i < 10; i++)
		K.thr_free[i] = malloc(64);
	for (int i = 0; i < 10; i++)
		free(K.thr_free[i]);   /* 7 into this thread's tcache, 3 fastbin */
	for (int i = 0; i < 3; i++)
		free(K.xfree[i]);      /* another arena's chunks, in this tcache */
	K.tp_thr = (uint64_t)pthread_self();
	if (write(K.go[1], &c, 1) != 1)
		abort();
	if (read(K.park[0], &c, 1) < 0)   /* parked outside malloc */
		abort();
	return NULL;
}

static const size_t live_sizes[] = { 1, 24, 100, 200, 1000, 3000, 70000, 40 };

static bool one_arena;   /* the thread shares the main arena */

static pid_t build_heap(void)
{
	char c;
	if (one_arena)
		ck_assert_int_eq(mallopt(M_ARENA_MAX, 1), 1);
	ck_assert_int_eq(pipe(K.go), 0);
	ck_assert_int_eq(pipe(K.park), 0);
	for (int i = 0; i < 3; i++)
		K.xfree[i] = malloc(300);
	ck_assert_int_eq(pthread_create(&K.thr, NULL, thread_main, NULL), 0);
	ck_assert_int_eq(read(K.go[0], &c, 1), 1);
	for (int i = 0; i < NLIVE; i++)
		K.live[i] = malloc(live_sizes[i % 8]);
	for (int i = 0; i < NTC; i++)
		K.tc[i] = malloc(100);
	for (int i = 0; i < NFAST; i++)
		K.fast[i] = malloc(40);
	for (int i = 0; i < NBIG; i++) {
		K.big[i] = malloc(5000);
		K.guard[i] = malloc(24);
	}
	for (int i = 0; i < NMM; i++)
		K.mm[i] = malloc(1 << 20);
	for (int i = 0; i < NTC; i++)
		free(K.tc[i]);
	for (int i = 0; i < NFAST; i++)
		free(K.fast[i]);
	for (int i = 0; i < NBIG; i++)
		free(K.big[i]);
	K.tp_main = (uint64_t)pthread_self();
	K.mi = mallinfo2();
	pid_t pid = fork();
	if (pid == 0)
		for (;;)
			pause();
	ck_assert_int_gt(pid, 0);
	return pid;
}

static void end_heap(pid_t pid)
{
	char c = 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(write(K.park[1], &c, 1), 1);
	pthread_join(K.thr, NULL);
}

/* ---- collecting the walk ---- */

struct seen {
	struct mt_glheap_chunk *v;
	size_t n, cap;
	char warn[8][256];
	unsigned nwarn;
	int stop_after;
};

static int on_chunk(void *ctx, const struct mt_glheap_chunk *c)
{
	struct seen *s = ctx;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		ck_assert_ptr_nonnull(s->v);
	}
	s->v[s->n++] = *c;
	return s->stop_after && (int)s->n == s->stop_after ? 42 : 0;
}

static void on_warn(void *ctx, const char *msg)
{
	struct seen *s = ctx;
	if (s->nwarn < 8)
		snprintf(s->warn[s->nwarn], sizeof s->warn[0], "%s", msg);
	s->nwarn++;
}

static const struct mt_glheap_chunk *lookup(const struct seen *s, const void *user)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].addr == (uint64_t)(uintptr_t)user)
			return &s->v[i];
	return NULL;
}

struct fixture {
	pid_t pid;
	struct psrc ps;
	struct mt_memsrc src;
	struct mt_maps maps;
	struct mt_glheap *h;
	struct mt_glheap_thread th[2];
};

static void fx_open(struct fixture *f, const char *cache)
{
	char why[256] = "";
	memset(f, 0, sizeof *f);
	f->pid = build_heap();
	f->ps.pid = f->pid;
	f->src = (struct mt_memsrc){ .read = p_read, .ctx = &f->ps };
	ck_assert_int_eq(mt_maps_read(f->pid, &f->maps), 0);
	f->th[0] = (struct mt_glheap_thread){ f->pid, K.tp_main };
	f->th[1] = (struct mt_glheap_thread){ f->pid + 1, K.tp_thr };
	int rc = mt_glheap_find(&f->src, &f->maps, f->th, 2, cache, &f->h, why, sizeof why);
	ck_assert_msg(rc == 0, "find: %d %s", rc, why);
}

static void fx_close(struct fixture *f)
{
	mt_glheap_destroy(f->h);
	mt_maps_free(&f->maps);
	end_heap(f->pid);
}

static void walk(struct fixture *f, struct seen *s, struct mt_glheap_stats *st)
{
	struct mt_glheap_cb cb = { on_chunk, on_warn, s };
	memset(s, 0, sizeof *s);
	ck_assert_int_eq(mt_glheap_walk(f->h, &f->src, &f->maps, &cb, st), 0);
}

static void assert_kind(const struct seen *s, const void *p, enum mt_chunk_kind k)
{
	const struct mt_glheap_chunk *c = lookup(s, p);
	ck_assert_msg(c != NULL, "block %p not reported", p);
	ck_assert_msg(c->kind == k, "block %p: kind %d, want %d", p, c->kind, k);
}

START_TEST(test_real_heap)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	fx_open(&f, NULL);
	char vers[16];
	snprintf(vers, sizeof vers, "%s", gnu_get_libc_version());
	ck_assert_str_eq(mt_glheap_version(f.h), vers);
	walk(&f, &s, &st);
	ck_assert_msg(st.complete, "incomplete: %s", s.warn[0]);
	ck_assert_uint_eq(s.nwarn, 0);
	for (int i = 0; i < NLIVE; i++) {
		const struct mt_glheap_chunk *c = lookup(&s, K.live[i]);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->kind, MT_CHUNK_LIVE);
		ck_assert_uint_eq(c->usable, malloc_usable_size(K.live[i]));
		ck_assert_uint_eq(c->arena, 0);
		ck_assert(!c->mmapped);
		ck_assert_uint_eq(c->chunk + 16, c->addr);
	}
	for (int i = 0; i < NTC; i++)
		assert_kind(&s, K.tc[i], MT_CHUNK_TCACHE);
	/* LIFO into tcache: the first 7 freed fill it, the rest go to the fastbin. */
	for (int i = 0; i < NFAST; i++)
		assert_kind(&s, K.fast[i], i < 7 ? MT_CHUNK_TCACHE : MT_CHUNK_FASTBIN);
	for (int i = 0; i < NBIG; i++) {
		const struct mt_glheap_chunk *c = lookup(&s, K.big[i]);
		ck_assert_ptr_nonnull(c);
		ck_assert_msg(c->kind == MT_CHUNK_UNSORTED || c->kind == MT_CHUNK_LARGEBIN,
			      "big %d: kind %d", i, c->kind);
		assert_kind(&s, K.guard[i], MT_CHUNK_LIVE);
	}
	for (int i = 0; i < NMM; i++) {
		const struct mt_glheap_chunk *c = lookup(&s, K.mm[i]);
		ck_assert_ptr_nonnull(c);
		ck_assert(c->mmapped);
		ck_assert_int_eq(c->kind, MT_CHUNK_LIVE);
		ck_assert_uint_eq(c->arena, ~0u);
		ck_assert_uint_eq(c->usable, malloc_usable_size(K.mm[i]));
	}
	for (int i = 0; i < NTHR; i++) {
		const struct mt_glheap_chunk *c = lookup(&s, K.thr_live[i]);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->kind, MT_CHUNK_LIVE);
		ck_assert_uint_gt(c->arena, 0);
	}
	for (int i = 0; i < 10; i++)
		assert_kind(&s, K.thr_free[i], i < 7 ? MT_CHUNK_TCACHE : MT_CHUNK_FASTBIN);
	/* A tcache holds what its thread freed, from any arena (seen in a
	 * JVM: a thread's tcache in its arena, entries in the brk heap). */
	for (int i = 0; i < 3; i++) {
		const struct mt_glheap_chunk *c = lookup(&s, K.xfree[i]);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->kind, MT_CHUNK_TCACHE);
		if (!one_arena)
			ck_assert_uint_eq(c->arena, 0);
	}
	ck_assert_uint_ge(st.arenas, 2);
	ck_assert_uint_eq(st.mmapped_chunks, K.mi.hblks);
	ck_assert_uint_eq(st.mmapped_bytes, K.mi.hblkhd);
	/* mallinfo2 counts tcache chunks and the arenas' own structures as in
	 * use; what is free is fastbins, bins and top. */
	ck_assert_uint_eq(st.live_bytes + st.free_bytes[MT_CHUNK_TCACHE] + st.overhead_bytes,
			  K.mi.uordblks + K.mi.hblkhd);
	uint64_t fr = 0;
	for (int k = MT_CHUNK_FASTBIN; k < MT_CHUNK__KINDS; k++)
		fr += st.free_bytes[k];
	ck_assert_uint_eq(fr, K.mi.fordblks);
	ck_assert_uint_eq(st.free_bytes[MT_CHUNK_FASTBIN], K.mi.fsmblks);
	ck_assert_uint_eq(st.mapped_bytes, K.mi.arena + K.mi.hblkhd);
	/* Chunks are reported once each. */
	uint64_t total = st.live_blocks;
	for (int k = 1; k < MT_CHUNK__KINDS; k++)
		total += st.free_blocks[k];
	ck_assert_uint_eq(total, s.n);
	char why[128];
	ck_assert(mt_glheap_quiescent(f.h, &f.src, why, sizeof why));
	free(s.v);
	fx_close(&f);
}
END_TEST

/* A thread that shares the main arena has its tcache in the middle of the
 * brk heap: only its thread pointer (libc's TLS slot, found through the
 * TPOFF64 relocations) leads there. */
START_TEST(test_tcache_by_tls)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	one_arena = true;
	fx_open(&f, NULL);
	walk(&f, &s, &st);
	ck_assert_msg(st.complete, "incomplete: %s", s.warn[0]);
	for (int i = 0; i < NTHR; i++)
		ck_assert_uint_eq(lookup(&s, K.thr_live[i])->arena, 0);
	/* (The 3 that went to the fastbin were consolidated and reused by the
	 * main thread's later mallocs: one arena.) */
	for (int i = 0; i < 7; i++)
		assert_kind(&s, K.thr_free[i], MT_CHUNK_TCACHE);
	ck_assert_uint_eq(st.live_bytes + st.free_bytes[MT_CHUNK_TCACHE] + st.overhead_bytes,
			  K.mi.uordblks + K.mi.hblkhd);
	free(s.v);
	/* Without the thread's pointer, its tcache is not known. */
	mt_glheap_destroy(f.h);
	char why[128];
	ck_assert_int_eq(mt_glheap_find(&f.src, &f.maps, f.th, 1, NULL, &f.h, why, sizeof why), 0);
	walk(&f, &s, &st);
	assert_kind(&s, K.thr_free[0], MT_CHUNK_LIVE);
	free(s.v);
	fx_close(&f);
}
END_TEST

/* 70 MB in a non-main arena: more than one 64 MiB heap, chained by
 * heap_info.prev, the first ending in a fencepost. */
START_TEST(test_two_heaps)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	two_heaps = true;
	fx_open(&f, NULL);
	walk(&f, &s, &st);
	ck_assert_msg(st.complete, "incomplete: %s", s.warn[0]);
	ck_assert_uint_ge(st.heaps, 3);
	for (int i = 0; i < NHUGE; i++) {
		const struct mt_glheap_chunk *c = lookup(&s, thr_huge[i]);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->kind, MT_CHUNK_LIVE);
		ck_assert_uint_eq(c->arena, 1);
	}
	ck_assert_uint_eq(st.live_bytes + st.free_bytes[MT_CHUNK_TCACHE] + st.overhead_bytes,
			  K.mi.uordblks + K.mi.hblkhd);
	ck_assert_uint_eq(st.mapped_bytes, K.mi.arena + K.mi.hblkhd);
	free(s.v);
	fx_close(&f);
}
END_TEST

/* A callback's non-zero value stops the walk and is returned. */
START_TEST(test_stop)
{
	struct fixture f;
	struct seen s = { .stop_after = 10 };
	struct mt_glheap_stats st;
	struct mt_glheap_cb cb = { on_chunk, on_warn, &s };
	fx_open(&f, NULL);
	ck_assert_int_eq(mt_glheap_walk(f.h, &f.src, &f.maps, &cb, &st), 42);
	ck_assert_uint_eq(s.n, 10);
	free(s.v);
	fx_close(&f);
}
END_TEST

/* The 8 bytes of the chunk header's size of user pointer P. */
static uint64_t size_field(struct fixture *f, const void *p)
{
	uint64_t v = 0;
	ck_assert_int_eq(f->src.read(f->src.ctx, (uint64_t)(uintptr_t)p - 8, &v, 8), 0);
	return v;
}

static void walk_corrupt(struct fixture *f, struct seen *s, struct mt_glheap_stats *st)
{
	walk(f, s, st);
	ck_assert(!st->complete);
	ck_assert_uint_gt(s->nwarn, 0);
}

START_TEST(test_bad_size)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	fx_open(&f, NULL);
	add_patch(&f.ps, (uint64_t)(uintptr_t)K.live[300] - 8, 0x7fffffff1, 8);
	walk_corrupt(&f, &s, &st);
	char want[64];
	snprintf(want, sizeof want, "chunk %p: bad size", (void *)((char *)K.live[300] - 16));
	ck_assert_msg(strstr(s.warn[0], want), "warning: %s", s.warn[0]);
	/* What lies before it, and the other heaps, were still walked. */
	assert_kind(&s, K.live[0], MT_CHUNK_LIVE);
	assert_kind(&s, K.thr_live[0], MT_CHUNK_LIVE);
	ck_assert_ptr_null(lookup(&s, K.live[301]));
	free(s.v);
	fx_close(&f);
}
END_TEST

START_TEST(test_size_misaligned_next)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	fx_open(&f, NULL);
	/* A size that lands mid-chunk: the next "header" is user data. */
	uint64_t sz = size_field(&f, K.live[2]);
	add_patch(&f.ps, (uint64_t)(uintptr_t)K.live[2] - 8, sz + 16, 8);
	walk(&f, &s, &st);
	/* Either warned and incomplete, or the live count changed: never a
	 * silent, complete and wrong answer about live[2]. */
	const struct mt_glheap_chunk *c = lookup(&s, K.live[2]);
	ck_assert(!st.complete || !c || c->size != (sz & ~7ULL));
	free(s.v);
	fx_close(&f);
}
END_TEST

START_TEST(test_fastbin_loop)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	fx_open(&f, NULL);
	/* fast[7] is the last freed into the fastbin list's tail; make the
	 * head point back to it after itself: a loop of two.  The head is
	 * fast[NFAST-1] (LIFO); its fd goes to fast[NFAST-2]; make
	 * fast[NFAST-2]'s fd point back at the head. */
	uint64_t head = (uint64_t)(uintptr_t)K.fast[NFAST - 1] - 16;
	uint64_t pos = (uint64_t)(uintptr_t)K.fast[NFAST - 2];
	uint64_t stored = strcmp(mt_glheap_version(f.h), "2.32") >= 0 ? (pos >> 12) ^ head : head;
	add_patch(&f.ps, pos, stored, 8);
	walk_corrupt(&f, &s, &st);
	ck_assert_msg(strstr(s.warn[0], "loops"), "warning: %s", s.warn[0]);
	free(s.v);
	fx_close(&f);
}
END_TEST

START_TEST(test_tcache_out_of_range)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	char why[160];
	fx_open(&f, NULL);
	/* tc[NTC-1] heads the 112-byte tcache list; its next: far away. */
	uint64_t pos = (uint64_t)(uintptr_t)K.tc[NTC - 1];
	add_patch(&f.ps, pos, 0x123456789000ULL, 8);
	walk_corrupt(&f, &s, &st);
	ck_assert_msg(strstr(s.warn[0], "outside the arena"), "warning: %s", s.warn[0]);
	/* And the tcache's count no longer matches its list. */
	ck_assert(!mt_glheap_quiescent(f.h, &f.src, why, sizeof why));
	ck_assert_msg(strstr(why, "count 5"), "why: %s", why);
	free(s.v);
	fx_close(&f);
}
END_TEST

START_TEST(test_locked_arena)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	char why[160] = "";
	fx_open(&f, NULL);
	walk(&f, &s, &st);
	/* The thread's arena: where thr_live[0] lives; its malloc_state is
	 * right after the heap's heap_info, at the 64 MiB-aligned start. */
	uint64_t heap = (uint64_t)(uintptr_t)K.thr_live[0] & ~((64ULL << 20) - 1);
	uint64_t ar = 0;
	ck_assert_int_eq(f.src.read(f.src.ctx, heap, &ar, 8), 0);
	add_patch(&f.ps, ar, 1, 4);
	ck_assert(!mt_glheap_quiescent(f.h, &f.src, why, sizeof why));
	char want[64];
	snprintf(want, sizeof want, "arena 0x%llx: locked", (unsigned long long)ar);
	ck_assert_str_eq(why, want);
	free(s.v);
	fx_close(&f);
}
END_TEST

/* The bin lists are doubly linked; a bk that does not point back stops
 * the list with a warning. */
START_TEST(test_bin_bad_bk)
{
	struct fixture f;
	struct seen s;
	struct mt_glheap_stats st;
	fx_open(&f, NULL);
	add_patch(&f.ps, (uint64_t)(uintptr_t)K.big[2] + 8, 0x1000, 8);
	walk_corrupt(&f, &s, &st);
	ck_assert_msg(strstr(s.warn[0], "bk 0x1000"), "warning: %s", s.warn[0]);
	free(s.v);
	fx_close(&f);
}
END_TEST

START_TEST(test_cache)
{
	char dir[] = "/tmp/test_glheap.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct fixture f;
	fx_open(&f, dir);
	fx_close(&f);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "grep -q '^memtrace-glheap 1 ' %s/glheap-*", dir);
	ck_assert_int_eq(system(cmd), 0);
	/* Used again; then a bad cache file is ignored and rewritten. */
	fx_open(&f, dir);
	fx_close(&f);
	snprintf(cmd, sizeof cmd,
		 "for f in %s/glheap-*; do echo 'memtrace-glheap 1 36 8 16 96 0 0' > $f; done", dir);
	ck_assert_int_eq(system(cmd), 0);
	fx_open(&f, dir);
	struct seen s;
	struct mt_glheap_stats st;
	walk(&f, &s, &st);
	ck_assert(st.complete);
	free(s.v);
	fx_close(&f);
	snprintf(cmd, sizeof cmd, "grep -qv ' 8 16 96 ' %s/glheap-*", dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "rm -r %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* No libc in the mappings: not glibc's malloc. */
START_TEST(test_no_libc)
{
	struct mt_maps m = { 0 };
	struct psrc ps = { .pid = getpid() };
	struct mt_memsrc src = { .read = p_read, .ctx = &ps };
	struct mt_glheap *h = NULL;
	char why[160];
	ck_assert_int_eq(mt_maps_parse("00400000-00452000 r-xp 00000000 08:02 1 /bin/static\n"
				       "00652000-00675000 rw-p 00000000 00:00 0 [heap]\n", &m), 0);
	ck_assert_int_eq(mt_glheap_find(&src, &m, NULL, 0, NULL, &h, why, sizeof why), -ENOENT);
	ck_assert_ptr_null(h);
	ck_assert_msg(strstr(why, "no glibc"), "why: %s", why);
	mt_maps_free(&m);
}
END_TEST

/* A libc whose data holds no arena: refused, not guessed. */
START_TEST(test_not_understood)
{
	struct mt_maps m = { 0 };
	struct psrc ps = { .pid = getpid() };
	struct mt_memsrc src = { .read = p_read, .ctx = &ps };
	struct mt_glheap *h = NULL;
	char why[160], text[512];
	static char fake_data[1 << 16] __attribute__((aligned(4096)));
	static const char rodata[8192] __attribute__((aligned(4096))) =
		"GNU C Library (Debian GLIBC 2.36-9) stable release version 2.36.\n";
	void *hp = malloc(16);
	snprintf(text, sizeof text,
		 "%llx-%llx r--p 00000000 08:02 1 /lib/libc.so.6\n"
		 "%llx-%llx rw-p 00001000 08:02 1 /lib/libc.so.6\n"
		 "%llx-%llx rw-p 00000000 00:00 0 [heap]\n",
		 (unsigned long long)(uintptr_t)rodata, (unsigned long long)(uintptr_t)rodata + 8192,
		 (unsigned long long)(uintptr_t)fake_data,
		 (unsigned long long)(uintptr_t)fake_data + sizeof fake_data,
		 ((unsigned long long)(uintptr_t)hp & ~4095ULL),
		 ((unsigned long long)(uintptr_t)hp & ~4095ULL) + 4096);
	ck_assert_int_eq(mt_maps_parse(text, &m), 0);
	ck_assert_int_eq(mt_glheap_find(&src, &m, NULL, 0, NULL, &h, why, sizeof why), -ENOTSUP);
	ck_assert_msg(strstr(why, "main_arena"), "why: %s", why);
	mt_maps_free(&m);
	free(hp);
}
END_TEST

/* The layouts of other releases, on a synthetic image (the real heap of
 * this machine is 2.36's): 2.31 (no safe-linking, tcache key = tcache,
 * 32-byte heap_info, mp_ without the huge page fields), 2.33 (safe-
 * linking), 2.34 (random tcache key), 2.41.  _i: the release. */
static const unsigned minors[] = { 31, 33, 34, 36, 41 };

static struct gi_image IM;

/* A synthetic image of release 2.MINOR found and walked: it must walk
 * complete, without a warning. */
struct img_walk {
	struct mt_maps m;
	struct mt_memsrc src;
	struct mt_glheap *h;
	struct mt_glheap_stats st;
	struct seen s;
};

static void img_walk(struct img_walk *w, unsigned minor, bool nonmain,
		     const struct mt_glheap_thread *th, size_t nth)
{
	char why[160] = "";
	memset(w, 0, sizeof *w);
	w->src = (struct mt_memsrc){ .read = gi_read, .ctx = &IM };
	struct mt_glheap_cb cb = { on_chunk, on_warn, &w->s };
	gi_build(&IM, minor, nonmain);
	ck_assert_int_eq(mt_maps_parse(IM.maps_text, &w->m), 0);
	int rc = mt_glheap_find(&w->src, &w->m, th, nth, NULL, &w->h, why, sizeof why);
	ck_assert_msg(rc == 0, "2.%u: %d %s", minor, rc, why);
	ck_assert_int_eq(mt_glheap_walk(w->h, &w->src, &w->m, &cb, &w->st), 0);
	ck_assert_msg(w->st.complete && w->s.nwarn == 0, "warning: %s",
		      w->s.nwarn ? w->s.warn[0] : "");
}

static void img_walk_end(struct img_walk *w)
{
	mt_glheap_destroy(w->h);
	mt_maps_free(&w->m);
	free(w->s.v);
}

START_TEST(test_release_layouts)
{
	struct img_walk w;
	char why[160] = "", want[16];
	img_walk(&w, minors[_i], true, NULL, 0);
	struct mt_glheap *h = w.h;
	const struct mt_memsrc src = w.src;
	const struct mt_glheap_stats st = w.st;
	struct seen s = w.s;
	snprintf(want, sizeof want, "2.%u", minors[_i]);
	ck_assert_str_eq(mt_glheap_version(h), want);
	const uint64_t H = GI_HEAP;
	static const struct { uint64_t chunk; enum mt_chunk_kind kind; } want_kinds[] = {
		{ H + 0x290, MT_CHUNK_LIVE }, { H + 0x2b0, MT_CHUNK_TCACHE },
		{ H + 0x2d0, MT_CHUNK_FASTBIN }, { H + 0x300, MT_CHUNK_LIVE },
		{ H + 0x320, MT_CHUNK_UNSORTED }, { H + 0x740, MT_CHUNK_LIVE },
		{ H + 0x760, MT_CHUNK_SMALLBIN }, { H + 0x860, MT_CHUNK_LIVE },
		{ H + 0x8a0, MT_CHUNK_TOP },
	};
	for (size_t i = 0; i < sizeof want_kinds / sizeof want_kinds[0]; i++)
		assert_kind(&s, (void *)(uintptr_t)(want_kinds[i].chunk + 16), want_kinds[i].kind);
	ck_assert_uint_eq(lookup(&s, (void *)(uintptr_t)(H + 0x2a0))->word0, 0x1111);
	/* The non-main arena's maker's tcache, found with no thread pointer. */
	uint64_t c = (GI_NHEAP + (minors[_i] >= 35 ? 48 : 32) + 2200 + 15) & ~15ULL;
	assert_kind(&s, (void *)(uintptr_t)(c + 0x2a0), MT_CHUNK_LIVE);
	assert_kind(&s, (void *)(uintptr_t)(c + 0x2d0), MT_CHUNK_TCACHE);
	ck_assert_uint_eq(lookup(&s, (void *)(uintptr_t)(c + 0x2a0))->arena, 1);
	const struct mt_glheap_chunk *mm = lookup(&s, (void *)(uintptr_t)(GI_MMAP + 16));
	ck_assert(mm && mm->mmapped && mm->word0 == 0x3333 && mm->usable == GI_MMAPSZ - 16);
	ck_assert_uint_eq(st.arenas, 2);
	ck_assert_uint_eq(st.heaps, 2);
	ck_assert_uint_eq(st.live_blocks, 4 + 2 + 1);
	ck_assert_uint_eq(st.live_bytes, 0x20 * 3 + 0x40 + 0x30 + 0x40 + GI_MMAPSZ);
	/* The tcache struct, and heap_info + malloc_state + padding. */
	unsigned hinfo = minors[_i] >= 35 ? 48 : 32;
	ck_assert_uint_eq(st.overhead_bytes, 2 * 0x290 + ((hinfo + 2200 + 15) & ~15u));
	ck_assert_uint_eq(st.free_blocks[MT_CHUNK_TCACHE], 2);
	ck_assert_uint_eq(st.mapped_bytes, 2 * GI_HEAPSZ + GI_MMAPSZ);
	ck_assert(mt_glheap_quiescent(h, &src, why, sizeof why));
	/* A tcache count that disagrees with its list: not quiescent. */
	gi_put(&IM, H + 16, 2);
	ck_assert(!mt_glheap_quiescent(h, &src, why, sizeof why));
	ck_assert_msg(strstr(why, "bin 0: count 2, list of 1"), "why: %s", why);
	img_walk_end(&w);
}
END_TEST

/* The kernel merges neighbouring anonymous mappings: the main thread's
 * thread control block (a small mapping of ld.so's) was seen in one
 * mapping with the mmapped chunks below it, and a walk that skipped every
 * mapping holding a thread pointer lost all six (census_exact, 1 run in
 * 20-50).  Here the one thread's pointer lies in the mmapped chunk's
 * mapping: the chunk is still found, and the walk is complete. */
START_TEST(test_mmapped_beside_tcb)
{
	struct img_walk w;
	const struct mt_glheap_thread th = { 1, GI_MMAP + GI_MMAPSZ - 0x40 };
	img_walk(&w, 36, false, &th, 1);
	const struct mt_glheap_chunk *mm = lookup(&w.s, (void *)(uintptr_t)(GI_MMAP + 16));
	ck_assert(mm && mm->mmapped && mm->word0 == 0x3333);
	ck_assert_uint_eq(w.st.mmapped_chunks, 1);
	img_walk_end(&w);
}
END_TEST

/* A release whose layout is not known: refused, naming it. */
START_TEST(test_unknown_release)
{
	struct mt_maps m = { 0 };
	struct mt_memsrc src = { .read = gi_read, .ctx = &IM };
	struct mt_glheap *h = NULL;
	char why[160] = "";
	gi_build(&IM, 42, false);
	ck_assert_int_eq(mt_maps_parse(IM.maps_text, &m), 0);
	ck_assert_int_eq(mt_glheap_find(&src, &m, NULL, 0, NULL, &h, why, sizeof why), -ENOTSUP);
	ck_assert_str_eq(why, "glibc 2.42: its malloc layout is not known (2.31 to 2.41 are)");
	mt_maps_free(&m);
}
END_TEST

/* libc's data made of arena look-alikes (every pair of words points 16
 * bytes below itself: every bin of every 16-aligned candidate is "empty"):
 * refused, and with bounded work. */
START_TEST(test_hostile_data)
{
	struct mt_maps m = { 0 };
	struct mt_memsrc src = { .read = gi_read, .ctx = &IM };
	struct mt_glheap *h = NULL;
	char why[160] = "";
	static uint8_t big[256 << 10];
	const uint64_t lo = GI_LIBC + 0x1000, hi = lo + sizeof big;
	gi_build(&IM, 36, false);
	IM.r[1] = (struct gi_region){ lo, sizeof big, big };
	char *rw = strstr(IM.maps_text, "7f0000001000-7f0000003000");
	ck_assert_ptr_nonnull(rw);
	memcpy(rw, "7f0000001000-7f0000041000", 25);
	for (uint64_t a = lo; a < hi; a += 8)   /* fd and bk of an empty bin */
		gi_put(&IM, a, a % 16 ? a - 24 : a - 16);
	/* Non-overlapping look-alikes whose top and system_mem check out. */
	for (uint64_t a = lo; a + 2200 <= hi; a += 2208) {
		gi_put(&IM, a, 0);
		gi_put(&IM, a + 96, GI_HEAP + 0x8a0);
		gi_put(&IM, a + 2184, GI_HEAPSZ);
	}
	ck_assert_int_eq(mt_maps_parse(IM.maps_text, &m), 0);
	ck_assert_int_eq(mt_glheap_find(&src, &m, NULL, 0, NULL, &h, why, sizeof why), -ENOTSUP);
	ck_assert_msg(strstr(why, "too many candidates for main_arena"), "why: %s", why);
	mt_maps_free(&m);
}
END_TEST

/* By hand: MT_GLHEAP_BENCH=1 times find and walk over 1 GiB of 64-byte
 * blocks (16M chunks).  Not a pass/fail figure. */
START_TEST(test_bench)
{
	if (!getenv("MT_GLHEAP_BENCH"))
		return;
	size_t n = (1ULL << 30) / 64;
	void **v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = malloc(48);
	for (size_t i = 0; i < n; i += 16)
		free(v[i]);
	struct fixture f;
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fx_open(&f, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct seen s = { 0 };
	struct mt_glheap_stats st;
	struct mt_glheap_cb cb = { NULL, on_warn, &s };
	ck_assert_int_eq(mt_glheap_walk(f.h, &f.src, &f.maps, &cb, &st), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	fprintf(stderr, "bench: tcache %llu unsorted %llu small %llu large %llu top %llu\n", (unsigned long long)st.free_blocks[1], (unsigned long long)st.free_blocks[3], (unsigned long long)st.free_blocks[4], (unsigned long long)st.free_blocks[5], (unsigned long long)st.free_blocks[6]);
	fprintf(stderr, "bench: find+fork %.1f ms, walk %.1f ms, %llu live, %llu fast, complete %d\n",
		(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
		(t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6,
		(unsigned long long)st.live_blocks,
		(unsigned long long)st.free_blocks[MT_CHUNK_FASTBIN], st.complete);
	struct mt_glheap *h2;
	char why[128];
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(mt_glheap_find(&f.src, &f.maps, f.th, 2, NULL, &h2, why, sizeof why), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	fprintf(stderr, "bench: find %.2f ms\n",
		(t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
	mt_glheap_destroy(h2);
	char dir[] = "/tmp/test_glheap_bench.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (int k = 0; k < 2; k++) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ck_assert_int_eq(mt_glheap_find(&f.src, &f.maps, f.th, 2, dir, &h2, why, sizeof why), 0);
		clock_gettime(CLOCK_MONOTONIC, &t2);
		fprintf(stderr, "bench: find %s the cache %.2f ms\n", k ? "with" : "filling",
			(t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
		mt_glheap_destroy(h2);
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -r %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(mt_glheap_walk(f.h, &f.src, &f.maps, &cb, &st), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	fprintf(stderr, "bench: walk again %.1f ms\n",
		(t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
	/* The bare cost of reading the heap, for comparison. */
	uint64_t lo = (uint64_t)(uintptr_t)v[0] & ~4095ULL, hi = (uint64_t)(uintptr_t)v[n - 1];
	char *buf = malloc(4 << 20);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (uint64_t a = lo; a < hi; a += 4 << 20)
		f.src.read(f.src.ctx, a, buf, 4 << 20);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	fprintf(stderr, "bench: reading 0x%llx bytes: %.1f ms\n", (unsigned long long)(hi - lo),
		(t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
	free(buf);
	fx_close(&f);
}
END_TEST

static Suite *glheap_suite(void)
{
	Suite *s = suite_create("glheap");
	TCase *tc = tcase_create("core");
	/* These walk this process's own glibc heap, which AddressSanitizer's
	 * allocator leaves unused (no [heap] mapping): only the synthetic
	 * images below run under the 'sanitize' test setup. */
#ifdef __SANITIZE_ADDRESS__
	const bool own_heap = false;
#else
	const bool own_heap = true;
#endif
	if (own_heap) {
		tcase_add_test(tc, test_real_heap);
		tcase_add_test(tc, test_stop);
		tcase_add_test(tc, test_tcache_by_tls);
		tcase_add_test(tc, test_two_heaps);
		tcase_add_test(tc, test_bad_size);
		tcase_add_test(tc, test_size_misaligned_next);
		tcase_add_test(tc, test_fastbin_loop);
		tcase_add_test(tc, test_tcache_out_of_range);
		tcase_add_test(tc, test_locked_arena);
		tcase_add_test(tc, test_bin_bad_bk);
		tcase_add_test(tc, test_cache);
	}
	tcase_add_test(tc, test_no_libc);
	tcase_add_test(tc, test_not_understood);
	tcase_add_loop_test(tc, test_release_layouts, 0, sizeof minors / sizeof minors[0]);
	tcase_add_test(tc, test_mmapped_beside_tcb);
	tcase_add_test(tc, test_unknown_release);
	tcase_add_test(tc, test_hostile_data);
	tcase_add_test(tc, test_bench);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(glheap_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
