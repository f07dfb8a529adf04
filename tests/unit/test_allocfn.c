/* The allocator entry-point table (allocfn.h): every name found back by
 * name, conventions that agree with the sizes they read, and the C++
 * operators' mangled names read back as the arguments the table says.
 * Aliases share one hook, so a wrong convention here reads a pointer as a
 * size for every call of that hook. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/allocfn.h"

START_TEST(test_names_round_trip)
{
	for (int i = 0; i < MT_FN__COUNT; i++) {
		enum mt_fn fn = (enum mt_fn)i;
		ck_assert_msg(mt_fn_from_name(mt_fn_name(fn)) == fn, "%s", mt_fn_name(fn));
	}
	ck_assert_int_eq(mt_fn_from_name("xallocx"), MT_FN__COUNT);
	ck_assert_int_eq(mt_fn_from_name("mi_heap_malloc"), MT_FN__COUNT);
	ck_assert_str_eq(mt_fn_name(MT_FN__COUNT), "?");
}
END_TEST

/* A free reads no size and needs no result from the C library; every
 * allocation reads a size from an argument it has. */
START_TEST(test_conventions_agree_with_sizes)
{
	static const int nargs[MT_ABI__COUNT] = {
		[MT_ABI_ALLOC1] = 1, [MT_ABI_ALLOC2] = 2, [MT_ABI_ALLOC3] = 3,
		[MT_ABI_REALLOC2] = 2, [MT_ABI_REALLOC3] = 3, [MT_ABI_POSIX_MEMALIGN] = 3,
		[MT_ABI_FREE1] = 1, [MT_ABI_FREE2] = 2, [MT_ABI_FREE3] = 3,
		[MT_ABI_NEW1] = 1, [MT_ABI_NEW2] = 2,
		[MT_ABI_REALLOC_CTX] = 3, [MT_ABI_FREE_CTX] = 2,
	};
	static const int last_arg[] = {
		[MT_SZ_NONE] = -1, [MT_SZ_A0] = 0, [MT_SZ_A1] = 1, [MT_SZ_A2] = 2,
		[MT_SZ_A0A1] = 1, [MT_SZ_A1A2] = 2,
	};
	for (int i = 0; i < MT_FN__COUNT; i++) {
		enum mt_fn fn = (enum mt_fn)i;
		const char *name = mt_fn_name(fn);
		enum mt_fn_size sz = mt_fn_size(fn);
		ck_assert_msg(mt_fn_abi(fn) < MT_ABI__COUNT, "%s", name);
		ck_assert_msg(mt_fn_is_free(fn) == (sz == MT_SZ_NONE), "%s", name);
		ck_assert_msg(last_arg[sz] < nargs[mt_fn_abi(fn)], "%s reads past its arguments", name);
		/* the agent's one-argument handler takes a0 as the size */
		if (mt_fn_abi(fn) == MT_ABI_ALLOC1 || mt_fn_abi(fn) == MT_ABI_NEW1)
			ck_assert_msg(sz == MT_SZ_A0, "%s", name);
		if (mt_fn_is_realloc(fn))
			ck_assert_msg(sz != MT_SZ_A0 && sz != MT_SZ_A0A1, "%s: a0 is the block", name);
		ck_assert_msg(mt_fn_needs_return(fn) ==
				      (!mt_fn_is_free(fn) || mt_fn_family(fn) != MT_FAM_C),
			      "%s", name);
	}
	ck_assert(!mt_fn_needs_return(MT_FN_FREE));
	ck_assert(mt_fn_needs_return(MT_FN_DELETE));   /* jemalloc's jumps to free */
}
END_TEST

/* Itanium mangling of the operators: _Zn[wa]m = new(size_t), then
 * St11align_val_t (an alignment) and RKSt9nothrow_t (a reference);
 * _Zd[la]Pv = delete(void *), then m (a size) and the same.  The table's
 * convention must read exactly that many arguments, the size first. */
START_TEST(test_operators_match_their_mangling)
{
	int operators = 0;
	for (int i = 0; i < MT_FN__COUNT; i++) {
		enum mt_fn fn = (enum mt_fn)i;
		const char *n = mt_fn_name(fn);
		bool is_new = strncmp(n, "_Znwm", 5) == 0 || strncmp(n, "_Znam", 5) == 0;
		bool is_del = strncmp(n, "_ZdlPv", 6) == 0 || strncmp(n, "_ZdaPv", 6) == 0;
		ck_assert_msg((is_new || is_del) == (mt_fn_family(fn) == MT_FAM_CXX), "%s", n);
		if (!is_new && !is_del)
			continue;
		operators++;
		const char *rest = n + (is_new ? 5 : 6);
		int args = 1;
		if (is_del && *rest == 'm') {
			args++;
			rest++;
		}
		if (strncmp(rest, "St11align_val_t", 15) == 0) {
			args++;
			rest += 15;
		}
		if (strcmp(rest, "RKSt9nothrow_t") == 0) {
			args++;
			rest += 14;
		}
		ck_assert_msg(*rest == 0, "%s: unexpected mangling", n);
		bool nothrow = strstr(n, "nothrow") != NULL;
		/* a throwing new: its own stubs, and a nothrow form to call */
		static const enum mt_fn_abi throw_abi[] = { 0, MT_ABI_NEW1, MT_ABI_NEW2 };
		static const enum mt_fn_abi new_abi[] = { 0, MT_ABI_ALLOC1, MT_ABI_ALLOC2,
							  MT_ABI_ALLOC3 };
		static const enum mt_fn_abi del_abi[] = { 0, MT_ABI_FREE1, MT_ABI_FREE2,
							  MT_ABI_FREE3 };
		enum mt_fn_abi want = is_del ? del_abi[args] : nothrow ? new_abi[args]
								   : throw_abi[args];
		ck_assert_msg(mt_fn_abi(fn) == want, "%s", n);
		if (is_new)
			ck_assert_msg(mt_fn_size(fn) == MT_SZ_A0, "%s", n);
		if (is_new && !nothrow) {
			char sib[64];
			snprintf(sib, sizeof sib, "%sRKSt9nothrow_t", n);
			ck_assert_str_eq(mt_fn_name(mt_fn_nothrow(fn)), sib);
		} else {
			ck_assert_int_eq(mt_fn_nothrow(fn), MT_FN__COUNT);
		}
	}
	ck_assert_int_eq(operators, 20);
}
END_TEST

/* Every throwing new (its own stubs) has a nothrow form of the same
 * family, which takes the same leading arguments and does not throw. */
START_TEST(test_throwing_new_has_nothrow_form)
{
	int throwing = 0;
	for (int i = 0; i < MT_FN__COUNT; i++) {
		enum mt_fn fn = (enum mt_fn)i, alt = mt_fn_nothrow(fn);
		bool throws = mt_fn_abi(fn) == MT_ABI_NEW1 || mt_fn_abi(fn) == MT_ABI_NEW2;
		ck_assert_msg(throws == (alt != MT_FN__COUNT), "%s", mt_fn_name(fn));
		if (!throws)
			continue;
		throwing++;
		ck_assert_int_eq(mt_fn_family(alt), mt_fn_family(fn));
		ck_assert_msg(mt_fn_abi(alt) == MT_ABI_ALLOC1 || mt_fn_abi(alt) == MT_ABI_ALLOC2 ||
				      mt_fn_abi(alt) == MT_ABI_ALLOC3,
			      "%s", mt_fn_name(alt));
		ck_assert_int_eq(mt_fn_size(alt), mt_fn_size(fn));
	}
	ck_assert_int_eq(throwing, 10);
}
END_TEST

/* CPython's allocator API: PyObject_ and PyMem_ Malloc(size),
 * Calloc(nelem, elsize), Realloc(p, size) and Free(p), eight entries of
 * their own family (hooked wherever the runtime defines them), not the
 * PyMem_Raw ones (they only call malloc).  Their frees need the return:
 * PyObject_Free of a large block calls free inside, one call. */
START_TEST(test_cpython_api)
{
	static const struct {
		const char *suffix;
		enum mt_fn_abi abi;
		enum mt_fn_size size;
	} want[] = {
		{ "Malloc", MT_ABI_ALLOC1, MT_SZ_A0 },
		{ "Calloc", MT_ABI_ALLOC2, MT_SZ_A0A1 },
		{ "Realloc", MT_ABI_REALLOC2, MT_SZ_A1 },
		{ "Free", MT_ABI_FREE1, MT_SZ_NONE },
	};
	static const char *const prefixes[] = { "PyObject_", "PyMem_" };
	int py = 0;
	for (int i = 0; i < MT_FN__COUNT; i++)
		py += mt_fn_family((enum mt_fn)i) == MT_FAM_PY;
	ck_assert_int_eq(py, 8);
	for (size_t p = 0; p < 2; p++)
		for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
			char name[64];
			snprintf(name, sizeof name, "%s%s", prefixes[p], want[k].suffix);
			enum mt_fn fn = mt_fn_from_name(name);
			ck_assert_msg(fn != MT_FN__COUNT, "%s", name);
			ck_assert_int_eq(mt_fn_family(fn), MT_FAM_PY);
			ck_assert_int_eq(mt_fn_abi(fn), want[k].abi);
			ck_assert_int_eq(mt_fn_size(fn), want[k].size);
			ck_assert(mt_fn_needs_return(fn));
		}
	ck_assert_int_eq(mt_fn_from_name("PyMem_RawMalloc"), MT_FN__COUNT);
	ck_assert_int_eq(mt_fn_from_name("_PyObject_Malloc"), MT_FN__COUNT);
}
END_TEST

/* CPython's allocator tables' functions (MT_FAM_PYTAB): ctx first, the
 * block after it, the size after that. */
START_TEST(test_cpython_tables)
{
	static const struct {
		enum mt_fn fn;
		enum mt_fn_abi abi;
		enum mt_fn_size size;
	} want[] = {
		{ MT_FN_PYTAB_MALLOC, MT_ABI_ALLOC2, MT_SZ_A1 },
		{ MT_FN_PYTAB_CALLOC, MT_ABI_ALLOC3, MT_SZ_A1A2 },
		{ MT_FN_PYTAB_REALLOC, MT_ABI_REALLOC_CTX, MT_SZ_A2 },
		{ MT_FN_PYTAB_FREE, MT_ABI_FREE_CTX, MT_SZ_NONE },
	};
	int n = 0;
	for (int i = 0; i < MT_FN__COUNT; i++)
		n += mt_fn_family((enum mt_fn)i) == MT_FAM_PYTAB;
	ck_assert_int_eq(n, 4);
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		ck_assert_int_eq(mt_fn_family(want[k].fn), MT_FAM_PYTAB);
		ck_assert_int_eq(mt_fn_abi(want[k].fn), want[k].abi);
		ck_assert_int_eq(mt_fn_size(want[k].fn), want[k].size);
	}
	ck_assert(mt_fn_is_realloc(MT_FN_PYTAB_REALLOC));
	ck_assert(mt_fn_is_free(MT_FN_PYTAB_FREE));
	ck_assert_uint_eq(mt_fn_size_of(mt_fn_size(MT_FN_PYTAB_REALLOC), 1, 0x1000, 48), 48);
}
END_TEST

START_TEST(test_size_rules)
{
	ck_assert_uint_eq(mt_fn_size_of(MT_SZ_A0, 7, 11, 13), 7);
	ck_assert_uint_eq(mt_fn_size_of(MT_SZ_A1, 7, 11, 13), 11);
	ck_assert_uint_eq(mt_fn_size_of(MT_SZ_A2, 7, 11, 13), 13);
	ck_assert_uint_eq(mt_fn_size_of(MT_SZ_A0A1, 7, 11, 13), 77);
	ck_assert_uint_eq(mt_fn_size_of(MT_SZ_A1A2, 7, 11, 13), 143);
	ck_assert_uint_eq(mt_fn_size_of(MT_SZ_NONE, 7, 11, 13), 0);
	/* calloc(n, size), memalign(al, size), mallocx(size, flags) */
	ck_assert_int_eq(mt_fn_size(MT_FN_CALLOC), MT_SZ_A0A1);
	ck_assert_int_eq(mt_fn_size(MT_FN_MEMALIGN), MT_SZ_A1);
	ck_assert_int_eq(mt_fn_size(MT_FN_MALLOCX), MT_SZ_A0);
	ck_assert_int_eq(mt_fn_size(MT_FN_RALLOCX), MT_SZ_A1);
	ck_assert_int_eq(mt_fn_size(MT_FN_MI_CALLOC_ALIGNED), MT_SZ_A0A1);
}
END_TEST

START_TEST(test_fn_set)
{
	struct mt_fn_set s = { 0 };
	ck_assert(!mt_fn_set_has(&s, MT_FN_MALLOC));
	mt_fn_set_add(&s, MT_FN_MALLOC);
	mt_fn_set_add(&s, (enum mt_fn)(MT_FN__COUNT - 1));
	ck_assert(mt_fn_set_has(&s, MT_FN_MALLOC));
	ck_assert(mt_fn_set_has(&s, (enum mt_fn)(MT_FN__COUNT - 1)));
	ck_assert(!mt_fn_set_has(&s, MT_FN_FREE));
	ck_assert(!mt_fn_set_has(&s, MT_FN__COUNT));
}
END_TEST

static Suite *allocfn_suite(void)
{
	Suite *s = suite_create("allocfn");
	TCase *tc = tcase_create("allocfn");
	tcase_add_test(tc, test_names_round_trip);
	tcase_add_test(tc, test_conventions_agree_with_sizes);
	tcase_add_test(tc, test_operators_match_their_mangling);
	tcase_add_test(tc, test_throwing_new_has_nothrow_form);
	tcase_add_test(tc, test_cpython_api);
	tcase_add_test(tc, test_cpython_tables);
	tcase_add_test(tc, test_size_rules);
	tcase_add_test(tc, test_fn_set);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(allocfn_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
