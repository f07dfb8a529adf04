#include <string.h>

#include "allocfn.h"

static const struct {
	const char *name;
	bool needs_return;
} fns[MT_FN__COUNT] = {
#define MT_X(id, name, ret) [MT_FN_##id] = { name, ret },
	MT_FN_LIST(MT_X)
#undef MT_X
};

const char *mt_fn_name(enum mt_fn fn)
{
	return (unsigned)fn < MT_FN__COUNT ? fns[fn].name : "?";
}

bool mt_fn_needs_return(enum mt_fn fn)
{
	return (unsigned)fn < MT_FN__COUNT && fns[fn].needs_return;
}

enum mt_fn mt_fn_from_name(const char *name)
{
	for (int i = 0; i < MT_FN__COUNT; i++)
		if (strcmp(fns[i].name, name) == 0)
			return (enum mt_fn)i;
	return MT_FN__COUNT;
}
