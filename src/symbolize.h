/* Symbolization with libdwfl: address -> function+offset, module, file:line.
 * The only file that talks to libdw.  Never attaches to the process (memtrace
 * owns the ptrace stops); reads modules through /proc/PID/maps and opens
 * their files through /proc/PID/map_files or /proc/PID/root when it can, so
 * deleted binaries and containers work.  Never prints.
 *
 * For a return address, the call's source line is that of ADDR - 1 (the
 * return address may already be on the next line, or in the next function
 * after a noreturn call); which address to ask for is the caller's choice.
 */
#ifndef MT_SYMBOLIZE_H
#define MT_SYMBOLIZE_H

#include <stdint.h>
#include <sys/types.h>

struct mt_symbolizer;

struct mt_symbol {
	char function[256];   /* "" when unknown */
	uint64_t offset;      /* address - function start */
	char module[256];     /* module path as in maps (" (deleted)" stripped),
	                       * "[vdso]", or "" when unknown */
	uint64_t module_offset; /* address - module load bias: the ELF vaddr
	                         * (address - module start if the file is missing) */
	char file[512];       /* source file, "" without debug info */
	int line;             /* 0 without debug info */
};

/* NULL only when out of memory.  A PID that is gone gives a symbolizer
 * that knows no module. */
struct mt_symbolizer *mt_symbolizer_new(pid_t pid);
void mt_symbolizer_destroy(struct mt_symbolizer *s);
/* Fill OUT; always succeeds (fields left empty when unknown). Cached per address. */
void mt_symbolize(struct mt_symbolizer *s, uint64_t addr, struct mt_symbol *out);
/* Re-read the module list (e.g. after dlopen) and empty the cache. */
void mt_symbolizer_refresh(struct mt_symbolizer *s);

#endif
