/* target_jit: allocations from code the process wrote itself, as a JIT
 * does: NSTUBS stubs, each a distinct return address in an anonymous
 * mapping, without CFI.  The inject engine's agent needs an unwind rule
 * for each (a rule of kind SLOW: the stack ends there), and its table has
 * room for 32,768, so it fills up on the way.
 *
 * A stub is `sub $8,%rsp; call *%rsi; add $8,%rsp; ret`: it calls the
 * function it is given (malloc) with the size it is given, rsp aligned as
 * the ABI wants.  Each block is freed at once by jit_calls, so nothing the
 * stubs allocate stays live.  Then after_jit allocates from ordinary code,
 * whose stacks must still come out right.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define NSTUBS 40000
#define STUB_SIZE 16

typedef void *(*stub_fn)(size_t size, void *(*fn)(size_t));

static const uint8_t stub_code[STUB_SIZE] = {
	0x48, 0x83, 0xec, 0x08, /* sub $8, %rsp  */
	0xff, 0xd6,             /* call *%rsi    */
	0x48, 0x83, 0xc4, 0x08, /* add $8, %rsp  */
	0xc3,                   /* ret           */
	0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
};

static struct site_expect e_after = { .function = "after_jit" };
static uint64_t rng = 0x5eed0010;
static uint64_t sum = CKSUM_INIT;

static uint8_t *make_stubs(void)
{
	size_t len = (size_t)NSTUBS * STUB_SIZE;
	uint8_t *code = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		proto_die("mmap of the stubs failed");
	for (size_t i = 0; i < NSTUBS; i++)
		memcpy(code + i * STUB_SIZE, stub_code, STUB_SIZE);
	if (mprotect(code, len, PROT_READ | PROT_EXEC) != 0)
		proto_die("mprotect of the stubs failed");
	return code;
}

NOINLINE static void jit_calls(const uint8_t *code)
{
	for (size_t i = 0; i < NSTUBS; i++) {
		stub_fn f = (stub_fn)(uintptr_t)(code + i * STUB_SIZE);
		size_t size = 16 + 8 * (i % 32);
		void *p = f(size, malloc);
		if (!p)
			proto_die("malloc (from a stub) returned NULL");
		block_fill(p, size, &rng);
		block_fold(p, size, &sum);
		free(p);
	}
}

NOINLINE static void after_jit(void)
{
	for (int i = 0; i < 20; i++) {
		void *p = malloc(40);
		if (!p)
			proto_die("malloc returned NULL");
		exp_alloc(&e_after, 40);
		block_fill(p, 40, &rng);
		proto_hold(p);
	}
}

int main(void)
{
	char line[64];
	uint8_t *code = make_stubs();

	proto_ready();
	jit_calls(code);
	after_jit();
	proto_expect(&e_after);
	proto_line("info stubs=%d stub_start=%#lx stub_end=%#lx", NSTUBS,
		   (unsigned long)(uintptr_t)code,
		   (unsigned long)(uintptr_t)(code + (size_t)NSTUBS * STUB_SIZE));
	proto_done(sum, NULL);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	proto_free_held();
	return 0;
}
