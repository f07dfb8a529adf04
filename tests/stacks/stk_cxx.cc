// stk_cxx: C++ allocations through operator new from user functions.
//
// Every block below comes from libstdc++'s operator new (or new[], which
// calls operator new), which calls malloc: those frames are the allocator's,
// and the site must be the user's function under its demangled name:
//
//   Cache::insert(int)           new Entry, one per key; some erased again
//   make_widgets(int)            new Widget[n] (trivial destructor: no
//                                array cookie, the request is n * sizeof)
//   store::Pool<Entry>::grab()   new Entry from a class template's member
//   Registry::add(int)           std::vector<int>::push_back: the growth
//                                happens in libstdc++'s template code
//                                (std::vector<int>::_M_realloc_insert and
//                                what it inlines), which belongs to the
//                                allocator as much as operator new does
//
// The vector's expectation is computed from capacity(): each change of
// capacity is one allocation of the new capacity and one free of the old
// buffer (if any), both at the growth site.
//
// The user's functions take one argument and live outside anonymous
// namespaces, so their demangled names hold no comma (the separator of
// "expect stack=") and no "(anonymous namespace)".
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" {
#include "stk.h"
}

struct Entry {
	int key;
	long value[5];
};

struct Widget {
	long a[3];
	int b;
};

static const int CACHE_N = 30;
static const int ERASE_EVERY = 3;
static const int WIDGET_CALLS = 6;
static const int POOL_N = 9;
static const int REGISTRY_N = 100;

static uint64_t rng = 0x5eed0302;
static uint64_t sum = CKSUM_INIT;

static stk_path e_insert, e_widgets, e_grab, e_add;
static int line_main_fill, line_insert, line_fill, line_widgets, line_main_widgets, line_grab, line_main_grab;
static int line_add, line_main_add;

class Cache {
public:
	NOINLINE void insert(int key);
	NOINLINE void erase_every(int n);
	void release();

private:
	Entry *slots[CACHE_N] = {};
	int used = 0;
};

void Cache::insert(int key)
{
	Entry *e = new Entry; line_insert = __LINE__;

	e->key = key;
	for (long &v : e->value)
		v = (long)prng_next(&rng);
	cksum_add(&sum, (uint64_t)e->value[0] ^ (uint64_t)key);
	slots[used++] = e;
	stk_alloc(&e_insert, sizeof(Entry));
}

void Cache::erase_every(int n)
{
	for (int i = 0; i < used; i += n) {
		delete slots[i];
		slots[i] = nullptr;
		stk_free(&e_insert, sizeof(Entry));
	}
}

void Cache::release()
{
	for (int i = 0; i < used; i++)
		delete slots[i];
	used = 0;
}

static Cache cache;

NOINLINE void fill_cache(int n)
{
	for (int k = 0; k < n; k++) {
		cache.insert(k); line_fill = __LINE__;
	}
}

NOINLINE Widget *make_widgets(int n)
{
	Widget *w = new Widget[n]; line_widgets = __LINE__;

	for (int i = 0; i < n; i++) {
		w[i].a[0] = (long)prng_next(&rng);
		w[i].b = i;
		cksum_add(&sum, (uint64_t)w[i].a[0]);
	}
	return w;
}

namespace store {

template <typename T> class Pool {
public:
	NOINLINE T *grab();
};

template <typename T> T *Pool<T>::grab()
{
	T *p = new T(); line_grab = __LINE__;

	return p;
}

} // namespace store

class Registry {
public:
	NOINLINE void add(int v);
	std::vector<int> items;
};

void Registry::add(int v)
{
	size_t before = items.capacity();

	items.push_back(v); line_add = __LINE__;
	if (items.capacity() != before) {
		stk_alloc(&e_add, items.capacity() * sizeof(int));
		if (before)
			stk_free(&e_add, before * sizeof(int));
	}
}

static Widget *widgets[WIDGET_CALLS];
static Entry *pooled[POOL_N];
static Registry registry;

int main()
{
	char line[64];

	e_insert.stack = "Cache::insert(int),fill_cache(int),main";
	e_insert.files = "stk_cxx.cc,stk_cxx.cc,stk_cxx.cc";
	e_widgets.stack = "make_widgets(int),main";
	e_widgets.files = "stk_cxx.cc,stk_cxx.cc";
	e_grab.stack = "store::Pool<Entry>::grab(),main";
	e_grab.files = "stk_cxx.cc,stk_cxx.cc";
	e_add.stack = "Registry::add(int),main";
	e_add.files = "stk_cxx.cc,stk_cxx.cc";

	proto_ready();

	fill_cache(CACHE_N); line_main_fill = __LINE__;
	cache.erase_every(ERASE_EVERY);
	for (int i = 0; i < WIDGET_CALLS; i++) {
		widgets[i] = make_widgets(3 + i); line_main_widgets = __LINE__;
		stk_alloc(&e_widgets, (size_t)(3 + i) * sizeof(Widget));
	}
	store::Pool<Entry> pool;
	for (int i = 0; i < POOL_N; i++) {
		pooled[i] = pool.grab(); line_main_grab = __LINE__;
		stk_alloc(&e_grab, sizeof(Entry));
	}
	for (int i = 0; i < REGISTRY_N; i++) {
		registry.add(i); line_main_add = __LINE__;
	}
	for (int v : registry.items)
		cksum_add(&sum, (uint64_t)v);

	e_insert.lines[0] = line_insert;
	e_insert.lines[1] = line_fill;
	e_insert.lines[2] = line_main_fill;
	e_widgets.lines[0] = line_widgets;
	e_widgets.lines[1] = line_main_widgets;
	e_grab.lines[0] = line_grab;
	e_grab.lines[1] = line_main_grab;
	e_add.lines[0] = line_add;
	e_add.lines[1] = line_main_add;
	stk_expect(&e_insert);
	stk_expect(&e_widgets);
	stk_expect(&e_grab);
	stk_expect(&e_add);
	proto_done(sum, nullptr);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	cache.release();
	for (Widget *w : widgets)
		delete[] w;
	for (Entry *p : pooled)
		delete p;
	std::vector<int>().swap(registry.items);
	return 0;
}
