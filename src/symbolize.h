/* Symbolization with libdwfl: address -> function+offset, module, file:line.
 * The only file that talks to libdw.  Never attaches to the process (memtrace
 * owns the ptrace stops); reads modules through /proc/PID/maps.
 */
#ifndef MT_SYMBOLIZE_H
#define MT_SYMBOLIZE_H

#include <stdint.h>
#include <sys/types.h>

struct mt_symbolizer;

struct mt_symbol {
	char function[256];   /* "" when unknown */
	uint64_t offset;      /* address - function start */
	char module[256];     /* module path, "" when unknown */
	uint64_t module_offset; /* address - module load bias */
	char file[512];       /* source file, "" without debug info */
	int line;             /* 0 without debug info */
};

struct mt_symbolizer *mt_symbolizer_new(pid_t pid);
void mt_symbolizer_destroy(struct mt_symbolizer *s);
/* Fill OUT; always succeeds (fields left empty when unknown). Cached per address. */
void mt_symbolize(struct mt_symbolizer *s, uint64_t addr, struct mt_symbol *out);
/* Re-read the module list (e.g. after dlopen). */
void mt_symbolizer_refresh(struct mt_symbolizer *s);

#endif
