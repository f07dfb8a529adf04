/* What `memtrace leaks` says, independent of its format: filled by the
 * session (session_leaks.c) from the leak check (census/leaks.h), printed
 * by report_leaks.c (the table) and report_json.c.
 *
 * Units: bytes are usable sizes (malloc_usable_size): what the program may
 * use of each block.  For a request of 24 + 16k bytes that is what was
 * asked for, as memcheck counts; a smaller request is 24, any other up to
 * 15 bytes more, and a block glibc mapped on its own (128 KiB and up) the
 * request rounded up to the page, less 16 bytes. */
#ifndef MT_LEAKS_REPORT_H
#define MT_LEAKS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/report.h"

enum mt_leaks_class {
	MT_LEAKS_DEFINITE,
	MT_LEAKS_INDIRECT,
	MT_LEAKS_POSSIBLE,
	MT_LEAKS_REACHABLE,
	MT_LEAKS__CLASSES
};

/* "definitely_lost", ... (JSON keys) and "definitely lost", ... (text). */
const char *mt_leaks_class_key(enum mt_leaks_class k);
const char *mt_leaks_class_words(enum mt_leaks_class k);

/* One link of a chain from a root: the root (ROOT set), or blocks of a
 * class (TYPE) or a size (SIZE), or of an allocation site (SITE). */
struct mt_leaks_report_link {
	const char *root;
	const char *type;
	uint64_t size;
	const char *site;
	bool run;		/* blocks of that group holding each other (a list) */
	uint64_t blocks, bytes; /* the blocks of this link on this chain; the last
	                              link: all the group's reachable blocks ... */
	uint64_t chain_blocks;	/* ... of which this chain holds these (the rest
	                              hang from the root by other ways) */
};

struct mt_leaks_row {
	enum mt_leaks_class kind;
	const char *type; /* a C++ class, or NULL */
	uint64_t size;	  /* type NULL, site NULL: the usable size */
	const char *site; /* traced blocks: the site's frame, as histo names it */
	const struct mt_report_frame *frames; /* traced: the allocation stack */
	int nframes;
	uint64_t blocks, bytes;
	uint64_t indirect_bytes;	    /* definitely lost: what only they hold */
	struct mt_leaks_report_link *chain; /* reachable: from a root to these blocks */
	size_t nchain;
};

struct mt_leaks_why {
	const char *match; /* the group's name that matched --why */
	enum mt_leaks_class kind;
	uint64_t blocks, bytes;
	struct mt_leaks_report_link *chain; /* reachable: the chain; else none */
	size_t nchain;
};

struct mt_leaks_report {
	bool available; /* false: REASON says why there is no check */
	char reason[256];
	int pid;
	char comm[64];
	char allocator[64]; /* "glibc 2.36" */
	double paused_ms, took_ms;
	double traced_s; /* --duration: how long it traced first; 0: not */
	bool complete;	 /* false: see WARNINGS (the figures may be off) */
	char **warnings;
	size_t nwarnings;
	uint64_t blocks[MT_LEAKS__CLASSES], bytes[MT_LEAKS__CLASSES];
	int threads;
	uint64_t root_bytes, unreadable_bytes;
	struct mt_leaks_row *rows; /* by class, then bytes (direct + indirect) */
	size_t nrows;
	size_t reachable_shown; /* reachable rows to print (the top ones) */
	const char *why_query;	/* --why, or NULL */
	struct mt_leaks_why *why;
	size_t nwhy;
};

/* The table: the summary in memcheck's words, then each class's rows (at
 * most TOP each; 0: all), chains under the reachable ones. */
int mt_report_leaks_table(FILE *f, const struct mt_leaks_report *r, int top);
/* One JSON object (schema in memtrace(1), LEAKS). */
int mt_report_leaks_json(FILE *f, const struct mt_leaks_report *r);

#endif
