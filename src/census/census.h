/* The census of a heap walk: every live block named by its C++ class
 * (vtable -> typeinfo -> demangled name) or grouped by usable size, the
 * free memory the allocator holds, and a compact table of the censused
 * blocks that the tracker matches frees against.  Pure: memory is read
 * only through struct mt_memsrc, names are demangled by the caller's
 * function (libstdc++ lives in symbolize.c), so tests feed it fake and
 * hostile images.
 *
 * Naming a block (C++ ABI, Itanium): a polymorphic object's first word is
 * its vptr, pointing into a vtable in a loaded module.  At vptr[-1] is the
 * class's typeinfo (std::type_info), whose own first word is the vptr of
 * libstdc++'s __cxxabiv1::__class_type_info, __si_class_type_info or
 * __vmi_class_type_info, and whose second word points to the class's
 * mangled name ("6Widget", "N2ns3FooE").  Every step is checked: the
 * pointers in file-backed mappings, vptr[-2] (offset-to-top) 0, the
 * typeinfo's class one of the three by its own typeinfo name, the name
 * NUL-terminated within MT_CENSUS_NAME_MAX bytes of mangled-name
 * characters.  The answer is cached per vptr value, so a heap of millions
 * of objects of a few classes costs one hash lookup per block.  A vtable
 * without typeinfo (-fno-rtti) is named by its symbol ("vtable for X")
 * when the caller's symbol function knows it; every other block goes to
 * the row of its usable size.
 *
 * Memory: each censused block takes 16 bytes of memtrace's memory (its
 * address, chunk size / 16 and row, in one sorted array), measured by
 * mt_census_bytes_per_block() after mt_census_finish().  Measured on 1 GiB
 * of 64-byte blocks (bench/census.py, 16.7M blocks): memtrace census peaks
 * at 268 MiB, 16.8 bytes per block with memtrace's own baseline, and the
 * census adds 16.1 bytes per block to histo's peak.
 *
 * The heap summary's verdict: "retention" when the allocator holds more
 * free memory than is live and at least MT_CENSUS_RETENTION_MIN bytes of
 * it, else "normal".
 */
#ifndef MT_CENSUS_H
#define MT_CENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "census/census_report.h"
#include "model/tracker.h"
#include "census/glheap.h"
#include "target/maps.h"
#include "census/memsrc.h"

/* A mangled type name longer than this is no name (the type is unnamed). */
#define MT_CENSUS_NAME_MAX 1024
/* The verdict's floor: below 64 MiB held free, no process is said to
 * retain memory, however small its live heap (a fresh arena's top alone
 * is 128 KiB to a few MiB). */
#define MT_CENSUS_RETENTION_MIN (64ull << 20)

/* Demangle the type name MANGLED ("6Widget") into OUT: 0, or -1 when it
 * does not demangle. */
typedef int (*mt_census_demangle_fn)(const char *mangled, char *out, size_t len);
/* The name of the symbol containing ADDR into OUT, mangled ("_ZTV6Widget")
 * or demangled ("vtable for Widget"): true when there is one. */
typedef bool (*mt_census_symbol_fn)(void *ctx, uint64_t addr, char *out, size_t len);

struct mt_census_config {
	const struct mt_memsrc *src;     /* the heap's image (a frozen copy) */
	const struct mt_maps *maps;      /* its mappings */
	mt_census_demangle_fn demangle;  /* NULL: mangled names are kept */
	mt_census_symbol_fn symbol;      /* NULL: no fallback by symbol */
	void *symbol_ctx;
};

struct mt_census;

/* NULL when out of memory.  CFG's pointers must outlive the census up to
 * mt_census_finish (they are not used after it). */
struct mt_census *mt_census_new(const struct mt_census_config *cfg);
void mt_census_destroy(struct mt_census *c);

/* One chunk of the walk (glheap.h's callback): a live block is named and
 * kept, a free one counted.  0, or -ENOMEM. */
int mt_census_chunk(struct mt_census *c, const struct mt_glheap_chunk *ch);
/* A warning of the walk, kept for the report (at most 64; then counted). */
void mt_census_warn(struct mt_census *c, const char *msg);
/* After the walk: sorts the block table for lookups and takes the walk's
 * stats.  The config's source and maps are not used after this. */
int mt_census_finish(struct mt_census *c, const struct mt_glheap_stats *st);

/* A free (or a realloc's release) of ADDR after attach: true when ADDR is
 * a censused block not freed yet; it leaves its row's live count. */
bool mt_census_free(struct mt_census *c, uint64_t addr);
/* Whether ADDR is a censused block still live (realloc's start). */
bool mt_census_holds(const struct mt_census *c, uint64_t addr);
/* The census as the tracker's prior blocks (mt_tracker_set_census). */
struct mt_prior_blocks mt_census_prior(struct mt_census *c);

/* The census's blocks, for the leak check (leaks.h), which marks them
 * without a table of its own: after mt_census_finish, sorted by address,
 * *N of them (0 before finish).  ROW names the block (mt_census_row_type,
 * _size), or is MT_CENSUS_ROW_FREED once it was freed after attach. */
#define MT_CENSUS_ROW_FREED UINT32_MAX
struct mt_census_block {
	uint64_t addr;     /* the pointer malloc returned */
	uint32_t size16;   /* chunk size / 16; UINT32_MAX: 64 GiB or more */
	uint32_t row;
};
const struct mt_census_block *mt_census_blocks(const struct mt_census *c, size_t *n);
/* Block I's usable size (malloc_usable_size): its chunk size less the
 * header word(s) that are not the program's: 8, 16 for an mmapped chunk. */
uint64_t mt_census_usable(const struct mt_census *c, size_t i);
/* The pages the heap's chunks (live and free) lie in, sorted, merged:
 * *N extents after finish.  What is mapped and not in them is no heap
 * (the kernel merges an mmapped chunk's mapping with its anonymous
 * neighbours: a mapping is not all heap or all not). */
struct mt_census_extent {
	uint64_t lo, hi;
};
const struct mt_census_extent *mt_census_extents(const struct mt_census *c, size_t *n);
/* Rows: a class (the type's name) or a usable size (type NULL). */
size_t mt_census_nrows(const struct mt_census *c);
const char *mt_census_row_type(const struct mt_census *c, uint32_t row);
uint64_t mt_census_row_size(const struct mt_census *c, uint32_t row);

/* Censused blocks and bytes live now (censused minus freed since). */
uint64_t mt_census_live_blocks(const struct mt_census *c);
uint64_t mt_census_live_bytes(const struct mt_census *c);

/* memtrace's own memory per censused block, in bytes: 16 after finish,
 * plus the table's last partly used page. */
double mt_census_bytes_per_block(const struct mt_census *c);

/* What the census says, into OUT (freed with mt_census_report_free):
 * ALLOCATOR "glibc 2.36", the pause and the census's time, RSS_BYTES the
 * process's VmRSS (0: unknown).  Rows count what was censused (blocks,
 * bytes); freed_* what of it was freed since.  0, or -ENOMEM. */
int mt_census_report(const struct mt_census *c, const char *allocator, double paused_ms,
		     double took_ms, uint64_t rss_bytes, struct mt_census_report *out);
/* A report that says why there is no census. */
void mt_census_report_unavailable(struct mt_census_report *out, const char *reason);

/* Can there be a census of a process whose malloc is defined in the module
 * ALLOCATOR (a path as in the maps, "" when none was found)?  NULL when it
 * is glibc's libc.so; else why not, one line in BUF: jemalloc, tcmalloc or
 * mimalloc named, or a malloc linked into the program (static, or its
 * own). */
const char *mt_census_allocator_refusal(const char *allocator, char *buf, size_t len);

/* "retention" or "normal", from what is live and what is held free. */
const char *mt_census_verdict(uint64_t live_bytes, uint64_t free_bytes);

#endif
