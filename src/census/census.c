/* The census of a heap walk.  See census.h.
 *
 * The block table: one struct mt_census_block (16 bytes) per censused block, in one
 * array appended to during the walk and sorted by address at finish; a
 * free is a binary search.  A freed block keeps its place (row FREED), so
 * the array never moves after the walk.  A chunk too large for the 32-bit
 * size field (64 GiB and up) keeps its size in a side list, and the
 * mmapped chunks (whose usable size is 8 bytes less) their addresses in
 * another.
 *
 * The array is a mapping of its own, grown with mremap() (no copy, never
 * two arrays at once) and given transparent huge pages where the system
 * allows them (madvise): 16 million blocks fill 256 MiB, and faulting that
 * in 4 KiB at a time was most of the census's own time.  finish() cuts it
 * to the pages in use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "census/census.h"
#include "util/u64map.h"

#define PAGE 4096ull                /* x86_64 */
#define MALLOC_CHUNK_SZ 48          /* sizeof (struct malloc_chunk): mtrim() keeps it */
#define MINSIZE 32
#define MAX_WARNINGS 64
/* Distinct first words cached; past this a word is named again each time
 * (still bounded work: a few reads). */
#define MAX_CACHE (1u << 22)
#define MAX_SYMBOL_LOOKUPS 4096

#define ROW_FREED MT_CENSUS_ROW_FREED
#define ROW_NONE (UINT32_MAX - 1)   /* cache: the word names no type */
#define SIZE16_BIG UINT32_MAX


struct big {
	uint64_t addr, size;
};

struct row {
	char *type;        /* NULL: a size row */
	uint64_t size;     /* usable size (size rows) */
	uint64_t blocks, bytes, freed_blocks, freed_bytes;
};

struct mt_census {
	struct mt_census_config cfg;
	struct mt_census_block *v;      /* mapped; cap entries (a whole number of pages) */
	size_t n, cap;
	bool unsorted;         /* a block came below the one before it */
	struct big *bigs;
	size_t nbigs;
	uint64_t *mmaps;       /* mmapped chunks' blocks, sorted at finish */
	size_t nmmaps;
	struct mt_census_extent *ext;   /* the heap's pages: chunks, live or free */
	size_t next, capext;
	struct row *rows;
	size_t nrows, caprows;
	struct mt_u64map by_word;     /* first word -> row or ROW_NONE */
	struct mt_u64map by_size;     /* usable size -> row */
	struct mt_u64map ti_class;    /* typeinfo's vptr -> 1 a class typeinfo, 0 not */
	char **warnings;
	size_t nwarnings, warnings_dropped;
	uint64_t trimmable;
	bool trim_inexact;
	unsigned symbol_lookups;
	uint64_t mod_lo, mod_hi;  /* the span of the modules' mappings */
	uint64_t last_size;       /* size_row's last answer */
	uint32_t last_size_row;   /* ROW_NONE: none yet */
	struct mt_glheap_stats st;
	uint64_t live_blocks, live_bytes;
	bool finished;
};

/* ---- reading the image ----------------------------------------------- */

/* A mapping of a file (a loaded module), where vtables and typeinfos are. */
static bool in_module(const struct mt_census *c, uint64_t addr)
{
	const struct mt_map *m = mt_maps_find(c->cfg.maps, addr);
	return m && m->r && m->path && m->path[0] == '/';
}

static bool read_words(const struct mt_census *c, uint64_t addr, uint64_t *w, size_t n)
{
	if (addr & 7)
		return false;
	return mt_memsrc_read(c->cfg.src, addr, w, n * sizeof *w) == 0;
}

/* The NUL-terminated string at ADDR, at most LEN - 1 bytes, read in pieces
 * that never cross the end of its mapping.  False when there is no NUL in
 * time or a byte cannot be read. */
static bool read_string(const struct mt_census *c, uint64_t addr, char *out, size_t len)
{
	const struct mt_map *m = mt_maps_find(c->cfg.maps, addr);
	if (!m || !m->r)
		return false;
	size_t got = 0;
	while (got < len) {
		uint64_t at = addr + got;
		if (at < addr || at >= m->end)
			return false;
		size_t piece = len - got < 64 ? len - got : 64;
		if (piece > m->end - at)
			piece = (size_t)(m->end - at);
		if (mt_memsrc_read(c->cfg.src, at, out + got, piece) < 0)
			return false;
		void *nul = memchr(out + got, 0, piece);
		if (nul)
			return true;
		got += piece;
	}
	return false;
}

/* A mangled type name's characters (GCC marks a type of internal linkage
 * with a leading '*', stripped before). */
static bool mangled_chars(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char ch = *s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '$' || ch == '.'))
			return false;
	}
	return true;
}

static const char *const class_ti_names[] = {
	"N10__cxxabiv117__class_type_infoE",
	"N10__cxxabiv120__si_class_type_infoE",
	"N10__cxxabiv121__vmi_class_type_infoE",
};

/* Is TIVPTR (a typeinfo's first word) the vptr of one of libstdc++'s
 * class typeinfo classes?  Those are polymorphic too: TIVPTR[-1] is their
 * own typeinfo, whose name says which class it is. */
static bool class_typeinfo_vptr(struct mt_census *c, uint64_t tivptr)
{
	uint32_t known;
	if (mt_u64map_get(&c->ti_class, tivptr, &known))
		return known;
	bool ok = false;
	uint64_t w[2], ti;
	char name[64];
	if (in_module(c, tivptr) && read_words(c, tivptr - 16, w, 2) && w[0] == 0 &&
	    in_module(c, ti = w[1]) && read_words(c, ti, w, 2) && in_module(c, w[1]) &&
	    read_string(c, w[1], name, sizeof name)) {
		for (size_t i = 0; i < sizeof class_ti_names / sizeof class_ti_names[0]; i++)
			ok |= strcmp(name, class_ti_names[i]) == 0;
	}
	if (c->ti_class.n < 4096)
		mt_u64map_put(&c->ti_class, tivptr, ok);
	return ok;
}

static void demangle(const struct mt_census *c, const char *mangled, char *out, size_t len)
{
	if (!c->cfg.demangle || c->cfg.demangle(mangled, out, len) < 0)
		snprintf(out, len, "%s", mangled);
}

/* The class of an object whose vptr is VPTR, by its typeinfo. */
static bool name_by_typeinfo(struct mt_census *c, uint64_t vptr, char *out, size_t len)
{
	uint64_t w[2];
	/* vptr[-2]: offset to top, 0 in a complete object's primary vtable;
	 * vptr[-1]: the typeinfo. */
	if (!read_words(c, vptr - 16, w, 2) || w[0] != 0 || !in_module(c, w[1]))
		return false;
	uint64_t ti[2];
	if (!read_words(c, w[1], ti, 2) || !class_typeinfo_vptr(c, ti[0]) || !in_module(c, ti[1]))
		return false;
	char mangled[MT_CENSUS_NAME_MAX];
	if (!read_string(c, ti[1], mangled, sizeof mangled))
		return false;
	const char *m = mangled[0] == '*' ? mangled + 1 : mangled;
	if (!mangled_chars(m))
		return false;
	demangle(c, m, out, len);
	return true;
}

/* A vtable without typeinfo (-fno-rtti): its symbol, "_ZTV6Widget" or,
 * demangled, "vtable for Widget".  A symbolizer lookup is dear: at most
 * MAX_SYMBOL_LOOKUPS distinct words ask it. */
static bool name_by_symbol(struct mt_census *c, uint64_t vptr, char *out, size_t len)
{
	static const char vt[] = "vtable for ";
	char sym[MT_CENSUS_NAME_MAX];
	if (!c->cfg.symbol || c->symbol_lookups >= MAX_SYMBOL_LOOKUPS)
		return false;
	c->symbol_lookups++;
	if (!c->cfg.symbol(c->cfg.symbol_ctx, vptr, sym, sizeof sym))
		return false;
	sym[sizeof sym - 1] = 0;
	if (strncmp(sym, vt, sizeof vt - 1) == 0 && sym[sizeof vt - 1]) {
		snprintf(out, len, "%s", sym + sizeof vt - 1);
		return true;
	}
	if (strncmp(sym, "_ZTV", 4) != 0 || !mangled_chars(sym + 4))
		return false;
	demangle(c, sym + 4, out, len);
	return true;
}

/* ---- rows ------------------------------------------------------------- */

static int new_row(struct mt_census *c, const char *type, uint64_t size, uint32_t *id)
{
	if (c->nrows >= ROW_NONE - 1)
		return -ENOMEM;
	if (c->nrows == c->caprows) {
		size_t cap = c->caprows ? c->caprows * 2 : 64;
		struct row *r = realloc(c->rows, cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		c->rows = r;
		c->caprows = cap;
	}
	char *t = NULL;
	if (type && !(t = strdup(type)))
		return -ENOMEM;
	c->rows[c->nrows] = (struct row){ .type = t, .size = size };
	*id = (uint32_t)c->nrows++;
	return 0;
}

/* The row of class NAME: one per name (a class in two modules has two
 * vtables).  Reached once per distinct vptr, so a scan is cheap. */
static int type_row(struct mt_census *c, const char *name, uint32_t *id)
{
	for (size_t i = 0; i < c->nrows; i++) {
		if (c->rows[i].type && strcmp(c->rows[i].type, name) == 0) {
			*id = (uint32_t)i;
			return 0;
		}
	}
	return new_row(c, name, 0, id);
}

/* The row of untyped blocks of USABLE bytes.  Neighbours tend to have one
 * size: the last one answers first. */
static int size_row(struct mt_census *c, uint64_t usable, uint32_t *id)
{
	if (c->last_size_row != ROW_NONE && c->last_size == usable) {
		*id = c->last_size_row;
		return 0;
	}
	int err = 0;
	if (!mt_u64map_get(&c->by_size, usable, id)) {
		err = new_row(c, NULL, usable, id);
		if (!err)
			err = mt_u64map_put(&c->by_size, usable, *id);
	}
	if (!err) {
		c->last_size = usable;
		c->last_size_row = *id;
	}
	return err;
}

/* The type row of a block whose first word is WORD, or ROW_NONE.  Most
 * first words point nowhere near a module (numbers, heap pointers): they
 * are turned away by the modules' span before any lookup, and only words
 * inside a module are cached, so the cache holds vtables and the few
 * other module pointers, not every word of the heap. */
static int word_row(struct mt_census *c, uint64_t word, uint32_t *id)
{
	*id = ROW_NONE;
	if ((word & 7) || word < c->mod_lo || word >= c->mod_hi)
		return 0;
	if (mt_u64map_get(&c->by_word, word, id))
		return 0;
	if (!in_module(c, word))
		return 0;
	char name[MT_CENSUS_NAME_MAX];
	if ((name_by_typeinfo(c, word, name, sizeof name) ||
	     name_by_symbol(c, word, name, sizeof name))) {
		int err = type_row(c, name, id);
		if (err)
			return err;
	}
	if (c->by_word.n < MAX_CACHE)
		return mt_u64map_put(&c->by_word, word, *id);
	return 0;
}

/* ---- the walk --------------------------------------------------------- */

struct mt_census *mt_census_new(const struct mt_census_config *cfg)
{
	struct mt_census *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->cfg = *cfg;
	c->last_size_row = ROW_NONE;
	c->mod_lo = UINT64_MAX;
	for (size_t i = 0; i < cfg->maps->n; i++) {
		const struct mt_map *m = &cfg->maps->v[i];
		if (!m->r || !m->path || m->path[0] != '/')
			continue;
		c->mod_lo = m->start < c->mod_lo ? m->start : c->mod_lo;
		c->mod_hi = m->end > c->mod_hi ? m->end : c->mod_hi;
	}
	return c;
}

void mt_census_destroy(struct mt_census *c)
{
	if (!c)
		return;
	if (c->v)
		munmap(c->v, c->cap * sizeof *c->v);
	free(c->bigs);
	free(c->mmaps);
	free(c->ext);
	for (size_t i = 0; i < c->nrows; i++)
		free(c->rows[i].type);
	free(c->rows);
	mt_u64map_free(&c->by_word);
	mt_u64map_free(&c->by_size);
	mt_u64map_free(&c->ti_class);
	for (size_t i = 0; i < c->nwarnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	free(c);
}

void mt_census_warn(struct mt_census *c, const char *msg)
{
	if (c->nwarnings == MAX_WARNINGS) {
		c->warnings_dropped++;
		return;
	}
	char **w = realloc(c->warnings, (c->nwarnings + 1) * sizeof *w);
	if (!w) {
		c->warnings_dropped++;
		return;
	}
	c->warnings = w;
	if (!(w[c->nwarnings] = strdup(msg)))
		c->warnings_dropped++;
	else
		c->nwarnings++;
}

#define TABLE_PAGE 4096ull

/* Room for half as many blocks again (at least 2 MiB: one huge page). */
static int grow_table(struct mt_census *c)
{
	size_t old = c->cap * sizeof *c->v;
	size_t bytes = old ? old + old / 2 : 2u << 20;
	bytes = (bytes + TABLE_PAGE - 1) & ~(TABLE_PAGE - 1);
	void *v = old ? mremap(c->v, old, bytes, MREMAP_MAYMOVE)
		      : mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		return -ENOMEM;
	madvise(v, bytes, MADV_HUGEPAGE);   /* a hint: may fail, harmless */
	c->v = v;
	c->cap = bytes / sizeof *c->v;
	return 0;
}

/* Down to the pages in use once the walk is over. */
static void trim_table(struct mt_census *c)
{
	size_t old = c->cap * sizeof *c->v;
	size_t bytes = (c->n * sizeof *c->v + TABLE_PAGE - 1) & ~(TABLE_PAGE - 1);
	if (!c->v || bytes >= old)
		return;
	if (bytes == 0) {
		munmap(c->v, old);
		c->v = NULL;
		c->cap = 0;
		return;
	}
	void *v = mremap(c->v, old, bytes, 0);
	if (v != MAP_FAILED) {
		c->v = v;
		c->cap = bytes / sizeof *c->v;
	}
}

static int append_block(struct mt_census *c, uint64_t addr, uint64_t size, uint32_t row)
{
	if (c->n == c->cap && grow_table(c) < 0)
		return -ENOMEM;
	uint64_t s16 = size / 16;
	if (s16 >= SIZE16_BIG) {
		struct big *b = realloc(c->bigs, (c->nbigs + 1) * sizeof *b);
		if (!b)
			return -ENOMEM;
		c->bigs = b;
		b[c->nbigs++] = (struct big){ addr, size };
		s16 = SIZE16_BIG;
	}
	if (c->n && addr < c->v[c->n - 1].addr)
		c->unsorted = true;
	c->v[c->n++] = (struct mt_census_block){ addr, (uint32_t)s16, row };
	return 0;
}

static int append_mmap(struct mt_census *c, uint64_t addr)
{
	uint64_t *m = realloc(c->mmaps, (c->nmmaps + 1) * sizeof *m);
	if (!m)
		return -ENOMEM;
	c->mmaps = m;
	m[c->nmmaps++] = addr;
	return 0;
}

/* Resident bytes of [LO, HI), whole pages; all of them when residency
 * cannot be read (said in a warning at finish). */
static uint64_t resident(struct mt_census *c, uint64_t lo, uint64_t hi)
{
	uint64_t bytes;
	if (c->cfg.src->resident && c->cfg.src->resident(c->cfg.src->ctx, lo, hi, &bytes) == 0)
		return bytes <= hi - lo ? bytes : hi - lo;
	c->trim_inexact = true;
	return hi - lo;
}

/* What malloc_trim(0) would give back of a free chunk (glibc's mtrim():
 * it consolidates fastbins, then madvises the whole pages of each binned
 * chunk past its first 48 bytes; of the tops only the main arena's is cut,
 * by systrim(), down to MINSIZE).  Tcache chunks count as in use to it. */
static void count_trimmable(struct mt_census *c, const struct mt_glheap_chunk *ch)
{
	uint64_t lo, hi = (ch->chunk + ch->size) & ~(PAGE - 1);
	switch (ch->kind) {
	case MT_CHUNK_FASTBIN:
	case MT_CHUNK_UNSORTED:
	case MT_CHUNK_SMALLBIN:
	case MT_CHUNK_LARGEBIN:
		lo = (ch->chunk + MALLOC_CHUNK_SZ + PAGE - 1) & ~(PAGE - 1);
		break;
	case MT_CHUNK_TOP:
		if (ch->arena != 0 || ch->size <= MINSIZE + 1)
			return;
		lo = ch->chunk + ch->size - ((ch->size - MINSIZE - 1) & ~(PAGE - 1));
		break;
	default:
		return;
	}
	if (lo < hi && hi <= ch->chunk + ch->size)
		c->trimmable += resident(c, lo, hi);
}

/* The chunk's pages join the heap's extents (a walk gives a heap's chunks
 * in address order: most join the last extent). */
static int add_extent(struct mt_census *c, const struct mt_glheap_chunk *ch)
{
	uint64_t lo = ch->chunk & ~(PAGE - 1);
	uint64_t hi = (ch->chunk + ch->size + PAGE - 1) & ~(PAGE - 1);
	if (hi <= lo)
		return 0;
	if (c->next && lo <= c->ext[c->next - 1].hi && lo >= c->ext[c->next - 1].lo) {
		if (hi > c->ext[c->next - 1].hi)
			c->ext[c->next - 1].hi = hi;
		return 0;
	}
	if (c->next == c->capext) {
		size_t cap = c->capext ? c->capext * 2 : 64;
		struct mt_census_extent *e = realloc(c->ext, cap * sizeof *e);
		if (!e)
			return -ENOMEM;
		c->ext = e;
		c->capext = cap;
	}
	c->ext[c->next++] = (struct mt_census_extent){ lo, hi };
	return 0;
}

static int cmp_extent(const void *a, const void *b)
{
	const struct mt_census_extent *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted, overlapping and touching extents merged. */
static void merge_extents(struct mt_census *c)
{
	if (c->next)
		qsort(c->ext, c->next, sizeof *c->ext, cmp_extent);
	size_t o = 0;
	for (size_t i = 0; i < c->next; i++) {
		if (o && c->ext[i].lo <= c->ext[o - 1].hi) {
			if (c->ext[i].hi > c->ext[o - 1].hi)
				c->ext[o - 1].hi = c->ext[i].hi;
			continue;
		}
		c->ext[o++] = c->ext[i];
	}
	c->next = o;
}

const struct mt_census_extent *mt_census_extents(const struct mt_census *c, size_t *n)
{
	*n = c->finished ? c->next : 0;
	return c->ext;
}

int mt_census_chunk(struct mt_census *c, const struct mt_glheap_chunk *ch)
{
	if (c->finished)
		return -EINVAL;
	if (add_extent(c, ch) < 0)
		return -ENOMEM;
	if (ch->kind != MT_CHUNK_LIVE) {
		count_trimmable(c, ch);
		return 0;
	}
	uint32_t row = ROW_NONE;
	int err = ch->usable >= 8 ? word_row(c, ch->word0, &row) : 0;
	if (!err && row == ROW_NONE)
		err = size_row(c, ch->usable, &row);
	if (!err)
		err = append_block(c, ch->addr, ch->size, row);
	if (!err && ch->mmapped)
		err = append_mmap(c, ch->addr);
	if (err)
		return err;
	c->rows[row].blocks++;
	c->rows[row].bytes += ch->size;
	c->live_blocks++;
	c->live_bytes += ch->size;
	return 0;
}

/* Sort by address in place: qsort() would take a copy of the whole table
 * (glibc's is a merge sort), doubling memtrace's memory for a moment.
 * The walk gives ascending runs (a heap at a time), so the table is often
 * sorted already; else a quicksort, median of three, the smaller side
 * first (depth <= log2 n), insertion sort below 16. */
static void swap_blocks(struct mt_census_block *a, struct mt_census_block *b)
{
	struct mt_census_block t = *a;
	*a = *b;
	*b = t;
}

static void insertion_sort(struct mt_census_block *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct mt_census_block x = v[i];
		size_t j = i;
		for (; j > 0 && v[j - 1].addr > x.addr; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static void sort_blocks(struct mt_census_block *v, size_t n)
{
	while (n > 16) {
		size_t mid = n / 2;
		if (v[mid].addr < v[0].addr)
			swap_blocks(&v[mid], &v[0]);
		if (v[n - 1].addr < v[0].addr)
			swap_blocks(&v[n - 1], &v[0]);
		if (v[n - 1].addr < v[mid].addr)
			swap_blocks(&v[n - 1], &v[mid]);
		uint64_t pivot = v[mid].addr;
		size_t i = 0, j = n - 1;
		for (;;) {
			while (v[i].addr < pivot)
				i++;
			while (v[j].addr > pivot)
				j--;
			if (i >= j)
				break;
			swap_blocks(&v[i++], &v[j--]);
		}
		/* [0, j] <= pivot <= [j + 1, n) */
		size_t left = j + 1;
		if (left < n - left) {
			sort_blocks(v, left);
			v += left;
			n -= left;
		} else {
			sort_blocks(v + left, n - left);
			n = left;
		}
	}
	insertion_sort(v, n);
}


static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int mt_census_finish(struct mt_census *c, const struct mt_glheap_stats *st)
{
	if (st)
		c->st = *st;
	if (c->unsorted)
		sort_blocks(c->v, c->n);
	if (c->nmmaps)
		qsort(c->mmaps, c->nmmaps, sizeof *c->mmaps, cmp_u64);
	merge_extents(c);
	trim_table(c);
	if (c->trim_inexact)
		mt_census_warn(c, "the residency of free pages could not be read: "
			       "trimmable_bytes counts every whole free page");
	mt_u64map_free(&c->by_word);
	mt_u64map_free(&c->ti_class);
	c->finished = true;
	return 0;
}

/* ---- frees after attach ---------------------------------------------- */

static struct mt_census_block *find(const struct mt_census *c, uint64_t addr)
{
	if (!c->finished)
		return NULL;
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->v[lo].addr == addr ? &c->v[lo] : NULL;
}

static uint64_t block_size(const struct mt_census *c, const struct mt_census_block *b)
{
	if (b->size16 != SIZE16_BIG)
		return (uint64_t)b->size16 * 16;
	for (size_t i = 0; i < c->nbigs; i++)
		if (c->bigs[i].addr == b->addr)
			return c->bigs[i].size;
	return 0;
}

const struct mt_census_block *mt_census_blocks(const struct mt_census *c, size_t *n)
{
	*n = c->finished ? c->n : 0;
	return c->v;
}

uint64_t mt_census_usable(const struct mt_census *c, size_t i)
{
	const struct mt_census_block *b = &c->v[i];
	uint64_t size = block_size(c, b);
	bool mmapped = size >= PAGE && c->nmmaps && bsearch(&b->addr, c->mmaps, c->nmmaps, sizeof *c->mmaps,
					       cmp_u64) != NULL;
	uint64_t head = mmapped ? 16 : 8;
	return size > head ? size - head : 0;
}

size_t mt_census_nrows(const struct mt_census *c)
{
	return c->nrows;
}

const char *mt_census_row_type(const struct mt_census *c, uint32_t row)
{
	return row < c->nrows ? c->rows[row].type : NULL;
}

uint64_t mt_census_row_size(const struct mt_census *c, uint32_t row)
{
	return row < c->nrows ? c->rows[row].size : 0;
}

bool mt_census_holds(const struct mt_census *c, uint64_t addr)
{
	const struct mt_census_block *b = find(c, addr);
	return b && b->row != ROW_FREED;
}

bool mt_census_free(struct mt_census *c, uint64_t addr)
{
	struct mt_census_block *b = find(c, addr);
	if (!b || b->row == ROW_FREED)
		return false;
	uint64_t size = block_size(c, b);
	struct row *r = &c->rows[b->row];
	r->freed_blocks++;
	r->freed_bytes += size;
	c->live_blocks--;
	c->live_bytes -= size;
	b->row = ROW_FREED;
	return true;
}

uint64_t mt_census_live_blocks(const struct mt_census *c)
{
	return c->live_blocks;
}

uint64_t mt_census_live_bytes(const struct mt_census *c)
{
	return c->live_bytes;
}

double mt_census_bytes_per_block(const struct mt_census *c)
{
	if (!c->n)
		return 0;
	size_t bytes = c->cap * sizeof *c->v + c->nbigs * sizeof *c->bigs;
	return (double)bytes / (double)c->n;
}

/* ---- the report ------------------------------------------------------- */

const char *mt_census_allocator_refusal(const char *allocator, char *buf, size_t len)
{
	static const char *const names[] = { "jemalloc", "tcmalloc", "mimalloc" };
	const char *base = strrchr(allocator, '/');
	base = base ? base + 1 : allocator;
	if (!base[0]) {
		snprintf(buf, len, "no malloc found in the process (a census reads glibc's malloc "
			 "only)");
		return buf;
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strstr(base, names[i])) {
			snprintf(buf, len, "the process uses %s (a census reads glibc's malloc "
				 "only)", names[i]);
			return buf;
		}
	}
	if (strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0)
		return NULL;
	snprintf(buf, len, "the process's malloc is linked into %.120s (static, or its own), "
		 "not glibc's libc.so (a census reads glibc's malloc only)", base);
	return buf;
}

const char *mt_census_verdict(uint64_t live_bytes, uint64_t free_bytes)
{
	return free_bytes > live_bytes && free_bytes >= MT_CENSUS_RETENTION_MIN ? "retention"
										: "normal";
}

static int cmp_row(const void *a, const void *b)
{
	const struct mt_census_row *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->blocks != y->blocks)
		return x->blocks > y->blocks ? -1 : 1;
	if (x->type && y->type)
		return strcmp(x->type, y->type);
	return x->size < y->size ? -1 : x->size > y->size;
}

/* The rows of one kind (types or sizes), as censused, largest first: what
 * was there at attach (a snapshot's rows, what diff compares), whatever
 * was freed since (freed_blocks says how much). */
static int rows_out(const struct mt_census *c, bool types, struct mt_census_row **out,
		    size_t *nout)
{
	*out = calloc(c->nrows ? c->nrows : 1, sizeof **out);
	*nout = 0;
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < c->nrows; i++) {
		const struct row *r = &c->rows[i];
		if ((r->type != NULL) != types || !r->blocks)
			continue;
		struct mt_census_row *o = &(*out)[(*nout)++];
		*o = (struct mt_census_row){ NULL, r->size, r->blocks, r->bytes };
		if (r->type && !(o->type = strdup(r->type)))
			return -ENOMEM;
	}
	qsort(*out, *nout, sizeof **out, cmp_row);
	return 0;
}

static int warnings_out(const struct mt_census *c, struct mt_census_report *out)
{
	size_t n = c->nwarnings + (c->warnings_dropped ? 1 : 0);
	out->warnings = calloc(n ? n : 1, sizeof *out->warnings);
	if (!out->warnings)
		return -ENOMEM;
	for (size_t i = 0; i < c->nwarnings; i++)
		if ((out->warnings[out->nwarnings] = strdup(c->warnings[i])))
			out->nwarnings++;
	if (c->warnings_dropped) {
		char buf[96];
		snprintf(buf, sizeof buf, "%zu more warnings not kept", c->warnings_dropped);
		if ((out->warnings[out->nwarnings] = strdup(buf)))
			out->nwarnings++;
	}
	return 0;
}

static void heap_out(const struct mt_census *c, uint64_t rss, struct mt_heap_summary *h)
{
	const struct mt_glheap_stats *st = &c->st;
	/* live: the census's own sum (the walk's is the same when it is
	 * whole), so that the summary and the rows agree */
	uint64_t live = 0, free_bytes = 0;
	for (size_t i = 0; i < c->nrows; i++)
		live += c->rows[i].bytes;
	for (int k = 0; k < MT_CHUNK__KINDS; k++)
		if (k != MT_CHUNK_LIVE)
			free_bytes += st->free_bytes[k];
	*h = (struct mt_heap_summary){
		.known = true, .rss_bytes = rss, .mapped_bytes = st->mapped_bytes,
		.live_bytes = live, .free_bytes = free_bytes,
		.trimmable_bytes = c->trimmable, .arenas = st->arenas,
		.verdict = mt_census_verdict(live, free_bytes),
	};
}

int mt_census_report(const struct mt_census *c, const char *allocator, double paused_ms,
		     double took_ms, uint64_t rss_bytes, struct mt_census_report *out)
{
	memset(out, 0, sizeof *out);
	out->available = true;
	snprintf(out->allocator, sizeof out->allocator, "%s", allocator ? allocator : "");
	out->complete = c->st.complete;
	for (size_t i = 0; i < c->nrows; i++) {
		out->blocks += c->rows[i].blocks;
		out->bytes += c->rows[i].bytes;
		out->freed_blocks += c->rows[i].freed_blocks;
		out->freed_bytes += c->rows[i].freed_bytes;
	}
	out->paused_ms = paused_ms;
	out->took_ms = took_ms;
	out->tcache_bytes = c->st.free_bytes[MT_CHUNK_TCACHE];
	out->fastbin_bytes = c->st.free_bytes[MT_CHUNK_FASTBIN];
	out->bin_bytes = c->st.free_bytes[MT_CHUNK_UNSORTED] + c->st.free_bytes[MT_CHUNK_SMALLBIN] +
			 c->st.free_bytes[MT_CHUNK_LARGEBIN];
	out->top_bytes = c->st.free_bytes[MT_CHUNK_TOP];
	out->overhead_bytes = c->st.overhead_bytes;
	heap_out(c, rss_bytes, &out->heap);
	if (rows_out(c, true, &out->types, &out->ntypes) < 0 ||
	    rows_out(c, false, &out->sizes, &out->nsizes) < 0 || warnings_out(c, out) < 0) {
		mt_census_report_free(out);
		return -ENOMEM;
	}
	return 0;
}

void mt_census_report_unavailable(struct mt_census_report *out, const char *reason)
{
	memset(out, 0, sizeof *out);
	snprintf(out->reason, sizeof out->reason, "%s", reason);
}

static bool prior_release(void *ctx, uint64_t addr)
{
	return mt_census_free(ctx, addr);
}

static bool prior_holds(const void *ctx, uint64_t addr)
{
	return mt_census_holds(ctx, addr);
}

struct mt_prior_blocks mt_census_prior(struct mt_census *c)
{
	return (struct mt_prior_blocks){ prior_release, prior_holds, c };
}
