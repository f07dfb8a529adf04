// target_cxxalloc: every form of operator new and delete, and the
// allocator's own API, for a run under a preloaded jemalloc, tcmalloc or
// mimalloc (LD_PRELOAD; tests/e2e/test_cxx_alloc.py).  Those libraries
// define operator new/delete themselves, without going through malloc.
//
// One function per kind of call, so each is one site; the expected bytes
// are the sizes asked for (sizeof, or the explicit operator arguments).
// The allocator's API is reached through weak references: the one that
// is preloaded binds them (an undefined dynamic symbol, which is how
// memtrace knows the program calls it), the others stay null.  A realloc
// (rallocx, mi_realloc) frees its old block and allocates the new one at
// the same site.  mimalloc's mi_heap_malloc has no hook: its block is not
// seen, and the report must say so (info unhooked=...).  An operator new
// that fails throws std::bad_alloc to the caller's handler (too_big).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

extern "C" {
#include "protocol.h"

// jemalloc
void *mallocx(size_t size, int flags) __attribute__((weak));
void *rallocx(void *p, size_t size, int flags) __attribute__((weak));
void sdallocx(void *p, size_t size, int flags) __attribute__((weak));
void dallocx(void *p, int flags) __attribute__((weak));
// tcmalloc
void *tc_malloc(size_t size) __attribute__((weak));
void tc_free(void *p) __attribute__((weak));
void *tc_calloc(size_t n, size_t size) __attribute__((weak));
void *tc_new(size_t size) __attribute__((weak));
void tc_delete(void *p) __attribute__((weak));
// mimalloc
void *mi_malloc(size_t size) __attribute__((weak));
void *mi_zalloc(size_t size) __attribute__((weak));
void *mi_realloc(void *p, size_t size) __attribute__((weak));
void mi_free(void *p) __attribute__((weak));
void *mi_malloc_aligned(size_t size, size_t alignment) __attribute__((weak));
void *mi_mallocn(size_t count, size_t size) __attribute__((weak));
void *mi_heap_get_default(void) __attribute__((weak));
void *mi_heap_malloc(void *heap, size_t size) __attribute__((weak));
}

#define NOINLINE __attribute__((noinline))

namespace cxa { // named: the expect lines are space-separated

struct Obj {
	long a[6];
};

site_expect e_new = { "cxa::plain_new()", 0, 0, 0, 0 };
site_expect e_array = { "cxa::array_new()", 0, 0, 0, 0 };
site_expect e_aligned = { "cxa::aligned_new()", 0, 0, 0, 0 };
site_expect e_nothrow = { "cxa::nothrow_new()", 0, 0, 0, 0 };
site_expect e_je = { "cxa::jemalloc_api()", 0, 0, 0, 0 };
site_expect e_tc = { "cxa::tcmalloc_api()", 0, 0, 0, 0 };
site_expect e_mi = { "cxa::mimalloc_api()", 0, 0, 0, 0 };

uint64_t sum = CKSUM_INIT;
Obj *objs[6];
long *arrays[4];
void *aligned[3];
Obj *nothrow_objs[2];
void *nothrow_arrays[2];
void *je_keep, *tc_keep, *mi_keep[3], *mi_unseen;

NOINLINE void plain_new()
{
	for (int i = 0; i < 6; i++) {
		objs[i] = new Obj();
		exp_alloc(&e_new, sizeof(Obj));
		objs[i]->a[0] = i;
	}
	for (int i = 3; i < 6; i++) {
		cksum_add(&sum, (uint64_t)objs[i]->a[0]);
		delete objs[i];   // sized: operator delete(void *, size_t)
		objs[i] = nullptr;
		exp_free(&e_new, sizeof(Obj));
	}
}

NOINLINE void array_new()
{
	for (int i = 0; i < 4; i++) {
		arrays[i] = new long[25];
		exp_alloc(&e_array, 25 * sizeof(long));
		arrays[i][24] = 3 * i;
	}
	for (int i = 2; i < 4; i++) {
		cksum_add(&sum, (uint64_t)arrays[i][24]);
		delete[] arrays[i];
		arrays[i] = nullptr;
		exp_free(&e_array, 25 * sizeof(long));
	}
}

NOINLINE void aligned_new()
{
	for (int i = 0; i < 3; i++) {
		aligned[i] = ::operator new(100, std::align_val_t(64));
		exp_alloc(&e_aligned, 100);
		if ((uintptr_t)aligned[i] % 64)
			proto_die("operator new(100, align 64) returned %p", aligned[i]);
	}
	::operator delete(aligned[1], std::align_val_t(64));
	exp_free(&e_aligned, 100);
	::operator delete(aligned[2], 100, std::align_val_t(64));
	exp_free(&e_aligned, 100);
	aligned[1] = aligned[2] = nullptr;
}

NOINLINE void nothrow_new()
{
	for (int i = 0; i < 2; i++) {
		nothrow_objs[i] = new (std::nothrow) Obj();
		exp_alloc(&e_nothrow, sizeof(Obj));
		nothrow_arrays[i] = ::operator new[](300, std::nothrow);
		exp_alloc(&e_nothrow, 300);
		if (!nothrow_objs[i] || !nothrow_arrays[i])
			proto_die("nothrow new failed");
	}
	::operator delete(nothrow_objs[1], std::nothrow);
	exp_free(&e_nothrow, sizeof(Obj));
	::operator delete[](nothrow_arrays[1], std::nothrow);
	exp_free(&e_nothrow, 300);
	nothrow_objs[1] = nullptr;
	nothrow_arrays[1] = nullptr;
}

// Out of memory: operator new throws std::bad_alloc, which must unwind
// through whatever memtrace put on the stack to this handler; the nothrow
// forms return null.  Nothing is allocated.  Debian's mimalloc, built as
// C, aborts instead of throwing (traced or not): THROWING is false there.
NOINLINE void too_big(bool throwing)
{
	const size_t huge = (size_t)1 << 60;
	int caught = 0;
	for (int i = 0; i < 2; i++) {
		if (new (std::nothrow) char[huge] || ::operator new(huge, std::nothrow))
			proto_die("nothrow new of 2^60 bytes did not return null");
		if (!throwing)
			continue;
		try {
			volatile char *p = new char[huge];
			p[0] = 1;
		} catch (const std::bad_alloc &) {
			caught++;
		}
		try {
			void *volatile p = ::operator new(huge, std::align_val_t(64));
			(void)p;
		} catch (const std::bad_alloc &) {
			caught++;
		}
	}
	if (caught != (throwing ? 4 : 0))
		proto_die("operator new of 2^60 bytes: %d std::bad_alloc caught, expected 4", caught);
	cksum_add(&sum, (uint64_t)caught);
}

NOINLINE void jemalloc_api()
{
	void *a = mallocx(128, 0);
	exp_alloc(&e_je, 128);
	void *b = mallocx(64, 0);
	exp_alloc(&e_je, 64);
	void *c = mallocx(32, 0);
	exp_alloc(&e_je, 32);
	if (!a || !b || !c)
		proto_die("mallocx failed");
	std::memset(b, 7, 64);
	b = rallocx(b, 256, 0);
	exp_free(&e_je, 64);
	exp_alloc(&e_je, 256);
	if (!b)
		proto_die("rallocx failed");
	cksum_add(&sum, ((unsigned char *)b)[63]);
	sdallocx(a, 128, 0);
	exp_free(&e_je, 128);
	dallocx(c, 0);
	exp_free(&e_je, 32);
	je_keep = b;
}

NOINLINE void tcmalloc_api()
{
	void *p = tc_malloc(40);
	exp_alloc(&e_tc, 40);
	void *q = tc_malloc(40);
	exp_alloc(&e_tc, 40);
	void *n = tc_new(24);
	exp_alloc(&e_tc, 24);
	tc_keep = tc_calloc(3, 10);
	exp_alloc(&e_tc, 30);
	if (!p || !q || !tc_keep)
		proto_die("tc_malloc failed");
	tc_free(q);
	exp_free(&e_tc, 40);
	tc_delete(n);
	exp_free(&e_tc, 24);
	tc_free(p);
	exp_free(&e_tc, 40);
}

NOINLINE void mimalloc_api()
{
	void *p = mi_malloc(40);
	exp_alloc(&e_mi, 40);
	void *q = mi_zalloc(40);
	exp_alloc(&e_mi, 40);
	mi_keep[0] = mi_malloc_aligned(96, 32);
	exp_alloc(&e_mi, 96);
	mi_keep[1] = mi_mallocn(3, 16);
	exp_alloc(&e_mi, 48);
	if (!p || !q || !mi_keep[0] || (uintptr_t)mi_keep[0] % 32)
		proto_die("mi_malloc failed");
	mi_free(q);
	exp_free(&e_mi, 40);
	mi_keep[2] = mi_realloc(p, 80);
	exp_free(&e_mi, 40);
	exp_alloc(&e_mi, 80);
	// no hook: not seen, and named in the report's header
	mi_unseen = mi_heap_malloc(mi_heap_get_default(), 50);
}

} // namespace cxa

using namespace cxa;

int main()
{
	char line[64];
	const char *api = mallocx ? "jemalloc" : tc_malloc ? "tcmalloc" : mi_malloc ? "mimalloc"
									: "none";

	proto_ready();

	plain_new();
	array_new();
	aligned_new();
	nothrow_new();
	too_big(!mi_malloc);
	if (mallocx && rallocx && sdallocx && dallocx)
		jemalloc_api();
	if (tc_malloc && tc_free && tc_calloc && tc_new && tc_delete)
		tcmalloc_api();
	if (mi_malloc && mi_zalloc && mi_realloc && mi_free && mi_malloc_aligned && mi_mallocn &&
	    mi_heap_get_default && mi_heap_malloc)
		mimalloc_api();

	proto_expect(&e_new);
	proto_expect(&e_array);
	proto_expect(&e_aligned);
	proto_expect(&e_nothrow);
	if (e_je.allocs)
		proto_expect(&e_je);
	if (e_tc.allocs)
		proto_expect(&e_tc);
	if (e_mi.allocs)
		proto_expect(&e_mi);
	proto_expect_unknown_frees(0);
	proto_line("info api=%s unhooked=%s", api, mi_unseen ? "mi_heap_malloc" : "-");
	proto_done(sum, nullptr);

	if (!proto_wait(line, sizeof(line)) || std::strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (int i = 0; i < 3; i++)
		delete objs[i];
	for (int i = 0; i < 2; i++)
		delete[] arrays[i];
	::operator delete(aligned[0], std::align_val_t(64));
	delete nothrow_objs[0];
	::operator delete[](nothrow_arrays[0]);
	if (je_keep)
		dallocx(je_keep, 0);
	if (tc_keep)
		tc_free(tc_keep);
	for (void *p : mi_keep)
		if (p)
			mi_free(p);
	if (mi_unseen)
		mi_free(mi_unseen);
	return 0;
}
