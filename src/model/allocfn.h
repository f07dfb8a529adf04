/* The allocator entry points memtrace hooks, and how to read each one's
 * arguments.  One table (allocfn.c) serves discovery, the engines, the
 * agent and the reports.
 *
 * Each entry has a calling convention (abi: the agent stub that serves it,
 * and what the bp engine reads), a size rule (which arguments give the
 * bytes asked for) and a family, which tells discovery when to hook it:
 *
 *   C    the C library's names: hooked wherever the program binds them.
 *   CXX  operator new/delete (Itanium mangling, x86_64 size_t = m): hooked
 *        where the allocator library (jemalloc, tcmalloc, mimalloc) or the
 *        program defines them; libstdc++'s and libc++'s call malloc, which
 *        is hooked, so theirs are left alone (nothing more to see).
 *   EXT  an allocator's own API (jemalloc *allocx, tcmalloc tc_*, mimalloc
 *        mi_*): hooked when some module binds to the name (an undefined
 *        dynamic symbol), or when it is an alias of a hooked entry.
 *   PY   CPython's allocator API (PyObject_* and PyMem_*, which pymalloc
 *        serves up to 512 bytes from arenas of its own, so malloc never
 *        sees those blocks): hooked wherever the runtime defines them, a
 *        libpython3.X.so or the python executable (Debian's is linked
 *        with libpython statically and exports them).  A larger request
 *        calls malloc inside: nested, one call.  PyMem_Raw* only call
 *        malloc and are left alone.
 *   PYTAB the functions CPython's allocator tables (PyMemAllocatorEx, the
 *        OBJ and MEM domains) point to, context first: never hooked by
 *        name, but by pointing the table's entries at trampolines
 *        (engine/inj_pytab.c), so that the calls an LTO build inlined
 *        the PY entries into are seen too.
 *
 * Names at one address become one hook (tcmalloc's free == _ZdlPv ==
 * tc_free); their conventions agree, as C aliases must.
 */
#ifndef MT_ALLOCFN_H
#define MT_ALLOCFN_H

#include <stdbool.h>
#include <stdint.h>

/* How the arguments and the result are read (one agent stub each). */
enum mt_fn_abi {
	MT_ABI_ALLOC1,          /* p = f(a0)            malloc, new              */
	MT_ABI_ALLOC2,          /* p = f(a0, a1)        calloc, memalign, mallocx */
	MT_ABI_ALLOC3,          /* p = f(a0, a1, a2)    new(size, al, nothrow)   */
	MT_ABI_REALLOC2,        /* q = f(p, a1)         realloc                  */
	MT_ABI_REALLOC3,        /* q = f(p, a1, a2)     reallocarray, rallocx    */
	MT_ABI_POSIX_MEMALIGN,  /* rc = f(&p, al, size)                          */
	MT_ABI_FREE1,           /* f(p)                 free, delete             */
	MT_ABI_FREE2,           /* f(p, a1)             sized delete, dallocx    */
	MT_ABI_FREE3,           /* f(p, a1, a2)         sdallocx                 */
	/* operator new(size[, align]), which throws when it fails: traced by
	 * calling its nothrow form (mt_fn_nothrow), and when that fails, by
	 * running the original with no frame of memtrace's on the stack, so
	 * that its exception unwinds to the program's handler */
	MT_ABI_NEW1,            /* p = f(size)                                    */
	MT_ABI_NEW2,            /* p = f(size, align)                             */
	/* an allocator table's functions whose context comes first (CPython's
	 * PyMemAllocatorEx: ctx, malloc, calloc, realloc, free) */
	MT_ABI_REALLOC_CTX,     /* q = f(ctx, p, a2)                              */
	MT_ABI_FREE_CTX,        /* f(ctx, p)                                      */
	MT_ABI__COUNT
};

/* The bytes asked for, from the arguments. */
enum mt_fn_size {
	MT_SZ_NONE,   /* a free */
	MT_SZ_A0,
	MT_SZ_A1,
	MT_SZ_A2,
	MT_SZ_A0A1,   /* a0 * a1: calloc(n, size) */
	MT_SZ_A1A2,   /* a1 * a2: reallocarray(p, n, size) */
};

enum mt_fn_family { MT_FAM_C, MT_FAM_CXX, MT_FAM_EXT, MT_FAM_PY, MT_FAM_PYTAB };

/* CPython's allocator tables (domains) whose entries MT_FAM_PYTAB hooks */
#define MT_PYTAB_OBJ 1u
#define MT_PYTAB_MEM 2u

#define MT_FN_LIST(X)                                                                          \
	/* id                      symbol name                        abi / size / family */   \
	X(MALLOC,                  "malloc",                          ALLOC1,  A0,   C)        \
	X(CALLOC,                  "calloc",                          ALLOC2,  A0A1, C)        \
	X(REALLOC,                 "realloc",                         REALLOC2, A1,  C)        \
	X(REALLOCARRAY,            "reallocarray",                    REALLOC3, A1A2, C)       \
	X(FREE,                    "free",                            FREE1,   NONE, C)        \
	X(POSIX_MEMALIGN,          "posix_memalign",                  POSIX_MEMALIGN, A2, C)   \
	X(ALIGNED_ALLOC,           "aligned_alloc",                   ALLOC2,  A1,   C)        \
	X(MEMALIGN,                "memalign",                        ALLOC2,  A1,   C)        \
	X(VALLOC,                  "valloc",                          ALLOC1,  A0,   C)        \
	X(PVALLOC,                 "pvalloc",                         ALLOC1,  A0,   C)        \
	X(FREE_SIZED,              "free_sized",                      FREE2,   NONE, C)        \
	X(FREE_ALIGNED_SIZED,      "free_aligned_sized",              FREE3,   NONE, C)        \
	/* operator new (size[, align][, nothrow]) and new[] */                               \
	X(NEW,                     "_Znwm",                           NEW1,    A0,   CXX)      \
	X(NEW_ARRAY,               "_Znam",                           NEW1,    A0,   CXX)      \
	X(NEW_NOTHROW,             "_ZnwmRKSt9nothrow_t",             ALLOC2,  A0,   CXX)      \
	X(NEW_ARRAY_NOTHROW,       "_ZnamRKSt9nothrow_t",             ALLOC2,  A0,   CXX)      \
	X(NEW_ALIGNED,             "_ZnwmSt11align_val_t",            NEW2,    A0,   CXX)      \
	X(NEW_ARRAY_ALIGNED,       "_ZnamSt11align_val_t",            NEW2,    A0,   CXX)      \
	X(NEW_ALIGNED_NOTHROW,     "_ZnwmSt11align_val_tRKSt9nothrow_t", ALLOC3, A0, CXX)      \
	X(NEW_ARRAY_ALIGNED_NOTHROW, "_ZnamSt11align_val_tRKSt9nothrow_t", ALLOC3, A0, CXX)    \
	/* operator delete (p[, size][, align][, nothrow]) and delete[] */                    \
	X(DELETE,                  "_ZdlPv",                          FREE1,   NONE, CXX)      \
	X(DELETE_ARRAY,            "_ZdaPv",                          FREE1,   NONE, CXX)      \
	X(DELETE_SIZED,            "_ZdlPvm",                         FREE2,   NONE, CXX)      \
	X(DELETE_ARRAY_SIZED,      "_ZdaPvm",                         FREE2,   NONE, CXX)      \
	X(DELETE_NOTHROW,          "_ZdlPvRKSt9nothrow_t",            FREE2,   NONE, CXX)      \
	X(DELETE_ARRAY_NOTHROW,    "_ZdaPvRKSt9nothrow_t",            FREE2,   NONE, CXX)      \
	X(DELETE_ALIGNED,          "_ZdlPvSt11align_val_t",           FREE2,   NONE, CXX)      \
	X(DELETE_ARRAY_ALIGNED,    "_ZdaPvSt11align_val_t",           FREE2,   NONE, CXX)      \
	X(DELETE_SIZED_ALIGNED,    "_ZdlPvmSt11align_val_t",          FREE3,   NONE, CXX)      \
	X(DELETE_ARRAY_SIZED_ALIGNED, "_ZdaPvmSt11align_val_t",       FREE3,   NONE, CXX)      \
	X(DELETE_ALIGNED_NOTHROW,  "_ZdlPvSt11align_val_tRKSt9nothrow_t", FREE3, NONE, CXX)    \
	X(DELETE_ARRAY_ALIGNED_NOTHROW, "_ZdaPvSt11align_val_tRKSt9nothrow_t", FREE3, NONE, CXX) \
	/* jemalloc: mallocx(size, flags), rallocx(p, size, flags), */                        \
	/* dallocx(p, flags), sdallocx(p, size, flags) */                                     \
	X(MALLOCX,                 "mallocx",                         ALLOC2,  A0,   EXT)      \
	X(RALLOCX,                 "rallocx",                         REALLOC3, A1,  EXT)      \
	X(DALLOCX,                 "dallocx",                         FREE2,   NONE, EXT)      \
	X(SDALLOCX,                "sdallocx",                        FREE3,   NONE, EXT)      \
	/* tcmalloc (gperftools): tc_* */                                                     \
	X(TC_MALLOC,               "tc_malloc",                       ALLOC1,  A0,   EXT)      \
	X(TC_MALLOC_SKIP_NEW_HANDLER, "tc_malloc_skip_new_handler",   ALLOC1,  A0,   EXT)      \
	X(TC_CALLOC,               "tc_calloc",                       ALLOC2,  A0A1, EXT)      \
	X(TC_REALLOC,              "tc_realloc",                      REALLOC2, A1,  EXT)      \
	X(TC_FREE,                 "tc_free",                         FREE1,   NONE, EXT)      \
	X(TC_CFREE,                "tc_cfree",                        FREE1,   NONE, EXT)      \
	X(TC_FREE_SIZED,           "tc_free_sized",                   FREE2,   NONE, EXT)      \
	X(TC_MEMALIGN,             "tc_memalign",                     ALLOC2,  A1,   EXT)      \
	X(TC_POSIX_MEMALIGN,       "tc_posix_memalign",               POSIX_MEMALIGN, A2, EXT) \
	X(TC_VALLOC,               "tc_valloc",                       ALLOC1,  A0,   EXT)      \
	X(TC_PVALLOC,              "tc_pvalloc",                      ALLOC1,  A0,   EXT)      \
	X(TC_NEW,                  "tc_new",                          NEW1,    A0,   EXT)      \
	X(TC_NEWARRAY,             "tc_newarray",                     NEW1,    A0,   EXT)      \
	X(TC_NEW_NOTHROW,          "tc_new_nothrow",                  ALLOC2,  A0,   EXT)      \
	X(TC_NEWARRAY_NOTHROW,     "tc_newarray_nothrow",             ALLOC2,  A0,   EXT)      \
	X(TC_NEW_ALIGNED,          "tc_new_aligned",                  NEW2,    A0,   EXT)      \
	X(TC_NEWARRAY_ALIGNED,     "tc_newarray_aligned",             NEW2,    A0,   EXT)      \
	X(TC_NEW_ALIGNED_NOTHROW,  "tc_new_aligned_nothrow",          ALLOC3,  A0,   EXT)      \
	X(TC_NEWARRAY_ALIGNED_NOTHROW, "tc_newarray_aligned_nothrow", ALLOC3,  A0,   EXT)      \
	X(TC_DELETE,               "tc_delete",                       FREE1,   NONE, EXT)      \
	X(TC_DELETEARRAY,          "tc_deletearray",                  FREE1,   NONE, EXT)      \
	X(TC_DELETE_SIZED,         "tc_delete_sized",                 FREE2,   NONE, EXT)      \
	X(TC_DELETEARRAY_SIZED,    "tc_deletearray_sized",            FREE2,   NONE, EXT)      \
	X(TC_DELETE_NOTHROW,       "tc_delete_nothrow",               FREE2,   NONE, EXT)      \
	X(TC_DELETEARRAY_NOTHROW,  "tc_deletearray_nothrow",          FREE2,   NONE, EXT)      \
	X(TC_DELETE_ALIGNED,       "tc_delete_aligned",               FREE2,   NONE, EXT)      \
	X(TC_DELETEARRAY_ALIGNED,  "tc_deletearray_aligned",          FREE2,   NONE, EXT)      \
	X(TC_DELETE_SIZED_ALIGNED, "tc_delete_sized_aligned",         FREE3,   NONE, EXT)      \
	X(TC_DELETEARRAY_SIZED_ALIGNED, "tc_deletearray_sized_aligned", FREE3, NONE, EXT)      \
	X(TC_DELETE_ALIGNED_NOTHROW, "tc_delete_aligned_nothrow",     FREE3,   NONE, EXT)      \
	X(TC_DELETEARRAY_ALIGNED_NOTHROW, "tc_deletearray_aligned_nothrow", FREE3, NONE, EXT)  \
	/* mimalloc: mi_* (the heap-less API; mi_heap_* are reported unhooked) */             \
	X(MI_MALLOC,               "mi_malloc",                       ALLOC1,  A0,   EXT)      \
	X(MI_MALLOC_SMALL,         "mi_malloc_small",                 ALLOC1,  A0,   EXT)      \
	X(MI_ZALLOC,               "mi_zalloc",                       ALLOC1,  A0,   EXT)      \
	X(MI_ZALLOC_SMALL,         "mi_zalloc_small",                 ALLOC1,  A0,   EXT)      \
	X(MI_CALLOC,               "mi_calloc",                       ALLOC2,  A0A1, EXT)      \
	X(MI_MALLOCN,              "mi_mallocn",                      ALLOC2,  A0A1, EXT)      \
	X(MI_REALLOC,              "mi_realloc",                      REALLOC2, A1,  EXT)      \
	X(MI_REALLOCN,             "mi_reallocn",                     REALLOC3, A1A2, EXT)     \
	X(MI_REALLOCARRAY,         "mi_reallocarray",                 REALLOC3, A1A2, EXT)     \
	X(MI_FREE,                 "mi_free",                         FREE1,   NONE, EXT)      \
	X(MI_CFREE,                "mi_cfree",                        FREE1,   NONE, EXT)      \
	X(MI_FREE_SIZE,            "mi_free_size",                    FREE2,   NONE, EXT)      \
	X(MI_FREE_ALIGNED,         "mi_free_aligned",                 FREE2,   NONE, EXT)      \
	X(MI_FREE_SIZE_ALIGNED,    "mi_free_size_aligned",            FREE3,   NONE, EXT)      \
	X(MI_MALLOC_ALIGNED,       "mi_malloc_aligned",               ALLOC2,  A0,   EXT)      \
	X(MI_ZALLOC_ALIGNED,       "mi_zalloc_aligned",               ALLOC2,  A0,   EXT)      \
	X(MI_CALLOC_ALIGNED,       "mi_calloc_aligned",               ALLOC3,  A0A1, EXT)      \
	X(MI_REALLOC_ALIGNED,      "mi_realloc_aligned",              REALLOC3, A1,  EXT)      \
	X(MI_MEMALIGN,             "mi_memalign",                     ALLOC2,  A1,   EXT)      \
	X(MI_ALIGNED_ALLOC,        "mi_aligned_alloc",                ALLOC2,  A1,   EXT)      \
	X(MI_POSIX_MEMALIGN,       "mi_posix_memalign",               POSIX_MEMALIGN, A2, EXT) \
	X(MI_VALLOC,               "mi_valloc",                       ALLOC1,  A0,   EXT)      \
	X(MI_PVALLOC,              "mi_pvalloc",                      ALLOC1,  A0,   EXT)      \
	X(MI_NEW,                  "mi_new",                          NEW1,    A0,   EXT)      \
	X(MI_NEW_NOTHROW,          "mi_new_nothrow",                  ALLOC1,  A0,   EXT)      \
	X(MI_NEW_ALIGNED,          "mi_new_aligned",                  NEW2,    A0,   EXT)      \
	X(MI_NEW_ALIGNED_NOTHROW,  "mi_new_aligned_nothrow",          ALLOC2,  A0,   EXT)      \
	/* CPython: PyObject_Calloc(nelem, elsize); the PyMem_ ones alike */                  \
	X(PY_OBJECT_MALLOC,        "PyObject_Malloc",                 ALLOC1,  A0,   PY)       \
	X(PY_OBJECT_CALLOC,        "PyObject_Calloc",                 ALLOC2,  A0A1, PY)       \
	X(PY_OBJECT_REALLOC,       "PyObject_Realloc",                REALLOC2, A1,  PY)       \
	X(PY_OBJECT_FREE,          "PyObject_Free",                   FREE1,   NONE, PY)       \
	X(PY_MEM_MALLOC,           "PyMem_Malloc",                    ALLOC1,  A0,   PY)       \
	X(PY_MEM_CALLOC,           "PyMem_Calloc",                    ALLOC2,  A0A1, PY)       \
	X(PY_MEM_REALLOC,          "PyMem_Realloc",                   REALLOC2, A1,  PY)       \
	X(PY_MEM_FREE,             "PyMem_Free",                      FREE1,   NONE, PY)       \
	/* CPython's tables' functions, ctx first: _PyObject_Malloc(ctx, size) */            \
	/* & co; named by the table's field, as no symbol is */                              \
	X(PYTAB_MALLOC,            "PyMemAllocatorEx.malloc",         ALLOC2,  A1,   PYTAB)    \
	X(PYTAB_CALLOC,            "PyMemAllocatorEx.calloc",         ALLOC3,  A1A2, PYTAB)    \
	X(PYTAB_REALLOC,           "PyMemAllocatorEx.realloc",        REALLOC_CTX, A2, PYTAB)  \
	X(PYTAB_FREE,              "PyMemAllocatorEx.free",           FREE_CTX, NONE, PYTAB)

enum mt_fn {
#define MT_X(id, name, abi, size, fam) MT_FN_##id,
	MT_FN_LIST(MT_X)
#undef MT_X
	MT_FN__COUNT
};

/* A set of enum mt_fn: the names bound at one hook. */
#define MT_FN_SET_WORDS ((MT_FN__COUNT + 63) / 64)
struct mt_fn_set {
	uint64_t w[MT_FN_SET_WORDS];
};

static inline void mt_fn_set_add(struct mt_fn_set *s, enum mt_fn fn)
{
	s->w[(unsigned)fn / 64] |= 1ULL << ((unsigned)fn % 64);
}

static inline bool mt_fn_set_has(const struct mt_fn_set *s, enum mt_fn fn)
{
	return (unsigned)fn < MT_FN__COUNT && (s->w[(unsigned)fn / 64] >> ((unsigned)fn % 64) & 1);
}

/* The bytes RULE reads from the arguments (0 for a free).  A product that
 * overflows is what the allocator refuses: its call fails, no block. */
static inline uint64_t mt_fn_size_of(enum mt_fn_size rule, uint64_t a0, uint64_t a1, uint64_t a2)
{
	switch (rule) {
	case MT_SZ_A0:
		return a0;
	case MT_SZ_A1:
		return a1;
	case MT_SZ_A2:
		return a2;
	case MT_SZ_A0A1:
		return a0 * a1;
	case MT_SZ_A1A2:
		return a1 * a2;
	default:
		return 0;
	}
}

const char *mt_fn_name(enum mt_fn fn);
enum mt_fn_abi mt_fn_abi(enum mt_fn fn);
enum mt_fn_size mt_fn_size(enum mt_fn fn);
enum mt_fn_family mt_fn_family(enum mt_fn fn);
/* A free: its record is published before the real call, nothing after */
bool mt_fn_is_free(enum mt_fn fn);
/* realloc's convention: the old block in a0, announced before the call */
bool mt_fn_is_realloc(enum mt_fn fn);
/* true when the breakpoint engine must see the call return: the
 * allocations for their result, and the C++ and extended frees for the
 * frees they make inside (jemalloc's operator delete jumps to free), which
 * must count as one call */
bool mt_fn_needs_return(enum mt_fn fn);
/* The nothrow form of a throwing operator new (abi NEW1, NEW2), with the
 * same arguments then a nothrow_t reference (mimalloc's ignore it); else
 * MT_FN__COUNT.  A throwing operator new is hooked only where its module
 * defines this form too. */
enum mt_fn mt_fn_nothrow(enum mt_fn fn);
/* MT_FN__COUNT when NAME is not a hooked entry point */
enum mt_fn mt_fn_from_name(const char *name);

#endif
