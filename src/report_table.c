/* The default, human-readable format: jmap -histo style. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

void mt_format_bytes(char *buf, size_t len, double bytes)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = bytes < 0 ? -bytes : bytes;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	const char *sign = bytes < 0 ? "-" : "";
	if (u == 0)
		snprintf(buf, len, "%s%.0f %s", sign, v, units[u]);
	else
		snprintf(buf, len, "%s%.1f %s", sign, v, units[u]);
}

static int cmp_sites(const void *a, const void *b)
{
	const struct mt_report_site *x = a, *y = b;
	if (x->live_bytes != y->live_bytes)
		return x->live_bytes > y->live_bytes ? -1 : 1;
	if (x->allocs != y->allocs)
		return x->allocs > y->allocs ? -1 : 1;
	return x->address < y->address ? -1 : (x->address > y->address);
}

void mt_report_sort(struct mt_report *r)
{
	if (r->nsites)
		qsort(r->sites, r->nsites, sizeof r->sites[0], cmp_sites);
}

/* "leak_small+0x17 (target_basic) target.c:42" */
static void site_name(char *buf, size_t len, const struct mt_report_site *s)
{
	const char *mod = strrchr(s->module, '/');
	mod = mod ? mod + 1 : s->module;
	int n;
	if (s->function[0])
		n = snprintf(buf, len, "%s+0x%" PRIx64, s->function, s->offset);
	else
		n = snprintf(buf, len, "0x%" PRIx64, s->address);
	if (n < 0 || (size_t)n >= len)
		return;
	if (mod[0])
		n += snprintf(buf + n, len - n, " (%s)", mod);
	if (s->file[0] && (size_t)n < len) {
		const char *file = strrchr(s->file, '/');
		snprintf(buf + n, len - n, " %s:%d", file ? file + 1 : s->file, s->line);
	}
}

static void header(FILE *f, const struct mt_report *r)
{
	fprintf(f, "pid %d (%s), %d threads, allocator %s, engine %s\n", r->pid, r->comm,
		r->threads, r->allocator, r->engine);
	fprintf(f, "traced %.1f s: %" PRIu64 " events, %" PRIu64 " unknown frees", r->duration_s,
		r->events, r->unknown_frees);
	if (r->unknown_frees_internal)
		fprintf(f, " (%" PRIu64 " by the allocator itself)", r->unknown_frees_internal);
	fprintf(f, ", %" PRIu64 " lost events", r->lost_events);
	if (r->in_flight)
		fprintf(f, ", %" PRIu64 " call%s in flight at the end", r->in_flight,
			r->in_flight == 1 ? "" : "s");
	if (r->inconsistencies)
		fprintf(f, ", %" PRIu64 " inconsistencies", r->inconsistencies);
	fprintf(f, "\n");
	char live[32];
	mt_format_bytes(live, sizeof live, (double)r->live_bytes);
	fprintf(f, "live: %" PRIu64 " blocks, %s (%" PRIu64 " B) seen allocated since attach\n\n",
		r->live_blocks, live, r->live_bytes);
}

int mt_report_table(FILE *f, const struct mt_report *r, int top)
{
	header(f, r);
	fprintf(f, "%5s %12s %12s %12s %12s  %s\n", "rank", "live blocks", "live bytes",
		"allocs", "frees", "site");
	size_t n = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	for (size_t i = 0; i < n; i++) {
		const struct mt_report_site *s = &r->sites[i];
		char name[1024];
		site_name(name, sizeof name, s);
		fprintf(f, "%5zu %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "  %s\n",
			i + 1, s->live_blocks, s->live_bytes, s->allocs, s->frees, name);
	}
	if (n < r->nsites)
		fprintf(f, "(%zu more site%s; --top 0 shows all)\n", r->nsites - n,
			r->nsites - n == 1 ? "" : "s");
	return ferror(f) ? -1 : 0;
}

int mt_report_growth(FILE *f, const struct mt_report *r, int top, bool final)
{
	if (final) {
		fprintf(f, "=== final summary ===\n");
		header(f, r);
	} else {
		char live[32];
		mt_format_bytes(live, sizeof live, (double)r->live_bytes);
		fprintf(f, "--- %.1f s: %" PRIu64 " events, live %" PRIu64 " blocks, %s, %" PRIu64
			   " unknown frees, %" PRIu64 " lost events ---\n",
			r->duration_s, r->events, r->live_blocks, live, r->unknown_frees, r->lost_events);
	}
	fprintf(f, "%5s %12s %12s %12s %12s  %s\n", "rank", "live bytes", "interval",
		"since attach", "live blocks", "site");
	size_t n = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	for (size_t i = 0; i < n; i++) {
		const struct mt_report_site *s = &r->sites[i];
		char name[1024], live[32], di[32], dt[32];
		site_name(name, sizeof name, s);
		mt_format_bytes(live, sizeof live, (double)s->live_bytes);
		mt_format_bytes(di, sizeof di, (double)s->delta_interval);
		mt_format_bytes(dt, sizeof dt, (double)s->delta_total);
		fprintf(f, "%5zu %12s %s%11s %s%11s %12" PRIu64 "  %s\n", i + 1, live,
			s->delta_interval > 0 ? "+" : " ", di, s->delta_total > 0 ? "+" : " ", dt,
			s->live_blocks, name);
	}
	fprintf(f, "\n");
	fflush(f);
	return ferror(f) ? -1 : 0;
}
