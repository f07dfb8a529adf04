/* libstk_plugin.so: loaded by stk_dlopen after memtrace attached. */
#include <stdlib.h>

#include "stk.h"

int plugin_line_malloc;

void *lib_alloc(size_t size);

/* One block per call; the caller keeps it past dlclose. */
NOINLINE void *lib_alloc(size_t size)
{
	void *p = malloc(size); plugin_line_malloc = __LINE__;

	if (!p)
		abort(); /* the plugin cannot reach the target's proto_die() */
	return p;
}
