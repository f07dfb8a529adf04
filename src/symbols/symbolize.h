/* Symbolization with libdwfl: pc -> frames (function, module, file:line,
 * inlined functions); unwinding (registers + stack -> pcs) is unwind.h's.
 * Only symbolize.c, modules.c and unwind.c talk to libdw.  Never attaches
 * to the process (memtrace owns the ptrace stops); reads modules through
 * /proc/PID/maps and opens their files through /proc/PID/map_files or
 * /proc/PID/root when it can, so deleted binaries and containers work.
 * Never prints.  Not thread-safe: one thread uses a symbolizer at a time.
 *
 * For a return address, the call's source line is that of ADDR - 1 (the
 * return address may already be on the next line, or in the next function
 * after a noreturn call).  mt_symbolize leaves that to the caller;
 * mt_symbolize_pc does it when told the pc is a return address.
 *
 * Modules loaded after the symbolizer was made (dlopen) are found when a pc
 * falls in none of the known ones.  To name a pc, the maps are read again
 * at once when those read last cannot say what it is (in no executable
 * mapping then: code mapped or made executable since, or a new library);
 * a pc that fresh maps could not explain either is not looked for again
 * for a second.  To unwind, they are read again at most every 10 ms when
 * the pc was in no mapping at the last read, 100 ms when it was in a file
 * mapping, 1 s when in anonymous memory (JIT code, usually), and never more
 * often than 20 times what the last read took.  Calling
 * mt_symbolizer_refresh at ld.so's notifications makes that immediate.
 * A pc is named from a module only when the mapping that holds it is of the
 * module's file (libdwfl's module of a file spans the anonymous memory
 * between its mappings), or anonymous memory inside the module's own
 * executable segments (text a program copied to huge pages in place: node
 * --use-largepages); a file's text mapped a second time elsewhere (V8's
 * copy of node's builtins) is named where the module's own image has the
 * same file bytes.
 * A module that was unloaded since (dlclose) stays known until something
 * else is mapped over its addresses, so its frames keep their names; when
 * something is, what was cached about those addresses is forgotten.
 *
 * A function that no symbol names (a stripped module without its debug
 * file) is named after its .eh_frame FDE, which starts where the function
 * does: "FILE+0xSTART", FILE the module's file name and START the
 * function's ELF address, the module_offset of its first byte; the offset
 * is from there.  Every address in the function gets that one name.
 *
 * Code in no ELF module (anonymous executable memory, memfd) is JIT code:
 * module "[jit]", function from /tmp/perf-PID.map as the process sees it
 * (/proc/PID/root/tmp/perf-NSPID.map), read again when its size changes:
 * looked at every 100 ms, and at once for JIT code it does not name (a JIT
 * writes the line before the code runs), unless reading it last took more
 * than a twentieth of the time since.
 */
#ifndef MT_SYMBOLIZE_H
#define MT_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mt_symbolizer;

struct mt_symbol {
	char function[256];   /* demangled ("ns::Foo::bar(int)"); a name that
	                       * does not demangle stays as it is; without a
	                       * symbol, "FILE+0xSTART" from the .eh_frame FDE
	                       * that covers the address ("postgres+0x5c7800":
	                       * see below); "" when unknown */
	uint64_t offset;      /* looked-up address - function start */
	char module[256];     /* module path as in maps (" (deleted)" stripped),
	                       * "[vdso]", "[jit]", or "" when unknown */
	uint64_t module_offset; /* looked-up address - module load bias: the ELF
	                         * vaddr (address - module start if the file is
	                         * missing; address - mapping start for [jit]) */
	char file[512];       /* source file, "" without debug info */
	int line;             /* 0 without debug info */
};

/* NULL only when out of memory.  A PID that is gone gives a symbolizer
 * that knows no module. */
struct mt_symbolizer *mt_symbolizer_new(pid_t pid);
void mt_symbolizer_destroy(struct mt_symbolizer *s);
/* Also search DIR for separate debug info (DIR/.build-id/xx/yyyy.debug and
 * DIR/<path of the module>/<debuglink>), after the standard places (the
 * module's directory, its .debug/, /usr/lib/debug, and the target's own
 * /usr/lib/debug when it runs in another mount namespace).  Call before the
 * first lookup: modules whose debug info was already searched keep what
 * they found. */
void mt_symbolizer_add_debug_dir(struct mt_symbolizer *s, const char *dir);

/* Whether lookups may download debug files from the debuginfod servers
 * in DEBUGINFOD_URLS (off at first; see modules.c for the bounds): on
 * while a report names its stacks with the target running, never while
 * the target waits.  Also turned off for good once 30 s went into
 * searches that found nothing.  Affects every symbolizer's lookups while
 * on (the environment is the process's). */
void mt_symbolizer_downloads(struct mt_symbolizer *s, bool on);
/* Whether DEBUGINFOD_URLS was set when the first symbolizer was made. */
bool mt_symbolizer_can_download(void);

/* The data a global lives in, for the leak check's roots: the module's
 * file name and, when a symbol of an object covers ADDR, its (demangled)
 * name and extent [LO, HI).  False when no module holds ADDR; true with
 * NAME "" when a module does but no object symbol covers it. */
struct mt_data_symbol {
	char name[256];
	char module[256];     /* the file's base name */
	uint64_t lo, hi;
};
bool mt_symbolize_data(struct mt_symbolizer *s, uint64_t addr, struct mt_data_symbol *out);

/* Fill OUT for ADDR; always succeeds (fields left empty when unknown).
 * FUNCTION is the ELF symbol containing ADDR (an inlined function is not
 * told apart: see mt_symbolize_pc); FILE:LINE is the line table's.  Cached
 * per address (JIT code excepted). */
void mt_symbolize(struct mt_symbolizer *s, uint64_t addr, struct mt_symbol *out);
/* Read /tmp/perf-PID.map again at the next lookup in JIT code, whatever its
 * size (a JVM asked to write it again rewrites it whole: the same size is
 * no proof of the same contents). */
void mt_symbolizer_perfmap_changed(struct mt_symbolizer *s);
/* Re-read the module list now (e.g. at ld.so's notification of a dlopen
 * or dlclose).  Cached answers stay, but for addresses whose module went
 * away and was replaced (see above). */
void mt_symbolizer_refresh(struct mt_symbolizer *s);

struct mt_frame {
	struct mt_symbol sym;   /* offsets are those of the looked-up address
	                         * (PC - 1 for a return address) */
	bool inlined;           /* an inlined function's frame at this pc */
	uint64_t address;       /* the pc (the same for all frames of one pc) */
};

/* The frames at PC, innermost first: the functions inlined at that pc
 * (inlined = true), then the real function.  Each frame's file:line is
 * where the code is at that point: the innermost frame's is the line
 * table's, every other frame's is the call site of the function inlined
 * into it.  The real function's name is its ELF symbol's (DWARF's when the
 * ELF symbol is missing), an inlined one's is DWARF's (linkage name,
 * demangled, else the plain name).  IS_RETURN: PC is a return address,
 * look up PC - 1.  Returns the count, >= 1 (0 only when MAX < 1), at most
 * MAX; when there are more frames than MAX, the innermost MAX - 1 and the
 * real function are kept.  Cached per (pc, is_return), JIT code excepted;
 * a cached pc keeps its frames after its module is unloaded. */
int mt_symbolize_pc(struct mt_symbolizer *s, uint64_t pc, bool is_return,
		    struct mt_frame *out, int max);

/* Name the Python frame PC (a tagged pc, symbols/pyframes.h) now, while
 * its code object is in the process, so that later lookups of PC (the
 * report, after the process ended) have its name: 1 when it was named now,
 * 0 when it had been, -1 when it cannot be (tried again at the next call).
 * A few bounded reads of the process. */
int mt_symbolizer_learn_python(struct mt_symbolizer *s, uint64_t pc);

/* libstdc++'s demangler (__cxa_demangle) for a mangled function
 * ("_ZN2ns3fooEv") or type ("N2ns3FooE", a typeinfo's name) into OUT
 * (truncated to LEN): 0, or -1 when it does not demangle.  The census's
 * mt_census_demangle_fn. */
int mt_demangle(const char *mangled, char *out, size_t len);

/* The GNU build-id of the module containing ADDR into BUF (at most LEN
 * bytes): its length, 0 when unknown.  Snapshots match modules by it. */
int mt_symbolizer_build_id(struct mt_symbolizer *s, uint64_t addr, uint8_t *buf, size_t len);

#endif
