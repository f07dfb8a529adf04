#include "util/errors.h"

#include <errno.h>

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

enum mt_err mt_err_from_errno(int err)
{
	if (err == 0)
		return MT_E_OK;
	if (err > 0)
		return MT_E_INTERNAL;
	switch (-err) {
	case ESRCH:
	case ENOENT:
		return MT_E_TARGET_LOST;
	case EPERM:
	case EACCES:
		return MT_E_PERMISSION;
	case ENOMEM:
		return MT_E_INTERNAL;
	default:
		return MT_E_IO;
	}
}
