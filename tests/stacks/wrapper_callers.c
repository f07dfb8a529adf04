#include "wrapper.h"

int line_a, line_b, line_c;

NOINLINE void *a(size_t size)
{
	void *p = my_xmalloc(size); line_a = __LINE__;

	return p;
}

NOINLINE void *b(size_t size)
{
	void *p = my_xmalloc(size); line_b = __LINE__;

	return p;
}

NOINLINE char *c(const char *s)
{
	char *p = my_xstrdup(s); line_c = __LINE__;

	return p;
}
