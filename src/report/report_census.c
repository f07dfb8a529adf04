/* The census section of the table format (census_report.h): its header
 * line, the heap summary and its verdict, the warnings, and the rows,
 * jmap -histo style.  A real one:
 *
 *   census: 40213 blocks, 3.1 MiB (3249152 B) live before attach (glibc 2.36, complete), threads paused 4.1 ms
 *   heap: rss 412.3 MiB, mapped 401.2 MiB, live 25.1 MiB, free 375.8 MiB (tcache 0 B, fastbins 0 B, bins 375.0 MiB, top 832.0 KiB), trimmable 350.1 MiB, 1 arena
 *   verdict: retention: the allocator holds 375.8 MiB free, more than the 25.1 MiB live: ...
 *    rank       blocks        bytes  type or size
 *       1        20000      1280000  cen::Alpha
 *       2         6400       409600  size 56
 */
#include <inttypes.h>
#include <stdio.h>

#include "census/census.h"
#include "report/report.h"

static void census_line(FILE *f, const struct mt_census_report *c)
{
	char bytes[32];
	mt_format_bytes(bytes, sizeof bytes, (double)c->bytes);
	fprintf(f, "census: %" PRIu64 " blocks, %s (%" PRIu64 " B) live before attach (%s, %s), "
		"threads paused %.1f ms\n", c->blocks, bytes, c->bytes, c->allocator,
		c->complete ? "complete" : "incomplete: see the warnings", c->paused_ms);
	if (c->frees_unseen) {
		fprintf(f, "census: their frees since attach are not followed when sampling "
			"(--sample-bytes): the census counts them as at attach\n");
	} else if (c->freed_blocks) {
		mt_format_bytes(bytes, sizeof bytes, (double)c->freed_bytes);
		fprintf(f, "census: %" PRIu64 " of those blocks, %s (%" PRIu64 " B), freed since "
			"attach\n", c->freed_blocks, bytes, c->freed_bytes);
	}
}

static void heap_lines(FILE *f, const struct mt_census_report *c)
{
	const struct mt_heap_summary *h = &c->heap;
	if (!h->known)
		return;
	char rss[32], mapped[32], live[32], fr[32], tc[32], fb[32], bins[32], top[32], trim[32];
	mt_format_bytes(rss, sizeof rss, (double)h->rss_bytes);
	mt_format_bytes(mapped, sizeof mapped, (double)h->mapped_bytes);
	mt_format_bytes(live, sizeof live, (double)h->live_bytes);
	mt_format_bytes(fr, sizeof fr, (double)h->free_bytes);
	mt_format_bytes(tc, sizeof tc, (double)c->tcache_bytes);
	mt_format_bytes(fb, sizeof fb, (double)c->fastbin_bytes);
	mt_format_bytes(bins, sizeof bins, (double)c->bin_bytes);
	mt_format_bytes(top, sizeof top, (double)c->top_bytes);
	mt_format_bytes(trim, sizeof trim, (double)h->trimmable_bytes);
	fprintf(f, "heap: rss %s, mapped %s, live %s, free %s (tcache %s, fastbins %s, bins %s, "
		"top %s), trimmable %s, %u arena%s\n", h->rss_bytes ? rss : "unknown", mapped, live,
		fr, tc, fb, bins, top, trim, h->arenas, h->arenas == 1 ? "" : "s");
	if (h->verdict && h->verdict[0] == 'r')
		fprintf(f, "verdict: retention: the allocator holds %s free, more than the %s live: "
			"memory kept after free(), not leaked; malloc_trim(0) would return %s "
			"(remedies: memtrace(1), CENSUS)\n", fr, live, trim);
	else
		fprintf(f, "verdict: %s\n", h->verdict ? h->verdict : "unknown");
}

static void row_name(char *buf, size_t len, const struct mt_census_row *r)
{
	if (r->type)
		snprintf(buf, len, "%s", r->type);
	else
		snprintf(buf, len, "size %" PRIu64, r->size);
}

/* Types and sizes in one ranking, largest bytes first (both lists are
 * sorted already: merged). */
static void rows(FILE *f, const struct mt_census_report *c, int top)
{
	size_t total = c->ntypes + c->nsizes;
	size_t n = top > 0 && (size_t)top < total ? (size_t)top : total;
	fprintf(f, "%5s %12s %12s  %s\n", "rank", "blocks", "bytes", "type or size");
	size_t i = 0, j = 0;
	for (size_t k = 0; k < n; k++) {
		const struct mt_census_row *r;
		if (j >= c->nsizes || (i < c->ntypes && c->types[i].bytes >= c->sizes[j].bytes))
			r = &c->types[i++];
		else
			r = &c->sizes[j++];
		char name[1100];
		row_name(name, sizeof name, r);
		fprintf(f, "%5zu %12" PRIu64 " %12" PRIu64 "  %s\n", k + 1, r->blocks, r->bytes, name);
	}
	if (n < total)
		fprintf(f, "(%zu more row%s; --top 0 shows all)\n", total - n,
			total - n == 1 ? "" : "s");
}

int mt_report_census_table(FILE *f, const struct mt_census_report *c, int top)
{
	if (!c->available) {
		fprintf(f, "census: not available: %s\n", c->reason);
		return ferror(f) ? -1 : 0;
	}
	census_line(f, c);
	heap_lines(f, c);
	for (size_t i = 0; i < c->nwarnings; i++)
		fprintf(f, "warning: %s\n", c->warnings[i]);
	rows(f, c, top);
	return ferror(f) ? -1 : 0;
}
