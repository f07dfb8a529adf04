#include "session/options.h"

static const char *const engine_names[] = {
	[MT_ENGINE_INJECT] = "inject", [MT_ENGINE_BREAKPOINT] = "breakpoint",
};

const char *mt_engine_kind_name(enum mt_engine_kind e)
{
	return (unsigned)e < sizeof engine_names / sizeof engine_names[0] ? engine_names[e] : "?";
}
