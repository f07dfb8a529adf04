/* See snapload.h. */
#include "cli/snapload.h"
#include "util/errors.h"
#include "util/msg.h"

int mt_cli_load_snapshot(const char *path, struct mt_snapshot **out)
{
	char why[512];
	enum mt_err e = mt_snapshot_read(path, out, why, sizeof why);
	if (e == MT_E_OK)
		return 0;
	switch (e) {
	case MT_E_SNAPSHOT_VERSION:
		return mt_fail(e, "%s: %s: read it with a newer memtrace", path, why);
	case MT_E_IO:
		return mt_fail(e, "%s: %s: give a readable snapshot file", path, why);
	default:
		return mt_fail(e,
			       "%s is not a usable snapshot (%s): take one with 'memtrace snapshot "
			       "PID -o FILE' or 'attach --record FILE'",
			       path, why);
	}
}
