/* Allocator discovery: which definitions of malloc & co the process really
 * calls, resolved the way the dynamic linker binds them (the link-map search
 * order read from the target's r_debug, first definition wins), so a
 * preloaded or statically linked jemalloc/tcmalloc/mimalloc is the one found.
 * Aliases at one address become one hook that serves all its names.
 *
 * Modules are opened through /proc/PID/map_files/START-END, falling back to
 * /proc/PID/root/PATH, so containers and deleted binaries work.  Uses libelf;
 * reads target memory through memio.h (no ptrace calls of its own).  Never
 * prints: errors are enum mt_err values (errors.h).
 */
#ifndef MT_DISCOVER_H
#define MT_DISCOVER_H

#include <stdint.h>
#include <sys/types.h>

#include "model/allocfn.h"
#include "util/errors.h"
#include "util/progress.h"

#define MT_MAX_HOOKS 64    /* jemalloc: 10 C entries, 20 C++ operators, its *allocx */
#define MT_MAX_ORIG  16   /* code bytes kept from the ELF file per hook */

struct mt_hook_spec {
	uint64_t addr;                 /* runtime address of the entry */
	struct mt_fn_set fn_mask;      /* every enum mt_fn bound here */
	enum mt_fn fn;                 /* the one whose argument convention is used:
	                                * memalign for glibc's memalign+aligned_alloc */
	char symbol[64];               /* mt_fn_name(fn), e.g. "malloc" */
	char module[256];              /* path as in /proc/PID/maps */
	uint64_t file_offset;          /* where the entry's bytes are in that file */
	uint64_t nothrow_addr;         /* a throwing operator new: the entry of its
	                                * nothrow form in the same module (allocfn.h) */
	unsigned char orig[MT_MAX_ORIG];  /* the entry's bytes as the ELF file has them */
};

struct mt_alloc_set {
	struct mt_hook_spec hooks[MT_MAX_HOOKS];
	int n;
	char allocator[256];           /* path of the module that defines malloc, as
	                                * in maps: "/usr/lib/x86_64-linux-gnu/libc.so.6" */
	/* allocation entries of the allocator's module that some module binds
	 * to and no hook serves, comma-separated: "xallocx,mi_heap_malloc" */
	char unhooked[256];
};

/* MT_E_OK when /proc/PID/exe is a 64-bit x86_64 ELF file;
 * MT_E_UNSUPPORTED_ARCH for ELFCLASS32 (i386, x32) or another e_machine;
 * MT_E_NO_PROCESS, MT_E_NOT_TRACEABLE (no executable: kernel thread,
 * zombie), MT_E_PERMISSION or MT_E_IO when it cannot be opened. */
enum mt_err mt_discover_check_arch(pid_t pid);

/* Fills OUT: hooks sorted by fn, each with its runtime address, file offset
 * and the 16 bytes the ELF file has there.  MT_E_OK, or MT_E_NO_ALLOCATOR
 * when no hookable malloc or free definition is found (e.g. a stripped
 * static binary, or a process stopped before ld.so loaded libc), or
 * MT_E_UNSUPPORTED_ARCH (mt_discover_check_arch is called first), or
 * another enum mt_err; OUT is zeroed on error.  The target need not
 * be stopped, but its link map should be stable (all threads stopped is
 * best).  A library that cannot be opened is skipped. */
enum mt_err mt_discover_allocators(pid_t pid, struct mt_alloc_set *out);
/* The same, with the progress line of the modules read (util/progress.h;
 * NULL: none): a JVM maps hundreds. */
enum mt_err mt_discover_allocators_progress(pid_t pid, struct mt_alloc_set *out,
					    struct mt_progress *progress);

/* Every allocator entry point the module mapped from PATH defines, bound to
 * or not: for a library loaded after attach, whose own calls (symbolic or
 * RTLD_DEEPBIND binding) or dlsym lookups may reach them.  MT_E_OK (OUT->n
 * may be 0), or another enum mt_err. */
enum mt_err mt_discover_module_allocators(pid_t pid, const char *path,
					  struct mt_alloc_set *out);

/* Symbols to find by name in the .dynsym of every module mapped executable
 * whose file name contains PATH_PART (NULL: every one), in map order, the
 * first definition winning: ADDR (runtime), SIZE and MODULE (its path) are
 * filled for those found, ADDR 0 for the others.  Returns how many were
 * found. */
struct mt_sym_want {
	const char *name;
	uint64_t addr, size;
	char module[256];
};
int mt_discover_symbols(pid_t pid, const char *path_part, struct mt_sym_want *want, int n);

#endif
