// target_cxx: C++ allocations through libstdc++'s operator new.
//
// A site is the first frame outside the allocator and its wrappers:
// operator new, operator new[] and the standard library's own layers
// (std::vector's _M_allocate, std::string's _M_create...) are wrappers by
// default, so every allocation here is the user's function that made it,
// by its demangled name.  The expected bytes come from sizeof and the known
// lengths: vector::reserve(n) allocates exactly n elements, and a string
// built from n characters longer than the small-string buffer (15 chars in
// libstdc++) allocates n + 1 bytes.  Plain mallocs from a C++ function are
// checked too (cxx_direct_malloc, extern "C" so its name is plain).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "protocol.h"
}

#define NOINLINE __attribute__((noinline))

namespace cxxt { // named: the expect lines are space-separated

struct Widget {
	long a[5];
	int b;
};

site_expect e_widgets = { "cxxt::make_widgets()", 0, 0, 0, 0 };
site_expect e_vectors = { "cxxt::make_vectors()", 0, 0, 0, 0 };
site_expect e_strings = { "cxxt::make_strings()", 0, 0, 0, 0 };
site_expect e_arrays = { "cxxt::make_arrays()", 0, 0, 0, 0 };
site_expect e_direct = { "cxx_direct_malloc", 0, 0, 0, 0 };

uint64_t sum = CKSUM_INIT;

std::vector<Widget *> *widgets;
std::vector<int> *big_vector;
std::string *long_string;
int *int_array;
void *direct[8];

NOINLINE void make_widgets()
{
	// The holder vector itself: one operator new of 10 pointers.
	widgets = new std::vector<Widget *>();
	exp_alloc(&e_widgets, sizeof(*widgets));
	widgets->reserve(10);
	exp_alloc(&e_widgets, 10 * sizeof(Widget *));
	for (int i = 0; i < 10; i++) {
		Widget *w = new Widget();
		exp_alloc(&e_widgets, sizeof(Widget));
		w->a[0] = i;
		w->b = 7 * i;
		widgets->push_back(w);
	}
	// delete 5 of them
	for (int i = 0; i < 5; i++) {
		Widget *w = widgets->back();
		cksum_add(&sum, (uint64_t)(w->a[0] + w->b));
		delete w;
		exp_free(&e_widgets, sizeof(Widget));
		widgets->pop_back();
	}
}

NOINLINE void make_vectors()
{
	uint64_t rng = 0x5eed000a;

	big_vector = new std::vector<int>();
	exp_alloc(&e_vectors, sizeof(*big_vector));
	big_vector->reserve(1000);
	exp_alloc(&e_vectors, 1000 * sizeof(int));
	for (int i = 0; i < 1000; i++)
		big_vector->push_back((int)(prng_next(&rng) & 0xffff));
	for (int v : *big_vector)
		cksum_add(&sum, (uint64_t)v);

	{
		std::vector<int> tmp;
		tmp.reserve(10);
		exp_alloc(&e_vectors, 10 * sizeof(int));
		for (int i = 0; i < 10; i++)
			tmp.push_back(i);
		cksum_add(&sum, (uint64_t)tmp.size());
	}
	exp_free(&e_vectors, 10 * sizeof(int));
}

NOINLINE void make_strings()
{
	// 40 characters: far past the 15-character small-string buffer.
	long_string = new std::string(40, 'x');
	exp_alloc(&e_strings, sizeof(std::string));
	exp_alloc(&e_strings, 40 + 1);
	const char *text = "a string of thirty characters!";
	{
		std::string tmp(text, std::strlen(text));
		exp_alloc(&e_strings, std::strlen(text) + 1);
		for (char c : tmp)
			cksum_add(&sum, (uint64_t)(unsigned char)c);
	}
	exp_free(&e_strings, std::strlen(text) + 1);
	// A short one stays in the object: no allocation.
	std::string small("short");
	cksum_add(&sum, small.size());
	for (char c : *long_string)
		cksum_add(&sum, (uint64_t)(unsigned char)c);
}

NOINLINE void make_arrays()
{
	int_array = new int[100];
	exp_alloc(&e_arrays, 100 * sizeof(int));
	for (int i = 0; i < 100; i++)
		int_array[i] = i * i;
	int *tmp = new int[25];
	exp_alloc(&e_arrays, 25 * sizeof(int));
	for (int i = 0; i < 25; i++)
		tmp[i] = int_array[i];
	cksum_add(&sum, (uint64_t)tmp[24]);
	delete[] tmp;
	exp_free(&e_arrays, 25 * sizeof(int));
}

} // namespace cxxt

using namespace cxxt;

extern "C" NOINLINE void cxx_direct_malloc(void);
extern "C" NOINLINE void cxx_direct_malloc(void)
{
	uint64_t rng = 0x5eed000b;

	for (int i = 0; i < 8; i++) {
		direct[i] = std::malloc(56);
		if (!direct[i])
			proto_die("malloc returned NULL");
		exp_alloc(&e_direct, 56);
		block_fill(direct[i], 56, &rng);
		block_fold(direct[i], 56, &sum);
	}
}

int main()
{
	char line[64];

	proto_ready();

	make_widgets();
	make_vectors();
	make_strings();
	make_arrays();
	cxx_direct_malloc();

	proto_expect(&e_widgets);
	proto_expect(&e_vectors);
	proto_expect(&e_strings);
	proto_expect(&e_arrays);
	proto_expect(&e_direct);
	proto_expect_unknown_frees(0);
	proto_line("info sizeof_widget=%zu sizeof_string=%zu sizeof_vector=%zu",
		   sizeof(Widget), sizeof(std::string), sizeof(std::vector<int>));
	proto_done(sum, nullptr);

	if (!proto_wait(line, sizeof(line)) || std::strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (Widget *w : *widgets)
		delete w;
	delete widgets;
	delete big_vector;
	delete long_string;
	delete[] int_array;
	for (void *p : direct)
		std::free(p);
	return 0;
}
