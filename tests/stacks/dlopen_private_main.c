/* stk_dlopen_private PLUGIN: dlopen()s PLUGIN (libstk_private.so, which
 * brings its own malloc) with RTLD_DEEPBIND after "go", and has its
 * lib_alloc() allocate LIB_N blocks from that private allocator.  The
 * blocks are never freed (they are not glibc's).
 *
 * Stack: [the library's malloc] lib_alloc <- call_plugin <- main.
 */
#include <dlfcn.h>
#include <string.h>

#include "stk.h"

#define LIB_N 13

typedef void *alloc_fn(size_t size);

static int line_call, line_main;
static uint64_t rng = 0x5eed0306;
static uint64_t sum = CKSUM_INIT;

NOINLINE void *call_plugin(alloc_fn *fn, size_t size);

NOINLINE void *call_plugin(alloc_fn *fn, size_t size)
{
	void *p = fn(size); line_call = __LINE__;

	return p;
}

int main(int argc, char **argv)
{
	struct stk_path path = {
		.stack = "lib_alloc,call_plugin,main",
		.files = "dlopen_private.c,dlopen_private_main.c,dlopen_private_main.c",
		.module = "libstk_private.so",
	};
	char line[64];

	if (argc != 2)
		proto_die("usage: stk_dlopen_private PLUGIN");
	proto_ready();

	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (!lib)
		proto_die("dlopen %s: %s", argv[1], dlerror());
	alloc_fn *fn = (alloc_fn *)dlsym(lib, "lib_alloc");
	int *plugin_line = dlsym(lib, "plugin_line_malloc");
	if (!fn || !plugin_line)
		proto_die("dlsym: %s", dlerror());
	for (int i = 0; i < LIB_N; i++) {
		size_t size = 32 + 16 * (size_t)i;
		void *p = call_plugin(fn, size); line_main = __LINE__;

		block_fill(p, size, &rng);
		block_fold(p, size, &sum);
		stk_alloc(&path, size);
	}
	path.lines[0] = *plugin_line;
	path.lines[1] = line_call;
	path.lines[2] = line_main;
	stk_expect(&path);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	return 0;
}
