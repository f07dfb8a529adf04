/* libstk_private.so: a library with an allocator of its own (malloc and
 * free over a static arena, as a JNI library linking its own allocator
 * does).  Loaded with RTLD_DEEPBIND after memtrace attached, its own calls
 * to malloc bind to this one, which never reaches glibc's: memtrace sees
 * them only if it hooks the allocator the library brought. */
#include <stddef.h>
#include <stdlib.h>

#include "stk.h"

int plugin_line_malloc;

static _Alignas(16) unsigned char arena[1 << 16];
static size_t used;

void *malloc(size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size > sizeof arena - used)
		return NULL;
	void *p = arena + used;
	used += size;
	return p;
}

void free(void *p)
{
	(void)p; /* a bump allocator: nothing comes back */
}

void *lib_alloc(size_t size);

NOINLINE void *lib_alloc(size_t size)
{
	void *p = malloc(size); plugin_line_malloc = __LINE__;

	if (!p)
		abort();
	return p;
}
