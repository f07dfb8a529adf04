/* Tests for the names src/symbols/symbolize.c gives functions that no symbol
 * names, on the test's own process (no ptrace): a stripped shared library
 * (stripped_lib.c, path in UNIT_STRIPPED_LIB) is dlopened, and its static
 * hidden_work is named after its .eh_frame FDE, "libunit_stripped.so+0xSTART",
 * START its ELF address, at every address in it. */
#include <check.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/symbolize.h"

START_TEST(test_static_function_named_by_fde)
{
	const char *path = getenv("UNIT_STRIPPED_LIB");
	ck_assert_msg(path != NULL, "UNIT_STRIPPED_LIB is not set");
	void *lib = dlopen(path, RTLD_NOW);
	ck_assert_msg(lib != NULL, "dlopen %s: %s", path, dlerror());
	void *(*addr_of)(void) = (void *(*)(void))dlsym(lib, "stripped_hidden_addr");
	int (*call)(int) = (int (*)(int))dlsym(lib, "stripped_call");
	ck_assert_ptr_nonnull(addr_of);
	ck_assert_ptr_nonnull(call);
	ck_assert_int_ne(call(5), 0);
	uint64_t fn = (uint64_t)(uintptr_t)addr_of();

	struct mt_symbolizer *sym = mt_symbolizer_new(getpid());
	ck_assert_ptr_nonnull(sym);
	struct mt_symbol s;
	mt_symbolize(sym, fn + 3, &s);
	ck_assert_msg(strstr(s.module, "libunit_stripped.so") != NULL, "module %s", s.module);
	ck_assert_uint_eq(s.offset, 3);
	char want[300];
	snprintf(want, sizeof want, "libunit_stripped.so+0x%" PRIx64, s.module_offset - 3);
	ck_assert_str_eq(s.function, want);

	/* Every address of the function has the one name; a return address
	 * is looked up one byte before. */
	struct mt_frame fr[4];
	ck_assert_int_eq(mt_symbolize_pc(sym, fn + 9, true, fr, 4), 1);
	ck_assert_str_eq(fr[0].sym.function, want);
	ck_assert_uint_eq(fr[0].sym.offset, 8);
	ck_assert_int_eq(mt_symbolize_pc(sym, fn, false, fr, 4), 1);
	ck_assert_str_eq(fr[0].sym.function, want);
	ck_assert_uint_eq(fr[0].sym.offset, 0);

	/* An exported function keeps its .dynsym name. */
	mt_symbolize(sym, (uint64_t)(uintptr_t)call + 1, &s);
	ck_assert_str_eq(s.function, "stripped_call");
	mt_symbolizer_destroy(sym);
	dlclose(lib);
}
END_TEST

static Suite *stripped_suite(void)
{
	Suite *s = suite_create("symbolize_stripped");
	TCase *tc = tcase_create("fde");
	tcase_add_test(tc, test_static_function_named_by_fde);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stripped_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
