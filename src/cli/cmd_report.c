/* memtrace report SNAPSHOT... [-o FILE].  Reads every snapshot (a bad one
 * gets one line and a documented status, errors.h), builds the report
 * (report_snap.h) and writes the HTML page (report_html.h) to FILE,
 * atomically, or to standard output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_report.h"
#include "cli/snapload.h"
#include "report/report_build.h"
#include "report/report_html.h"
#include "report/report_snap.h"
#include "snapshot/snapshot.h"
#include "util/atomicfile.h"
#include "util/errors.h"
#include "util/msg.h"

static int write_page(const struct mt_options *o, const struct mt_report *r)
{
	if (!o->output_path) {
		if (mt_report_html(stdout, r, o->top, MT_HTML_TIME_UNIX) < 0)
			return mt_fail(MT_E_IO, "cannot write the report: check the output");
		return 0;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return mt_fail(MT_E_INTERNAL, "out of memory writing the report");
	int err = mt_report_html(f, r, o->top, MT_HTML_TIME_UNIX);
	if (fclose(f) != 0 || err < 0) {
		free(buf);
		return mt_fail(MT_E_INTERNAL, "out of memory writing the report");
	}
	char why[256];
	int rc = 0;
	if (mt_atomic_write(o->output_path, buf, len, why, sizeof why) < 0)
		rc = mt_fail(MT_E_IO, "cannot write %s: %s: give a writable path", o->output_path,
			     why);
	free(buf);
	return rc;
}

int mt_cmd_report(const struct mt_options *o)
{
	size_t n = (size_t)o->nreport_files;
	struct mt_snapshot **snaps = calloc(n, sizeof *snaps);
	if (!snaps)
		return mt_fail(MT_E_INTERNAL, "out of memory reading the snapshots");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = mt_cli_load_snapshot(o->report_files[i], &snaps[i]);
	struct mt_report r;
	struct mt_report_frame *frames = NULL;
	if (rc == 0) {
		if (mt_report_from_snapshots(snaps, n, &r, &frames) < 0)
			rc = mt_fail(MT_E_INTERNAL, "out of memory reading the snapshots");
		else
			rc = write_page(o, &r);
		mt_report_free(&r);
		free(frames);
	}
	for (size_t i = 0; i < n; i++)
		mt_snapshot_free(snaps[i]);
	free(snaps);
	return rc;
}
