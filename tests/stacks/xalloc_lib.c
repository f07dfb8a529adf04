/* libstk_xalloc.so, stripped (objcopy --strip-all keeps .dynsym): an
 * exported xmalloc, one of memtrace's default wrappers, whose work is done
 * by a static helper that no symbol names once stripped, as postgres'
 * palloc calls its static AllocSetAlloc. */
#include <stdlib.h>

void *xmalloc(size_t size);

/* The check after the call keeps it from being a tail call. */
__attribute__((noinline)) static void *xalloc_grow(size_t size)
{
	void *p = malloc(size);

	if (!p)
		abort();
	return p;
}

__attribute__((noinline)) void *xmalloc(size_t size)
{
	void *p = xalloc_grow(size);

	if (!p)
		abort();
	return p;
}
