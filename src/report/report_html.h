/* --format html and memtrace report: one self-contained page (no network
 * at view time) with the header, a sortable table of the sites, a growth
 * chart per site, a flame graph of live bytes by stack and the census by
 * type.  The page's libraries (uPlot, d3-flame-graph) are embedded at build
 * time (html_assets.h); what the report says goes into the page as one JSON
 * document, built by mt_report_html_data (pure, unit-tested), which the
 * page's script renders.  The target's names are untrusted: the JSON is
 * written with every '<' escaped, so that no name can end its <script>. */
#ifndef MT_REPORT_HTML_H
#define MT_REPORT_HTML_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "report/report.h"

/* At most this many sites go into the flame graph, the largest by live
 * bytes; the rest are one "(other sites)" box, so that a process with a
 * million sites makes a page a browser can still draw. */
#define MT_HTML_FLAME_SITES 5000

/* How the charts' time axis reads: seconds since attach (attach's
 * intervals), or wall-clock time (memtrace report's snapshots). */
enum mt_html_time { MT_HTML_TIME_SINCE_ATTACH, MT_HTML_TIME_UNIX };

/* The page's data: {memtrace_version, title, time_axis, header{...},
 * sites[{name, function, module, file, line, live_bytes, live_blocks,
 * allocs, frees, alloc_bytes, trend, rate_bytes_per_min, series{t[],
 * bytes[]} or null, stack[]}], flame{name, value, children[]}, census,
 * census_unavailable, heap}.  sites: TOP rows (0: all) in R's order.  A
 * new reference; NULL when out of memory or when whether html can be
 * written at all (mt_report_html_available) says no. */
json_t *mt_report_html_data(const struct mt_report *r, int top, enum mt_html_time axis);

/* Whether this memtrace was built with the page's libraries (the build
 * found web/node_modules; tools/setup installs them). */
bool mt_report_html_available(void);

/* Write the page to F.  0; -1 when writing failed or out of memory;
 * -2 when built without the libraries (mt_report_html_available). */
int mt_report_html(FILE *f, const struct mt_report *r, int top, enum mt_html_time axis);

#endif
