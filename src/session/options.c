#include "session/options.h"

static const char *const group_names[] = {
	[MT_GROUP_SITE] = "site", [MT_GROUP_STACK] = "stack",
	[MT_GROUP_FUNCTION] = "function", [MT_GROUP_MODULE] = "module",
};

static const char *const engine_names[] = {
	[MT_ENGINE_INJECT] = "inject", [MT_ENGINE_BREAKPOINT] = "breakpoint",
};

const char *mt_engine_kind_name(enum mt_engine_kind e)
{
	return (unsigned)e < sizeof engine_names / sizeof engine_names[0] ? engine_names[e] : "?";
}

const char *mt_group_name(enum mt_group g)
{
	return (unsigned)g < sizeof group_names / sizeof group_names[0] ? group_names[g] : "?";
}
