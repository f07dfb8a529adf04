/* stk_dlopen PLUGIN [--keep]: dlopen()s PLUGIN (libstk_plugin.so) only
 * after "go", that is after memtrace attached, so memtrace learns of the
 * library while tracing.  lib_alloc() in it allocates LIB_N blocks that
 * the target keeps; then, unless --keep, the target dlclose()s the plugin
 * before "done" and says whether the library is gone from its maps
 * ("info unloaded=1"): memtrace must still name the frames in it.
 *
 * Stack: lib_alloc (plugin) <- call_plugin <- main.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stk.h"

#define LIB_N 21
#define FREE_EVERY 4

typedef void *alloc_fn(size_t size);

static int line_call, line_main;
static void *held[LIB_N];
static uint64_t rng = 0x5eed0305;
static uint64_t sum = CKSUM_INIT;
static char maps[1 << 16];

NOINLINE void *call_plugin(alloc_fn *fn, size_t size);

NOINLINE void *call_plugin(alloc_fn *fn, size_t size)
{
	void *p = fn(size); line_call = __LINE__;

	return p;
}

/* Whether NAME appears in /proc/self/maps; read with plain syscalls into a
 * static buffer, so that checking allocates nothing. */
static bool mapped(const char *name)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t got;

	if (fd < 0)
		proto_die("cannot open /proc/self/maps");
	while (n < sizeof(maps) - 1 && (got = read(fd, maps + n, sizeof(maps) - 1 - n)) > 0)
		n += (size_t)got;
	close(fd);
	maps[n] = '\0';
	return strstr(maps, name) != NULL;
}

int main(int argc, char **argv)
{
	bool keep = argc > 2 && strcmp(argv[2], "--keep") == 0;
	struct stk_path path = {
		.stack = "lib_alloc,call_plugin,main",
		.files = "dlopen_plugin.c,dlopen_main.c,dlopen_main.c",
		.module = "libstk_plugin.so",
	};
	const char *base;
	char line[64];

	if (argc < 2 || (argc > 2 && !keep) || argc > 3)
		proto_die("usage: stk_dlopen PLUGIN [--keep]");
	base = strrchr(argv[1], '/');
	base = base ? base + 1 : argv[1];
	if (mapped(base))
		proto_die("%s is mapped before dlopen", base);
	proto_ready();

	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		proto_die("dlopen %s: %s", argv[1], dlerror());
	alloc_fn *fn = (alloc_fn *)dlsym(lib, "lib_alloc");
	int *plugin_line = dlsym(lib, "plugin_line_malloc");
	if (!fn || !plugin_line)
		proto_die("dlsym: %s", dlerror());
	for (int i = 0; i < LIB_N; i++) {
		size_t size = 48 + 16 * (size_t)i;

		held[i] = call_plugin(fn, size); line_main = __LINE__;
		block_fill(held[i], size, &rng);
		block_fold(held[i], size, &sum);
		stk_alloc(&path, size);
	}
	for (int i = 0; i < LIB_N; i += FREE_EVERY) {
		free(held[i]);
		held[i] = NULL;
		stk_free(&path, 48 + 16 * (size_t)i);
	}
	path.lines[0] = *plugin_line;
	path.lines[1] = line_call;
	path.lines[2] = line_main;
	if (!keep) {
		if (dlclose(lib) != 0)
			proto_die("dlclose: %s", dlerror());
		proto_line("info unloaded=%d", !mapped(base));
	}
	stk_expect(&path);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < LIB_N; i++)
		free(held[i]);
	if (keep)
		dlclose(lib);
	return 0;
}
