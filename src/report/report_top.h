/* What `memtrace top` shows, as text: the rows of an attach report in the
 * order a sort key asks, each row's line (live bytes, change, rate, churn,
 * sparkline, verdict, site), the header lines, an expanded stack's lines,
 * and the sparkline in ASCII for a terminal without UTF-8.  Pure: no
 * terminal, no curses; cli/top_curses.c draws these lines.
 *
 * A row's line (WIDTH columns, cut there; the site takes what is left):
 *
 *   rank  live bytes    interval    rate/min  churn a/f  live over time  verdict      site
 *      1   101.0 KiB   +10.0 KiB   50.0 KiB      20/0   ▁▂▃▄▅▆▇█        growing      leak_steady+0x17 (grow_sites) grow_sites.c:64
 */
#ifndef MT_REPORT_TOP_H
#define MT_REPORT_TOP_H

#include <stdbool.h>
#include <stddef.h>

#include "report/report.h"

/* The keys rows are sorted by; `o` steps to the next. */
enum mt_top_sort {
	MT_TOP_BY_GROWTH,   /* evidence for growth (the verdict's score), then live bytes */
	MT_TOP_BY_LIVE,	    /* live bytes */
	MT_TOP_BY_RATE,	    /* growth rate of the low points */
	MT_TOP_BY_CHURN,    /* allocations + frees in the last interval */
	MT_TOP_BY_INTERVAL, /* change of live bytes in the last interval */
	MT_TOP_NSORTS
};

/* "growth", "live", "rate", "churn", "interval". */
const char *mt_top_sort_name(enum mt_top_sort k);
enum mt_top_sort mt_top_sort_next(enum mt_top_sort k);

/* Sort R's sites by K, largest first; ties by live bytes, then address
 * (the order stays the same from one refresh to the next). */
void mt_top_sort(struct mt_report *r, enum mt_top_sort k);

/* How a row is shown: its verdict's tone (the curses side picks colors). */
enum mt_top_tone { MT_TOP_TONE_PLAIN, MT_TOP_TONE_ALERT, MT_TOP_TONE_WARN, MT_TOP_TONE_GOOD };
enum mt_top_tone mt_top_tone(const struct mt_report_site *s);

/* The column titles, WIDTH columns at most. */
void mt_top_columns(char *buf, size_t len, int width);
/* Row RANK (from 1) of site S; ASCII: the sparkline in ASCII. */
void mt_top_row(char *buf, size_t len, int width, int rank, const struct mt_report_site *s,
		bool ascii);

/* The header: line 0 the process and the view's state, line 1 the trace
 * (events, lost events, live), line 2 the heap summary of the census. */
#define MT_TOP_HEADER_LINES 3
void mt_top_header(char *buf, size_t len, int line, int width, const struct mt_report *r,
		   enum mt_top_sort k, bool paused);

/* Line I (from 0) of site S's stack, innermost first, the site's frame
 * marked "->"; false when there is no such line.  A site without a stack
 * has one line that says so. */
bool mt_top_stack_line(char *buf, size_t len, int width, const struct mt_report_site *s, int i);

/* SPARK (U+2581..U+2588 cells, as mt_series_sparkline writes them) in
 * ASCII, one character a cell: "_.-:=+*#" from lowest to highest. */
void mt_top_spark_ascii(char *buf, size_t len, const char *spark);

#endif
