/* memtrace diff A B: what grew between two snapshots.
 *
 * Sites are matched by what survives a restart of the program, never by
 * runtime addresses or PIDs.  A frame's identity is its module's build-id
 * (hex; the module's file base name when it has none) plus the frame's
 * module_offset; a frame in no known module is "?" plus its function name
 * (its runtime address when unnamed, which matches only within one run).
 * The grouping key (--group-by) is built from identities:
 *
 *   site      the site frame's identity
 *   function  the site frame's module identity + function name
 *             (+ module_offset when unnamed)
 *   module    the site frame's module identity
 *   stack     every frame's identity, innermost first
 *
 * Each snapshot's sites are first summed per key, then the two sides are
 * joined on the key.  A row names the largest member (by live bytes) of B's
 * group, or of A's for a "gone" row, and keeps its stack.
 *
 * Status: "new" (the key is only in B), "gone" (only in A), "same" (equal
 * live blocks and bytes), "changed".  A key with nothing live in either
 * snapshot (allocated and freed again) is "same" whatever side it is on.
 * Such empty rows stay in the diff and in --json (status "same", all zero);
 * the table and the folded output leave them out.
 *
 * Censuses (census_report.h): when both snapshots carry an available
 * census, their rows are joined too, by C++ type (the demangled name) and
 * by usable size, like JProfiler's Difference column: blocks and bytes in
 * A and B and the change, largest absolute change in bytes first.  These
 * compare the heap as the census saw it at each snapshot's attach, so two
 * census-only snapshots (memtrace census --snapshot) taken hours apart, with
 * nothing attached in between, show which classes grew.  When a side has
 * no census, or an unavailable one, there are no such rows (and the
 * printers say why) rather than rows of zeros.
 *
 * Pure: no I/O except the FILE the printers are given.  diff.c joins
 * (mt_diff_compute, mt_diff_same_program); diff_print.c prints. */
#ifndef MT_DIFF_H
#define MT_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/report.h"
#include "snapshot/snapshot.h"

enum mt_diff_status { MT_DIFF_CHANGED, MT_DIFF_SAME, MT_DIFF_NEW, MT_DIFF_GONE };

/* "changed", "same", "new", "gone" */
const char *mt_diff_status_name(enum mt_diff_status s);

/* One row.  The strings point into the snapshot the row names (SNAP): the
 * snapshots must outlive the diff. */
struct mt_diff_row {
	/* the site frame of the representative stack, from B (A for gone rows);
	 * "" and 0 when the stack is empty */
	const char *function, *module, *file;
	int line;
	uint64_t module_offset;
	uint64_t offset;            /* from the function's start */
	uint64_t blocks_a, blocks_b, bytes_a, bytes_b;
	int64_t delta_blocks, delta_bytes;  /* B - A */
	enum mt_diff_status status;
	/* the representative stack: the group's largest member */
	const struct mt_snapshot *snap;
	uint32_t stack;             /* index into snap->stacks; UINT32_MAX: none */
};

/* One census row compared: a class (TYPE) or a usable size (TYPE NULL). */
struct mt_diff_census_row {
	const char *type;         /* points into A's or B's census */
	uint64_t size;            /* size rows */
	uint64_t blocks_a, blocks_b, bytes_a, bytes_b;
	int64_t delta_blocks, delta_bytes;  /* B - A */
};

struct mt_diff {
	/* Sorted: delta_bytes desc, then bytes_b desc; rows with nothing live
	 * in A or B last. */
	struct mt_diff_row *rows;
	size_t nrows;
	enum mt_report_group group;
	/* Both snapshots carry an available census: TYPES and SIZES hold
	 * every class and size of either, unchanged ones included, sorted by
	 * |delta_bytes| desc, then |delta_blocks| desc, then bytes_b desc,
	 * then name or size.  Else false and no rows. */
	bool census;
	struct mt_diff_census_row *types, *sizes;
	size_t ntypes, nsizes;
};

/* 0, or -ENOMEM (OUT is then empty).  OUT's rows point into A and B,
 * census rows included. */
int mt_diff_compute(const struct mt_snapshot *a, const struct mt_snapshot *b,
		    enum mt_report_group g, struct mt_diff *out);
/* Accepts an empty or zeroed diff. */
void mt_diff_free(struct mt_diff *d);

/* Are A and B the same program?  The main executables' build-ids are
 * compared when both have one, else their file base names; when a side
 * does not know its executable there is nothing to refuse on (true).  False
 * with WHY filled, e.g. "PID 12 ran /usr/bin/foo, PID 34 ran /usr/bin/bar".
 * WHY may be NULL. */
bool mt_diff_same_program(const struct mt_snapshot *a, const struct mt_snapshot *b,
			  char *why, size_t len);

/* The table: both snapshots' metadata, their censuses (one line each; a
 * side without one, or with an unavailable one, says so) and heap
 * summaries side by side, then TOP rows (0: all) with anything live in A
 * or B, then "census by type" and "census by size": the TOP rows of each
 * that changed, unchanged ones counted in one line.  Two census-only
 * snapshots (no sites on either side) get one line instead of the empty
 * site table.  COLOR: ANSI SGR, growth red, shrink green; the
 * caller decides (a terminal, NO_COLOR unset).  0, or -1 on a write error. */
int mt_diff_print_table(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b,
			const struct mt_diff *d, int top, bool color);
/* --json: one object:
 *   {"memtrace_version", "group_by", "a": META, "b": META,
 *    "census_a": CENSUS, "census_b": CENSUS,
 *    "totals": {blocks_a, blocks_b, bytes_a, bytes_b, delta_blocks, delta_bytes},
 *    "sites": [{function, offset, module, module_offset, file, line,
 *               blocks_a, blocks_b, bytes_a, bytes_b, delta_blocks, delta_bytes,
 *               status, stack: [{function, offset, module, module_offset,
 *                                file, line, address, inlined}] (innermost first;
 *                                mt_report_json_frame, as histo's),
 *               site_frame}],
 *    "types": [{type, blocks_a, blocks_b, delta_blocks, bytes_a, bytes_b,
 *               delta_bytes}], "sizes": alike with size for type
 *               (null both unless both censuses are available)}
 *   META: {memtrace_version, pid, comm, exe, build_id (hex, "" without),
 *          start_unix_ns, time_unix_ns, time ("2024-05-01T10:00:00Z", null
 *          when unknown), duration_s, events, unknown_frees, lost_events,
 *          engine, allocator, depth, sampling ({mean_bytes}, null when
 *          not sampled), unsampled_frees (sampled only)}
 *   CENSUS: {available: false, reason} (also when the snapshot has none),
 *           or {available: true, allocator, complete, blocks, bytes,
 *           freed_blocks, freed_bytes, paused_ms, took_ms, tcache_bytes,
 *           fastbin_bytes, bin_bytes, top_bytes, overhead_bytes, warnings,
 *           heap: {rss_bytes, mapped_bytes, live_bytes, free_bytes,
 *           trimmable_bytes, arenas, verdict} (null when not known)}
 * TOP rows (0: all) of sites, of types and of sizes; empty and unchanged
 * rows included. */
int mt_diff_print_json(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b,
		       const struct mt_diff *d, int top);
/* --format folded: the representative stacks (B's) of the rows that grew,
 * weighted by their growth in bytes; the format of mt_report_folded().
 * Exact per stack with MT_REPORT_BY_STACK; with a coarser grouping a row's
 * whole growth is drawn on its largest member's stack. */
int mt_diff_print_folded(FILE *f, const struct mt_snapshot *b, const struct mt_diff *d);

#endif
