/* Which frames of a stack belong to the allocator and its wrappers.  A site
 * is named by the first frame outside them: for
 *
 *     malloc <- operator new(unsigned long) <- Foo::make() <- main
 *
 * the site is Foo::make(), and with `--wrapper 'Foo::make*'` it is main.
 *
 * A pattern is an fnmatch(3) glob without flags ('*' also crosses "::" and
 * '/').  A function name matches when a pattern equals it, or globs it, in
 * either of two forms: the demangled name as the symbolizer gives it, and
 * the same name without its parameter list, the cv/ref qualifiers after it
 * and GCC's " [clone .cold]"-style suffixes.  So "my_xmalloc" matches
 * "my_xmalloc(unsigned long)", "operator new" matches every global operator
 * new, and a literal "operator new[](unsigned long)" matches itself although
 * fnmatch would read its "[]" as a bracket expression.  A return type in
 * front of a template function's name is kept ("int* make<int>(int)" loses
 * only "(int)"), so such a name wants a leading '*' in its pattern.
 *
 * The default list.  Exact names unless they contain '*'.
 *
 *   glibc, public names:  malloc calloc realloc reallocarray free cfree
 *       posix_memalign aligned_alloc memalign valloc pvalloc free_sized
 *       free_aligned_sized
 *   glibc, the names its symbol tables also give those entry points
 *   (aliases at the same address; which one a lookup returns depends on the
 *   symbol table read):  __libc_malloc __libc_calloc __libc_realloc
 *       __libc_reallocarray __libc_free __libc_memalign __libc_valloc
 *       __libc_pvalloc __libc_aligned_alloc __posix_memalign _mid_memalign
 *       __GI___libc_malloc __GI___libc_calloc __GI___libc_realloc
 *       __GI___libc_reallocarray __GI___libc_free __GI___libc_memalign
 *       __GI___posix_memalign __malloc __free __cfree __realloc __calloc
 *       __memalign __valloc __pvalloc, and the static fast-path splits of
 *       newer glibc __libc_malloc2 __libc_calloc2
 *     Not "__libc_*": that would also swallow __libc_start_main,
 *     __libc_start_call_main, __libc_read and the like.
 *   glibc internals reached from an entry point (frames only when memtrace
 *   stops inside them):  _int_malloc _int_free _int_free_chunk
 *       _int_free_merge_chunk _int_realloc _int_memalign sysmalloc
 *       malloc_consolidate malloc_hook_ini realloc_hook_ini
 *       memalign_hook_ini tcache_init
 *   libc_malloc_debug.so:  __debug_malloc __debug_calloc __debug_realloc
 *       __debug_free __debug_memalign __debug_posix_memalign
 *       __debug_aligned_alloc __debug_valloc __debug_pvalloc
 *   jemalloc (prefixed and unprefixed non-standard API):  je_malloc
 *       je_calloc je_realloc je_free je_posix_memalign je_aligned_alloc
 *       je_memalign je_valloc je_pvalloc je_mallocx je_rallocx je_xallocx
 *       je_dallocx je_sdallocx je_sdallocx_noflags je_free_sized
 *       je_free_aligned_sized mallocx rallocx xallocx dallocx sdallocx
 *   tcmalloc (gperftools and Google's):  tc_malloc tc_calloc tc_realloc
 *       tc_free tc_cfree tc_memalign tc_posix_memalign tc_valloc tc_pvalloc
 *       tc_free_sized tc_malloc_skip_new_handler tc_new* tc_delete*
 *       TCMallocInternal*
 *   mimalloc:  mi_malloc* mi_zalloc* mi_calloc* mi_realloc* mi_recalloc*
 *       mi_rezalloc* mi_expand mi_free* mi_cfree mi_new* mi_heap_malloc*
 *       mi_heap_zalloc* mi_heap_calloc* mi_heap_realloc* mi_heap_recalloc*
 *       mi_heap_rezalloc* mi_heap_strdup mi_heap_strndup mi_heap_realpath
 *       mi_strdup mi_strndup mi_realpath mi_posix_memalign mi_memalign
 *       mi_valloc mi_pvalloc mi_aligned_alloc mi_aligned_recalloc
 *       mi_aligned_offset_recalloc mi_reallocarray mi_reallocarr
 *   C++ global operator new and delete, libstdc++ and libc++, every variant
 *   (plain, [], sized, std::align_val_t, std::nothrow_t const&):
 *     demangled, through the name without its parameters:  "operator new"
 *       "operator new[]" "operator delete" "operator delete[]", which match
 *       "operator new(unsigned long)",
 *       "operator new[](unsigned long, std::align_val_t)",
 *       "operator new(unsigned long, std::nothrow_t const&)",
 *       "operator delete(void*, unsigned long)" and the rest; a class's own
 *       "Foo::operator new(unsigned long)" is not matched.
 *     mangled (a symbolizer that does not demangle):  _Znw* _Zna* _Zdl*
 *       _Zda*  (_Znwm _Znam _ZnwmSt11align_val_t _ZnwmRKSt9nothrow_t _ZdlPv
 *       _ZdlPvm _ZdaPv _ZdlPvSt11align_val_t ...)
 *   string duplication:  strdup strndup __strdup __strndup __GI___strdup
 *       __GI___strndup wcsdup __wcsdup
 *
 * Well-known wrappers of programs and libraries (in the default list but
 * for mt_wrappers_new_with(false), --no-default-wrappers):
 *   CPython:  PyMem_* _PyMem_* PyObject_Malloc PyObject_Calloc
 *       PyObject_Realloc PyObject_Free _PyObject_Malloc _PyObject_Calloc
 *       _PyObject_Realloc _PyObject_Free pymalloc_alloc pymalloc_realloc
 *       _PyObject_New _PyObject_NewVar _PyObject_GC_New _PyObject_GC_NewVar
 *       _PyObject_GC_Malloc _PyObject_GC_Calloc _PyObject_GC_Resize gc_alloc
 *       PyType_GenericAlloc _PyType_AllocNoTrack
 *   redis:  zmalloc* zcalloc* zrealloc* ztrymalloc* ztrycalloc* ztryrealloc*
 *       zstrdup zfree*
 *   nginx:  ngx_alloc ngx_calloc ngx_memalign ngx_palloc ngx_pnalloc
 *       ngx_pcalloc ngx_pmemalign ngx_palloc_small ngx_palloc_large
 *       ngx_palloc_block
 *   glib:  g_malloc* g_try_malloc* g_realloc* g_try_realloc* g_slice_*
 *       g_strdup g_strndup g_memdup g_memdup2
 *   PostgreSQL's memory contexts:  palloc* repalloc* MemoryContextAlloc*
 *       AllocSet* GenerationAlloc GenerationRealloc SlabAlloc SlabRealloc
 *       BumpAlloc BumpRealloc pstrdup pnstrdup MemoryContextStrdup
 *   the xmalloc family (gnulib, libiberty, git, ...), exact names:  xmalloc
 *       xcalloc xrealloc xreallocarray xzalloc xnmalloc xnrealloc x2realloc
 *       x2nrealloc xcharalloc xmemdup xmemdup0 xstrdup xstrndup ximalloc
 *       xizalloc xicalloc xirealloc xireallocarray xinmalloc ximemdup
 *       ximemdup0
 *
 * Not wrappers: the introspection and tuning calls that never allocate for
 * the caller (malloc_usable_size malloc_info malloc_stats malloc_trim
 * mallopt mallinfo mallinfo2), and look-alikes such as "mallocinfo" or a
 * program's own "my_xmalloc", which takes --wrapper.
 *
 * A function of a stripped module has no name but the one the symbolizer
 * makes from its .eh_frame FDE, "FILE+0xSTART" (symbolize.h).  A pattern
 * [DIR/]FILE+[0x]HEX without glob characters names such a function: it is
 * kept as FILE+0xHEX, lowercase, without leading zeros, so that
 * "/usr/lib/postgresql/15/bin/postgres+0x5C7800", "postgres+5c7800" and
 * "postgres+0x005c7800" all match "postgres+0x5c7800".
 *
 * Pure: no I/O. */
#ifndef MT_WRAPPERS_H
#define MT_WRAPPERS_H

#include <stdbool.h>

struct mt_wrappers;

/* With the default list.  NULL when out of memory. */
struct mt_wrappers *mt_wrappers_new(void);
/* With the allocator's own names, and the well-known program wrappers
 * when PROGRAMS.  NULL when out of memory. */
struct mt_wrappers *mt_wrappers_new_with(bool programs);
/* Accepts NULL. */
void mt_wrappers_destroy(struct mt_wrappers *w);
/* A user's --wrapper pattern (copied; a MODULE+OFFSET one in its usual
 * form, see above).  0; -EINVAL for a NULL or empty pattern; -ENOMEM. */
int mt_wrappers_add(struct mt_wrappers *w, const char *glob);
/* Whether FUNCTION (a demangled name) is the allocator or a wrapper.  false
 * for NULL and "": a frame without a name (JIT code no perf map names) is never a
 * wrapper. */
bool mt_wrappers_match(const struct mt_wrappers *w, const char *function);
/* Index of the first of FUNCTIONS[0..N) (innermost first) that is not
 * matched, nor a run of frames without a name ("", NULL or FILE+0xHEX)
 * that a matched frame called: in a stripped postgres,
 *
 *     malloc <- postgres+0x5c7800 (AllocSetAlloc, static) <- palloc <- f
 *
 * names f.  N-1 when all are; 0 when N <= 0.  A frame without a name is
 * not a wrapper by itself: "malloc <- [stripped] <- main" names the
 * stripped frame. */
int mt_wrappers_site_index(const struct mt_wrappers *w, const char *const *functions, int n);

#endif
