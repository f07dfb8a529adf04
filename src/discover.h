/* Allocator discovery: which definitions of malloc & co the process really
 * calls, resolved the way the dynamic linker binds them (the link-map search
 * order read from the target's r_debug, first definition wins), so a
 * preloaded or statically linked jemalloc/tcmalloc/mimalloc is the one found.
 * Aliases at one address become one hook that serves all its names.
 *
 * Modules are opened through /proc/PID/map_files/START-END, falling back to
 * /proc/PID/root/PATH, so containers and deleted binaries work.  Uses libelf;
 * reads target memory through target.h (no ptrace calls of its own).
 */
#ifndef MT_DISCOVER_H
#define MT_DISCOVER_H

#include <stdint.h>
#include <sys/types.h>

#include "allocfn.h"

#define MT_MAX_HOOKS 32
#define MT_MAX_ORIG  16   /* code bytes kept from the ELF file per hook */

struct mt_hook_spec {
	uint64_t addr;                 /* runtime address of the entry */
	unsigned fn_mask;              /* 1u << enum mt_fn for every name bound here */
	enum mt_fn fn;                 /* the one whose argument convention is used */
	char symbol[64];               /* e.g. "malloc" (first name found) */
	char module[256];              /* path as in /proc/PID/maps */
	uint64_t file_offset;          /* where the entry's bytes are in that file */
	unsigned char orig[MT_MAX_ORIG];  /* the entry's bytes as the ELF file has them */
};

struct mt_alloc_set {
	struct mt_hook_spec hooks[MT_MAX_HOOKS];
	int n;
	char allocator[256];           /* module that defines malloc: "libc.so.6", "libjemalloc.so.2", ... */
};

/* 0, or -MT_E_NO_ALLOCATOR when no malloc/free definition is found, or
 * another negative enum mt_err.  The target need not be stopped, but its
 * link map should be stable (all threads stopped is best). */
int mt_discover_allocators(pid_t pid, struct mt_alloc_set *out);

#endif
