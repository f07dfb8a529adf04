/* What a census says, independent of its format: filled by the census
 * (census.c, from a heap walk) or read back from a snapshot (snapshot.c);
 * printed by the report backends and compared by diff.c.
 *
 * Units: a census block's bytes are its chunk size, header included (what
 * the block takes from the heap, and what glibc's mallinfo2() counts), not
 * the size the program asked for, which a heap no longer records. */
#ifndef MT_CENSUS_REPORT_H
#define MT_CENSUS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One row of the census: a C++ class (TYPE set) or a usable size (TYPE
 * NULL, SIZE set).  Blocks of a class are not counted in the size rows. */
struct mt_census_row {
	char *type;            /* demangled class name, or NULL */
	uint64_t size;         /* size rows: malloc_usable_size of the blocks */
	uint64_t blocks, bytes;
};

/* The allocator's heap as a whole: is the memory in use, or only kept? */
struct mt_heap_summary {
	bool known;
	uint64_t rss_bytes;        /* VmRSS of the process at the census */
	uint64_t mapped_bytes;     /* the allocator's arenas (system_mem) + mmapped chunks */
	uint64_t live_bytes;       /* live chunks */
	uint64_t free_bytes;       /* free chunks held: tcache, fastbins, bins, top */
	uint64_t trimmable_bytes;  /* whole resident free pages malloc_trim(0) would return */
	unsigned arenas;
	const char *verdict;       /* "retention" or "normal" (thresholds in census.h) */
};

struct mt_census_report {
	bool available;            /* false: REASON says why (census: null in JSON) */
	char reason[256];
	char allocator[64];        /* "glibc 2.36" */
	bool complete;             /* false: something was skipped (WARNINGS) */
	uint64_t blocks, bytes;    /* live before attach, as censused */
	uint64_t freed_blocks, freed_bytes; /* of those, freed since attach */
	bool frees_unseen;         /* the engine sent no free of a block it did
	                              not sample (--sample-bytes, inject): the
	                              freed ones are only some of those freed */
	double paused_ms;          /* threads stopped for the census */
	double took_ms;            /* the whole census, pause included */
	/* free chunks the allocator holds, by where they wait */
	uint64_t tcache_bytes, fastbin_bytes, bin_bytes, top_bytes;
	uint64_t overhead_bytes;   /* mapped, not chunks (arena headers) */
	struct mt_census_row *types;   /* largest bytes first */
	size_t ntypes;
	struct mt_census_row *sizes;   /* largest bytes first */
	size_t nsizes;
	char **warnings;
	size_t nwarnings;
	struct mt_heap_summary heap;
};

/* Frees what R points to (census_report.c) and clears R; not R itself. */
void mt_census_report_free(struct mt_census_report *r);

#endif
