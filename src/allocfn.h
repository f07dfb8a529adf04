/* The allocator entry points memtrace hooks, and how to read each one's
 * arguments.  One table (allocfn.c) serves discovery, the engines and the
 * reports.
 */
#ifndef MT_ALLOCFN_H
#define MT_ALLOCFN_H

#include <stdbool.h>

#define MT_FN_LIST(X)                                                         \
	/* id                 symbol name           engine needs the result */ \
	X(MALLOC,             "malloc",             true)                     \
	X(CALLOC,             "calloc",             true)                     \
	X(REALLOC,            "realloc",            true)                     \
	X(REALLOCARRAY,       "reallocarray",       true)                     \
	X(FREE,               "free",               false)                    \
	X(POSIX_MEMALIGN,     "posix_memalign",     true)                     \
	X(ALIGNED_ALLOC,      "aligned_alloc",      true)                     \
	X(MEMALIGN,           "memalign",           true)                     \
	X(VALLOC,             "valloc",             true)                     \
	X(PVALLOC,            "pvalloc",            true)                     \
	X(FREE_SIZED,         "free_sized",         false)                    \
	X(FREE_ALIGNED_SIZED, "free_aligned_sized", false)

enum mt_fn {
#define MT_X(id, name, ret) MT_FN_##id,
	MT_FN_LIST(MT_X)
#undef MT_X
	MT_FN__COUNT
};

const char *mt_fn_name(enum mt_fn fn);
/* true when the engine must see the return value (all but the frees) */
bool mt_fn_needs_return(enum mt_fn fn);
/* MT_FN__COUNT when NAME is not a hooked entry point */
enum mt_fn mt_fn_from_name(const char *name);

#endif
