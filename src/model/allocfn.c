#include <string.h>

#include "model/allocfn.h"

static const struct {
	const char *name;
	enum mt_fn_abi abi;
	enum mt_fn_size size;
	enum mt_fn_family family;
} fns[MT_FN__COUNT] = {
#define MT_X(id, name, abi, size, fam) \
	[MT_FN_##id] = { name, MT_ABI_##abi, MT_SZ_##size, MT_FAM_##fam },
	MT_FN_LIST(MT_X)
#undef MT_X
};

const char *mt_fn_name(enum mt_fn fn)
{
	return (unsigned)fn < MT_FN__COUNT ? fns[fn].name : "?";
}

enum mt_fn_abi mt_fn_abi(enum mt_fn fn)
{
	return (unsigned)fn < MT_FN__COUNT ? fns[fn].abi : MT_ABI__COUNT;
}

enum mt_fn_size mt_fn_size(enum mt_fn fn)
{
	return (unsigned)fn < MT_FN__COUNT ? fns[fn].size : MT_SZ_NONE;
}

enum mt_fn_family mt_fn_family(enum mt_fn fn)
{
	return (unsigned)fn < MT_FN__COUNT ? fns[fn].family : MT_FAM_C;
}

bool mt_fn_is_free(enum mt_fn fn)
{
	enum mt_fn_abi a = mt_fn_abi(fn);
	return a == MT_ABI_FREE1 || a == MT_ABI_FREE2 || a == MT_ABI_FREE3 || a == MT_ABI_FREE_CTX;
}

bool mt_fn_is_realloc(enum mt_fn fn)
{
	enum mt_fn_abi a = mt_fn_abi(fn);
	return a == MT_ABI_REALLOC2 || a == MT_ABI_REALLOC3 || a == MT_ABI_REALLOC_CTX;
}

bool mt_fn_needs_return(enum mt_fn fn)
{
	if ((unsigned)fn >= MT_FN__COUNT)
		return false;
	return !mt_fn_is_free(fn) || fns[fn].family != MT_FAM_C;
}

enum mt_fn mt_fn_nothrow(enum mt_fn fn)
{
	static const enum mt_fn pairs[][2] = {
		{ MT_FN_NEW, MT_FN_NEW_NOTHROW },
		{ MT_FN_NEW_ARRAY, MT_FN_NEW_ARRAY_NOTHROW },
		{ MT_FN_NEW_ALIGNED, MT_FN_NEW_ALIGNED_NOTHROW },
		{ MT_FN_NEW_ARRAY_ALIGNED, MT_FN_NEW_ARRAY_ALIGNED_NOTHROW },
		{ MT_FN_TC_NEW, MT_FN_TC_NEW_NOTHROW },
		{ MT_FN_TC_NEWARRAY, MT_FN_TC_NEWARRAY_NOTHROW },
		{ MT_FN_TC_NEW_ALIGNED, MT_FN_TC_NEW_ALIGNED_NOTHROW },
		{ MT_FN_TC_NEWARRAY_ALIGNED, MT_FN_TC_NEWARRAY_ALIGNED_NOTHROW },
		{ MT_FN_MI_NEW, MT_FN_MI_NEW_NOTHROW },
		{ MT_FN_MI_NEW_ALIGNED, MT_FN_MI_NEW_ALIGNED_NOTHROW },
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
		if (pairs[i][0] == fn)
			return pairs[i][1];
	return MT_FN__COUNT;
}

enum mt_fn mt_fn_from_name(const char *name)
{
	for (int i = 0; i < MT_FN__COUNT; i++)
		if (strcmp(fns[i].name, name) == 0)
			return (enum mt_fn)i;
	return MT_FN__COUNT;
}
