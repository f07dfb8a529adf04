#include "chain.h"

int line_f0;

/* The call is not the last thing f0 does, and sibling calls are off
 * (meson.build): f0 keeps its own frame. */
NOINLINE void *f0(size_t size, int kind)
{
	void *p = f1(size, kind); line_f0 = __LINE__;

	return p;
}
