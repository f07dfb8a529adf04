/* stk_jit [--map]: machine code generated at run time (after "go") calls
 * malloc, as a JIT compiler's output would.  The code lives in an
 * anonymous executable mapping, with no CFI, but keeps the frame-pointer
 * convention, so an unwinder can step through it:
 *
 *     55                   push %rbp
 *     48 89 e5             mov  %rsp,%rbp
 *     bf NN NN NN NN       mov  $SIZE,%edi
 *     48 b8 <8 bytes>      movabs $malloc,%rax
 *     ff d0                call *%rax
 *     5d                   pop  %rbp
 *     c3                   ret
 *
 * With --map the target also writes /tmp/perf-PID.map ("START SIZE NAME",
 * hex, the perf convention) naming the code jit_leaker, and removes it at
 * exit.  Expected: the site is the JIT frame, module "[jit]", function
 * "jit_leaker" with the map and "" without, then jit_caller and main.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stk.h"

#define JIT_N 11
#define JIT_SIZE 72

typedef void *jit_fn(void);

static void *held[JIT_N];
static uint64_t rng = 0x5eed0306;
static uint64_t sum = CKSUM_INIT;
static char map_path[64];

NOINLINE void *jit_caller(jit_fn *fn);

/* A real frame between main and the generated code. */
NOINLINE void *jit_caller(jit_fn *fn)
{
	void *p = fn();

	if (!p)
		proto_die("generated code: malloc returned NULL");
	return p;
}

/* The code above, with the size at offset 5 and malloc's address at 11. */
static const unsigned char code_template[] = {
	0x55,                                           /* push %rbp */
	0x48, 0x89, 0xe5,                               /* mov %rsp,%rbp */
	0xbf, 0, 0, 0, 0,                               /* mov $SIZE,%edi */
	0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,             /* movabs $malloc,%rax */
	0xff, 0xd0,                                     /* call *%rax */
	0x5d,                                           /* pop %rbp */
	0xc3,                                           /* ret */
};
#define CODE_SIZE_AT 5
#define CODE_MALLOC_AT 11

static jit_fn *generate(void)
{
	void *(*target)(size_t) = malloc;
	uint32_t size = JIT_SIZE;
	uint64_t addr = (uint64_t)(uintptr_t)target;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *mem = mmap(NULL, page, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		proto_die("mmap failed");
	memcpy(mem, code_template, sizeof(code_template));
	memcpy(mem + CODE_SIZE_AT, &size, sizeof(size));
	memcpy(mem + CODE_MALLOC_AT, &addr, sizeof(addr));
	if (mprotect(mem, page, PROT_READ | PROT_EXEC) != 0)
		proto_die("mprotect failed");
	return (jit_fn *)(void *)mem;
}

/* The perf map: written with plain syscalls, so nothing allocates. */
static void write_map(jit_fn *fn)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "%lx %x jit_leaker\n",
			   (unsigned long)(uintptr_t)fn, (unsigned)sizeof(code_template));
	int fd;

	snprintf(map_path, sizeof(map_path), "/tmp/perf-%d.map", (int)getpid());
	fd = open(map_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0)
		proto_die("cannot write %s", map_path);
}

int main(int argc, char **argv)
{
	bool map = argc > 1 && strcmp(argv[1], "--map") == 0;
	struct stk_path path = {
		.stack = map ? "jit_leaker,jit_caller,main" : ",jit_caller,main",
		.module = "[jit]",
	};
	char line[64];

	if (argc > 2 || (argc > 1 && !map))
		proto_die("usage: stk_jit [--map]");
	proto_ready();

	jit_fn *fn = generate();
	if (map)
		write_map(fn);
	for (int i = 0; i < JIT_N; i++) {
		held[i] = jit_caller(fn);
		block_fill(held[i], JIT_SIZE, &rng);
		block_fold(held[i], JIT_SIZE, &sum);
		stk_alloc(&path, JIT_SIZE);
	}
	for (int i = 0; i < JIT_N; i += 3) {
		free(held[i]);
		held[i] = NULL;
		stk_free(&path, JIT_SIZE);
	}
	stk_expect(&path);
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	if (map)
		unlink(map_path);
	for (int i = 0; i < JIT_N; i++)
		free(held[i]);
	return 0;
}
