/* `memtrace top`'s text: see report_top.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_top.h"

static const char *const sort_names[MT_TOP_NSORTS] = {
	[MT_TOP_BY_GROWTH] = "growth", [MT_TOP_BY_LIVE] = "live",	  [MT_TOP_BY_RATE] = "rate",
	[MT_TOP_BY_CHURN] = "churn",   [MT_TOP_BY_INTERVAL] = "interval",
};

const char *mt_top_sort_name(enum mt_top_sort k)
{
	return k < MT_TOP_NSORTS ? sort_names[k] : "?";
}

enum mt_top_sort mt_top_sort_next(enum mt_top_sort k)
{
	return (enum mt_top_sort)((k + 1) % MT_TOP_NSORTS);
}

/* ---- order ------------------------------------------------------------- */

static double sort_value(const struct mt_report_site *s, enum mt_top_sort k)
{
	switch (k) {
	case MT_TOP_BY_GROWTH:
		return s->score;
	case MT_TOP_BY_LIVE:
		return (double)s->live_bytes;
	case MT_TOP_BY_RATE:
		return s->rate_bytes_per_min;
	case MT_TOP_BY_CHURN:
		return (double)s->churn_allocs + (double)s->churn_frees;
	case MT_TOP_BY_INTERVAL:
		return (double)s->delta_interval;
	case MT_TOP_NSORTS:
		break;
	}
	return 0;
}

/* qsort has no context argument: the key of the sort under way.  top
 * sorts from one thread only. */
static enum mt_top_sort sorting_by;

static int cmp_rows(const void *a, const void *b)
{
	const struct mt_report_site *x = a, *y = b;
	double vx = sort_value(x, sorting_by), vy = sort_value(y, sorting_by);
	if (vx != vy)
		return vx > vy ? -1 : 1;
	if (x->live_bytes != y->live_bytes)
		return x->live_bytes > y->live_bytes ? -1 : 1;
	return x->address < y->address ? -1 : (x->address > y->address);
}

void mt_top_sort(struct mt_report *r, enum mt_top_sort k)
{
	sorting_by = k < MT_TOP_NSORTS ? k : MT_TOP_BY_GROWTH;
	if (r->nsites)
		qsort(r->sites, r->nsites, sizeof r->sites[0], cmp_rows);
}

enum mt_top_tone mt_top_tone(const struct mt_report_site *s)
{
	if (!s->trend)
		return MT_TOP_TONE_PLAIN;
	if (strcmp(s->trend, "growing") == 0)
		return MT_TOP_TONE_ALERT;
	if (strcmp(s->trend, "plateau") == 0)
		return MT_TOP_TONE_WARN;
	if (strcmp(s->trend, "shrinking") == 0)
		return MT_TOP_TONE_GOOD;
	return MT_TOP_TONE_PLAIN;
}

/* ---- lines ------------------------------------------------------------- */

/* Terminal cells of UTF-8 text S: one per character (memtrace's own
 * characters are one cell wide). */
static int cells(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* BUF cut after WIDTH cells, never inside a character. */
static void cut(char *buf, int width)
{
	int n = 0;
	for (char *p = buf; *p; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 && n++ == width) {
			*p = 0;
			return;
		}
	}
}

void mt_top_columns(char *buf, size_t len, int width)
{
	snprintf(buf, len, "%4s %11s %11s %11s %11s  %-14s  %-11s %s", "rank", "live bytes",
		 "interval", "rate/min", "churn a/f", "live over time", "verdict", "site");
	cut(buf, width);
}

/* "+10.0 KiB", "-1.0 KiB", "0 B". */
static void signed_bytes(char *buf, size_t len, int64_t v)
{
	char b[32];
	mt_format_bytes(b, sizeof b, (double)v);
	snprintf(buf, len, "%s%s", v > 0 ? "+" : "", b);
}

static void site_name(char *buf, size_t len, const struct mt_report_site *s)
{
	const struct mt_report_frame fr = {
		.address = s->address,
		.function = s->function,
		.offset = s->offset,
		.module = s->module,
		.module_offset = s->module_offset,
		.file = s->file,
		.line = s->line,
	};
	mt_report_frame_name(buf, len, &fr);
}

void mt_top_row(char *buf, size_t len, int width, int rank, const struct mt_report_site *s,
		bool ascii)
{
	char live[32], di[40], rate[32], churn[48], spark[sizeof s->sparkline], name[1024];
	mt_format_bytes(live, sizeof live, (double)s->live_bytes);
	signed_bytes(di, sizeof di, s->delta_interval);
	mt_format_bytes(rate, sizeof rate, s->rate_bytes_per_min);
	snprintf(churn, sizeof churn, "%" PRIu64 "/%" PRIu64, s->churn_allocs, s->churn_frees);
	if (ascii)
		mt_top_spark_ascii(spark, sizeof spark, s->sparkline);
	else
		snprintf(spark, sizeof spark, "%s", s->sparkline);
	site_name(name, sizeof name, s);
	int pad = 14 - cells(spark);
	snprintf(buf, len, "%4d %11s %11s %11s %11s  %s%*s  %-11s %s", rank, live, di, rate, churn,
		 spark, pad > 0 ? pad : 0, "", s->trend ? s->trend : "flat", name);
	cut(buf, width);
}

/* "heap: mapped 1.2 MiB, live 800.0 KiB, free 400.0 KiB (trimmable 0 B),
 * verdict normal (census at attach)", or why there is none. */
static void heap_line(char *buf, size_t len, const struct mt_report *r)
{
	const struct mt_census_report *c = r->census;
	if (!c) {
		snprintf(buf, len, "heap: no census");
		return;
	}
	if (!c->available) {
		snprintf(buf, len, "heap: no census: %s", c->reason);
		return;
	}
	const struct mt_heap_summary *h = &c->heap;
	if (!h->known) {
		snprintf(buf, len, "heap: census at attach: %" PRIu64 " blocks; no summary",
			 c->blocks);
		return;
	}
	char mapped[32], live[32], fr[32], trim[32];
	mt_format_bytes(mapped, sizeof mapped, (double)h->mapped_bytes);
	mt_format_bytes(live, sizeof live, (double)h->live_bytes);
	mt_format_bytes(fr, sizeof fr, (double)h->free_bytes);
	mt_format_bytes(trim, sizeof trim, (double)h->trimmable_bytes);
	snprintf(buf, len,
		 "heap at attach: mapped %s, live %s, free %s (trimmable %s), "
		 "verdict %s",
		 mapped, live, fr, trim, h->verdict ? h->verdict : "unknown");
}

void mt_top_header(char *buf, size_t len, int line, int width, const struct mt_report *r,
		   enum mt_top_sort k, bool paused)
{
	char live[32];
	switch (line) {
	case 0:
		snprintf(buf, len,
			 "memtrace top  pid %d (%s)  engine %s  %.1f s  interval %d  "
			 "sorted by %s%s",
			 r->pid, r->comm, r->engine ? r->engine : "?", r->duration_s, r->interval,
			 mt_top_sort_name(k), paused ? "  [paused]" : "");
		break;
	case 1:
		mt_format_bytes(live, sizeof live, (double)r->live_bytes);
		snprintf(buf, len,
			 "traced: live %s in %" PRIu64 " blocks, %zu sites, %" PRIu64
			 " events, %" PRIu64 " lost events, %" PRIu64 " unknown frees%s",
			 live, r->live_blocks, r->nsites, r->events, r->lost_events,
			 r->unknown_frees, r->sample_bytes ? " (sampled: estimates)" : "");
		break;
	case 2:
		heap_line(buf, len, r);
		break;
	default:
		buf[0] = 0;
	}
	cut(buf, width);
}

bool mt_top_stack_line(char *buf, size_t len, int width, const struct mt_report_site *s, int i)
{
	if (s->nframes <= 0 || !s->frames) {
		if (i != 0)
			return false;
		snprintf(buf, len,
			 "      (no stack: --depth 1, or the site was named by its caller)");
		cut(buf, width);
		return true;
	}
	if (i < 0 || i >= s->nframes)
		return false;
	char name[1024];
	mt_report_frame_name(name, sizeof name, &s->frames[i]);
	snprintf(buf, len, "      %s %s%s", i == s->site_frame ? "->" : "  ", name,
		 s->frames[i].inlined ? " (inlined)" : "");
	cut(buf, width);
	return true;
}

void mt_top_spark_ascii(char *buf, size_t len, const char *spark)
{
	static const char levels[] = "_.-:=+*#";
	size_t n = 0;
	if (!len)
		return;
	/* U+2581..U+2588 is E2 96 81..88 */
	for (const unsigned char *p = (const unsigned char *)spark; *p && n + 1 < len;) {
		if (p[0] == 0xe2 && p[1] == 0x96 && p[2] >= 0x81 && p[2] <= 0x88) {
			buf[n++] = levels[p[2] - 0x81];
			p += 3;
		} else {
			buf[n++] = *p < 0x80 ? (char)*p : '?';
			p++;
			while ((*p & 0xc0) == 0x80)
				p++;
		}
	}
	buf[n] = 0;
}
