/* Which blocks of a censused heap nothing points to any more: memcheck's
 * leak check, on a frozen copy of a live process.
 *
 * Conservative marking, as memcheck and LeakSanitizer do it: every aligned
 * 8-byte word of a root (the caller's: globals, stacks, registers, TLS)
 * and of every block reached is taken for a pointer when it points into a
 * block.  The classes are memcheck's (mc_leakcheck.c), in its words:
 *
 *   reachable        a chain of start pointers leads to the block from a
 *                    root ("still reachable");
 *   possibly lost    every chain to it has an interior pointer (a pointer
 *                    into the middle of a block) on the way;
 *   definitely lost  no pointer from a root or a reached block; the lowest
 *                    block of an unreachable cycle, or the head of an
 *                    unreachable tree, is it ...
 *   indirectly lost  ... and what only such lost blocks point to (by start
 *                    or interior pointer) is indirectly lost, its bytes
 *                    counted under the definitely lost block that holds it.
 *
 * How (one pass each, in this order, each block read at most three times):
 *   1. From the roots, breadth first, start pointers only: the reachable
 *      blocks.  An interior pointer met on the way only flags its block.
 *      The breadth-first order gives each reachable block its shortest
 *      chain from a root, kept as a path in a tree of groups (below).
 *   2. From the flagged blocks not reached, any pointer: the possibly lost.
 *   3. Each block still unmarked, by address: it leads a clique of what it
 *      reaches that is unmarked; an earlier leader it reaches joins the
 *      clique with everything that leader held (memcheck's cliques).
 *
 * Paths: a reachable block's chain is the groups of the blocks on it from
 * the root down ("g_sessions -> size 80,024 -> size 24 -> app::Session"),
 * a run of blocks of one group (a linked list) counted as one link.  Each
 * distinct path is a node holding the blocks and bytes that end it, so the
 * chains of millions of blocks cost one small table.
 *
 * Block memory is read through struct mt_memsrc in windows kept in a small
 * cache, as blocks found one after the other tend to be near each other.
 * What could not be read (a block's or a root's bytes) is counted; the
 * caller says so, since a pointer missed makes a block look lost.
 *
 * Memory: per block 1 byte of state and 4 of parent/path, 4 of queue, plus
 * a page index of the heap (4 bytes per 4 KiB); the blocks themselves are
 * the census's table (census.h), read in place.
 */
#ifndef MT_LEAKS_H
#define MT_LEAKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "census/census.h"
#include "census/memsrc.h"

enum mt_leak_kind {
	MT_LEAK_DEFINITE,
	MT_LEAK_INDIRECT,
	MT_LEAK_POSSIBLE,
	MT_LEAK_REACHABLE,
	MT_LEAK__KINDS
};

/* What held a root word: the caller names it (mt_leaks_label_fn). */
enum mt_root_kind {
	MT_ROOT_GLOBAL,	  /* a module's writable data */
	MT_ROOT_STACK,	  /* a thread's stack, from its stack pointer */
	MT_ROOT_REGISTER, /* a thread's register (WHERE: its index) */
	MT_ROOT_TLS,	  /* a thread's TLS or its dynamic thread vector */
	MT_ROOT_MEMORY,	  /* other writable memory (anonymous mappings) */
	MT_ROOT__KINDS
};

struct mt_leaks_root {
	enum mt_root_kind kind;
	int tid;	/* the thread, or 0 */
	uint64_t where; /* the word's address, or the register's index */
};

/* A label for the root R that reached a block first (the chains' first
 * link): any id the caller interns, and the extent of addresses [*LO, *HI)
 * that share it (so that a global array of a million pointers is named
 * once); *LO = *HI leaves it for this word only. */
typedef uint32_t (*mt_leaks_label_fn)(void *ctx, const struct mt_leaks_root *r, uint64_t *lo,
				      uint64_t *hi);
/* The group of block I (at ADDR, of census row ROW): what the report
 * aggregates by.  Without one, the census row. */
typedef uint32_t (*mt_leaks_group_fn)(void *ctx, size_t i, uint64_t addr, uint32_t row);

struct mt_leaks_config {
	const struct mt_memsrc *src;	/* the frozen copy */
	const struct mt_census *census; /* finished; its blocks are marked */
	mt_leaks_group_fn group;	/* NULL: the census row */
	void *group_ctx;
	mt_leaks_label_fn label; /* NULL: every root is label 0 */
	void *label_ctx;
	/* glibc mangles the pointers it keeps in setjmp buffers and atexit
	 * lists (arch.h: mt_arch_ptr_demangle): with GUARD set, every
	 * word of a root range is also tried demangled.  Not blocks' words: a
	 * jmp_buf lives on a stack almost always, and it would double the
	 * cost of the heap's scan. */
	bool guard;
	uint64_t pointer_guard;
	/* Called every few thousand blocks scanned and every MiB of roots,
	 * for the caller to take the process's stops (may be NULL). */
	void (*tick)(void *ctx);
	void *tick_ctx;
};

struct mt_leaks;

/* NULL when out of memory, or when the census has more than 2^31 - 1
 * blocks (the indexes are 32-bit): *WHY says which. */
struct mt_leaks *mt_leaks_new(const struct mt_leaks_config *cfg, const char **why);
void mt_leaks_destroy(struct mt_leaks *l);

/* Roots, before mt_leaks_mark.  A range of the copy's memory, scanned now
 * (what cannot be read is counted); a value (a register); a block held
 * from outside memory (the kernel's, the linker's): reachable.  0 or
 * -ENOMEM. */
int mt_leaks_root_range(struct mt_leaks *l, uint64_t lo, uint64_t hi,
			const struct mt_leaks_root *r);
int mt_leaks_root_value(struct mt_leaks *l, uint64_t value, const struct mt_leaks_root *r);
/* The block at ADDR (its start) is in use, held by R, but only part of it
 * holds what is live (a stack in a malloc'd block: from its stack pointer
 * up; the caller scans that part as a root range): reachable, its
 * contents not scanned, whoever else points to it. */
int mt_leaks_root_held(struct mt_leaks *l, uint64_t addr, const struct mt_leaks_root *r);
/* The block containing ADDR (its first byte to its last usable one):
 * true, with its index and range [*LO, *HI). */
bool mt_leaks_find(const struct mt_leaks *l, uint64_t addr, size_t *i, uint64_t *lo, uint64_t *hi);

/* Classify every block (the passes above): 0, or -ENOMEM. */
int mt_leaks_mark(struct mt_leaks *l);

struct mt_leaks_totals {
	uint64_t blocks[MT_LEAK__KINDS], bytes[MT_LEAK__KINDS]; /* usable sizes */
	uint64_t root_bytes;					/* root memory scanned */
	uint64_t root_unreadable;  /* root bytes that could not be read */
	uint64_t block_bytes;	   /* block memory scanned */
	uint64_t block_unreadable; /* block bytes that could not be read */
	uint64_t reads;		   /* reads of the memory source */
};
void mt_leaks_totals(const struct mt_leaks *l, struct mt_leaks_totals *t);
enum mt_leak_kind mt_leaks_kind(const struct mt_leaks *l, size_t i);

/* The blocks of one class and group. */
struct mt_leaks_group {
	enum mt_leak_kind kind;
	uint32_t group;
	uint64_t blocks, bytes;
	uint64_t indirect_bytes; /* definitely lost: what its cliques hold */
	uint32_t path;		 /* reachable: the path that ends in most of
	                              its bytes (mt_leaks_chain); else NO_PATH */
};
#define MT_LEAKS_NO_PATH UINT32_MAX

/* Every group, by kind, then bytes (direct + indirect) largest first, in
 * *OUT (free()).  0, or -ENOMEM. */
int mt_leaks_groups(const struct mt_leaks *l, struct mt_leaks_group **out, size_t *n);

/* One link of a chain: the root (LABEL) or the blocks of one group that
 * end this path (RUN: a run of blocks of that group, one holding the
 * next, as in a linked list). */
struct mt_leaks_link {
	bool root;
	uint32_t id; /* label (root) or group */
	bool run;
	uint64_t blocks, bytes; /* blocks at this link of this path */
};

/* When every block that root label LABEL reached first was reached from
 * one word (a global's field, not an array's elements): true, with its
 * address, for the chain to say which (symbol+offset). */
bool mt_leaks_label_where(const struct mt_leaks *l, uint32_t label, uint64_t *where);

/* The chain of PATH, root first: how many links (at most MAX written;
 * the links nearest the group are kept when there are more). */
size_t mt_leaks_chain(const struct mt_leaks *l, uint32_t path, struct mt_leaks_link *out,
		      size_t max);

#endif
