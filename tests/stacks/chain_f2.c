#include "chain.h"

int line_f2;

/* The call is not the last thing f2 does, and sibling calls are off
 * (meson.build): f2 keeps its own frame. */
NOINLINE void *f2(size_t size, int kind)
{
	void *p = f3(size, kind); line_f2 = __LINE__;

	return p;
}
