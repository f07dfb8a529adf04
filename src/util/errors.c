#include "util/errors.h"

static const struct {
	int exit_status;
	const char *message;
} table[MT_E__COUNT] = {
#define MT_X(name, code, msg) [MT_E_##name] = { code, msg },
	MT_ERROR_LIST(MT_X)
#undef MT_X
};

int mt_err_exit_status(enum mt_err e)
{
	if ((unsigned)e >= MT_E__COUNT)
		return 1;
	return table[e].exit_status;
}

const char *mt_err_default_message(enum mt_err e)
{
	if ((unsigned)e >= MT_E__COUNT)
		return "unknown error";
	return table[e].message;
}
