/* What the symbolizer's three files share: struct mt_symbolizer and the
 * few functions one of them calls in another.  symbolize.c names addresses,
 * modules.c keeps the table of loaded modules (and makes and destroys the
 * symbolizer), unwind.c walks stacks.  Those three are the only files that
 * talk to libdw, and all three must: they work on one Dwfl, its modules
 * and their CFI, DWARF and ELF handles, which a wrapper of its own would
 * only copy.  Private to src/symbols: include it from nowhere else.  Names
 * with linkage here start with sym_.
 */
#ifndef MT_SYMBOLIZE_PRIV_H
#define MT_SYMBOLIZE_PRIV_H

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "symbols/perfmap.h"
#include "symbols/pyframes.h"
#include "symbols/symbolize.h"
#include "symbols/unwind.h"
#include "target/maps.h"
#include "util/clock.h"

#define DELETED_SUFFIX " (deleted)"
#define NS_PER_MS 1000000ull
#define UNEXPLAINED_SLOTS 256
/* Frames at one pc: the real function and the functions inlined in it. */
#define MAX_CHAIN 64

/* --- state --------------------------------------------------------------- */

struct slot {
	uint64_t key;
	void *val;                    /* malloc'd; NULL: empty slot */
};

/* Open addressing, linear probing, load <= 1/2. */
struct cache {
	struct slot *slots;
	size_t cap;                   /* a power of two, or 0 */
	size_t used;
};

/* The mt_unwind call in progress, for the libdwfl callbacks. */
struct unwind_call {
	pid_t tid;
	const mt_regs *regs;
	mt_read_fn read;
	void *ctx;
	uint64_t *pcs;
	int max, n;
};

/* Open addressing, linear probing, load <= 1/2; emptied by every report
 * (an address may now be another module's). */
struct rules {
	struct rule *v;
	size_t cap, used;             /* cap: a power of two, or 0 */
};

struct perfmap_file {
	char path[96];                /* /proc/PID/root/tmp/perf-NSPID.map */
	off_t size;                   /* at the last read; -1: never read */
	uint64_t checked_ns;          /* when its size was last looked at */
	uint64_t read_ns, read_cost_ns;   /* when it was last read, how long that took */
	struct mt_perfmap map;
};

struct mt_symbolizer {
	pid_t pid;
	Dwfl *dwfl;
	Dwfl_Callbacks callbacks;     /* libdwfl keeps a pointer to it */
	char *debug_path;             /* callbacks.debuginfo_path points here */
	struct mt_maps maps;          /* as of the last report */
	uint64_t reported_ns;         /* when the modules were last reported */
	uint64_t report_cost_ns;      /* and how long that took */
	struct range {
		uint64_t start, end;
	} *gone;                      /* modules kept after they were unmapped */
	size_t ngone;

	Elf64_Ehdr ehdr;              /* arch_elf's image */
	Elf *arch_elf;
	bool unwinder;                /* dwfl_attach_state succeeded */
	struct unwind_call call;
	struct rules rules;           /* the fast path's CFI, by address */

	struct cache syms;            /* mt_symbolize: addr -> mt_symbol */
	struct cache chains;          /* mt_symbolize_pc: pc*2+is_return -> chain */
	struct mt_frame scratch[MAX_CHAIN];
	struct perfmap_file jit;
	struct mt_pyframes *py;       /* Python frames' namer, made on first use */
	bool downloading;             /* mt_symbolizer_downloads(s, true) */
	uint64_t download_ns;         /* spent in searches that found nothing */
	struct unexplained {
		uint64_t addr, checked_ns;
	} unexplained[UNEXPLAINED_SLOTS]; /* see mt_sym_code_map */
};

struct known {
	struct known_module {
		char *name;
		Dwarf_Addr start, end;
	} *v;
	size_t n, cap;
	bool nomem;
};

/* --- between the files ------------------------------------------------ */

/* modules.c */
bool mt_sym_known_code(const struct mt_symbolizer *s, uint64_t addr);
bool mt_sym_report_for(struct mt_symbolizer *s, uint64_t addr);
bool mt_sym_jit_memory(const struct mt_map *m);
const struct mt_map *mt_sym_code_map(struct mt_symbolizer *s, uint64_t addr);
Dwfl_Module *mt_sym_code_module(struct mt_symbolizer *s, const struct mt_map *m,
			     uint64_t addr, uint64_t *at);

/* symbolize.c */
void mt_sym_cache_drop(struct cache *c, int shift, uint64_t start, uint64_t end);
void mt_sym_cache_clear(struct cache *c);

/* unwind.c */
void mt_sym_arch_ehdr(Elf64_Ehdr *eh);
extern const Dwfl_Thread_Callbacks mt_sym_thread_callbacks;
void mt_sym_rules_filter(struct rules *t, const struct known *old, const bool *dropped);

#endif
