/* /tmp/perf-PID.map, parsed: the symbol table a JIT (V8 with --perf-basic-prof,
 * LuaJIT, the JVM through perf-map-agent, .NET with DOTNET_PerfMapEnabled...)
 * writes for the code it generates, so that profilers can name addresses
 * that belong to no ELF file.  One symbol per line, appended as code is made:
 *
 *   7f8a2c0c4000 4c LazyCompile:~handler /srv/app/index.js:12
 *   START        SIZE NAME (the rest of the line, may contain spaces)
 *
 * START and SIZE are hex without "0x" (a "0x" prefix is accepted anyway).
 * Pure: the caller reads the file; this only parses text.
 */
#ifndef MT_PERFMAP_H
#define MT_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

struct mt_perfmap_sym {
	uint64_t start, end;  /* [start, end): end = START + SIZE */
	const char *name;     /* points into mt_perfmap.names */
	size_t seq;           /* line order among the kept lines: later wins */
};

struct mt_perfmap {
	struct mt_perfmap_sym *v;  /* sorted by start, then seq */
	uint64_t *reach;      /* reach[i] = max end of v[0..i]: bounds lookups */
	size_t n;
	size_t skipped;       /* malformed lines ignored */
	char *names;          /* one buffer holding every name */
};

/* Parse LEN bytes of TEXT (need not be NUL-terminated).  Malformed lines
 * (bad hex, no name, SIZE 0, START + SIZE overflowing) are skipped and
 * counted; so is a last line without its newline, which the JIT may still
 * be writing.  0, or -ENOMEM (OUT is then empty). */
int mt_perfmap_parse(const char *text, size_t len, struct mt_perfmap *out);
/* The symbol containing ADDR, or NULL.  When symbols overlap (a JIT that
 * reused memory appends a line for the new code), the one from the latest
 * line wins.  O(log n) unless many symbols overlap ADDR. */
const struct mt_perfmap_sym *mt_perfmap_find(const struct mt_perfmap *m, uint64_t addr);
/* Frees M's memory and empties it; safe on an empty or freed map. */
void mt_perfmap_free(struct mt_perfmap *m);

#endif
