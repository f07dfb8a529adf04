#include <stdlib.h>
#include <string.h>

#include "wrapper.h"

int line_xmalloc, line_xstrdup;

/* xmalloc as many programs have it: never returns NULL.  The check after
 * the call keeps it from being a tail call. */
NOINLINE void *my_xmalloc(size_t size)
{
	void *p = malloc(size); line_xmalloc = __LINE__;

	if (!p)
		proto_die("my_xmalloc: out of memory for %zu bytes", size);
	return p;
}

/* A wrapper calling a wrapper: with --wrapper my_xmalloc only, this is the
 * site; with --wrapper 'my_x*' its caller is. */
NOINLINE char *my_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = my_xmalloc(n); line_xstrdup = __LINE__;

	memcpy(p, s, n);
	return p;
}
