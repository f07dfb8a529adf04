/* Snapshot files: the live table aggregated per stack at one moment, with
 * the metadata needed to compare two of them (memtrace diff), possibly
 * taken across a restart of the program.
 *
 * File layout (format versions 1 and 2):
 *
 *   offset 0   8 bytes   magic "MTSNAP\r\n"; the \r\n catches a file that
 *                        went through a text-mode transfer
 *   offset 8   4 bytes   format version, uint32 little-endian
 *   offset 12  ...       one zstd frame, with its content size and checksum,
 *                        holding one protobuf message `mtsnap.Snapshot`
 *                        (src/snapshot/snapshot.proto); nothing after the frame
 *
 * A reader refuses a version above its own (MT_SNAPSHOT_VERSION): later
 * versions only add protobuf fields, so they read older files and bump the
 * header's version only for a change older readers would misread.
 * Version 2 is such a change: a sampled snapshot (sample_bytes nonzero)
 * holds estimates, which a reader of version 1 would show as exact counts.
 * So sampled snapshots are written as version 2 and refused by older
 * readers, and exact ones still as version 1, which every reader reads.
 *
 * Pure: no access to a target process; file I/O only in
 * mt_snapshot_write() and mt_snapshot_read().
 */
#ifndef MT_SNAPSHOT_H
#define MT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "census/census_report.h"
#include "util/errors.h"

#define MT_SNAPSHOT_MAGIC "MTSNAP\r\n"
#define MT_SNAPSHOT_MAGIC_LEN 8
#define MT_SNAPSHOT_HEADER_LEN 12
/* The highest format version this memtrace reads; it writes
 * MT_SNAPSHOT_VERSION_EXACT, or MT_SNAPSHOT_VERSION_SAMPLED for a sampled
 * snapshot (see above). */
#define MT_SNAPSHOT_VERSION 2u
#define MT_SNAPSHOT_VERSION_EXACT 1u
#define MT_SNAPSHOT_VERSION_SAMPLED 2u

/* Limits on what a reader accepts, so that a small hostile file (a zstd
 * "bomb", or millions of 2-byte empty protobuf records, each unpacked into
 * a structure of ~90 bytes) cannot make memtrace allocate without bound.
 * For scale, measured: 100000 sites with 32-frame stacks over 500000
 * distinct frames make a 23 MiB file of 54 MiB decompressed, which protobuf-c
 * unpacks into 135 MiB and which decodes into 66 MiB.  The limits leave ten
 * times that and more.  A build may lower them (the fuzzer does). */
#ifndef MT_SNAPSHOT_MAX_DECOMPRESSED
#define MT_SNAPSHOT_MAX_DECOMPRESSED (512ULL << 20)  /* the protobuf message */
#endif
#ifndef MT_SNAPSHOT_MAX_UNPACKED
#define MT_SNAPSHOT_MAX_UNPACKED (2048ULL << 20)     /* protobuf-c's structures */
#endif
/* The most points a growth series may have (memtrace writes at most
 * MT_RECSERIES_MAX_POINTS, model/recseries.h). */
#define MT_SNAPSHOT_MAX_SERIES 4096u

struct mt_snap_module {
	char *path;
	uint8_t build_id[64];
	uint32_t build_id_len;    /* 0: no build-id */
};

struct mt_snap_frame {
	uint32_t module;          /* index into modules + 1; 0: unknown */
	uint64_t module_offset;   /* ELF vaddr of the pc (the looked-up one + as in report) */
	uint64_t address;         /* runtime address (differs across restarts) */
	char *function;           /* "" unknown */
	uint64_t offset;          /* from function start */
	char *file;               /* "" unknown */
	int32_t line;             /* 0 unknown; never negative */
	bool inlined;
};

/* frames: indexes into snapshot.frames, innermost first; nframes >= 1 and
 * site_frame < nframes. */
struct mt_snap_stack {
	uint32_t *frames;
	uint32_t nframes;
	uint32_t site_frame;
};

/* One per traced stack (aggregated per stack); stack < nstacks. */
struct mt_snap_site {
	uint32_t stack;
	uint64_t live_blocks, live_bytes, allocs, frees, alloc_bytes;
};

struct mt_snapshot {
	uint32_t format_version;  /* read: the file's; the writer ignores it and
				   * writes mt_snapshot_format_for() */
	char *memtrace_version;
	int32_t pid;              /* never negative */
	char *comm;
	char *exe;                /* path of the main executable */
	uint32_t exe_module;      /* index+1 into modules, 0 unknown */
	uint64_t start_unix_ns, time_unix_ns;
	double duration_s;        /* finite, never negative */
	uint64_t events, unknown_frees, lost_events;
	char *engine;
	char *allocator;
	int32_t depth;            /* never negative */
	uint64_t sample_bytes;    /* sampling mean; 0: not sampled (site counts exact) */
	uint64_t unsampled_frees;
	struct mt_snap_module *modules;
	uint32_t nmodules;
	struct mt_snap_frame *frames;
	uint32_t nframes;
	struct mt_snap_stack *stacks;
	uint32_t nstacks;
	struct mt_snap_site *sites;
	uint32_t nsites;
	/* The census of the heap at attach, owned by the snapshot; NULL when
	 * none was taken (--no-census, or a snapshot written before censuses
	 * existed).  A census-only snapshot (memtrace census --snapshot) has no sites. */
	struct mt_census_report *census;
	/* attach --record: the times of every site's growth series, seconds
	 * since start_unix_ns, never decreasing, finite, not negative; at most
	 * MT_SNAPSHOT_MAX_SERIES.  nseries 0: no series, and series_bytes is
	 * not read. */
	double *series_t;
	uint32_t nseries;
	/* site I's live bytes at each time: series_bytes[I * nseries + J] */
	uint64_t *series_bytes;
};

/* Every rule the comments above state (indexes in range, stacks not empty,
 * build-ids of at most 64 bytes, no negative pid, depth or line, a finite
 * duration, no NULL array with a nonzero count; in a census: finite,
 * non-negative times, a name for every type row and none for a size row,
 * no NULL warning, a verdict of "retention", "normal", "unknown" or NULL; a
 * series of at most MT_SNAPSHOT_MAX_SERIES finite, non-negative, never
 * decreasing times with values for every site, or none at all).  A NULL string is taken as
 * "" (what the writer stores).  true, or false with a one-line reason in
 * WHY (may be NULL). */
bool mt_snapshot_valid(const struct mt_snapshot *s, char *why, size_t whylen);

/* Give S a copy of census C (every string and row copied; C stays the
 * caller's), replacing the one S had; C NULL removes it.  Strings of C are
 * cut to fit what the file stores (reason 255 bytes, allocator 63) and a
 * NULL type name of a type row reads as "?", so that whatever the census
 * says can be written.  0; -EINVAL when C has a count but no array; or
 * -ENOMEM (S is then unchanged). */
int mt_snapshot_set_census(struct mt_snapshot *s, const struct mt_census_report *c);

/* The format version S is written as: MT_SNAPSHOT_VERSION_SAMPLED when it
 * is sampled, else MT_SNAPSHOT_VERSION_EXACT. */
uint32_t mt_snapshot_format_for(const struct mt_snapshot *s);

/* The file's bytes, header included, in *BUF (free() it) and *LEN.
 * MT_E_OK; MT_E_INTERNAL when S breaks a rule of mt_snapshot_valid() (nothing
 * a reader would refuse is ever written); MT_E_IO when out of memory. */
enum mt_err mt_snapshot_encode(const struct mt_snapshot *s, uint8_t **buf, size_t *len);

/* Encode S and write it to PATH atomically (atomicfile.h): PATH is either
 * left as it was or holds the whole new snapshot.  The file is created
 * readable by its owner only (like perf.data: it names the program's files
 * and functions).  MT_E_OK, or MT_E_IO (MT_E_INTERNAL for an invalid S)
 * with a one-line reason in ERR that does not repeat PATH (the caller names
 * the file). */
enum mt_err mt_snapshot_write(const struct mt_snapshot *s, const char *path, char *err,
			      size_t errlen);

/* Decode a snapshot file's bytes.  Safe on any input: every length, index
 * and count is checked before use.  MT_E_OK with a new snapshot in *OUT
 * (free it with mt_snapshot_free); or *OUT = NULL and
 *   MT_E_BAD_SNAPSHOT       "empty file", "truncated", "not a memtrace
 *                           snapshot", "corrupt: <what>"
 *   MT_E_SNAPSHOT_VERSION   "written by a newer memtrace (format N, this
 *                           one reads up to M)"
 * with that one-line reason in ERR ("out of memory", rare thanks to the
 * limits above, is also MT_E_BAD_SNAPSHOT). */
enum mt_err mt_snapshot_decode(const uint8_t *buf, size_t len, struct mt_snapshot **out,
			       char *err, size_t errlen);

/* Read and decode PATH ("-" is not special).  As mt_snapshot_decode, plus
 * MT_E_IO for a file that cannot be read: missing, unreadable, a
 * directory.  The reason does not repeat PATH. */
enum mt_err mt_snapshot_read(const char *path, struct mt_snapshot **out, char *err,
			     size_t errlen);

/* Free S and everything it points to, each allocated with malloc: every
 * string, every stack's frames, the four arrays, the census, the series,
 * S itself.  NULL pointers
 * are skipped, so a half-built snapshot can be freed; S may be NULL. */
void mt_snapshot_free(struct mt_snapshot *s);

#endif
