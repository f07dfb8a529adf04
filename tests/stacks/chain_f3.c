#include <stdlib.h>

#include "chain.h"

int line_f3_malloc, line_f3_calloc;

/* Two call instructions, two sites, one function.  Each line statement
 * sits on its call's own line, so __LINE__ is the call's line. */
NOINLINE void *f3(size_t size, int kind)
{
	void *p;

	if (kind == 0) {
		p = malloc(size); line_f3_malloc = __LINE__;
	} else {
		p = calloc(1, size); line_f3_calloc = __LINE__;
	}
	if (!p)
		proto_die("f3: out of memory for %zu bytes", size);
	return p;
}
