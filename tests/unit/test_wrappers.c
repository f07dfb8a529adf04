/* Unit tests for src/symbols/wrappers.c: which frames are the allocator and its
 * wrappers, and which frame names a site. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/wrappers.h"

/* Every name the default list promises (wrappers.h), as symbol tables and a
 * demangler give them. */
static const char *const allocator_names[] = {
	"malloc", "calloc", "realloc", "reallocarray", "free", "cfree",
	"posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
	"free_sized", "free_aligned_sized",
	"__libc_malloc", "__GI___libc_malloc", "__libc_calloc", "__GI___libc_free",
	"__libc_free", "__posix_memalign", "_mid_memalign", "__libc_memalign",
	"__GI___libc_realloc", "__libc_realloc", "__GI___libc_reallocarray",
	"__libc_reallocarray", "__libc_valloc", "__libc_pvalloc", "__malloc",
	"__cfree", "__libc_malloc2", "_int_malloc", "_int_free",
	"__debug_malloc", "__debug_free",
	"je_malloc", "je_calloc", "je_realloc", "je_free", "je_posix_memalign",
	"je_aligned_alloc", "je_mallocx", "je_rallocx", "je_sdallocx", "mallocx",
	"sdallocx",
	"tc_malloc", "tc_calloc", "tc_realloc", "tc_free", "tc_memalign",
	"tc_posix_memalign", "tc_new", "tc_newarray", "tc_new_nothrow", "tc_delete",
	"tc_deletearray", "tc_delete_sized", "TCMallocInternalMalloc",
	"mi_malloc", "mi_calloc", "mi_realloc", "mi_free", "mi_zalloc",
	"mi_malloc_aligned", "mi_mallocn", "mi_reallocf", "mi_free_size", "mi_new",
	"mi_new_nothrow", "mi_new_aligned", "mi_heap_malloc", "mi_strdup",
	"mi_posix_memalign", "mi_aligned_alloc",
	"operator new(unsigned long)",
	"operator new[](unsigned long)",
	"operator new(unsigned long, std::align_val_t)",
	"operator new[](unsigned long, std::align_val_t)",
	"operator new(unsigned long, std::nothrow_t const&)",
	"operator new[](unsigned long, std::nothrow_t const&)",
	"operator new(unsigned long, std::align_val_t, std::nothrow_t const&)",
	"operator new[](unsigned long, std::align_val_t, std::nothrow_t const&)",
	"operator delete(void*)",
	"operator delete[](void*)",
	"operator delete(void*, unsigned long)",
	"operator delete[](void*, unsigned long)",
	"operator delete(void*, std::align_val_t)",
	"operator delete(void*, unsigned long, std::align_val_t)",
	"operator delete[](void*, unsigned long, std::align_val_t)",
	"operator delete(void*, std::nothrow_t const&)",
	"operator new(unsigned long) [clone .cold]",
	"operator new", "operator new[]", "operator delete", "operator delete[]",
	"_Znwm", "_Znam", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
	"_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
	"_ZdlPv", "_ZdlPvm", "_ZdaPv", "_ZdaPvm", "_ZdlPvSt11align_val_t",
	"_ZdlPvmSt11align_val_t", "_ZdlPvRKSt9nothrow_t",
	"strdup", "strndup", "__strdup", "__strndup", "__GI___strdup",
	"__GI___strndup", "wcsdup",
	/* the C++ standard library's layers above operator new */
	"std::vector<int, std::allocator<int> >::push_back(int const&)",
	"std::vector<int>::push_back(int const&)",
	"std::__new_allocator<int>::allocate(unsigned long, void const*)",
	"void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>"
	"(__gnu_cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, int const&)",
	"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >"
	"::_M_create(unsigned long&, unsigned long)",
	"__gnu_cxx::new_allocator<char>::allocate(unsigned long, void const*)",
};

/* Names a default list must leave alone: libc's other __libc_ and
 * __GI_ functions, malloc's introspection calls, look-alikes, a class's own
 * operator new, placement-free user code, and unknown frames. */
static const char *const other_names[] = {
	"main", "my_xmalloc", "my_xmalloc(unsigned long)", "xmallocx", "my_zmalloc",
	"__libc_start_main", "__libc_start_call_main", "__libc_read",
	"stdx::make()", "mystd::vector<int>::push_back(int const&)",
	"__GI___libc_write", "__GI___libc_open", "__libc_fork",
	"mallocinfo", "malloc_info", "malloc_usable_size", "malloc_stats",
	"malloc_trim", "mallopt", "mallinfo", "mallinfo2", "malloc_consolidate2",
	"mymalloc", "malloc2", "xfree", "freeaddrinfo", "realpath", "strcpy",
	"strdupa", "tc_mallinfo", "je_mallctl", "mi_stats_print", "mi_option_set",
	"Foo::operator new(unsigned long)", "Foo::make()", "operator new_handler",
	"operator<<(std::ostream&, Foo const&)",
	"_ZN3Foo4makeEv", "_Z6leak_sv", "_ZNSt6vectorIiSaIiEE9push_backERKi",
	"newfoo", "new_object(int)", "operator delete_foo", "delete",
	"", "  ",
};

START_TEST(test_default_names_match)
{
	struct mt_wrappers *w = mt_wrappers_new();
	ck_assert_ptr_nonnull(w);
	for (size_t i = 0; i < sizeof allocator_names / sizeof *allocator_names; i++)
		ck_assert_msg(mt_wrappers_match(w, allocator_names[i]),
			      "\"%s\" should be a wrapper", allocator_names[i]);
	mt_wrappers_destroy(w);
	mt_wrappers_destroy(NULL);
}
END_TEST

START_TEST(test_other_names_do_not_match)
{
	struct mt_wrappers *w = mt_wrappers_new();
	for (size_t i = 0; i < sizeof other_names / sizeof *other_names; i++)
		ck_assert_msg(!mt_wrappers_match(w, other_names[i]),
			      "\"%s\" should not be a wrapper", other_names[i]);
	ck_assert(!mt_wrappers_match(w, NULL));
	mt_wrappers_destroy(w);
}
END_TEST

START_TEST(test_user_patterns)
{
	/* Without the program wrappers: g_malloc and xrealloc are among them. */
	struct mt_wrappers *w = mt_wrappers_new_with(false);
	ck_assert_int_eq(mt_wrappers_add(w, ""), -EINVAL);
	ck_assert_int_eq(mt_wrappers_add(w, NULL), -EINVAL);

	/* An exact name matches with or without its parameters. */
	ck_assert(!mt_wrappers_match(w, "my_xmalloc(unsigned long)"));
	ck_assert_int_eq(mt_wrappers_add(w, "my_xmalloc"), 0);
	ck_assert(mt_wrappers_match(w, "my_xmalloc"));
	ck_assert(mt_wrappers_match(w, "my_xmalloc(unsigned long)"));
	ck_assert(!mt_wrappers_match(w, "my_xmalloc2"));
	ck_assert(!mt_wrappers_match(w, "ns::my_xmalloc(unsigned long)"));
	ck_assert_int_eq(mt_wrappers_add(w, "my_xmalloc"), 0); /* twice is fine */
	ck_assert(mt_wrappers_match(w, "my_xmalloc"));

	/* Globs: '*' spans "::", the full name and the short one are tried. */
	ck_assert_int_eq(mt_wrappers_add(w, "Pool::alloc*"), 0);
	ck_assert(mt_wrappers_match(w, "Pool::alloc(unsigned long)"));
	ck_assert(mt_wrappers_match(w, "Pool::alloc_aligned(unsigned long, unsigned long)"));
	ck_assert(!mt_wrappers_match(w, "Pool::free(void*)"));
	ck_assert_int_eq(mt_wrappers_add(w, "*::create"), 0);
	ck_assert(mt_wrappers_match(w, "app::Widget::create(int) const"));
	ck_assert(mt_wrappers_match(w, "Widget::create() [clone .isra.0]"));
	ck_assert(!mt_wrappers_match(w, "Widget::create_all()"));
	ck_assert_int_eq(mt_wrappers_add(w, "g_malloc?"), 0);
	ck_assert(mt_wrappers_match(w, "g_malloc0"));
	ck_assert(!mt_wrappers_match(w, "g_malloc"));
	ck_assert_int_eq(mt_wrappers_add(w, "xre[a]lloc"), 0);
	ck_assert(mt_wrappers_match(w, "xrealloc"));

	/* A literal name with brackets matches itself although fnmatch would
	 * read "[]" as the start of a bracket expression. */
	ck_assert_int_eq(mt_wrappers_add(w, "Arena::operator new[](unsigned long)"), 0);
	ck_assert(mt_wrappers_match(w, "Arena::operator new[](unsigned long)"));

	/* A template function keeps its return type in the short name. */
	ck_assert_int_eq(mt_wrappers_add(w, "*make_shared_thing<*>"), 0);
	ck_assert(mt_wrappers_match(w, "std::shared_ptr<Foo> make_shared_thing<Foo>(int)"));

	/* The defaults are still there. */
	ck_assert(mt_wrappers_match(w, "malloc"));
	ck_assert(!mt_wrappers_match(w, "main"));
	mt_wrappers_destroy(w);
}
END_TEST

/* Names longer than any stack buffer: the short form still matches. */
START_TEST(test_long_names)
{
	struct mt_wrappers *w = mt_wrappers_new();
	ck_assert_int_eq(mt_wrappers_add(w, "Big<*>::allocate"), 0);
	char name[4096] = "Big<";
	size_t len = strlen(name);
	while (len < 1500)
		name[len++] = 'x';
	strcpy(name + len, ">::allocate(unsigned long, void const*) const");
	ck_assert(mt_wrappers_match(w, name));
	name[len + 5] = 'X';          /* ">::alXocate" */
	ck_assert(!mt_wrappers_match(w, name));
	mt_wrappers_destroy(w);
}
END_TEST

/* Qualifiers and suffixes after the parameters; parentheses elsewhere. */
START_TEST(test_short_name_forms)
{
	struct mt_wrappers *w = mt_wrappers_new();
	ck_assert_int_eq(mt_wrappers_add(w, "Foo::get"), 0);
	ck_assert_int_eq(mt_wrappers_add(w, "main::{lambda(int)#1}::operator()"), 0);
	ck_assert_int_eq(mt_wrappers_add(w, "(anonymous namespace)::parse"), 0);
	ck_assert(mt_wrappers_match(w, "Foo::get()"));
	ck_assert(mt_wrappers_match(w, "Foo::get() const"));
	ck_assert(mt_wrappers_match(w, "Foo::get() const &&"));
	ck_assert(mt_wrappers_match(w, "Foo::get() volatile &"));
	ck_assert(mt_wrappers_match(w, "Foo::get(int (*)(int))"));
	ck_assert(mt_wrappers_match(w, "main::{lambda(int)#1}::operator()(int) const"));
	ck_assert(mt_wrappers_match(w, "(anonymous namespace)::parse(char const*) "
				       "[clone .constprop.0] [clone .isra.0]"));
	ck_assert(mt_wrappers_match(w, "(anonymous namespace)::parse"));
	ck_assert(!mt_wrappers_match(w, "Foo::get_const"));
	ck_assert(!mt_wrappers_match(w, "Foo::getter()"));
	ck_assert(!mt_wrappers_match(w, "(anonymous namespace)::parse2(char const*)"));
	/* Not a parameter list: nothing to drop. */
	ck_assert(!mt_wrappers_match(w, "(anonymous namespace)"));
	ck_assert(!mt_wrappers_match(w, "()"));
	ck_assert(!mt_wrappers_match(w, "operator new)"));
	mt_wrappers_destroy(w);
}
END_TEST

START_TEST(test_site_index)
{
	struct mt_wrappers *w = mt_wrappers_new();
	const char *const cxx[] = { "malloc", "operator new(unsigned long)", "Foo::make()", "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, cxx, 4), 2);

	/* A direct call from user code: the caller of malloc. */
	const char *const c[] = { "malloc", "leak_small", "main", "__libc_start_call_main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, c, 4), 1);

	/* glibc's aliases and strdup. */
	const char *const dup[] = { "__GI___libc_malloc", "__GI___strdup", "copy_name", "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, dup, 4), 2);

	/* A stack of only allocator frames names its outermost frame. */
	const char *const all[] = { "malloc", "_Znwm", "operator new[](unsigned long)" };
	ck_assert_int_eq(mt_wrappers_site_index(w, all, 3), 2);
	ck_assert_int_eq(mt_wrappers_site_index(w, all, 1), 0);
	ck_assert_int_eq(mt_wrappers_site_index(w, all, 0), 0);

	/* An unknown frame (stripped module) stops the walk: it may be the
	 * program's own code. */
	const char *const stripped[] = { "malloc", "", "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, stripped, 3), 1);
	const char *const unknown[] = { "malloc", NULL, "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, unknown, 3), 1);
	/* ... unless a wrapper called it: it is the wrapper's own (a stripped
	 * static helper), however many of them. */
	const char *const first_unknown[] = { "", "malloc", "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, first_unknown, 3), 2);
	const char *const pg[] = { "malloc", "postgres+0x5c7800", "palloc", "exec_simple_query",
				   "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, pg, 5), 3);
	const char *const two[] = { "malloc", "libx.so+0x10", "", "g_malloc", "app_main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, two, 5), 4);
	const char *const tail[] = { "malloc", "libx.so+0x10", "" };
	ck_assert_int_eq(mt_wrappers_site_index(w, tail, 3), 1);
	/* A named frame a wrapper called stays the site: the wrapper called
	 * back into the program (std::make_shared<Foo> -> Foo::Foo()). */
	const char *const named[] = { "malloc", "operator new(unsigned long)", "Foo::Foo()",
				      "std::shared_ptr<Foo> std::make_shared<Foo>()", "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, named, 5), 2);
	/* Look-alikes of FILE+0xHEX with a parameter list are names. */
	const char *const params[] = { "malloc", "f+0x1(int)", "palloc", "main" };
	ck_assert_int_eq(mt_wrappers_site_index(w, params, 4), 1);

	/* --wrapper 'Foo::make*' moves the site out to main. */
	ck_assert_int_eq(mt_wrappers_add(w, "Foo::make*"), 0);
	ck_assert_int_eq(mt_wrappers_site_index(w, cxx, 4), 3);
	const char *const wrapped_only[] = { "malloc", "operator new(unsigned long)", "Foo::make()" };
	ck_assert_int_eq(mt_wrappers_site_index(w, wrapped_only, 3), 2);
	mt_wrappers_destroy(w);
}
END_TEST

/* The well-known wrappers of programs: in the default list, and not with
 * mt_wrappers_new_with(false) (--no-default-wrappers), which keeps the
 * allocator's own names. */
static const char *const program_names[] = {
	"_PyObject_Malloc", "PyObject_Malloc", "PyMem_Malloc", "PyMem_RawCalloc",
	"_PyMem_RawMalloc", "_PyObject_GC_New", "PyType_GenericAlloc",
	"zmalloc", "zmalloc_usable", "zcalloc", "zrealloc", "ztrymalloc_usable", "zstrdup",
	"ngx_alloc", "ngx_palloc", "ngx_pnalloc", "ngx_pcalloc", "ngx_memalign",
	"g_malloc", "g_malloc0", "g_malloc_n", "g_realloc", "g_slice_alloc", "g_slice_alloc0",
	"g_try_malloc", "g_strdup",
	"palloc", "palloc0", "palloc_extended", "repalloc", "MemoryContextAlloc",
	"MemoryContextAllocZero", "AllocSetAlloc", "AllocSetRealloc", "pstrdup",
	"xmalloc", "xcalloc", "xrealloc", "xstrdup", "xzalloc", "xmemdup",
};

START_TEST(test_program_wrappers)
{
	struct mt_wrappers *w = mt_wrappers_new(), *bare = mt_wrappers_new_with(false);
	ck_assert_ptr_nonnull(bare);
	for (size_t i = 0; i < sizeof program_names / sizeof *program_names; i++) {
		ck_assert_msg(mt_wrappers_match(w, program_names[i]),
			      "\"%s\" should be a default wrapper", program_names[i]);
		ck_assert_msg(!mt_wrappers_match(bare, program_names[i]),
			      "\"%s\" should not be a wrapper without the defaults",
			      program_names[i]);
	}
	for (size_t i = 0; i < sizeof allocator_names / sizeof *allocator_names; i++)
		ck_assert_msg(mt_wrappers_match(bare, allocator_names[i]),
			      "\"%s\" is the allocator's own, always a wrapper", allocator_names[i]);
	/* A user's pattern still counts. */
	ck_assert(!mt_wrappers_match(bare, "zmalloc"));
	ck_assert_int_eq(mt_wrappers_add(bare, "zmalloc"), 0);
	ck_assert(mt_wrappers_match(bare, "zmalloc"));
	mt_wrappers_destroy(w);
	mt_wrappers_destroy(bare);
}
END_TEST

/* MODULE+OFFSET patterns: the name the symbolizer gives a function of a
 * stripped module, however the user spells the offset or the module. */
START_TEST(test_location_patterns)
{
	static const char *const spellings[] = {
		"postgres+0x5c7800", "postgres+5c7800", "postgres+0x5C7800", "postgres+0X005c7800",
		"/usr/lib/postgresql/15/bin/postgres+0x5c7800", "bin/postgres+5C7800",
	};
	for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
		struct mt_wrappers *w = mt_wrappers_new();
		ck_assert_int_eq(mt_wrappers_add(w, spellings[i]), 0);
		ck_assert_msg(mt_wrappers_match(w, "postgres+0x5c7800"),
			      "--wrapper %s should match postgres+0x5c7800", spellings[i]);
		ck_assert(!mt_wrappers_match(w, "postgres+0x5c780"));
		ck_assert(!mt_wrappers_match(w, "postgres+0x5c78000"));
		ck_assert(!mt_wrappers_match(w, "postgres2+0x5c7800"));
		ck_assert(!mt_wrappers_match(w, "libpq.so.5+0x5c7800"));
		const char *const stack[] = { "malloc", "postgres+0x5c7800", "postgres+0x3a1000",
					      "main" };
		ck_assert_int_eq(mt_wrappers_site_index(w, stack, 4), 2);
		mt_wrappers_destroy(w);
	}
	/* Not locations: kept as names or globs as given. */
	struct mt_wrappers *w = mt_wrappers_new();
	ck_assert_int_eq(mt_wrappers_add(w, "postgres+0x5c78*"), 0);
	ck_assert(mt_wrappers_match(w, "postgres+0x5c7860"));
	ck_assert_int_eq(mt_wrappers_add(w, "operator+"), 0);
	ck_assert(mt_wrappers_match(w, "operator+"));
	ck_assert_int_eq(mt_wrappers_add(w, "libfoo.so+0xzz"), 0);
	ck_assert(mt_wrappers_match(w, "libfoo.so+0xzz"));
	ck_assert(!mt_wrappers_match(w, "libfoo.so+0x0"));
	ck_assert_int_eq(mt_wrappers_add(w, "+0x10"), 0);
	ck_assert(mt_wrappers_match(w, "+0x10"));
	mt_wrappers_destroy(w);
}
END_TEST

static Suite *wrappers_suite(void)
{
	Suite *s = suite_create("wrappers");
	TCase *tc = tcase_create("match");
	tcase_add_test(tc, test_default_names_match);
	tcase_add_test(tc, test_other_names_do_not_match);
	tcase_add_test(tc, test_user_patterns);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_short_name_forms);
	tcase_add_test(tc, test_site_index);
	tcase_add_test(tc, test_program_wrappers);
	tcase_add_test(tc, test_location_patterns);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wrappers_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
