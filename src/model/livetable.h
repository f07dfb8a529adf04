/* The live-block table: every block the target holds that memtrace saw
 * allocated, keyed by its address range [addr, addr + size).
 *
 * Blocks never overlap (the allocator hands out disjoint ranges), so a
 * search tree ordered by start address answers every interval question:
 * "containing" is a predecessor search, a range query an in-order walk from
 * the first block ending at or after its start.  Pure: no I/O, no target
 * access.  Cost per live block is documented in livetable.c
 * and in man/memtrace.1.
 */
#ifndef MT_LIVETABLE_H
#define MT_LIVETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mt_livetable;

struct mt_block {
	uint64_t addr;
	uint64_t size;     /* bytes requested; a 0-byte block occupies [addr, addr+1) for lookups */
	uint32_t site;     /* aggregation key from sites.h */
	uint64_t time_ns;  /* when it was allocated */
};

struct mt_livetable *mt_livetable_new(void);
void mt_livetable_destroy(struct mt_livetable *t);

/* 0 on success; -EEXIST if the range overlaps a live block (nothing is
 * inserted, *clash receives the lowest-addressed overlapping block when
 * clash != NULL); -EINVAL if the range wraps past the top of the address
 * space (addr + size > 2^64); -ENOMEM on allocation failure.  Only one
 * insert in 1024 allocates (a new slab of nodes), and one each time the
 * address index doubles. */
int mt_livetable_insert(struct mt_livetable *t, const struct mt_block *b,
			struct mt_block *clash);
/* Remove the block that starts exactly at ADDR.  true and *out filled
 * (out may be NULL) when it existed. */
bool mt_livetable_erase(struct mt_livetable *t, uint64_t addr, struct mt_block *out);
/* The block whose range contains ADDR (a 0-byte block contains its addr). */
bool mt_livetable_find_containing(const struct mt_livetable *t, uint64_t addr,
				  struct mt_block *out);
/* Call CB for every block overlapping [lo, hi), in address order; stops early
 * and returns CB's value when it is non-zero, else returns 0.  HI is
 * exclusive: nothing is reported when lo >= hi, and a byte at UINT64_MAX is
 * reached only by find_containing or walk.  CB must not modify the table
 * (true of walk too). */
typedef int (*mt_block_cb)(void *ctx, const struct mt_block *b);
int mt_livetable_range(const struct mt_livetable *t, uint64_t lo, uint64_t hi,
		       mt_block_cb cb, void *ctx);
/* In-order walk of every block. */
int mt_livetable_walk(const struct mt_livetable *t, mt_block_cb cb, void *ctx);

size_t mt_livetable_count(const struct mt_livetable *t);
uint64_t mt_livetable_bytes(const struct mt_livetable *t);
/* memtrace's own memory per live block, in bytes, at most: the tree node
 * (48) and its share of the hash index (8 to 16).  Nodes come from
 * 1024-node slabs whose malloc header and slab-table slot add at most 32
 * bytes per 1024 blocks, which rounds to 0; memory follows the high-water
 * mark of live blocks (freed nodes are reused, slabs are released by
 * destroy), plus a fixed 64 KiB at most for the last 1024 blocks freed, kept
 * for reuse in place.  Details at the top of livetable.c. */
size_t mt_livetable_bytes_per_block(void);

/* Tests: O(n + index slots) check of every structural invariant (order, no
 * overlap, AVL balance and heights, neighbour links, dead nodes and their
 * ring, the address index, count, bytes, node accounting).  Pure; true
 * when the table is sound. */
bool mt_livetable_check_invariants(const struct mt_livetable *t);

#endif
