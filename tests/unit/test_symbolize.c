/* Tests for the symbolizer (src/symbols/symbolize.c, modules.c, unwind.c)
 * on the test's own process, which needs no ptrace: mt_unwind from
 * registers taken with getcontext(), inlined frames with their call sites,
 * C++ names demangled, JIT code named from a perf map.  The call chain is
 * f0 -> f1 -> f2 -> (inlined helper) -> f3 -> capture; f1 carries a C++
 * mangled name.  Built -g like every target
 * (meson's default debugoptimized also means -O2: the inlining is real). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "agent/agent_abi.h"
#include "target/maps.h"
#include "symbols/symbolize.h"
#include "symbols/unwind.h"

#define MAX 64

static struct mt_symbolizer *sym;
static uint64_t pcs[MAX];
static int npcs;
static int helper_call_line, f2_call_line;

static int read_self(void *ctx, uint64_t addr, void *buf, size_t len)
{
	/* Not memcpy: a bad address must fail, not crash the test. */
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

__attribute__((noinline)) static void regs_of(const ucontext_t *uc, mt_regs *r)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	memset(r, 0, sizeof *r);
	r->rax = (uint64_t)g[REG_RAX]; r->rbx = (uint64_t)g[REG_RBX];
	r->rcx = (uint64_t)g[REG_RCX]; r->rdx = (uint64_t)g[REG_RDX];
	r->rsi = (uint64_t)g[REG_RSI]; r->rdi = (uint64_t)g[REG_RDI];
	r->rbp = (uint64_t)g[REG_RBP]; r->rsp = (uint64_t)g[REG_RSP];
	r->r8 = (uint64_t)g[REG_R8];   r->r9 = (uint64_t)g[REG_R9];
	r->r10 = (uint64_t)g[REG_R10]; r->r11 = (uint64_t)g[REG_R11];
	r->r12 = (uint64_t)g[REG_R12]; r->r13 = (uint64_t)g[REG_R13];
	r->r14 = (uint64_t)g[REG_R14]; r->r15 = (uint64_t)g[REG_R15];
	r->rip = (uint64_t)g[REG_RIP];
}

/* getcontext's registers are those at its return: the pc is here, in
 * capture, and everything above is our callers' stack, still live. */
__attribute__((noinline)) static void capture(void)
{
	ucontext_t uc;
	getcontext(&uc);
	mt_regs r;
	regs_of(&uc, &r);
	npcs = mt_unwind(sym, gettid(), &r, read_self, NULL, pcs, MAX);
}

__attribute__((noinline)) int f3(int x);
__attribute__((noinline)) int f3(int x)
{
	capture();
	return x + 1;
}

static inline __attribute__((always_inline)) int helper(int x)
{
	helper_call_line = __LINE__ + 1;
	int r = f3(x);
	return r * 2;
}

__attribute__((noinline)) int f2(int x);
__attribute__((noinline)) int f2(int x)
{
	f2_call_line = __LINE__ + 1;
	int r = helper(x);
	return r + 1;
}

/* mt::test::f1(int), as g++ would name it. */
__attribute__((noinline)) int f1(int x) __asm__("_ZN2mt4test2f1Ei");
int f1(int x)
{
	return f2(x) + 1;
}

__attribute__((noinline)) int f0(int x);
__attribute__((noinline)) int f0(int x)
{
	return f1(x) + 1;
}

struct flat {
	struct mt_frame f[4 * MAX];
	int n;
};

/* Every pc's frames, in order. */
static void symbolize_all(struct flat *fl)
{
	fl->n = 0;
	for (int i = 0; i < npcs; i++) {
		int k = mt_symbolize_pc(sym, pcs[i], i > 0, fl->f + fl->n, 8);
		ck_assert_int_ge(k, 1);
		for (int j = 0; j < k; j++)
			ck_assert_uint_eq(fl->f[fl->n + j].address, pcs[i]);
		fl->n += k;
	}
}

static int find(const struct flat *fl, const char *function)
{
	for (int i = 0; i < fl->n; i++)
		if (strcmp(fl->f[i].sym.function, function) == 0)
			return i;
	return -1;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);
	return a >= b && strcmp(s + a - b, tail) == 0;
}

START_TEST(test_unwind_chain)
{
	sym = mt_symbolizer_new(getpid());
	ck_assert_ptr_nonnull(sym);
	ck_assert_int_eq(f0(1), 2 * (1 + 1) + 3);
	ck_assert_int_ge(npcs, 6);

	static struct flat fl;
	symbolize_all(&fl);

	int c = find(&fl, "capture"), f3i = find(&fl, "f3"), h = find(&fl, "helper"),
	    f2i = find(&fl, "f2"), f1i = find(&fl, "mt::test::f1(int)"), f0i = find(&fl, "f0");
	ck_assert_int_eq(c, 0);                  /* where the registers were */
	ck_assert_int_eq(f3i, 1);
	ck_assert_int_eq(h, 2);
	ck_assert_int_eq(f2i, 3);
	ck_assert_int_eq(f1i, 4);
	ck_assert_int_eq(f0i, 5);

	/* The inlined helper and f2 share a pc; helper's line is its call
	 * of f3, f2's its call of helper. */
	ck_assert(fl.f[h].inlined);
	ck_assert(!fl.f[f2i].inlined && !fl.f[f3i].inlined && !fl.f[f1i].inlined);
	ck_assert_uint_eq(fl.f[h].address, fl.f[f2i].address);
	ck_assert_int_eq(fl.f[h].sym.line, helper_call_line);
	ck_assert_int_eq(fl.f[f2i].sym.line, f2_call_line);
	for (int i = 0; i <= f0i; i++) {
		ck_assert_msg(ends_with(fl.f[i].sym.file, "tests/unit/test_symbolize.c"),
			      "frame %d file %s", i, fl.f[i].sym.file);
		ck_assert_msg(ends_with(fl.f[i].sym.module, "test_symbolize"),
			      "frame %d module %s", i, fl.f[i].sym.module);
	}

	/* Again, with the fast path's rules made: the same, up to f0's
	 * return address, which is another call here. */
	uint64_t first[MAX];
	int n = npcs;
	memcpy(first, pcs, sizeof first);
	f0(1);
	ck_assert_int_eq(npcs, n);
	ck_assert(memcmp(first, pcs, 5 * sizeof pcs[0]) == 0);
	ck_assert_uint_ne(first[5], pcs[5]);

	/* MAX cuts the stack; fewer frames than there are inlined ones keep
	 * the innermost and the real function. */
	ucontext_t uc;
	getcontext(&uc);
	mt_regs r;
	regs_of(&uc, &r);
	uint64_t two[2];
	ck_assert_int_eq(mt_unwind(sym, gettid(), &r, read_self, NULL, two, 2), 2);
	struct mt_frame one;
	ck_assert_int_eq(mt_symbolize_pc(sym, fl.f[f2i].address, true, &one, 1), 1);
	ck_assert_str_eq(one.sym.function, "f2");

	/* mt_symbolize: the ELF symbol, demangled. */
	struct mt_symbol s;
	mt_symbolize(sym, fl.f[f1i].address - 1, &s);
	ck_assert_str_eq(s.function, "mt::test::f1(int)");
	mt_symbolizer_destroy(sym);
}
END_TEST

START_TEST(test_jit_and_unknown)
{
	/* Anonymous executable memory, named by a perf map. */
	unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(code, MAP_FAILED);
	char path[64];
	snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%lx 40 JIT:hello world\n", (unsigned long)(uintptr_t)(code + 0x100));
	fclose(f);

	sym = mt_symbolizer_new(getpid());
	struct mt_frame fr[2];
	ck_assert_int_eq(mt_symbolize_pc(sym, (uint64_t)(uintptr_t)code + 0x111, true, fr, 2), 1);
	ck_assert_str_eq(fr[0].sym.module, "[jit]");
	ck_assert_str_eq(fr[0].sym.function, "JIT:hello world");
	ck_assert_uint_eq(fr[0].sym.offset, 0x10);
	ck_assert_uint_eq(fr[0].sym.module_offset, 0x110);

	/* JIT code the map does not name. */
	ck_assert_int_eq(mt_symbolize_pc(sym, (uint64_t)(uintptr_t)code + 0x800, false, fr, 2), 1);
	ck_assert_str_eq(fr[0].sym.module, "[jit]");
	ck_assert_str_eq(fr[0].sym.function, "");

	/* Nothing there at all. */
	ck_assert_int_eq(mt_symbolize_pc(sym, 0x10, false, fr, 2), 1);
	ck_assert_str_eq(fr[0].sym.module, "");
	ck_assert_str_eq(fr[0].sym.function, "");
	ck_assert_uint_eq(fr[0].address, 0x10);

	mt_symbolizer_destroy(sym);
	unlink(path);
	munmap(code, 4096);
}
END_TEST

/* JIT pages the symbolizer has not seen: a reserved range (PROT_NONE), then
 * the symbolizer made (it reads the maps), then a fresh executable page
 * and one page of the range made executable. */
struct jit_pages {
	size_t page;
	unsigned char *range, *fresh;
};

static struct jit_pages jit_pages_after_read(void)
{
	struct jit_pages j = { .page = (size_t)sysconf(_SC_PAGESIZE) };
	j.range = mmap(NULL, 16 * j.page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	ck_assert_ptr_ne(j.range, MAP_FAILED);
	sym = mt_symbolizer_new(getpid());
	j.fresh = mmap(NULL, j.page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(j.fresh, MAP_FAILED);
	ck_assert_int_eq(mprotect(j.range + 4 * j.page, j.page, PROT_READ | PROT_EXEC), 0);
	return j;
}

static void jit_pages_free(struct jit_pages *j)
{
	mt_symbolizer_destroy(sym);
	munmap(j->fresh, j->page);
	munmap(j->range, 16 * j->page);
}

/* An executable page mapped, or made executable inside a reserved range,
 * just after the symbolizer read the maps: JIT code all the same, however
 * soon it is looked up (a throttled re-read once named it ""). */
START_TEST(test_jit_mapped_after_read)
{
	struct jit_pages j = jit_pages_after_read();
	size_t page = j.page;
	unsigned char *range = j.range, *fresh = j.fresh;

	struct mt_frame fr[2];
	ck_assert_int_eq(mt_symbolize_pc(sym, (uint64_t)(uintptr_t)fresh + 0x21, true, fr, 2), 1);
	ck_assert_str_eq(fr[0].sym.module, "[jit]");
	ck_assert_uint_eq(fr[0].sym.module_offset, 0x20);
	ck_assert_int_eq(mt_symbolize_pc(sym, (uint64_t)(uintptr_t)range + 4 * page + 0x31,
					 true, fr, 2), 1);
	ck_assert_str_eq(fr[0].sym.module, "[jit]");
	ck_assert_uint_eq(fr[0].sym.module_offset, 0x30);
	/* Still reserved, never executable: no code there, no name. */
	ck_assert_int_eq(mt_symbolize_pc(sym, (uint64_t)(uintptr_t)range + 0x31, true, fr, 2), 1);
	ck_assert_str_eq(fr[0].sym.module, "");
	jit_pages_free(&j);
}
END_TEST

/* The agent's unwind rule for JIT code the symbolizer has not seen yet
 * (mapped just after the maps were read, or inside the span libdwfl gives
 * a module): the frame-pointer step, as for any code without CFI. */
static void assert_fp_rule(uint64_t addr)
{
	struct mt_agent_rule r;
	ck_assert_int_eq(mt_symbolizer_agent_rule(sym, addr, &r), 0);
	ck_assert_uint_eq(r.addr, addr);
	ck_assert_int_eq(r.kind, MT_AGENT_RULE_STEP);
	ck_assert_int_eq(r.cfa_reg, 6);
	ck_assert_int_eq(r.cfa_off, 16);
	ck_assert_int_eq(r.ra_off, -8);
	ck_assert_int_eq(r.bp_off, -16);
	ck_assert_int_eq(r.bp, MT_AGENT_BP_AT);
}

START_TEST(test_jit_rule_mapped_after_read)
{
	struct jit_pages j = jit_pages_after_read();
	assert_fp_rule((uint64_t)(uintptr_t)j.fresh + 0x14);
	assert_fp_rule((uint64_t)(uintptr_t)j.range + 4 * j.page + 0x14);
	jit_pages_free(&j);
}
END_TEST

/* The mapping of our own executable that holds ADDR, into OUT. */
static void own_mapping(uint64_t addr, struct mt_map *out, char *path, size_t size)
{
	struct mt_maps maps;
	ck_assert_int_eq(mt_maps_read(getpid(), &maps), 0);
	const struct mt_map *m = mt_maps_find(&maps, addr);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(m->path);
	*out = *m;
	snprintf(path, size, "%s", m->path);
	out->path = path;
	mt_maps_free(&maps);
}

/* What node does (V8 maps its embedded builtins a second time, from node's
 * file, next to its JIT code), on our own executable: its text mapped again
 * 1 GiB above it, with only anonymous memory in between (the heap), which
 * makes libdwfl's module of the executable run up to the copy; JIT code
 * mapped in between after the maps were read.  The copy is named like the
 * original, the JIT code is JIT code, the heap is no code. */
START_TEST(test_text_mapped_twice)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t f3_addr = (uint64_t)(uintptr_t)f3;
	struct mt_map text;
	char path[4096];
	own_mapping(f3_addr, &text, path, sizeof path);

	uint64_t copy_at = (text.end + (1ull << 30)) & ~(uint64_t)(page - 1);
	uint64_t jit_at = copy_at - (1ull << 29);
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	uint64_t f3_page = (f3_addr - text.start) & ~(uint64_t)(page - 1);
	unsigned char *copy = mmap((void *)(uintptr_t)copy_at, page, PROT_READ | PROT_EXEC,
				   MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd,
				   (off_t)(text.offset + f3_page));
	close(fd);
	ck_assert_ptr_eq(copy, (void *)(uintptr_t)copy_at);
	void *heap = malloc(64);
	ck_assert_ptr_nonnull(heap);

	sym = mt_symbolizer_new(getpid());
	unsigned char *jit = mmap((void *)(uintptr_t)jit_at, page, PROT_READ | PROT_EXEC,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ck_assert_ptr_eq(jit, (void *)(uintptr_t)jit_at);

	struct mt_frame orig[8], twin[8], fr[8];
	uint64_t in_copy = copy_at + (f3_addr - text.start - f3_page);
	int n = mt_symbolize_pc(sym, f3_addr + 1, true, orig, 8);
	ck_assert_int_eq(mt_symbolize_pc(sym, in_copy + 1, true, twin, 8), n);
	ck_assert_str_eq(orig[n - 1].sym.function, "f3");
	for (int i = 0; i < n; i++) {
		ck_assert_str_eq(twin[i].sym.function, orig[i].sym.function);
		ck_assert_uint_eq(twin[i].sym.offset, orig[i].sym.offset);
		ck_assert_str_eq(twin[i].sym.module, orig[i].sym.module);
		ck_assert_uint_eq(twin[i].sym.module_offset, orig[i].sym.module_offset);
		ck_assert_str_eq(twin[i].sym.file, orig[i].sym.file);
		ck_assert_int_eq(twin[i].sym.line, orig[i].sym.line);
		ck_assert_uint_eq(twin[i].address, in_copy + 1);
	}
	ck_assert_int_eq(mt_symbolize_pc(sym, jit_at + 0x11, true, fr, 8), 1);
	ck_assert_str_eq(fr[0].sym.module, "[jit]");
	ck_assert_uint_eq(fr[0].sym.module_offset, 0x10);
	assert_fp_rule(jit_at + 0x14);
	ck_assert_int_eq(mt_symbolize_pc(sym, (uint64_t)(uintptr_t)heap, false, fr, 8), 1);
	ck_assert_str_eq(fr[0].sym.module, "");

	mt_symbolizer_destroy(sym);
	free(heap);
	munmap(jit, page);
	munmap(copy, page);
}
END_TEST

static Suite *symbolize_suite(void)
{
	Suite *s = suite_create("symbolize");
	TCase *tc = tcase_create("self");
	tcase_add_test(tc, test_unwind_chain);
	tcase_add_test(tc, test_jit_and_unknown);
	tcase_add_test(tc, test_jit_mapped_after_read);
	tcase_add_test(tc, test_text_mapped_twice);
	tcase_add_test(tc, test_jit_rule_mapped_after_read);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(symbolize_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
