#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/wrappers.h"

/* The default list; wrappers.h says what each group is and why "__libc_*"
 * is spelled out. */
static const char *const default_patterns[] = {
	/* glibc, public */
	"malloc", "calloc", "realloc", "reallocarray", "free", "cfree",
	"posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
	"free_sized", "free_aligned_sized",
	/* glibc, aliases of the entry points */
	"__libc_malloc", "__libc_calloc", "__libc_realloc", "__libc_reallocarray",
	"__libc_free", "__libc_memalign", "__libc_valloc", "__libc_pvalloc",
	"__libc_aligned_alloc", "__posix_memalign", "_mid_memalign",
	"__GI___libc_malloc", "__GI___libc_calloc", "__GI___libc_realloc",
	"__GI___libc_reallocarray", "__GI___libc_free", "__GI___libc_memalign",
	"__GI___posix_memalign", "__malloc", "__free", "__cfree", "__realloc",
	"__calloc", "__memalign", "__valloc", "__pvalloc",
	"__libc_malloc2", "__libc_calloc2",
	/* glibc, internals */
	"_int_malloc", "_int_free", "_int_free_chunk", "_int_free_merge_chunk",
	"_int_realloc", "_int_memalign", "sysmalloc", "malloc_consolidate",
	"malloc_hook_ini", "realloc_hook_ini", "memalign_hook_ini", "tcache_init",
	/* libc_malloc_debug.so */
	"__debug_malloc", "__debug_calloc", "__debug_realloc", "__debug_free",
	"__debug_memalign", "__debug_posix_memalign", "__debug_aligned_alloc",
	"__debug_valloc", "__debug_pvalloc",
	/* jemalloc */
	"je_malloc", "je_calloc", "je_realloc", "je_free", "je_posix_memalign",
	"je_aligned_alloc", "je_memalign", "je_valloc", "je_pvalloc", "je_mallocx",
	"je_rallocx", "je_xallocx", "je_dallocx", "je_sdallocx", "je_sdallocx_noflags",
	"je_free_sized", "je_free_aligned_sized",
	"mallocx", "rallocx", "xallocx", "dallocx", "sdallocx",
	/* tcmalloc */
	"tc_malloc", "tc_calloc", "tc_realloc", "tc_free", "tc_cfree", "tc_memalign",
	"tc_posix_memalign", "tc_valloc", "tc_pvalloc", "tc_free_sized",
	"tc_malloc_skip_new_handler", "tc_new*", "tc_delete*", "TCMallocInternal*",
	/* mimalloc */
	"mi_malloc*", "mi_zalloc*", "mi_calloc*", "mi_realloc*", "mi_recalloc*",
	"mi_rezalloc*", "mi_expand", "mi_free*", "mi_cfree", "mi_new*",
	"mi_heap_malloc*", "mi_heap_zalloc*", "mi_heap_calloc*", "mi_heap_realloc*",
	"mi_heap_recalloc*", "mi_heap_rezalloc*", "mi_heap_strdup", "mi_heap_strndup",
	"mi_heap_realpath", "mi_strdup", "mi_strndup", "mi_realpath",
	"mi_posix_memalign", "mi_memalign", "mi_valloc", "mi_pvalloc",
	"mi_aligned_alloc", "mi_aligned_recalloc", "mi_aligned_offset_recalloc",
	"mi_reallocarray", "mi_reallocarr",
	/* C++ global operator new/delete: demangled without parameters, and
	 * mangled (_Znwm, _ZnamRKSt9nothrow_t, _ZdlPvmSt11align_val_t, ...) */
	"operator new", "operator new[]", "operator delete", "operator delete[]",
	"_Znw*", "_Zna*", "_Zdl*", "_Zda*",
	/* The C++ standard library's own layers between user code and operator
	 * new (std::__new_allocator<T>::allocate, std::vector<T>::_M_realloc_insert,
	 * std::__cxx11::basic_string<...>::_M_create, ...): a vector or string
	 * that grows is the user's call, not libstdc++'s.  Template functions
	 * demangle with their return type first, hence the second form. */
	"std::*", "* std::*", "__gnu_cxx::*", "* __gnu_cxx::*",
	/* string duplication */
	"strdup", "strndup", "__strdup", "__strndup", "__GI___strdup",
	"__GI___strndup", "wcsdup", "__wcsdup",
};

/* Well-known wrappers of programs and libraries around the allocator, in
 * the default list unless --no-default-wrappers (wrappers.h). */
static const char *const program_patterns[] = {
	/* CPython: the PyMem_ and PyObject_ allocator layers (pymalloc) and
	 * the object allocation helpers on top of them */
	"PyMem_*", "_PyMem_*", "PyObject_Malloc", "PyObject_Calloc",
	"PyObject_Realloc", "PyObject_Free", "_PyObject_Malloc", "_PyObject_Calloc",
	"_PyObject_Realloc", "_PyObject_Free", "pymalloc_alloc", "pymalloc_realloc",
	"_PyObject_New", "_PyObject_NewVar", "_PyObject_GC_New", "_PyObject_GC_NewVar",
	"_PyObject_GC_Malloc", "_PyObject_GC_Calloc", "_PyObject_GC_Resize", "gc_alloc",
	"PyType_GenericAlloc", "_PyType_AllocNoTrack",
	/* redis (zmalloc.c) */
	"zmalloc*", "zcalloc*", "zrealloc*", "ztrymalloc*", "ztrycalloc*",
	"ztryrealloc*", "zstrdup", "zfree*",
	/* nginx (ngx_alloc.c, ngx_palloc.c) */
	"ngx_alloc", "ngx_calloc", "ngx_memalign", "ngx_palloc", "ngx_pnalloc",
	"ngx_pcalloc", "ngx_pmemalign", "ngx_palloc_small", "ngx_palloc_large",
	"ngx_palloc_block",
	/* glib */
	"g_malloc*", "g_try_malloc*", "g_realloc*", "g_try_realloc*", "g_slice_*",
	"g_strdup", "g_strndup", "g_memdup", "g_memdup2",
	/* PostgreSQL's memory contexts */
	"palloc*", "repalloc*", "MemoryContextAlloc*", "AllocSet*", "GenerationAlloc",
	"GenerationRealloc", "SlabAlloc", "SlabRealloc", "BumpAlloc", "BumpRealloc",
	"pstrdup", "pnstrdup", "MemoryContextStrdup",
	/* xmalloc and friends (gnulib's xalloc.h, libiberty, git, ...): exact
	 * names, so that a program's own "my_xmalloc" is not taken */
	"xmalloc", "xcalloc", "xrealloc", "xreallocarray", "xzalloc", "xnmalloc",
	"xnrealloc", "x2realloc", "x2nrealloc", "xcharalloc", "xmemdup", "xmemdup0",
	"xstrdup", "xstrndup", "ximalloc", "xizalloc", "xicalloc", "xirealloc",
	"xireallocarray", "xinmalloc", "ximemdup", "ximemdup0",
};

/* A pattern with any of these is tried with fnmatch() as well as compared;
 * one without is only compared, by binary search. */
#define GLOB_CHARS "*?[\\"

struct glob {
	char *pattern;
	size_t prefix;             /* bytes before its first GLOB_CHARS */
};

struct mt_wrappers {
	char **names;              /* exact names, sorted by strcmp */
	size_t nnames, capnames;
	struct glob *globs;
	size_t nglobs, capglobs;
};

static int add_name(struct mt_wrappers *w, char *s)
{
	/* Insertion sort: a few hundred names, once at start-up. */
	size_t lo = 0, hi = w->nnames;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(w->names[mid], s);
		if (c == 0) {
			free(s);           /* already there */
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (w->nnames == w->capnames) {
		size_t cap = w->capnames ? w->capnames * 2 : 128;
		char **v = realloc(w->names, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		w->names = v;
		w->capnames = cap;
	}
	memmove(&w->names[lo + 1], &w->names[lo], (w->nnames - lo) * sizeof *w->names);
	w->names[lo] = s;
	w->nnames++;
	return 0;
}

static int add_glob(struct mt_wrappers *w, char *s)
{
	if (w->nglobs == w->capglobs) {
		size_t cap = w->capglobs ? w->capglobs * 2 : 32;
		struct glob *v = realloc(w->globs, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		w->globs = v;
		w->capglobs = cap;
	}
	w->globs[w->nglobs++] = (struct glob){ s, strcspn(s, GLOB_CHARS) };
	return 0;
}

/* "FILE+0xSTART" for a pattern of the form [DIR/]FILE+[0x]HEX without glob
 * characters (a function of a stripped module, as the symbolizer names
 * it); NULL for any other pattern, or when out of memory. */
static char *location_name(const char *pattern)
{
	const char *plus = strrchr(pattern, '+');
	if (!plus || pattern[strcspn(pattern, GLOB_CHARS)])
		return NULL;
	const char *file = pattern;
	for (const char *p = pattern; p < plus; p++)
		if (*p == '/')
			file = p + 1;
	const char *hex = plus + 1;
	if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
		hex += 2;
	size_t nfile = (size_t)(plus - file), nhex = strlen(hex);
	if (nfile == 0 || nhex == 0 || nhex > 16 || hex[strspn(hex, "0123456789abcdefABCDEF")])
		return NULL;
	unsigned long long start = strtoull(hex, NULL, 16);
	size_t len = nfile + 20;
	char *name = malloc(len);
	if (name)
		snprintf(name, len, "%.*s+0x%llx", (int)nfile, file, start);
	return name;
}

int mt_wrappers_add(struct mt_wrappers *w, const char *glob)
{
	if (!glob || !*glob)
		return -EINVAL;
	char *s = location_name(glob);
	if (!s)
		s = strdup(glob);
	if (!s)
		return -ENOMEM;
	int err = s[strcspn(s, GLOB_CHARS)] ? add_glob(w, s) : add_name(w, s);
	if (err < 0)
		free(s);
	return err;
}

static int add_all(struct mt_wrappers *w, const char *const *patterns, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err = mt_wrappers_add(w, patterns[i]);
		if (err < 0)
			return err;
	}
	return 0;
}

struct mt_wrappers *mt_wrappers_new_with(bool programs)
{
	struct mt_wrappers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	if (add_all(w, default_patterns, sizeof default_patterns / sizeof *default_patterns) < 0 ||
	    (programs && add_all(w, program_patterns,
				 sizeof program_patterns / sizeof *program_patterns) < 0)) {
		mt_wrappers_destroy(w);
		return NULL;
	}
	return w;
}

struct mt_wrappers *mt_wrappers_new(void)
{
	return mt_wrappers_new_with(true);
}

void mt_wrappers_destroy(struct mt_wrappers *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nnames; i++)
		free(w->names[i]);
	for (size_t i = 0; i < w->nglobs; i++)
		free(w->globs[i].pattern);
	free(w->names);
	free(w->globs);
	free(w);
}

static bool ends_with_word(const char *s, size_t e, const char *word)
{
	size_t n = strlen(word);
	return e > n && memcmp(s + e - n, word, n) == 0 &&
	       (s[e - n - 1] == ' ' || s[e - n - 1] == ')');
}

/* The length of NAME's first LEN bytes without the parameter list of the
 * function it names, or LEN when there is none.  Demangled names look like
 *
 *     operator new[](unsigned long, std::align_val_t)
 *     Foo::get() const &&
 *     main::{lambda(int)#1}::operator()(int) const
 *     (anonymous namespace)::parse(char const*) [clone .constprop.0]
 *
 * and become "operator new[]", "Foo::get", "main::{lambda(int)#1}::operator()"
 * and "(anonymous namespace)::parse": drop GCC's clone suffixes and the
 * cv/ref qualifiers, then the parenthesised group that ends the name. */
static size_t without_params(const char *name, size_t len)
{
	size_t e = len;
	for (;;) {
		while (e > 0 && name[e - 1] == ' ')
			e--;
		if (e > 0 && name[e - 1] == ']') {
			size_t i = e - 1;
			while (i > 0 && name[i] != '[')
				i--;
			if (name[i] == '[' && e - i > 7 && memcmp(name + i, "[clone ", 7) == 0) {
				e = i;
				continue;
			}
			break;
		}
		if (e > 0 && name[e - 1] == '&') {
			e--;
			continue;
		}
		if (ends_with_word(name, e, "const")) {
			e -= 5;
			continue;
		}
		if (ends_with_word(name, e, "volatile")) {
			e -= 8;
			continue;
		}
		break;
	}
	if (e == 0 || name[e - 1] != ')')
		return len;
	size_t depth = 0;
	for (size_t i = e; i-- > 0;) {
		if (name[i] == ')')
			depth++;
		else if (name[i] == '(' && --depth == 0)
			return i > 0 ? i : len;
	}
	return len;
}

/* Whether NAME[0..LEN) is one of the sorted exact names. */
static bool exact(const struct mt_wrappers *w, const char *name, size_t len)
{
	size_t lo = 0, hi = w->nnames;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s = w->names[mid];
		int c = strncmp(s, name, len);
		if (c == 0)
			c = s[len] != '\0';   /* S is longer: it sorts after */
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool globbed(const struct mt_wrappers *w, const char *name)
{
	for (size_t i = 0; i < w->nglobs; i++) {
		const struct glob *g = &w->globs[i];
		if (strncmp(name, g->pattern, g->prefix) != 0)
			continue;
		if (strcmp(name, g->pattern) == 0 || fnmatch(g->pattern, name, 0) == 0)
			return true;
	}
	return false;
}

bool mt_wrappers_match(const struct mt_wrappers *w, const char *function)
{
	if (!function || !*function)
		return false;
	size_t len = strlen(function);
	if (exact(w, function, len) || globbed(w, function))
		return true;
	size_t short_len = without_params(function, len);
	if (short_len == len)
		return false;
	if (exact(w, function, short_len))
		return true;
	if (!w->nglobs)
		return false;

	char buf[256], *name = buf;
	if (short_len >= sizeof buf && !(name = malloc(short_len + 1)))
		return false;
	memcpy(name, function, short_len);
	name[short_len] = '\0';
	bool hit = globbed(w, name);
	if (name != buf)
		free(name);
	return hit;
}

/* Whether NAME is no symbol's: unknown, or the FILE+0xHEX the symbolizer
 * makes for a function of a stripped module. */
static bool unnamed(const char *name)
{
	if (!name || !name[0])
		return true;
	const char *plus = strstr(name, "+0x");
	if (!plus || plus == name || name[strcspn(name, " (")] != '\0')
		return false;
	const char *hex = plus + 3;
	return hex[0] && !hex[strspn(hex, "0123456789abcdef")];
}

int mt_wrappers_site_index(const struct mt_wrappers *w, const char *const *functions, int n)
{
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++) {
		if (mt_wrappers_match(w, functions[i]))
			continue;
		/* Frames without a name that a wrapper called (a stripped
		 * library's static helpers: malloc <- [AllocSetAlloc] <-
		 * palloc) are the wrapper's own. */
		int j = i;
		while (j < n && unnamed(functions[j]))
			j++;
		if (j == i || j == n || !mt_wrappers_match(w, functions[j]))
			return i;
		i = j;
	}
	return n - 1;
}
