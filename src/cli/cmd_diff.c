/* memtrace diff A B.  Reads both snapshots (every bad input gets one line
 * and a documented status, errors.h), refuses two different programs
 * unless --force, then prints the rows in the chosen format. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cmd_diff.h"
#include "cli/snapload.h"
#include "report/diff.h"
#include "report/pprof.h"
#include "session/output.h"
#include "util/errors.h"
#include "util/msg.h"
#include "snapshot/snapshot.h"

/* The diff D of A and B in O's format to F: 0, or -1. */
static int print(FILE *f, const struct mt_options *o, const struct mt_snapshot *a,
		 const struct mt_snapshot *b, const struct mt_diff *d)
{
	int top = o->json && !o->top_given ? 0 : o->top;
	bool color = f == stdout && o->format == MT_FORMAT_TABLE && isatty(STDOUT_FILENO) &&
		     !getenv("NO_COLOR");
	if (o->format == MT_FORMAT_PPROF)
		return mt_report_pprof_diff(f, a, b);
	if (o->format == MT_FORMAT_JSON)
		return mt_diff_print_json(f, a, b, d, top);
	if (o->format == MT_FORMAT_FOLDED)
		return mt_diff_print_folded(f, b, d);
	return mt_diff_print_table(f, a, b, d, top, color);
}

int mt_cmd_diff(const struct mt_options *o)
{
	struct mt_snapshot *a = NULL, *b = NULL;
	FILE *out = NULL;
	int rc = mt_cli_load_snapshot(o->diff_a, &a);
	if (rc == 0)
		rc = mt_cli_load_snapshot(o->diff_b, &b);
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
	/* once A and B are read: -o A must not empty A before */
	char oerr[600];
	if (rc == 0 && !(out = mt_output_open(o, oerr, sizeof oerr))) {
		rc = mt_fail(MT_E_USAGE, "%s", oerr);
		mt_diff_free(&d);
	}
	if (rc == 0) {
		if (print(out, o, a, b, &d) < 0 || mt_output_close(out) < 0)
			rc = mt_fail(MT_E_IO, "cannot write the diff: check the output");
		out = NULL;
		mt_diff_free(&d);
	}
	mt_output_close(out);
	if (a)
		mt_snapshot_free(a);
	if (b)
		mt_snapshot_free(b);
	return rc;
}
