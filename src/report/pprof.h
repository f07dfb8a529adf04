/* --format pprof: snapshots as pprof profiles (profile.proto, gzipped), the
 * format `go tool pprof`, Pyroscope, Grafana and Parca read.
 *
 * A profile holds Go's heap profile sample types, in Go's order:
 *
 *   alloc_objects/count  allocs       (blocks allocated since tracing began)
 *   alloc_space/bytes    alloc_bytes
 *   inuse_objects/count  live_blocks  (still allocated at the snapshot)
 *   inuse_space/bytes    live_bytes   (the default sample type)
 *
 * One sample per traced stack of the snapshot, its locations innermost
 * first from the frame that names the site: the allocator's and wrappers'
 * frames below it are left out, as Go's heap profiles leave out the
 * runtime's, so that -top's flat column is per site.  A location is one frame: its runtime address, its
 * module's mapping, one line naming its function and file:line (none when
 * the function is unknown; pprof then shows the address).  An inlined
 * frame is a location of its own at its caller's address.
 *
 * A mapping is one module: its path, its build-id (hex), memory_start the
 * module's load bias (address - module_offset of its frames: the address
 * its ELF virtual address 0 is at), file_offset 0, memory_limit past its
 * highest frame; so pprof's address - memory_start + file_offset is the
 * frame's ELF virtual address.  has_functions (has_filenames,
 * has_line_numbers) says every frame in it was named (had a file, a line):
 * pprof symbolizes the others itself when it finds the file.  The main
 * executable's mapping comes first, as pprof expects.
 *
 * The census (census_report.h), when the snapshot holds an available one:
 * one sample per row, on a two-frame pseudo-stack, no mapping and address
 * 0: the class name (or "[N-byte blocks]" for a size row) called from
 * "[census]".  Its four values are the row's blocks and bytes (chunk
 * bytes, headers included), as the census counted them at attach.  The
 * census knows how many of its blocks were freed since, not of which rows:
 * one more sample, "[freed since attach]" under "[census]", holds them as
 * negative in-use values (0 alloc values: they were allocated), so that
 * "[census]" in all is what is still live.  A comment says the figures.
 *
 * Profile comments say what the numbers are: the process, a sampled trace
 * (values are estimates; period is --sample-bytes), lost events, and for a
 * diff what the signs mean.
 *
 * A diff (memtrace diff A B --format pprof) is one profile of B's samples
 * followed by A's with their values negated: pprof sums samples that fold
 * to the same frames, so -top and the flame graph show the change, as
 * `go tool pprof -diff_base` does with two profiles.
 *
 * Pure: no I/O except the FILE the writers are given. */
#ifndef MT_PPROF_H
#define MT_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "snapshot/snapshot.h"

/* The pseudo-frames of the census. */
#define MT_PPROF_CENSUS "[census]"
#define MT_PPROF_FREED "[freed since attach]"

struct mt_pprof;

struct mt_pprof *mt_pprof_new(void);
/* Add S's samples (and census rows) to P, values multiplied by SIGN (1 or
 * -1), and S's header as comments; the first snapshot added gives the
 * profile's time, duration and period.  0, or -ENOMEM (P is then only fit
 * for mt_pprof_free). */
int mt_pprof_add(struct mt_pprof *p, const struct mt_snapshot *s, int sign);
/* Add a comment line to the profile.  0, or -ENOMEM. */
int mt_pprof_comment(struct mt_pprof *p, const char *text);
/* The profile's protobuf bytes, not compressed, in *BUF (free() it).
 * 0, or -ENOMEM. */
int mt_pprof_pack(struct mt_pprof *p, uint8_t **buf, size_t *len);
void mt_pprof_free(struct mt_pprof *p);

/* S as a gzipped profile to F.  0, or -1 (out of memory, or F failed). */
int mt_report_pprof(FILE *f, const struct mt_snapshot *s);
/* B - A as one gzipped profile to F (see above).  0, or -1. */
int mt_report_pprof_diff(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b);

#endif
