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
 * Pure: no I/O except the FILE the printers are given. */
#ifndef MT_DIFF_H
#define MT_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"
#include "snapshot.h"

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

struct mt_diff {
	/* Sorted: delta_bytes desc, then bytes_b desc; rows with nothing live
	 * in A or B last. */
	struct mt_diff_row *rows;
	size_t nrows;
	enum mt_report_group group;
};

/* 0, or -ENOMEM (OUT is then empty).  OUT's rows point into A and B. */
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

/* The table: both snapshots' metadata, then TOP rows (0: all) with
 * anything live in A or B.  COLOR: ANSI SGR, growth red, shrink green; the
 * caller decides (a terminal, NO_COLOR unset).  0, or -1 on a write error. */
int mt_diff_print_table(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b,
			const struct mt_diff *d, int top, bool color);
/* --json: one object:
 *   {"memtrace_version", "group_by", "a": META, "b": META,
 *    "totals": {blocks_a, blocks_b, bytes_a, bytes_b, delta_blocks, delta_bytes},
 *    "sites": [{function, offset, module, module_offset, file, line,
 *               blocks_a, blocks_b, bytes_a, bytes_b, delta_blocks, delta_bytes,
 *               status, stack: [{function, offset, module, module_offset,
 *                                file, line, inlined}] (innermost first),
 *               site_frame}]}
 *   META: {memtrace_version, pid, comm, exe, build_id (hex, "" without),
 *          start_unix_ns, time_unix_ns, time ("2024-05-01T10:00:00Z", null
 *          when unknown), duration_s, events, unknown_frees, lost_events,
 *          engine, allocator, depth, sampling ({mean_bytes}, null when
 *          not sampled), unsampled_frees (sampled only)}
 * TOP rows (0: all), empty rows included. */
int mt_diff_print_json(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b,
		       const struct mt_diff *d, int top);
/* --format folded: the representative stacks (B's) of the rows that grew,
 * weighted by their growth in bytes; the format of mt_report_folded().
 * Exact per stack with MT_REPORT_BY_STACK; with a coarser grouping a row's
 * whole growth is drawn on its largest member's stack. */
int mt_diff_print_folded(FILE *f, const struct mt_snapshot *b, const struct mt_diff *d);

#endif
