/* glibc malloc's heap, read from a process image without debug symbols.
 *
 * What glibc 2.31 .. 2.41 keeps, x86_64 (malloc/malloc.c, malloc/arena.c
 * of those tags; SIZE_SZ 8, MALLOC_ALIGNMENT 16):
 *
 * A chunk (every release the same):
 *     +0  prev_size   size of the previous chunk, only when it is free
 *     +8  size        chunk size | A (4: NON_MAIN_ARENA) | M (2: IS_MMAPPED)
 *                     | P (1: PREV_INUSE, the previous chunk is in use)
 *     +16 user data   (malloc's pointer); when free: fd, bk (and for large
 *                     bins fd_nextsize, bk_nextsize)
 *   Chunks tile a heap; a chunk is free in a bin (unsorted/small/large) iff
 *   the next chunk's P is clear and its prev_size repeats the size.
 *   Chunks in tcache and fastbins keep P set in the next chunk (malloc
 *   still counts them as in use).  Only in-use chunks carry A: free
 *   chunks and top are re-headed without it.  A usable size is size - 8
 *   (size - 16 for mmapped chunks).
 *
 * struct malloc_state (2200 bytes, the same in every release here):
 *     +0 mutex (int, 0 when free)  +4 flags  +8 have_fastchunks
 *     +16 fastbinsY[10]  +96 top  +104 last_remainder
 *     +112 bins[254]: bin i (1..127) is a fake chunk at +96+16*(i-1) whose
 *          fd/bk are bins[2i-2], bins[2i-1]; an empty bin points at itself
 *     +2144 binmap[4]  +2160 next  +2168 next_free  +2176 attached_threads
 *     +2184 system_mem  +2192 max_system_mem
 *   main_arena sits in libc's .data; `next` is a ring through all arenas.
 *   What we check: at least half its bins empty (pointing at themselves)
 *   and the others pointing into writable mappings, NONCONTIGUOUS clear,
 *   top inside the [heap] mapping with a sane size, `next` returning to
 *   it (at most 64 candidates get this far); exactly one must pass.  Then
 *   sbrk_base = top's end - system_mem.
 *
 * struct malloc_par mp_ (also .data): trim_threshold, top_pad,
 *   mmap_threshold (+16), arena_test, arena_max; since 2.35 (when built
 *   with tunables, which Debian does, and always since 2.38) thp_pagesize,
 *   hp_pagesize (+48), hp_flags (+56); then n_mmaps (+40 or +60),
 *   n_mmaps_max, max_n_mmaps, no_dyn_threshold, mmapped_mem (+56 or +80),
 *   max_mmapped_mem, sbrk_base (+72 or +96),
 *   tcache_bins, tcache_max_bytes, tcache_count, tcache_unsorted_limit.
 *   Found as the word equal to that sbrk_base with the fields around it
 *   plausible (0 <= n_mmaps <= max_n_mmaps, mmapped_mem <= max and zero
 *   iff n_mmaps is, tcache_bins <= 64, tcache_max_bytes <= 1032,
 *   mmap_threshold <= 64 MiB, hp_pagesize a power of two); exactly one.
 *   The release comes from the "release version 2.NN" string in libc's
 *   read-only data; 2.31 to 2.41 are understood, others are refused.
 *
 * heap_info (non-main arenas' heaps, each at a HEAP_MAX_SIZE (64 MiB, or 4
 *   huge pages) aligned address): ar_ptr, prev, size, mprotect_size
 *   (32 bytes); since 2.35 also pagesize and padding (48 bytes).  The
 *   arena's malloc_state follows the first heap's heap_info; its chunks
 *   start 16-aligned after it.  A heap that was left for a new one ends
 *   in a fencepost: a 16-byte in-use chunk, then a header of size 0.
 *
 * tcache_perthread_struct: uint16_t counts[64], then entries[64] pointing at
 *   user data (a 0x290 chunk, the first a thread allocates; the main
 *   thread's is the first chunk of the brk heap).  An entry is next, key;
 *   key is the tcache itself before 2.34, since then the random
 *   tcache_key.  Since 2.32 next (tcache) and fd (fastbins) are stored
 *   mangled (safe-linking): stored = (address of the field >> 12) ^ value.
 *   Each thread's tcache pointer is libc's static TLS variable `tcache`
 *   at a fixed offset from the thread pointer; the candidates for that
 *   offset are the GOT slots of libc's R_X86_64_TPOFF64 relocations, and
 *   the one whose value is, for the threads given, either NULL or a valid
 *   tcache wins.  The brk heap's first chunk is the main thread's tcache
 *   and an arena's first its maker's (a thread's first malloc makes its
 *   tcache): these are found without thread pointers.
 *
 * Mmapped chunks: prev_size 0, size a multiple of the page with only M set,
 *   at the start of an anonymous private rw mapping (the kernel may merge
 *   neighbours: the scan follows chunk sizes, then pages), not an arena's
 *   heap nor a thread's stack; the count and bytes found are checked
 *   against mp_.n_mmaps and mp_.mmapped_mem.  (A memalign'ed mmapped chunk,
 *   whose prev_size is its offset in the mapping, is missed: the check
 *   then warns.)
 *
 * What the walk checks of each chunk: 16-aligned size >= 32 that stays in
 *   its heap, M clear, A set (non-main heaps) or clear (brk heap) when in
 *   use; a chunk in a bin has the next chunk's P clear and its prev_size
 *   equal to its size, any other has P set; a free-list entry is a chunk
 *   start in its arena's heaps of the list's size; bin lists are doubly
 *   linked (bk = previous); lists are bounded (Brent's cycle check, tcache
 *   counts); no chunk is in two lists.  A bad chunk skips the rest of its
 *   heap, a bad list entry the rest of its list, each with a warning
 *   naming the address, and the walk is then incomplete.
 *
 * The cache (CACHE_DIR/glheap-BUILDID): the release and the offsets of
 *   main_arena, mp_ and the TLS slot from libc's load address; re-checked
 *   (the arena and mp_ signatures) on every use, rewritten when it fails.
 *
 * Why find is cheap: one read of libc's writable segment (~100 KiB), one of
 * its read-only data (the version string), a few of its ELF tables.  The
 * cache (per build-id) saves the scans; what it says is re-checked.
 *
 * Why the walk is fast: heaps are read in 4 MiB windows; tcache and
 * fastbin members go into one radix-sorted array merged with the
 * address-ordered walk (their nodes read through a small block cache); bin
 * lists are followed through the chunks the walk found free by their
 * headers, without reading memory again.  1 GiB of 64-byte chunks walks in
 * 0.5-0.9 s on a loaded 2-core VM (tests/unit/test_glheap.c, bench).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "census/glheap.h"

#define MS_MUTEX 0
#define MS_FLAGS 4
#define MS_FASTBINS 16
#define MS_TOP 96
#define MS_BINS 112
#define MS_NEXT 2160
#define MS_SYSMEM 2184
#define MS_SIZE 2200
#define NFASTBINS 10
#define NBINS 128
#define NONCONTIGUOUS_BIT 2

#define TC_BINS 64
#define TC_SIZE 640            /* counts (uint16_t) + entries */
#define TC_CHUNK 0x290

#define CH_P 1ULL
#define CH_M 2ULL
#define CH_A 4ULL
#define CH_FLAGS 7ULL
#define MINSIZE 32ULL
#define PAGE 4096ULL
#define DEF_HEAP_MAX (64ULL << 20)

#define MAX_ARENAS 4096
#define MAX_HEAPS_PER_ARENA 4096
#define WIN (4u << 20)
#define RW_MAX (1u << 20)      /* libc's writable segment we scan at most */

enum { K_OVERHEAD = MT_CHUNK__KINDS };

struct mt_glheap {
	char version[16];
	unsigned minor;
	bool safe_link, random_key;
	uint64_t base;                /* libc's load address */
	uint64_t arena, mp;           /* main_arena, mp_ */
	unsigned sbrk_off;            /* offset of sbrk_base in mp_ */
	unsigned hinfo;               /* sizeof (heap_info) */
	uint64_t heap_max;
	uint64_t tc_count;            /* mp_.tcache_count */
	uint64_t brk_lo, brk_hi;      /* the [heap] mapping */
	uint64_t sbrk;                /* mp_.sbrk_base: the main heap's start */
	bool tls_known;
	int64_t tls_off;              /* of `tcache` from the thread pointer */
	struct mt_glheap_thread *threads;
	size_t nthreads;
};

size_t mt_glheap_own_state(const struct mt_glheap *h, uint64_t lo[2], uint64_t hi[2])
{
	lo[0] = h->arena;
	hi[0] = h->arena + MS_SIZE;
	lo[1] = h->mp;
	hi[1] = h->mp + h->sbrk_off + 8;   /* sbrk_base is mp_'s last field */
	return 2;
}

/* ---- small helpers ---------------------------------------------------- */

static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static int rd64(const struct mt_memsrc *s, uint64_t a, uint64_t *v)
{
	return mt_memsrc_read(s, a, v, 8);
}

static uint64_t get64(const uint8_t *b, size_t off)
{
	uint64_t v;
	memcpy(&v, b + off, 8);
	return v;
}

/* Is [A, A+LEN) readable and writable memory?  The kernel may show one
 * range as several adjacent mappings (e.g. [heap] split after a fork). */
static bool is_writable(const struct mt_maps *m, uint64_t a, uint64_t len)
{
	const struct mt_map *mp = mt_maps_find(m, a);
	uint64_t end = a + len;
	if (!mp || end < a)
		return false;
	for (size_t i = (size_t)(mp - m->v); i < m->n; i++) {
		mp = &m->v[i];
		if (!mp->w || !mp->r || mp->start > a)
			return false;
		if (end <= mp->end)
			return true;
		a = mp->end;
	}
	return false;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static bool is_libc_name(const char *path)
{
	const char *b = base_name(path);
	return !strcmp(b, "libc.so.6") || (!strncmp(b, "libc-2.", 7) && strstr(b, ".so"));
}

/* ---- find: libc's mappings, ELF, version ------------------------------ */

struct libc_maps {
	const char *path;
	uint64_t base;
	const struct mt_map *rw;      /* the file's writable segment */
	uint64_t rw_lo, rw_hi;        /* it and the bss right after it */
};

static int find_libc(const struct mt_maps *maps, struct libc_maps *lm,
		     char *why, size_t whylen)
{
	memset(lm, 0, sizeof *lm);
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (!m->path)
			continue;
		if (!is_libc_name(m->path))
			continue;
		if (!lm->path) {
			lm->path = m->path;
			lm->base = m->start - m->offset;
		} else if (strcmp(m->path, lm->path) != 0) {
			continue;
		}
		if (m->w && m->r && !lm->rw) {
			lm->rw = m;
			lm->rw_lo = m->start;
			lm->rw_hi = m->end;
			/* The bss continues in an anonymous mapping right after. */
			if (i + 1 < maps->n && !maps->v[i + 1].path && maps->v[i + 1].w &&
			    maps->v[i + 1].start == m->end)
				lm->rw_hi = maps->v[i + 1].end;
		}
	}
	if (!lm->path) {
		for (size_t i = 0; i < maps->n; i++)
			if (maps->v[i].path && strstr(base_name(maps->v[i].path), "musl")) {
				say(why, whylen, "the process uses musl libc's malloc, not glibc's");
				return -ENOENT;
			}
		say(why, whylen, "no glibc (libc.so.6) is mapped: a static or non-glibc program");
		return -ENOENT;
	}
	if (!lm->rw) {
		say(why, whylen, "%s has no writable segment mapped", lm->path);
		return -ENOTSUP;
	}
	if (lm->rw_hi - lm->rw_lo > RW_MAX)
		lm->rw_hi = lm->rw_lo + RW_MAX;
	return 0;
}

/* "... release version 2.36." in libc's read-only data. */
static int find_version(const struct mt_memsrc *src, const struct mt_maps *maps,
			const struct libc_maps *lm, unsigned *minor)
{
	static const char pat[] = "release version 2.";
	size_t cap = 0;
	char *buf;
	int rc = -ENOENT;

	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (m->path && !strcmp(m->path, lm->path) && !m->w && !m->x && m->r &&
		    m->end - m->start > cap)
			cap = m->end - m->start > (1u << 20) ? 1u << 20 : (size_t)(m->end - m->start);
	}
	if (cap < 128)
		return -ENOENT;
	if (!(buf = malloc(cap + 1)))
		return -ENOMEM;
	for (size_t i = 0; i < maps->n && rc; i++) {
		const struct mt_map *m = &maps->v[i];
		if (!m->path || strcmp(m->path, lm->path) || m->w || m->x || !m->r)
			continue;
		for (uint64_t a = m->start; a < m->end && rc; a += cap - 64) {
			size_t n = (size_t)(m->end - a < cap ? m->end - a : cap);
			if (mt_memsrc_read(src, a, buf, n) < 0)
				break;
			buf[n] = 0;
			char *p = memmem(buf, n, pat, sizeof pat - 1);
			if (p && p + sizeof pat + 2 <= buf + n) {
				unsigned v = 0, d = 0;
				for (char *q = p + sizeof pat - 1; q < buf + n && *q >= '0' && *q <= '9'; q++, d++)
					v = v * 10 + (unsigned)(*q - '0');
				if (d > 0 && d < 4) {
					*minor = v;
					rc = 0;
				}
			}
			if (n < cap)
				break;
		}
	}
	free(buf);
	return rc;
}

struct elf_facts {
	uint8_t build_id[64];
	size_t build_id_len;
	int64_t tpoff[32];
	size_t ntpoff;
};

/* The GNU build-id from the PT_NOTE segment at ADDR, MEMSZ bytes. */
static void read_build_id(const struct mt_memsrc *src, uint64_t addr, uint64_t memsz,
			  struct elf_facts *ef)
{
	uint8_t note[512];
	if (memsz > sizeof note || mt_memsrc_read(src, addr, note, memsz) < 0)
		return;
	for (size_t o = 0; o + 12 <= memsz;) {
		uint32_t nsz, dsz, nt;
		memcpy(&nsz, note + o, 4);
		memcpy(&dsz, note + o + 4, 4);
		memcpy(&nt, note + o + 8, 4);
		size_t d = o + 12 + ((nsz + 3u) & ~3u);
		if (nsz > 16 || dsz > 64 || d + dsz > memsz)
			return;
		if (nt == 3 && nsz == 4 && !memcmp(note + o + 12, "GNU", 4) && dsz) {
			memcpy(ef->build_id, note + d, dsz);
			ef->build_id_len = dsz;
			return;
		}
		o = d + ((dsz + 3u) & ~3u);
	}
}

/* DT_RELA and DT_RELASZ from the dynamic section at DYN. */
static void read_dynamic(const struct mt_memsrc *src, uint64_t base, uint64_t dyn,
			 uint64_t dynsz, uint64_t *rela, uint64_t *relasz)
{
	uint8_t dbuf[64 * 16];
	*rela = *relasz = 0;
	if (!dyn || dynsz > sizeof dbuf || mt_memsrc_read(src, dyn, dbuf, dynsz) < 0)
		return;
	for (size_t o = 0; o + 16 <= dynsz; o += 16) {
		uint64_t tag = get64(dbuf, o), val = get64(dbuf, o + 8);
		if (tag == 0)
			break;
		if (tag == 7)
			*rela = val < base ? base + val : val;   /* ld.so may relocate it */
		else if (tag == 8)
			*relasz = val;
	}
}

/* The values ld.so put in the GOT slots of the R_X86_64_TPOFF64
 * relocations: the thread-pointer offsets of libc's TLS variables. */
static void read_tpoffs(const struct mt_memsrc *src, uint64_t base, uint64_t rela,
			uint64_t relasz, struct elf_facts *ef)
{
	if (!rela || !relasz || relasz > (4u << 20) || relasz % 24)
		return;
	uint8_t *rb = malloc(relasz);
	if (!rb)
		return;
	if (mt_memsrc_read(src, rela, rb, relasz) == 0) {
		for (size_t o = 0; o < relasz && ef->ntpoff < 32; o += 24) {
			uint64_t off = get64(rb, o), info = get64(rb, o + 8), v;
			if ((info & 0xffffffff) != 18 || rd64(src, base + off, &v) < 0)
				continue;
			int64_t t = (int64_t)v;
			if (t < 0 && t > -(1 << 20) && !(t & 7))
				ef->tpoff[ef->ntpoff++] = t;
		}
	}
	free(rb);
}

/* The build-id and the TLS offsets, from libc's image in memory (ld.so
 * maps its ELF and program headers and the dynamic tables). */
static void read_elf(const struct mt_memsrc *src, uint64_t base, struct elf_facts *ef)
{
	uint8_t eh[64], ph[56];
	uint16_t phentsize, phnum;
	uint64_t dyn = 0, dynsz = 0, rela, relasz;
	memset(ef, 0, sizeof *ef);
	if (mt_memsrc_read(src, base, eh, sizeof eh) < 0 || memcmp(eh, "\177ELF\2\1", 6))
		return;
	uint64_t phoff = get64(eh, 32);
	memcpy(&phentsize, eh + 54, 2);
	memcpy(&phnum, eh + 56, 2);
	if (phentsize != 56 || phnum > 64 || phoff > 4096)
		return;
	for (unsigned i = 0; i < phnum; i++) {
		uint32_t type;
		if (mt_memsrc_read(src, base + phoff + i * 56ULL, ph, sizeof ph) < 0)
			return;
		memcpy(&type, ph, 4);
		if (type == 2) {                                 /* PT_DYNAMIC */
			dyn = base + get64(ph, 16);
			dynsz = get64(ph, 40);
		} else if (type == 4 && !ef->build_id_len) {     /* PT_NOTE */
			read_build_id(src, base + get64(ph, 16), get64(ph, 40), ef);
		}
	}
	read_dynamic(src, base, dyn, dynsz, &rela, &relasz);
	read_tpoffs(src, base, rela, relasz, ef);
}

/* ---- find: main_arena and mp_ ---------------------------------------- */

static uint64_t bin_at(uint64_t arena, unsigned i)
{
	return arena + MS_TOP + 16ULL * (i - 1);
}

/* How many of the 127 bins of the malloc_state image B (at address A)
 * are empty; -1 when some non-empty bin points outside writable memory. */
static int empty_bins(const uint8_t *b, uint64_t a, const struct mt_maps *maps)
{
	int empty = 0;
	for (unsigned i = 1; i < NBINS; i++) {
		uint64_t fd = get64(b, MS_BINS + 16 * (i - 1)), bk = get64(b, MS_BINS + 16 * (i - 1) + 8);
		uint64_t self = bin_at(a, i);
		if (fd == self && bk == self) {
			empty++;
			continue;
		}
		if ((fd & 15) || (bk & 15) || !is_writable(maps, fd, 32) || !is_writable(maps, bk, 32))
			return -1;
	}
	return empty;
}

/* Does the arena ring from A return to A? */
static bool ring_closes(const struct mt_memsrc *src, const struct mt_maps *maps, uint64_t a)
{
	uint64_t p = a;
	for (unsigned n = 0; n < MAX_ARENAS; n++) {
		if (rd64(src, p + MS_NEXT, &p) < 0 || !is_writable(maps, p, MS_SIZE))
			return false;
		if (p == a)
			return true;
	}
	return false;
}

/* The [heap] mapping, as one range even when shown in pieces. */
static bool brk_range(const struct mt_maps *maps, uint64_t *lo, uint64_t *hi)
{
	bool found = false;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (!m->path || strcmp(m->path, "[heap]"))
			continue;
		if (!found)
			*lo = m->start;
		else if (m->start != *hi)
			break;
		*hi = m->end;
		found = true;
	}
	return found;
}

/* Check main_arena at A (image B): the checks of the comment at the top.
 * The arena ring costs up to MAX_ARENAS reads: *RINGS bounds how many
 * candidates get that far (a hostile libc data segment could make every
 * word a candidate). */
static bool arena_ok(struct mt_glheap *h, const struct mt_memsrc *src,
		     const struct mt_maps *maps, const uint8_t *b, uint64_t a, unsigned *rings)
{
	int e = empty_bins(b, a, maps);
	if (e < (NBINS - 1) / 2)
		return false;
	uint64_t top = get64(b, MS_TOP), sysmem = get64(b, MS_SYSMEM), tsz;
	int flags;
	memcpy(&flags, b + MS_FLAGS, 4);
	if (flags & NONCONTIGUOUS_BIT)
		return false;
	if (!h->brk_lo || top < h->brk_lo || top + 16 > h->brk_hi || (top & 15))
		return false;
	if (rd64(src, top + 8, &tsz) < 0)
		return false;
	tsz &= ~CH_FLAGS;
	if (top + tsz > h->brk_hi || tsz < MINSIZE || sysmem > top + tsz - h->brk_lo)
		return false;
	if (!*rings || (--*rings, !ring_closes(src, maps, a)))
		return false;
	h->sbrk = top + tsz - sysmem;   /* contiguous: sbrk_base + system_mem ends top */
	return true;
}

/* Where n_mmaps is: after arena_max (+40), or after hp_flags (+60). */
static unsigned mp_ints(unsigned soff)
{
	return soff == 96 ? 60 : 40;
}

static bool mp_ok(struct mt_glheap *h, const struct mt_memsrc *src, uint64_t mp, unsigned soff)
{
	uint8_t b[160];
	if (mt_memsrc_read(src, mp, b, soff + 40) < 0)
		return false;
	int nm, nmax, maxn;
	unsigned ib = mp_ints(soff);
	memcpy(&nm, b + ib, 4);
	memcpy(&nmax, b + ib + 4, 4);
	memcpy(&maxn, b + ib + 8, 4);
	uint64_t mmapped = get64(b, soff - 16), maxmm = get64(b, soff - 8);
	uint64_t sbrk = get64(b, soff), tbins = get64(b, soff + 8), tmax = get64(b, soff + 16);
	uint64_t tcount = get64(b, soff + 24), thr = get64(b, 16);
	if (sbrk != h->sbrk || nm < 0 || nm > maxn || nmax < 0 || mmapped > maxmm)
		return false;
	if ((nm == 0) != (mmapped == 0) || mmapped % PAGE)
		return false;
	if (tbins > TC_BINS || tmax > 63 * 16 + 24 || tcount > 65535 || thr > (64ULL << 20))
		return false;
	h->tc_count = tcount;
	if (soff == 96) {
		uint64_t hp = get64(b, 48);
		h->heap_max = hp ? hp * 4 : DEF_HEAP_MAX;
		if (hp & (hp - 1))
			return false;
	} else {
		h->heap_max = DEF_HEAP_MAX;
	}
	return true;
}

/* main_arena in libc's data image B (N bytes at LM->rw_lo). */
static int find_arena(struct mt_glheap *h, const struct mt_memsrc *src,
		      const struct mt_maps *maps, const struct libc_maps *lm, const uint8_t *b,
		      size_t n, char *why, size_t whylen)
{
	unsigned found = 0, rings = 64;
	for (size_t o = 0; o + MS_SIZE <= n; o += 8) {
		/* Fast reject: the last bins of any arena are empty in practice
		 * (chunks of 512 KiB and more are mmapped); then the full check. */
		uint64_t a = lm->rw_lo + o;
		if (get64(b, o + MS_BINS + 16 * 125) != bin_at(a, 126) &&
		    get64(b, o + MS_BINS + 16 * 124) != bin_at(a, 125))
			continue;
		if (arena_ok(h, src, maps, b + o, a, &rings)) {
			h->arena = a;
			found++;
		}
	}
	if (found == 1 && rings)
		return 0;
	if (found || !rings)
		say(why, whylen, "%s candidates for main_arena in %s", !rings ? "too many" :
		    found == 2 ? "2" : "several", lm->path);
	else
		say(why, whylen, "no main_arena found in %s's data (uninitialized or"
		    " non-contiguous heap?)", lm->path);
	return -ENOTSUP;
}

/* mp_ in libc's data image B: around the word equal to sbrk_base, at the
 * offset of this release's layout first, then of the other. */
static int find_mp(struct mt_glheap *h, const struct mt_memsrc *src,
		   const struct libc_maps *lm, const uint8_t *b, size_t n, char *why,
		   size_t whylen)
{
	unsigned want = h->minor >= 35 ? 96 : 72, found = 0;
	for (size_t o = 0; o + 8 <= n; o += 8) {
		if (get64(b, o) != h->sbrk)
			continue;
		for (int k = 0; k < 2; k++) {
			unsigned soff = k ? (want == 96 ? 72 : 96) : want;
			if (o >= soff && mp_ok(h, src, lm->rw_lo + o - soff, soff)) {
				h->mp = lm->rw_lo + o - soff;
				h->sbrk_off = soff;
				found++;
				break;
			}
		}
	}
	if (found == 1)
		return 0;
	if (found)
		say(why, whylen, "%u candidates for mp_ in %s", found, lm->path);
	else
		say(why, whylen, "no mp_ found in %s's data", lm->path);
	return -ENOTSUP;
}

static int find_arena_mp(struct mt_glheap *h, const struct mt_memsrc *src,
			 const struct mt_maps *maps, const struct libc_maps *lm, char *why,
			 size_t whylen)
{
	size_t n = (size_t)(lm->rw_hi - lm->rw_lo);
	uint8_t *b = malloc(n);
	int rc;
	if (!b)
		return -ENOMEM;
	if (mt_memsrc_read(src, lm->rw_lo, b, n) < 0) {
		say(why, whylen, "cannot read libc's data at 0x%llx", (unsigned long long)lm->rw_lo);
		rc = -ENOTSUP;
	} else {
		rc = find_arena(h, src, maps, lm, b, n, why, whylen);
		if (!rc)
			rc = find_mp(h, src, lm, b, n, why, whylen);
	}
	free(b);
	return rc;
}

/* ---- find: tcache ----------------------------------------------------- */

/* Is T the user address of a tcache_perthread_struct?  MAPS may be NULL. */
static bool tcache_ok(const struct mt_glheap *h, const struct mt_memsrc *src,
		      const struct mt_maps *maps, uint64_t t)
{
	uint64_t sz;
	uint16_t counts[TC_BINS];
	if (!t || (t & 15) || (maps && !is_writable(maps, t - 16, TC_CHUNK)))
		return false;
	if (rd64(src, t - 8, &sz) < 0 || (sz & ~CH_FLAGS) != TC_CHUNK || (sz & CH_M))
		return false;
	if (mt_memsrc_read(src, t, counts, sizeof counts) < 0)
		return false;
	for (unsigned i = 0; i < TC_BINS; i++)
		if (counts[i] > h->tc_count)   /* mp_.tcache_count bounds every count */
			return false;
	return true;
}

static void find_tls(struct mt_glheap *h, const struct mt_memsrc *src,
		     const struct mt_maps *maps, const struct elf_facts *ef,
		     const struct mt_glheap_thread *th, size_t nth)
{
	int best = 0;
	for (size_t c = 0; c < ef->ntpoff; c++) {
		int good = 0;
		for (size_t i = 0; i < nth && good >= 0; i++) {
			uint64_t v;
			if (rd64(src, th[i].tp + (uint64_t)ef->tpoff[c], &v) < 0)
				good = -1;
			else if (v && tcache_ok(h, src, maps, v))
				good++;
			else if (v)
				good = -1;
		}
		if (good > best) {
			best = good;
			h->tls_off = ef->tpoff[c];
			h->tls_known = true;
		}
	}
}

/* ---- find: cache ------------------------------------------------------ */

static void cache_path(char *p, size_t len, const char *dir, const struct elf_facts *ef)
{
	int n = snprintf(p, len, "%s/glheap-", dir);
	for (size_t i = 0; i < ef->build_id_len && n > 0 && (size_t)n + 3 < len; i++)
		n += snprintf(p + n, len - (size_t)n, "%02x", ef->build_id[i]);
}

/* The cache file: "memtrace-glheap 1 MINOR ARENA MP SBRKOFF TLSKNOWN TLSOFF"
 * (offsets from libc's load address).  Any doubt and it is ignored. */
static bool cache_load(struct mt_glheap *h, const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned ver, minor, soff;
	long long ao, mo, tls;
	int tk;
	if (!f)
		return false;
	int n = fscanf(f, "memtrace-glheap %u %u %lld %lld %u %d %lld", &ver, &minor, &ao, &mo,
		       &soff, &tk, &tls);
	fclose(f);
	if (n != 7 || ver != 1 || minor < 31 || minor > 41 || (soff != 72 && soff != 96))
		return false;
	h->minor = minor;
	h->arena = h->base + (uint64_t)ao;
	h->mp = h->base + (uint64_t)mo;
	h->sbrk_off = soff;
	h->tls_known = tk != 0;
	h->tls_off = tls;
	return true;
}

static void cache_store(const struct mt_glheap *h, const char *path)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "memtrace-glheap 1 %u %lld %lld %u %d %lld\n", h->minor,
		(long long)(h->arena - h->base), (long long)(h->mp - h->base), h->sbrk_off,
		h->tls_known ? 1 : 0, (long long)h->tls_off);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		remove(tmp);
}

/* ---- find ------------------------------------------------------------- */

static bool learned_ok(struct mt_glheap *h, const struct mt_memsrc *src,
		       const struct mt_maps *maps)
{
	uint8_t *b = malloc(MS_SIZE);
	unsigned rings = 1;
	bool ok = b && mt_memsrc_read(src, h->arena, b, MS_SIZE) == 0 &&
		  arena_ok(h, src, maps, b, h->arena, &rings) && mp_ok(h, src, h->mp, h->sbrk_off);
	free(b);
	return ok;
}

static void set_release(struct mt_glheap *h)
{
	snprintf(h->version, sizeof h->version, "2.%u", h->minor);
	h->safe_link = h->minor >= 32;
	h->random_key = h->minor >= 34;
	h->hinfo = h->minor >= 35 ? 48 : 32;
}

/* Learn the release, main_arena and mp_ by searching libc's image. */
static int learn(struct mt_glheap *h, const struct mt_memsrc *src, const struct mt_maps *maps,
		 const struct libc_maps *lm, bool have_brk, char *why, size_t whylen)
{
	int rc = find_version(src, maps, lm, &h->minor);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		say(why, whylen, "no glibc version string in %s", lm->path);
		return -ENOTSUP;
	}
	if (h->minor < 31 || h->minor > 41) {
		say(why, whylen, "glibc 2.%u: its malloc layout is not known (2.31 to 2.41 are)",
		    h->minor);
		return -ENOTSUP;
	}
	set_release(h);
	if (!have_brk) {
		say(why, whylen, "no [heap] mapping: the main arena's heap is not in use");
		return -ENOTSUP;
	}
	return find_arena_mp(h, src, maps, lm, why, whylen);
}

/* Vote the TLS slot of `tcache` with these threads; a cached offset
 * stands when no thread has a tcache yet.  Keeps a copy of THREADS. */
static int take_threads(struct mt_glheap *h, const struct mt_memsrc *src,
			const struct mt_maps *maps, const struct elf_facts *ef,
			const struct mt_glheap_thread *threads, size_t nthreads)
{
	if (!nthreads)
		return 0;
	bool had = h->tls_known;
	int64_t off = h->tls_off;
	h->tls_known = false;
	find_tls(h, src, maps, ef, threads, nthreads);
	if (!h->tls_known && had) {
		h->tls_known = true;
		h->tls_off = off;
	}
	h->threads = malloc(nthreads * sizeof *threads);
	if (!h->threads)
		return -ENOMEM;
	memcpy(h->threads, threads, nthreads * sizeof *threads);
	h->nthreads = nthreads;
	return 0;
}

int mt_glheap_find(const struct mt_memsrc *src, const struct mt_maps *maps,
		   const struct mt_glheap_thread *threads, size_t nthreads,
		   const char *cache_dir, struct mt_glheap **out, char *why, size_t whylen)
{
	struct libc_maps lm;
	struct elf_facts ef;
	char cpath[4096] = "";
	int rc = find_libc(maps, &lm, why, whylen);
	if (rc)
		return rc;
	struct mt_glheap *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->base = lm.base;
	bool have_brk = brk_range(maps, &h->brk_lo, &h->brk_hi);
	read_elf(src, lm.base, &ef);
	if (cache_dir && ef.build_id_len)
		cache_path(cpath, sizeof cpath, cache_dir, &ef);
	bool cached = cpath[0] && cache_load(h, cpath);
	if (cached) {
		set_release(h);
		cached = learned_ok(h, src, maps);
	}
	if (!cached) {
		h->tls_known = false;
		if ((rc = learn(h, src, maps, &lm, have_brk, why, whylen)))
			goto fail;
	}
	bool had_tls = h->tls_known;
	int64_t had_off = h->tls_off;
	if ((rc = take_threads(h, src, maps, &ef, threads, nthreads)))
		goto fail;
	if (cpath[0] && (!cached || h->tls_known != had_tls || h->tls_off != had_off))
		cache_store(h, cpath);
	*out = h;
	return 0;
fail:
	mt_glheap_destroy(h);
	return rc;
}

void mt_glheap_destroy(struct mt_glheap *h)
{
	if (!h)
		return;
	free(h->threads);
	free(h);
}

const char *mt_glheap_version(const struct mt_glheap *h)
{
	return h->version;
}

/* ---- walk: state ------------------------------------------------------ */

struct fentry {
	uint64_t addr;      /* chunk header */
	uint32_t kind;
	uint32_t arena;
};

/* A chunk the walk saw free by its header (the next chunk's P clear):
 * which bin holds it is learned afterwards from the bin lists. */
struct binned {
	uint64_t addr, size, fd, bk;
	uint32_t arena, kind;   /* kind: MT_CHUNK_LIVE until a bin list reaches it */
};

struct region {
	uint64_t lo, hi;    /* chunks tile [lo, hi) */
	uint64_t top;       /* top chunk, when in this region, else 0 */
	unsigned arena;
	bool main;
};

#define BC_SLOTS 32
#ifndef BC_BLOCK
#define BC_BLOCK 65536u         /* the fuzzer's images are small: it sets less */
#endif

struct walk {
	const struct mt_glheap *h;
	const struct mt_memsrc *src;
	const struct mt_maps *maps;
	const struct mt_glheap_cb *cb;
	struct mt_glheap_stats *st;
	struct fentry *fv;
	size_t nf, capf;
	struct region *rv;
	size_t nr, capr;
	struct binned *bv;          /* in address order, as the walk meets them */
	size_t nb, capb;
	uint64_t *arenas;
	unsigned narenas;
	uint64_t sysmem;
	uint64_t wlo, whi;          /* the chunk walk's window */
	uint8_t *wbuf;
	size_t wcap;
	uint64_t bc_tag[BC_SLOTS];
	uint8_t *bc;
	uint64_t key;               /* tcache_key as the first entry shows it */
	bool have_key;
	unsigned nwarn;
	int stop;                   /* a callback's non-zero value */
};

#define MAX_WARNINGS 1000

static void warn(struct walk *w, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	w->st->complete = false;
	if (++w->nwarn > MAX_WARNINGS || !w->cb->warn)
		return;
	va_start(ap, fmt);
	if (w->nwarn == MAX_WARNINGS)
		snprintf(msg, sizeof msg, "more warnings are not shown");
	else
		vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->cb->warn(w->cb->ctx, msg);
}

/* Reads of list nodes through a direct-mapped cache of 64 KiB blocks:
 * consecutive free chunks are mostly near each other. */
static int bc_read(struct walk *w, uint64_t a, void *buf, size_t len)
{
	uint64_t blk = a / BC_BLOCK;
	if ((a + len - 1) / BC_BLOCK != blk || a + len < a)
		return mt_memsrc_read(w->src, a, buf, len);
	unsigned slot = (unsigned)(blk % BC_SLOTS);
	if (!w->bc && !(w->bc = malloc((size_t)BC_SLOTS * BC_BLOCK)))
		return mt_memsrc_read(w->src, a, buf, len);
	uint8_t *d = w->bc + (size_t)slot * BC_BLOCK;
	if (w->bc_tag[slot] != blk + 1) {
		if (mt_memsrc_read(w->src, blk * BC_BLOCK, d, BC_BLOCK) < 0)
			return mt_memsrc_read(w->src, a, buf, len);
		w->bc_tag[slot] = blk + 1;
	}
	memcpy(buf, d + (a - blk * BC_BLOCK), len);
	return 0;
}

static int add_free(struct walk *w, uint64_t addr, unsigned kind, unsigned arena)
{
	if (w->nf == w->capf) {
		size_t nc = w->capf ? w->capf * 2 : 1024;
		struct fentry *v = realloc(w->fv, nc * sizeof *v);
		if (!v)
			return -ENOMEM;
		w->fv = v;
		w->capf = nc;
	}
	w->fv[w->nf++] = (struct fentry){ addr, kind, arena };
	return 0;
}

static int add_region(struct walk *w, struct region r)
{
	if (w->nr == w->capr) {
		size_t nc = w->capr ? w->capr * 2 : 16;
		struct region *v = realloc(w->rv, nc * sizeof *v);
		if (!v)
			return -ENOMEM;
		w->rv = v;
		w->capr = nc;
	}
	w->rv[w->nr++] = r;
	return 0;
}

/* The region holding [a, a+len), of arena ARENA; NULL if none. */
static const struct region *region_of(const struct walk *w, uint64_t a, uint64_t len,
				      unsigned arena)
{
	for (size_t i = 0; i < w->nr; i++) {
		const struct region *r = &w->rv[i];
		if (a >= r->lo && a + len <= r->hi && a + len > a)
			return r->arena == arena ? r : NULL;
	}
	return NULL;
}

/* Brent's cycle detection: true once P repeats. */
struct cyc {
	uint64_t saved, power, lam;
};

static bool cyc_step(struct cyc *c, uint64_t p)
{
	if (p == c->saved)
		return true;
	if (++c->lam == c->power) {
		c->saved = p;
		c->power <<= 1;
		c->lam = 0;
	}
	return false;
}

static uint64_t reveal(const struct walk *w, uint64_t field_addr, uint64_t v)
{
	return w->h->safe_link ? (field_addr >> 12) ^ v : v;
}

/* ---- walk: arenas and heaps ------------------------------------------- */

static int collect_arenas(struct walk *w)
{
	uint64_t a = w->h->arena;
	w->arenas = malloc(MAX_ARENAS * sizeof *w->arenas);
	if (!w->arenas)
		return -ENOMEM;
	do {
		w->arenas[w->narenas++] = a;
		if (rd64(w->src, a + MS_NEXT, &a) < 0 || !is_writable(w->maps, a, MS_SIZE)) {
			warn(w, "arena 0x%llx: the ring of arenas is broken; later arenas are not walked",
			     (unsigned long long)w->arenas[w->narenas - 1]);
			break;
		}
		for (unsigned i = 0; i < w->narenas; i++)
			if (w->arenas[i] == a && a != w->h->arena) {
				warn(w, "arena 0x%llx: the ring of arenas loops", (unsigned long long)a);
				return 0;
			}
	} while (a != w->h->arena && w->narenas < MAX_ARENAS);
	return 0;
}

static int main_region(struct walk *w, const uint8_t *ms)
{
	uint64_t top = get64(ms, MS_TOP), sysmem = get64(ms, MS_SYSMEM), tsz, sbrk;
	if (rd64(w->src, w->h->mp + w->h->sbrk_off, &sbrk) < 0 || rd64(w->src, top + 8, &tsz) < 0) {
		warn(w, "main arena 0x%llx: cannot read its top chunk", (unsigned long long)w->h->arena);
		return 0;
	}
	tsz &= ~CH_FLAGS;
	if ((top & 15) || (sbrk & 15) || top < sbrk || top + tsz < top || top + tsz - sbrk != sysmem ||
	    !is_writable(w->maps, sbrk, top + tsz - sbrk)) {
			warn(w, "main arena 0x%llx: heap 0x%llx..top 0x%llx does not match system_mem 0x%llx;"
		     " not walked", (unsigned long long)w->h->arena, (unsigned long long)sbrk,
		     (unsigned long long)top, (unsigned long long)sysmem);
		return 0;
	}
	w->sysmem += sysmem;
	w->st->heaps++;
	return add_region(w, (struct region){ sbrk, top + tsz, top, 0, true });
}

static int arena_heaps(struct walk *w, unsigned ai, const uint8_t *ms)
{
	const struct mt_glheap *h = w->h;
	uint64_t a = w->arenas[ai], top = get64(ms, MS_TOP), sysmem = get64(ms, MS_SYSMEM);
	uint64_t hp = top & ~(h->heap_max - 1), seen = 0;
	for (unsigned n = 0; hp; n++) {
		uint64_t hi[3];
		if (n == MAX_HEAPS_PER_ARENA || mt_memsrc_read(w->src, hp, hi, sizeof hi) < 0 ||
		    hi[0] != a || hi[2] > h->heap_max || hi[2] < h->hinfo ||
		    !is_writable(w->maps, hp, hi[2])) {
			warn(w, "arena 0x%llx: heap 0x%llx is not one of its heaps; its other heaps are"
			     " not walked", (unsigned long long)a, (unsigned long long)hp);
			return 0;
		}
		bool first = a == hp + h->hinfo;
		uint64_t lo = first ? (a + MS_SIZE + 15) & ~15ULL : hp + h->hinfo;
		if (lo > hp + hi[2]) {
			warn(w, "heap 0x%llx: size 0x%llx too small", (unsigned long long)hp,
			     (unsigned long long)hi[2]);
			return 0;
		}
		w->st->overhead_bytes += lo - hp;
		w->st->heaps++;
		seen += hi[2];
		uint64_t t = top >= lo && top < hp + hi[2] ? top : 0;
		int rc = add_region(w, (struct region){ lo, hp + hi[2], t, ai, false });
		if (rc || first)
			break;
		if (hi[1] && (hi[1] & (h->heap_max - 1))) {
			warn(w, "heap 0x%llx: its previous heap 0x%llx is misaligned",
			     (unsigned long long)hp, (unsigned long long)hi[1]);
			return 0;
		}
		hp = hi[1];
	}
	if (seen != sysmem)
		warn(w, "arena 0x%llx: its heaps hold 0x%llx bytes, system_mem says 0x%llx",
		     (unsigned long long)a, (unsigned long long)seen, (unsigned long long)sysmem);
	w->sysmem += sysmem;
	return 0;
}

/* ---- walk: free lists ------------------------------------------------- */

/* Is the chunk at P (arena AI) one a free list may hold, of size SZ
 * (0: any)?  Warns naming LIST otherwise. */
static bool list_chunk_ok(struct walk *w, uint64_t p, unsigned ai, uint64_t want,
			  const char *list, uint64_t *size)
{
	uint64_t raw;
	if ((p & 15) || !region_of(w, p, MINSIZE, ai) || bc_read(w, p + 8, &raw, 8) < 0) {
		warn(w, "%s: entry 0x%llx is outside the arena's heaps; rest of the list skipped",
		     list, (unsigned long long)p);
		return false;
	}
	uint64_t sz = raw & ~CH_FLAGS;
	if ((want && sz != want) || sz < MINSIZE || (sz & 15) || !region_of(w, p, sz, ai)) {
		warn(w, "%s: chunk 0x%llx has a bad size 0x%llx; rest of the list skipped", list,
		     (unsigned long long)p, (unsigned long long)sz);
		return false;
	}
	*size = sz;
	return true;
}

static int fastbins(struct walk *w, unsigned ai, const uint8_t *ms)
{
	char list[64];
	for (unsigned i = 0; i < NFASTBINS; i++) {
		uint64_t slot = w->arenas[ai] + MS_FASTBINS + 8ULL * i;
		uint64_t p = get64(ms, MS_FASTBINS + 8 * i), sz;
		struct cyc c = { 0, 1, 0 };
		snprintf(list, sizeof list, "arena 0x%llx fastbin %u", (unsigned long long)w->arenas[ai], i);
		(void)slot;
		while (p) {
			if (cyc_step(&c, p)) {
				warn(w, "%s: loops at 0x%llx", list, (unsigned long long)p);
				break;
			}
			if (!list_chunk_ok(w, p, ai, 32 + 16ULL * i, list, &sz))
				break;
			int rc = add_free(w, p, MT_CHUNK_FASTBIN, ai);
			uint64_t raw;
			if (rc)
				return rc;
			if (bc_read(w, p + 16, &raw, 8) < 0)
				break;
			p = reveal(w, p + 16, raw);
		}
	}
	return 0;
}

static unsigned bin_kind(unsigned i)
{
	return i == 1 ? MT_CHUNK_UNSORTED : i < 64 ? MT_CHUNK_SMALLBIN : MT_CHUNK_LARGEBIN;
}

/* The arena index holding the chunk at P: by its region. */
static bool arena_of(const struct walk *w, uint64_t p, unsigned *ai)
{
	for (size_t i = 0; i < w->nr; i++)
		if (p >= w->rv[i].lo && p < w->rv[i].hi) {
			*ai = w->rv[i].arena;
			return true;
		}
	return false;
}

/* One tcache (T: the struct's user address): its chunk is overhead, its
 * entries are free.  COUNTS_OK: false when a count disagrees with its list. */
static int one_tcache(struct walk *w, uint64_t t, bool *counts_ok)
{
	uint16_t counts[TC_BINS];
	uint64_t ents[TC_BINS];
	unsigned ai;
	char list[64];
	*counts_ok = true;
	if (!arena_of(w, t - 16, &ai) || mt_memsrc_read(w->src, t, counts, sizeof counts) < 0 ||
	    mt_memsrc_read(w->src, t + sizeof counts, ents, sizeof ents) < 0) {
		warn(w, "tcache 0x%llx: not inside a heap", (unsigned long long)t);
		return 0;
	}
	int rc = add_free(w, t - 16, K_OVERHEAD, ai);
	for (unsigned i = 0; i < TC_BINS && !rc; i++) {
		uint64_t e = ents[i], sz, n = 0;
		struct cyc c = { 0, 1, 0 };
		snprintf(list, sizeof list, "tcache 0x%llx bin %u", (unsigned long long)t, i);
		while (e && n <= counts[i]) {
			uint64_t nx[2];
			if (cyc_step(&c, e)) {
				warn(w, "%s: loops at 0x%llx", list, (unsigned long long)e);
				break;
			}
			/* A thread's tcache holds what the thread freed, from
			 * any arena: the chunk's own arena is the one that
			 * holds it. */
			unsigned eai = ai;
			arena_of(w, e - 16, &eai);
			if (!list_chunk_ok(w, e - 16, eai, 32 + 16ULL * i, list, &sz) ||
			    bc_read(w, e, nx, 16) < 0)
				break;
			if (w->h->random_key && !w->have_key) {
				w->key = nx[1];
				w->have_key = true;
			}
			if (nx[1] != (w->h->random_key ? w->key : t))
				warn(w, "%s: chunk 0x%llx: key 0x%llx is not the tcache key", list,
				     (unsigned long long)(e - 16), (unsigned long long)nx[1]);
			if ((rc = add_free(w, e - 16, MT_CHUNK_TCACHE, eai)))
				break;
			n++;
			e = reveal(w, e, nx[0]);
		}
		if (n != counts[i] || e) {
			*counts_ok = false;
			warn(w, "%s: count %u, list of %llu%s", list, counts[i], (unsigned long long)n,
			     e ? " or more" : "");
		}
	}
	return rc;
}

static bool tcache_consistent(const struct mt_glheap *h, const struct mt_memsrc *src, uint64_t t,
			      char *why, size_t whylen);

static bool add_tcache(uint64_t *out, size_t *n, size_t cap, uint64_t t)
{
	for (size_t j = 0; j < *n; j++)
		if (out[j] == t)
			return false;
	if (*n < cap)
		out[(*n)++] = t;
	return true;
}

/* The tcaches, each once: each thread's (through the TLS offset), and the
 * first chunk of the brk heap and of each non-main arena when it is an
 * in-use tcache_perthread_struct: a thread's first malloc allocates its
 * tcache, so the brk heap starts with the main thread's and an arena with
 * its maker's.  Without thread pointers these are the only ones found; an
 * arena's first chunk then needs its counts to agree with its lists too
 * (it could be a user block if its maker has exited).  MAPS may be NULL. */
static size_t tcache_list(const struct mt_glheap *h, const struct mt_memsrc *src,
			  const struct mt_maps *maps, uint64_t *out, size_t cap)
{
	size_t n = 0;
	uint64_t a = h->arena, first;
	for (size_t i = 0; h->tls_known && i < h->nthreads; i++) {
		uint64_t t;
		if (rd64(src, h->threads[i].tp + (uint64_t)h->tls_off, &t) == 0 && t &&
		    tcache_ok(h, src, maps, t))
			add_tcache(out, &n, cap, t);
	}
	for (unsigned k = 0; k < MAX_ARENAS; k++) {
		if (a == h->arena)
			first = rd64(src, h->mp + h->sbrk_off, &first) == 0 ? first + 16 : 0;
		else
			first = ((a + MS_SIZE + 15) & ~15ULL) + 16;
		uint64_t next;   /* in use: the next chunk's P is set */
		if (first && tcache_ok(h, src, maps, first) &&
		    rd64(src, first - 16 + TC_CHUNK + 8, &next) == 0 && (next & CH_P) &&
		    (a == h->arena || tcache_consistent(h, src, first, NULL, 0)))
			add_tcache(out, &n, cap, first);
		if (rd64(src, a + MS_NEXT, &a) < 0 || a == h->arena)
			break;
	}
	return n;
}

static int tcaches(struct walk *w)
{
	size_t cap = w->h->nthreads + MAX_ARENAS, n;
	uint64_t *v = malloc(cap * sizeof *v);
	int rc = 0;
	bool ok;
	if (!v)
		return -ENOMEM;
	n = tcache_list(w->h, w->src, w->maps, v, cap);
	for (size_t i = 0; i < n && !rc; i++)
		rc = one_tcache(w, v[i], &ok);
	free(v);
	return rc;
}

/* ---- walk: chunks ----------------------------------------------------- */

/* The 8 bytes at A (lo <= A, A + 8 <= HI) through the window. */
static __attribute__((noinline)) int wfill(struct walk *w, uint64_t a, uint64_t hi)
{
	uint64_t lo = a & ~15ULL, len = hi - lo < w->wcap ? hi - lo : w->wcap;
	if (hi < a + 8 || a + 8 > lo + len || mt_memsrc_read(w->src, lo, w->wbuf, len) < 0) {
		w->wlo = w->whi = 0;
		return -EFAULT;
	}
	w->wlo = lo;
	w->whi = lo + len;
	return 0;
}

/* 16 million chunks go through here: the window hit is inlined. */
static inline int wget(struct walk *w, uint64_t a, uint64_t hi, uint64_t *v)
{
	if (__builtin_expect(a < w->wlo || a + 8 > w->whi, 0) && wfill(w, a, hi) < 0)
		return -EFAULT;
	memcpy(v, w->wbuf + (a - w->wlo), 8);
	return 0;
}

static int report(struct walk *w, uint64_t p, uint64_t sz, uint64_t word0, unsigned kind,
		  bool mmapped, unsigned arena)
{
	struct mt_glheap_chunk c = {
		.chunk = p, .addr = p + 16, .size = sz,
		.usable = mmapped ? sz - 16 : sz - 8, .word0 = word0,
		.kind = (enum mt_chunk_kind)kind, .mmapped = mmapped, .arena = arena,
	};
	if (kind == MT_CHUNK_LIVE) {
		w->st->live_blocks++;
		w->st->live_bytes += sz;
	} else {
		w->st->free_blocks[kind]++;
		w->st->free_bytes[kind] += sz;
	}
	return w->cb->chunk ? w->cb->chunk(w->cb->ctx, &c) : 0;
}

/* Is the chunk at P, free as KIND, consistent with the next chunk's
 * header NRAW and its footer? */
/* A chunk free by its header: kept for binned_chunks(), if its footer
 * (the next chunk's prev_size) agrees.  0, or -ENOMEM. */
static int keep_binned(struct walk *w, const struct region *r, uint64_t p, uint64_t sz,
		       uint64_t fd)
{
	uint64_t bk, foot;
	if (wget(w, p + 24, r->hi, &bk) < 0 || wget(w, p + sz, r->hi, &foot) < 0 || foot != sz) {
		warn(w, "chunk 0x%llx (size 0x%llx): free, but the next chunk's prev_size"
		     " disagrees; not counted", (unsigned long long)p, (unsigned long long)sz);
		return 0;
	}
	if (w->nb == w->capb) {
		size_t nc = w->capb ? w->capb * 2 : 1024;
		struct binned *v = realloc(w->bv, nc * sizeof *v);
		if (!v)
			return -ENOMEM;
		w->bv = v;
		w->capb = nc;
	}
	w->bv[w->nb++] = (struct binned){ p, sz, fd, bk, r->arena, MT_CHUNK_LIVE };
	return 0;
}

/* Free-list entries before P that are no chunk start. */
static void skip_entries(struct walk *w, size_t *cur, uint64_t p, bool quiet)
{
	while (*cur < w->nf && w->fv[*cur].addr < p) {
		if (!quiet)
			warn(w, "free-list entry 0x%llx is not the start of a chunk",
			     (unsigned long long)w->fv[*cur].addr);
		(*cur)++;
	}
}

/* 0: go on at *NEXT; 1: skip the rest of the region (warned); 2: a
 * callback asked to stop (w->stop). */
static int one_chunk(struct walk *w, const struct region *r, uint64_t p, uint64_t raw,
		     size_t *cur, uint64_t *next)
{
	uint64_t sz = raw & ~CH_FLAGS, nraw, word0 = 0;
	if (sz < MINSIZE || (sz & 15) || (raw & CH_M) || p + sz + 16 > r->hi || p + sz < p ||
	    (r->top && p < r->top && p + sz > r->top) ||
	    wget(w, p + sz + 8, r->hi, &nraw) < 0 || wget(w, p + 16, r->hi, &word0) < 0) {
		warn(w, "chunk 0x%llx: bad size 0x%llx; heap 0x%llx..0x%llx skipped",
		     (unsigned long long)p, (unsigned long long)raw, (unsigned long long)p,
		     (unsigned long long)r->hi);
		return 1;
	}
	skip_entries(w, cur, p, false);
	unsigned kind = MT_CHUNK_LIVE;
	if (*cur < w->nf && w->fv[*cur].addr == p)
		kind = w->fv[(*cur)++].kind;
	*next = p + sz;
	if (!r->top && sz == MINSIZE && p + sz + 16 == r->hi && (nraw & ~CH_FLAGS) == 0) {
		/* The fencepost of a heap whose old top was too small to free:
		 * one in-use chunk of 32, then the size-0 header (sysmalloc). */
		w->st->overhead_bytes += r->hi - p;
		*next = r->hi;
		return 0;
	}
	if (!(nraw & CH_P)) {
		if (kind == MT_CHUNK_LIVE)
			return (w->stop = keep_binned(w, r, p, sz, word0)) ? 2 : 0;
		warn(w, "chunk 0x%llx (size 0x%llx): in a %s, but the next chunk's header says it"
		     " is free; not counted", (unsigned long long)p, (unsigned long long)sz,
		     kind == K_OVERHEAD ? "tcache's place" : "tcache or fastbin");
		return 0;
	}
	if (kind == MT_CHUNK_LIVE && !(raw & CH_A) != r->main) {
		warn(w, "chunk 0x%llx: its arena bit disagrees with its heap; heap 0x%llx..0x%llx skipped",
		     (unsigned long long)p, (unsigned long long)p, (unsigned long long)r->hi);
		return 1;
	}
	if (kind == K_OVERHEAD) {
		w->st->overhead_bytes += sz;
		return 0;
	}
	w->stop = report(w, p, sz, word0, kind, false, r->arena);
	return w->stop ? 2 : 0;
}

/* Walk the chunks of one region.  0, or a callback's value. */
static int walk_region(struct walk *w, const struct region *r, size_t *cur)
{
	uint64_t p = r->lo, raw, next;
	int rc = 0;
	while (p < r->hi) {
		if (p + 16 > r->hi || wget(w, p + 8, r->hi, &raw) < 0) {
			warn(w, "chunk 0x%llx: unreadable; heap 0x%llx..0x%llx skipped",
			     (unsigned long long)p, (unsigned long long)p, (unsigned long long)r->hi);
			break;
		}
		uint64_t sz = raw & ~CH_FLAGS;
		if (p == r->top) {
			skip_entries(w, cur, p, false);
			if (sz != r->hi - p)
				warn(w, "top chunk 0x%llx: size 0x%llx does not end its heap 0x%llx",
				     (unsigned long long)p, (unsigned long long)sz,
				     (unsigned long long)r->hi);
			rc = report(w, p, r->hi - p, 0, MT_CHUNK_TOP, false, r->arena);
			p = r->hi;
			break;
		}
		if (!r->top && ((sz == 0 && r->hi - p <= 32) || (sz == 16 && r->hi - p <= 48))) {
			/* The fencepost that ends a heap left for a new one. */
			w->st->overhead_bytes += sz ? 16 : r->hi - p;
			p = sz ? p + 16 : r->hi;
			continue;
		}
		int k = one_chunk(w, r, p, raw, cur, &next);
		if (k == 1)
			break;
		if (k == 2)
			return w->stop;
		p = next;
	}
	if (p < r->hi && r->top)
		w->st->complete = false;
	/* Entries in a skipped part were warned about with it. */
	while (*cur < w->nf && w->fv[*cur].addr < r->hi)
		(*cur)++;
	return rc;
}

static int cmp_fentry(const void *a, const void *b)
{
	const struct fentry *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_region(const void *a, const void *b)
{
	const struct region *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Radix sort by address (user addresses fit in 48 bits, chunks are
 * 16-aligned: three 16-bit digits of addr >> 4 cover 52 bits); a
 * million free chunks sort in a few ms where qsort takes 200. */
static bool radix_sort(struct fentry *v, size_t n)
{
	struct fentry *t = malloc(n * sizeof *t);
	size_t *cnt = malloc(65536 * sizeof *cnt);
	bool ok = t && cnt;
	for (unsigned d = 0; ok && d < 3; d++) {
		unsigned sh = 4 + 16 * d;
		memset(cnt, 0, 65536 * sizeof *cnt);
		for (size_t i = 0; i < n; i++)
			cnt[(v[i].addr >> sh) & 0xffff]++;
		for (size_t i = 0, sum = 0; i < 65536; i++) {
			size_t c = cnt[i];
			cnt[i] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			t[cnt[(v[i].addr >> sh) & 0xffff]++] = v[i];
		memcpy(v, t, n * sizeof *v);
	}
	free(t);
	free(cnt);
	return ok;
}

/* Sort the free entries; one chunk in two lists is corruption. */
static void sort_free(struct walk *w)
{
	size_t o = 0;
	bool big = false;
	if (!w->nf)
		return;   /* fv may be NULL: not for qsort */
	for (size_t i = 0; i < w->nf; i++)
		big |= w->fv[i].addr >> 52 != 0;
	if (w->nf < 4096 || big || !radix_sort(w->fv, w->nf))
		qsort(w->fv, w->nf, sizeof *w->fv, cmp_fentry);
	for (size_t i = 0; i < w->nf; i++) {
		if (o && w->fv[o - 1].addr == w->fv[i].addr) {
			warn(w, "chunk 0x%llx is in two free lists", (unsigned long long)w->fv[i].addr);
			continue;
		}
		w->fv[o++] = w->fv[i];
	}
	w->nf = o;
}

static int walk_regions(struct walk *w)
{
	size_t cur = 0, o = 0;
	if (w->nr)   /* rv may be NULL: not for qsort */
		qsort(w->rv, w->nr, sizeof *w->rv, cmp_region);
	for (size_t i = 0; i < w->nr; i++) {
		if (o && w->rv[i].lo < w->rv[o - 1].hi) {
			warn(w, "heap 0x%llx overlaps heap 0x%llx; not walked twice",
			     (unsigned long long)w->rv[i].lo, (unsigned long long)w->rv[o - 1].lo);
			continue;
		}
		w->rv[o++] = w->rv[i];
	}
	w->nr = o;
	/* The window: WIN, or the largest heap when all are smaller. */
	for (size_t i = 0; i < w->nr; i++)
		if (w->rv[i].hi - w->rv[i].lo > w->wcap)
			w->wcap = w->rv[i].hi - w->rv[i].lo < WIN ? w->rv[i].hi - w->rv[i].lo : WIN;
	if (w->nr && !(w->wbuf = malloc(w->wcap)))
		return -ENOMEM;
	for (size_t i = 0; i < w->nr; i++) {
		int rc = walk_region(w, &w->rv[i], &cur);
		if (rc)
			return rc;
	}
	skip_entries(w, &cur, UINT64_MAX, false);
	return 0;
}

/* ---- walk: bins ------------------------------------------------------ */

static const struct binned *find_binned(const struct walk *w, uint64_t p)
{
	size_t lo = 0, hi = w->nb;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->bv[mid].addr < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->nb && w->bv[lo].addr == p ? &w->bv[lo] : NULL;
}

/* Follow bin I of arena AI through the chunks the walk saw free: no
 * memory is read (a million free chunks in bins would be a million
 * scattered reads).  Each chunk reached takes the bin's kind. */
static void one_bin(struct walk *w, unsigned ai, unsigned i, uint64_t p)
{
	uint64_t b = bin_at(w->arenas[ai], i), prev = b;
	char list[64];
	snprintf(list, sizeof list, "arena 0x%llx bin %u", (unsigned long long)w->arenas[ai], i);
	while (p != b) {
		struct binned *c = (struct binned *)find_binned(w, p);
		if (!c || c->arena != ai) {
			warn(w, "%s: entry 0x%llx is not a free chunk of the arena; rest of the list"
			     " skipped", list, (unsigned long long)p);
			return;
		}
		if (c->kind != MT_CHUNK_LIVE) {
			warn(w, "%s: loops at 0x%llx", list, (unsigned long long)p);
			return;
		}
		if ((i > 1 && i < 64 && c->size != 16ULL * i) || (i >= 64 && c->size < 64 * 16)) {
			warn(w, "%s: chunk 0x%llx has a bad size 0x%llx; rest of the list skipped",
			     list, (unsigned long long)p, (unsigned long long)c->size);
			return;
		}
		if (c->bk != prev) {
			warn(w, "%s: chunk 0x%llx: bk 0x%llx is not the previous entry 0x%llx",
			     list, (unsigned long long)p, (unsigned long long)c->bk,
			     (unsigned long long)prev);
			return;
		}
		c->kind = bin_kind(i);
		prev = p;
		p = c->fd;
	}
}

/* The bins of every arena, then the chunks the walk saw free, each with
 * the kind of its bin; one in no bin is not counted.  0 or a callback's
 * value. */
static int binned_chunks(struct walk *w)
{
	uint64_t heads[2 * (NBINS - 1)];   /* fd, bk of each bin */
	for (unsigned ai = 0; ai < w->narenas; ai++) {
		if (mt_memsrc_read(w->src, w->arenas[ai] + MS_BINS, heads, sizeof heads) < 0)
			continue;   /* warned when its heaps were read */
		for (unsigned i = 1; i < NBINS; i++)
			one_bin(w, ai, i, heads[2 * (i - 1)]);
	}
	for (size_t k = 0; k < w->nb; k++) {
		const struct binned *c = &w->bv[k];
		if (c->kind == MT_CHUNK_LIVE) {
			warn(w, "chunk 0x%llx (size 0x%llx): free by its header but in no bin;"
			     " not counted", (unsigned long long)c->addr, (unsigned long long)c->size);
			continue;
		}
		int rc = report(w, c->addr, c->size, c->fd, c->kind, false, c->arena);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- walk: mmapped chunks -------------------------------------------- */

/* Could mapping M hold mmapped chunks?  Anonymous, private, rw, not a heap
 * of an arena.  A mapping that holds a thread's stack or its thread
 * control block is scanned too: the kernel merges neighbouring anonymous
 * mappings, and the main thread's TCB (a small mapping of ld.so's) was
 * seen merged with the 6 MiB of mmapped chunks just below it.  A stack
 * word pair that happens to look like a page-aligned mmapped chunk header
 * would be caught by the count check against mp_ (then a warning). */
static bool mmap_candidate(const struct walk *w, const struct mt_map *m)
{
	if (!m->r || !m->w || !m->p || (m->path && m->path[0] != '[') ||
	    (m->path && strncmp(m->path, "[anon", 5)))
		return false;
	for (size_t i = 0; i < w->nr; i++)
		if (!w->rv[i].main && m->start < (w->rv[i].lo | (w->h->heap_max - 1)) &&
		    m->end > (w->rv[i].lo & ~(w->h->heap_max - 1)))
			return false;
	return true;
}

/* The end of the stretch from P (inside M) that may hold a chunk header:
 * up to the next 2 MiB boundary; 0 when the image says none of its pages is
 * resident (a header malloc wrote is resident unless swapped out, and then
 * the count check warns).  Saves reading a word of every page of large
 * untouched mappings: thread stacks, a JVM's reserved heap. */
#define SCAN_STRETCH (2ULL << 20)
static uint64_t stretch_end(const struct walk *w, const struct mt_map *m, uint64_t p)
{
	uint64_t end = (p | (SCAN_STRETCH - 1)) + 1;
	uint64_t bytes = 0;
	if (end > m->end || end < p)
		end = m->end;
	if (w->src->resident && w->src->resident(w->src->ctx, p, end, &bytes) == 0 && !bytes)
		return 0;
	return end;
}

static int mmapped(struct walk *w, uint64_t want_n, uint64_t want_bytes)
{
	for (size_t i = 0; i < w->maps->n; i++) {
		const struct mt_map *m = &w->maps->v[i];
		if (!mmap_candidate(w, m))
			continue;
		uint64_t stretch = m->start;
		for (uint64_t p = m->start; p + PAGE <= m->end;) {
			uint64_t hd[3];
			if (w->st->mmapped_chunks == want_n && w->st->mmapped_bytes == want_bytes)
				return 0;      /* all found: no more reading */
			if (p >= stretch) {
				uint64_t end = stretch_end(w, m, p);
				if (!end) {
					p = stretch = (p | (SCAN_STRETCH - 1)) + 1;
					continue;
				}
				stretch = end;
			}
			if (mt_memsrc_read(w->src, p, hd, sizeof hd) < 0)
				break;
			uint64_t sz = hd[1] & ~CH_FLAGS;
			if (hd[0] != 0 || (hd[1] & CH_FLAGS) != CH_M || !sz || sz % PAGE ||
			    sz > m->end - p) {
				p += PAGE;
				continue;
			}
			w->st->mmapped_chunks++;
			w->st->mmapped_bytes += sz;
			if (report(w, p, sz, hd[2], MT_CHUNK_LIVE, true, ~0u))
				return 1;
			p += sz;
		}
	}
	return 0;
}

/* ---- walk ------------------------------------------------------------- */

static int walk_arenas(struct walk *w)
{
	uint8_t *ms = malloc(MS_SIZE);
	int rc = 0;
	if (!ms)
		return -ENOMEM;
	/* First every heap (lists are checked against them), then the lists. */
	for (unsigned i = 0; i < w->narenas && !rc; i++) {
		if (mt_memsrc_read(w->src, w->arenas[i], ms, MS_SIZE) < 0) {
			warn(w, "arena 0x%llx: unreadable", (unsigned long long)w->arenas[i]);
			continue;
		}
		rc = i == 0 ? main_region(w, ms) : arena_heaps(w, i, ms);
	}
	for (unsigned i = 0; i < w->narenas && !rc; i++) {
		if (mt_memsrc_read(w->src, w->arenas[i], ms, MS_SIZE) < 0)
			continue;
		rc = fastbins(w, i, ms);
	}
	free(ms);
	return rc;
}

static void check_mmapped(struct walk *w, uint64_t n, uint64_t bytes)
{
	if (w->st->mmapped_chunks != n || w->st->mmapped_bytes != bytes)
		warn(w, "mmapped chunks: found %llu (%llu bytes), malloc counts %llu (%llu bytes)",
		     (unsigned long long)w->st->mmapped_chunks,
		     (unsigned long long)w->st->mmapped_bytes, (unsigned long long)n,
		     (unsigned long long)bytes);
}

int mt_glheap_walk(const struct mt_glheap *h, const struct mt_memsrc *src,
		   const struct mt_maps *maps, const struct mt_glheap_cb *cb,
		   struct mt_glheap_stats *st)
{
	struct walk w = { .h = h, .src = src, .maps = maps, .cb = cb, .st = st };
	uint8_t mpb[160];
	int rc;
	memset(st, 0, sizeof *st);
	st->complete = true;
	if (mt_memsrc_read(src, h->mp, mpb, h->sbrk_off + 8) < 0)
		return -EFAULT;
	int nm;
	memcpy(&nm, mpb + mp_ints(h->sbrk_off), 4);
	uint64_t mm_bytes = get64(mpb, h->sbrk_off - 16);
	rc = collect_arenas(&w);
	if (!rc)
		rc = walk_arenas(&w);
	if (!rc)
		rc = tcaches(&w);
	if (!rc) {
		sort_free(&w);
		rc = walk_regions(&w);
	}
	if (!rc)
		rc = binned_chunks(&w);
	if (!rc)
		rc = mmapped(&w, nm < 0 ? 0 : (uint64_t)nm, mm_bytes);
	if (!rc)
		check_mmapped(&w, nm < 0 ? 0 : (uint64_t)nm, mm_bytes);
	st->arenas = w.narenas;
	st->mapped_bytes = w.sysmem + st->mmapped_bytes;
	free(w.arenas);
	free(w.fv);
	free(w.rv);
	free(w.bv);
	free(w.wbuf);
	free(w.bc);
	return rc;
}

/* ---- quiescence ------------------------------------------------------- */

static bool tcache_consistent(const struct mt_glheap *h, const struct mt_memsrc *src, uint64_t t,
			      char *why, size_t whylen)
{
	uint16_t counts[TC_BINS];
	uint64_t ents[TC_BINS];
	if (mt_memsrc_read(src, t, counts, sizeof counts) < 0 ||
	    mt_memsrc_read(src, t + sizeof counts, ents, sizeof ents) < 0)
		return true;   /* the walk will say what it cannot read */
	for (unsigned i = 0; i < TC_BINS; i++) {
		uint64_t e = ents[i], n = 0;
		while (e && n <= counts[i]) {
			uint64_t nx;
			if ((e & 15) || rd64(src, e, &nx) < 0)
				break;
			n++;
			e = h->safe_link ? (e >> 12) ^ nx : nx;
		}
		if (n != counts[i] || e) {
			say(why, whylen, "tcache 0x%llx bin %u: count %u, list of %llu%s",
			    (unsigned long long)t, i, counts[i], (unsigned long long)n,
			    e ? " or more" : "");
			return false;
		}
	}
	return true;
}

bool mt_glheap_quiescent(const struct mt_glheap *h, const struct mt_memsrc *src, char *why,
			 size_t whylen)
{
	uint64_t a = h->arena;
	for (unsigned n = 0; n < MAX_ARENAS; n++) {
		int mutex;
		if (mt_memsrc_read(src, a + MS_MUTEX, &mutex, sizeof mutex) < 0)
			break;
		if (mutex) {
			say(why, whylen, "arena 0x%llx: locked", (unsigned long long)a);
			return false;
		}
		if (rd64(src, a + MS_NEXT, &a) < 0 || a == h->arena)
			break;
	}
	size_t cap = h->nthreads + MAX_ARENAS, nt;
	uint64_t *tc = malloc(cap * sizeof *tc);
	bool ok = true;
	if (!tc) {
		say(why, whylen, "out of memory");
		return false;
	}
	nt = tcache_list(h, src, NULL, tc, cap);
	for (size_t i = 0; i < nt && ok; i++)
		ok = tcache_consistent(h, src, tc[i], why, whylen);
	free(tc);
	return ok;
}
