/* Writes the fuzzer's seed snapshots into a directory: valid files that
 * reach every part of the decoder, so the fuzzer starts from deep inside
 * the format rather than from the magic number.
 *
 *   make_seeds DIR   ->  DIR/seed-empty.mtsnap      no tables, no text
 *                        DIR/seed-minimal.mtsnap    one of everything
 *                        DIR/seed-program.mtsnap    a small program: shared
 *                            frames, inlined frames, modules with and
 *                            without build-ids, large counters
 *                        DIR/seed-sampled.mtsnap    the program, sampled
 *                        DIR/seed-census.mtsnap     the program with a census:
 *                            classes, sizes, warnings, a heap summary
 *                        DIR/seed-census-only.mtsnap  what census --snapshot writes:
 *                            a census, no sites
 *                        DIR/seed-census-unavailable.mtsnap  a census that
 *                            could not be taken, and why
 *                        DIR/seed-series.mtsnap     the program as attach
 *                            --record writes it: each site's growth series
 *
 * Run at build time (tests/fuzz/seeds/meson.build); tests/fuzz/corpus/
 * holds copies made with it, for running the fuzzer by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"

static void write_seed(const struct mt_snapshot *s, const char *dir, const char *name)
{
	char path[4096], err[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (mt_snapshot_write(s, path, err, sizeof err) != MT_E_OK) {
		fprintf(stderr, "make_seeds: %s: %s\n", path, err);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	const char *dir = argv[1];

	struct mt_snapshot empty = { .format_version = MT_SNAPSHOT_VERSION_EXACT };
	write_seed(&empty, dir, "seed-empty.mtsnap");

	struct mt_snap_module m1 = { .path = "/bin/t", .build_id = { 0xab, 0xcd }, .build_id_len = 2 };
	struct mt_snap_frame f1 = { .module = 1, .module_offset = 0x1139, .address = 0x5555555551a9,
				    .function = "f", .offset = 4, .file = "t.c", .line = 3 };
	uint32_t st1[] = { 0 };
	struct mt_snap_stack s1 = { .frames = st1, .nframes = 1 };
	struct mt_snap_site site1 = { .live_blocks = 1, .live_bytes = 16, .allocs = 1,
				      .alloc_bytes = 16 };
	struct mt_snapshot minimal = {
		.format_version = MT_SNAPSHOT_VERSION_EXACT, .memtrace_version = "0.1.0", .pid = 1,
		.comm = "t", .exe = "/bin/t", .exe_module = 1, .start_unix_ns = 1,
		.time_unix_ns = 2, .duration_s = 1.0, .events = 1, .engine = "breakpoint",
		.allocator = "/lib/libc.so.6", .depth = 1,
		.modules = &m1, .nmodules = 1, .frames = &f1, .nframes = 1,
		.stacks = &s1, .nstacks = 1, .sites = &site1, .nsites = 1,
	};
	write_seed(&minimal, dir, "seed-minimal.mtsnap");

	struct mt_snap_module mods[3] = {
		{ .path = "/srv/bin/server", .build_id_len = 20 },
		{ .path = "/usr/lib/x86_64-linux-gnu/libc.so.6", .build_id_len = 20 },
		{ .path = "/opt/jit/libjit.so" },
	};
	for (int i = 0; i < 20; i++) {
		mods[0].build_id[i] = (unsigned char)(0x10 + i);
		mods[1].build_id[i] = (unsigned char)(0xf0 - i);
	}
	struct mt_snap_frame frames[] = {
		{ 1, 0x1189, 0x55d0c1a01189, "xmalloc", 0x19, "util.c", 42, false },
		{ 1, 0x1305, 0x55d0c1a01305, "make_buffer", 0, "buf.h", 7, true },
		{ 1, 0x1305, 0x55d0c1a01305, "handle_request", 0x45, "server.c", 311, false },
		{ 1, 0x1420, 0x55d0c1a01420, "main", 0x80, "server.c", 90, false },
		{ 2, 0x29d90, 0x7f3a1c029d90, "__libc_start_call_main", 0x80, "", 0, false },
		{ 3, 0x4000, 0x7f3a1d004000, "", 0, "", 0, false },
		{ 0, 0, 0x7ffd00001000, "", 0, "", 0, false },
	};
	uint32_t a[] = { 0, 1, 2, 3, 4 }, b[] = { 0, 2, 3, 4 }, c[] = { 5, 6, 3, 4 };
	struct mt_snap_stack stacks[] = { { a, 5, 1 }, { b, 4, 1 }, { c, 4, 0 } };
	struct mt_snap_site sites[] = {
		{ 0, 1000, 4096000, 1500, 500, 6144000 },
		{ 1, 3, 1ULL << 33, 9, 6, 3ULL << 33 },
		{ 2, 0, 0, 123456789, 123456789, 987654321 },
	};
	struct mt_snapshot program = {
		.format_version = MT_SNAPSHOT_VERSION_EXACT, .memtrace_version = "0.1.0", .pid = 48213,
		.comm = "server", .exe = "/srv/bin/server", .exe_module = 1,
		.start_unix_ns = 1718000000123456789ULL, .time_unix_ns = 1718000060987654321ULL,
		.duration_s = 60.86, .events = 1234567, .unknown_frees = 17, .lost_events = 3,
		.engine = "breakpoint", .allocator = "/usr/lib/x86_64-linux-gnu/libc.so.6",
		.depth = 32,
		.modules = mods, .nmodules = 3, .frames = frames,
		.nframes = sizeof frames / sizeof frames[0], .stacks = stacks, .nstacks = 3,
		.sites = sites, .nsites = 3,
	};
	write_seed(&program, dir, "seed-program.mtsnap");

	/* the same program sampled: written as format 2 */
	program.format_version = MT_SNAPSHOT_VERSION_SAMPLED;
	program.sample_bytes = 524288;
	program.unknown_frees = 0;
	program.unsampled_frees = 17;
	write_seed(&program, dir, "seed-sampled.mtsnap");

	/* the program again, exact, with the census taken at attach */
	program.format_version = MT_SNAPSHOT_VERSION_EXACT;
	program.sample_bytes = 0;
	program.unknown_frees = 17;
	program.unsampled_frees = 0;
	struct mt_census_row types[] = {
		{ "Order", 0, 30000, 1920000 }, { "ns::Cache<std::string, int>", 0, 5, 1ULL << 40 },
	};
	struct mt_census_row sizes[] = { { NULL, 1048560, 4, 4194560 }, { NULL, 24, 10000, 320000 } };
	char *warnings[] = { "chunk at 0x55d0c1a05000: size 0x7 is not aligned: region skipped" };
	struct mt_census_report census = {
		.available = true, .allocator = "glibc 2.36", .complete = false,
		.blocks = 40009, .bytes = 1099516042736ULL, .freed_blocks = 12, .freed_bytes = 768,
		.paused_ms = 41.625, .took_ms = 1234.5, .tcache_bytes = 7, .fastbin_bytes = 64,
		.bin_bytes = 99999, .top_bytes = 135168, .overhead_bytes = 2272,
		.types = types, .ntypes = 2, .sizes = sizes, .nsizes = 2,
		.warnings = warnings, .nwarnings = 1,
		.heap = { .known = true, .rss_bytes = 5000000000ULL, .mapped_bytes = 4900000000ULL,
			  .live_bytes = 25000000, .free_bytes = 4800000000ULL,
			  .trimmable_bytes = 4700000000ULL, .arenas = 9, .verdict = "retention" },
	};
	program.census = &census;
	write_seed(&program, dir, "seed-census.mtsnap");

	struct mt_snapshot only = {
		.format_version = MT_SNAPSHOT_VERSION_EXACT, .memtrace_version = "0.1.0", .pid = 48213,
		.comm = "server", .exe = "/srv/bin/server", .exe_module = 1,
		.time_unix_ns = 1718010000000000000ULL, .allocator = "/usr/lib/x86_64-linux-gnu/libc.so.6",
		.modules = mods, .nmodules = 1, .census = &census,
	};
	write_seed(&only, dir, "seed-census-only.mtsnap");

	struct mt_census_report none = { .available = false,
					 .reason = "the process uses jemalloc: no census for it" };
	only.census = &none;
	write_seed(&only, dir, "seed-census-unavailable.mtsnap");

	/* the program with a growth series of 4 points per site */
	double series_t[] = { 0.5, 20.25, 40.125, 60.86 };
	uint64_t series_bytes[] = {
		1024000, 2048000, 3072000, 4096000,
		1ULL << 31, 1ULL << 32, 1ULL << 32, 1ULL << 33,
		0, 64, 0, 0,
	};
	program.census = NULL;
	program.series_t = series_t;
	program.nseries = 4;
	program.series_bytes = series_bytes;
	write_seed(&program, dir, "seed-series.mtsnap");
	return 0;
}
