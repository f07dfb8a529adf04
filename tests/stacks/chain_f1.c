#include "chain.h"

int line_f1;

/* The call is not the last thing f1 does, and sibling calls are off
 * (meson.build): f1 keeps its own frame. */
NOINLINE void *f1(size_t size, int kind)
{
	void *p = f2(size, kind); line_f1 = __LINE__;

	return p;
}
