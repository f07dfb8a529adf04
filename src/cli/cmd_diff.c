/* memtrace diff A B.  Reads both snapshots (every bad input gets one line
 * and a documented status, errors.h), refuses two different programs
 * unless --force, then prints the rows in the chosen format. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cmd_diff.h"
#include "report/diff.h"
#include "util/errors.h"
#include "util/msg.h"
#include "snapshot/snapshot.h"


static int load(const char *path, struct mt_snapshot **out)
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
		return mt_fail(e, "%s is not a usable snapshot (%s): take one with 'memtrace snapshot "
			    "PID -o FILE'", path, why);
	}
}

int mt_cmd_diff(const struct mt_options *o)
{
	struct mt_snapshot *a = NULL, *b = NULL;
	int rc = load(o->diff_a, &a);
	if (rc == 0)
		rc = load(o->diff_b, &b);
	if (rc == 0 && !o->force) {
		char why[512];
		if (!mt_diff_same_program(a, b, why, sizeof why))
			rc = mt_fail(MT_E_DIFFERENT_PROGRAMS, "%s and %s are snapshots of different "
				  "programs (%s): give --force to compare them anyway", o->diff_a,
				  o->diff_b, why);
	}
	struct mt_diff d = { 0 };
	if (rc == 0 && mt_diff_compute(a, b, o->group_by, &d) < 0)
		rc = mt_fail(MT_E_INTERNAL, "out of memory comparing the snapshots");
	if (rc == 0) {
		int top = o->json && !o->top_given ? 0 : o->top;
		bool color = o->format == MT_FORMAT_TABLE && isatty(STDOUT_FILENO) &&
			     !getenv("NO_COLOR");
		int err;
		if (o->format == MT_FORMAT_JSON)
			err = mt_diff_print_json(stdout, a, b, &d, top);
		else if (o->format == MT_FORMAT_FOLDED)
			err = mt_diff_print_folded(stdout, b, &d);
		else
			err = mt_diff_print_table(stdout, a, b, &d, top, color);
		if (err < 0)
			rc = mt_fail(MT_E_IO, "cannot write the diff: check the output");
		mt_diff_free(&d);
	}
	if (a)
		mt_snapshot_free(a);
	if (b)
		mt_snapshot_free(b);
	return rc;
}
