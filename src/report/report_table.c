/* The default, human-readable format: jmap -histo style. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "model/allocfn.h"
#include "report/report.h"
#include "symbols/pyframes.h"

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

int64_t mt_report_rss_growth(const struct mt_report *r)
{
	if (!r->rss.known)
		return 0;
	if (r->rss.has_anon)
		return (int64_t)(r->rss.anon_end - r->rss.anon_start);
	return (int64_t)(r->rss.end - r->rss.start);
}

bool mt_report_rss_unseen(const struct mt_report *r)
{
	int64_t grew = mt_report_rss_growth(r);
	return grew > (int64_t)MT_RSS_UNSEEN_MIN &&
	       (uint64_t)grew / MT_RSS_UNSEEN_FACTOR > r->peak_live_bytes;
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

static int cmp_growth(const void *a, const void *b)
{
	const struct mt_report_site *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return cmp_sites(a, b);
}

void mt_report_sort_growth(struct mt_report *r)
{
	if (r->nsites)
		qsort(r->sites, r->nsites, sizeof r->sites[0], cmp_growth);
}

void mt_report_sort(struct mt_report *r)
{
	if (r->nsites)
		qsort(r->sites, r->nsites, sizeof r->sites[0], cmp_sites);
}

/* "leak_small+0x17 (target_basic) target.c:42"; without a symbol,
 * "target_basic+0x11d9" (module+offset). */
static void frame_name(char *buf, size_t len, const char *function, uint64_t offset,
		       const char *module, uint64_t module_offset, uint64_t address,
		       const char *file, int line)
{
	const char *mod = strrchr(module, '/');
	mod = mod ? mod + 1 : module;
	int n;
	if (strcmp(module, MT_PY_MODULE) == 0) {   /* "handle (service.py:10)" */
		const char *f = strrchr(file, '/');
		snprintf(buf, len, "%s (%s:%d)", function, f ? f + 1 : file, line);
		return;
	}
	if (function[0])
		n = snprintf(buf, len, "%s+0x%" PRIx64 "%s%s%s", function, offset,
			     mod[0] ? " (" : "", mod, mod[0] ? ")" : "");
	else if (mod[0])
		n = snprintf(buf, len, "%s+0x%" PRIx64, mod, module_offset);
	else
		n = snprintf(buf, len, "0x%" PRIx64, address);
	if (n < 0 || (size_t)n >= len)
		return;
	if (file[0]) {
		const char *f = strrchr(file, '/');
		snprintf(buf + n, len - n, " %s:%d", f ? f + 1 : file, line);
	}
}

void mt_report_frame_name(char *buf, size_t len, const struct mt_report_frame *fr)
{
	frame_name(buf, len, fr->function, fr->offset, fr->module, fr->module_offset, fr->address,
		   fr->file, fr->line);
}

static void site_name(char *buf, size_t len, const struct mt_report_site *s)
{
	frame_name(buf, len, s->function, s->offset, s->module, s->module_offset, s->address,
		   s->file, s->line);
}

/* --stacks: the row's stack under it, innermost first, the site marked. */
static void print_stack(FILE *f, const struct mt_report_site *s)
{
	for (int i = 0; i < s->nframes; i++) {
		const struct mt_report_frame *fr = &s->frames[i];
		char name[1024];
		frame_name(name, sizeof name, fr->function, fr->offset, fr->module,
			   fr->module_offset, fr->address, fr->file, fr->line);
		fprintf(f, "%*s%s %s%s\n", 8, "", i == s->site_frame ? "->" : "  ", name,
			fr->inlined ? " [inlined]" : "");
	}
}

/* "sampled: 1 in ~524288 bytes (512.0 KiB), counts and bytes are estimates" */
static void sampling_line(FILE *f, const struct mt_report *r)
{
	if (!r->sample_bytes)
		return;
	char mean[32];
	mt_format_bytes(mean, sizeof mean, (double)r->sample_bytes);
	fprintf(f, "sampled: 1 in ~%" PRIu64 " bytes", r->sample_bytes);
	if (r->sample_bytes >= 1024)
		fprintf(f, " (%s)", mean);
	fprintf(f, ", counts and bytes are estimates\n");
}

/* The coverage line, and its warning when most of the growth is memory
 * memtrace did not see allocated:
 * "rss: 10.2 MiB at attach, 83.4 MiB at the end (+73.2 MiB, anonymous
 *  +70.1 MiB); memtrace saw 11.0 MiB live at the end, 12.1 MiB at most" */
static void rss_lines(FILE *f, const struct mt_report *r)
{
	if (!r->rss.known)
		return;
	char start[32], end[32], delta[32], anon[32], live[32], peak[32];
	mt_format_bytes(start, sizeof start, (double)r->rss.start);
	mt_format_bytes(end, sizeof end, (double)r->rss.end);
	mt_format_bytes(delta, sizeof delta, (double)r->rss.end - (double)r->rss.start);
	mt_format_bytes(anon, sizeof anon, (double)r->rss.anon_end - (double)r->rss.anon_start);
	mt_format_bytes(live, sizeof live, (double)r->live_bytes);
	mt_format_bytes(peak, sizeof peak, (double)r->peak_live_bytes);
	const char *plus = r->rss.end >= r->rss.start ? "+" : "";
	fprintf(f, "rss: %s at attach, %s ", start, end);
	if (r->rss.end_age_s > 0)
		fprintf(f, "when last read, %.1f s before the end ", r->rss.end_age_s);
	else
		fprintf(f, "at the end ");
	fprintf(f, "(%s%s", plus, delta);
	if (r->rss.has_anon)
		fprintf(f, ", anonymous %s%s", r->rss.anon_end >= r->rss.anon_start ? "+" : "", anon);
	const char *est = r->sample_bytes ? "~" : "";
	fprintf(f, "); memtrace saw %s%s live at the end, %s%s at most%s\n", est, live, est, peak,
		r->peak_at_reads ? " (read every 0.1 s)" : "");
	if (!mt_report_rss_unseen(r))
		return;
	char grew[32];
	mt_format_bytes(grew, sizeof grew, (double)mt_report_rss_growth(r));
	_Static_assert(MT_RSS_UNSEEN_FACTOR == 2, "the warning says \"twice\"");
	fprintf(f, "warning: %s grew %s, more than twice the most memtrace saw live: most of "
		"the growth is memory the hooked allocator did not hand out (mmap(2) called "
		"directly, an interpreter's arenas such as CPython's pymalloc, a custom pool, an "
		"allocator not hooked), or memory an allocator keeps after free(), or new "
		"threads' stacks; RSS cannot tell these apart\n",
		r->rss.has_anon ? "anonymous memory" : "RSS", grew);
}

/* "unseen: calls to calloc (prog), free (prog): not hooked, ..." when an
 * entry point was found but not hooked. */
static void unseen_line(FILE *f, const struct mt_report *r)
{
	if (!r->nunhooked)
		return;
	fprintf(f, "unseen: calls to");
	for (size_t i = 0; i < r->nunhooked; i++) {
		const char *mod = strrchr(r->unhooked[i].module, '/');
		fprintf(f, "%s %s (%s)", i ? "," : "", r->unhooked[i].symbol,
			mod ? mod + 1 : r->unhooked[i].module);
	}
	fprintf(f, ": not hooked (see the warnings), so the counts of the blocks they "
		"allocate or free are not exact\n");
}

/* "stacks: 3 cut short ...": the agent ends a stack at a frame it cannot
 * unwind, and waits at most 40 ms for memtrace's rule for a new return
 * address (without --lossless); such a stack's site may be a frame too
 * deep (the allocator's wrapper), so the table is not exact by site. */
static void cut_line(FILE *f, const struct mt_report *r)
{
	if (!r->stacks_cut)
		return;
	fprintf(f, "stacks: %" PRIu64 " cut short at a frame memtrace could not unwind (no "
		"unwind rule in time, no room for one, or none usable): their sites may be "
		"too deep; --verbose says why, --lossless waits for the rules\n", r->stacks_cut);
}

/* "live: 12 blocks, 1.2 KiB (1234 B) seen allocated since attach", or
 * with a census the sum of both: "live: N blocks, ... = traced since
 * attach N blocks, B B + before attach (census) N blocks, B B". */
static void live_line(FILE *f, const struct mt_report *r)
{
	char live[32];
	const char *est = r->sample_bytes ? "~" : "";
	const char *how = r->sample_bytes ? "estimated from the sampled allocations"
					  : "seen allocated";
	const struct mt_census_report *c = r->census;
	if (!c || !c->available) {
		mt_format_bytes(live, sizeof live, (double)r->live_bytes);
		fprintf(f, "live: %s%" PRIu64 " blocks, %s (%" PRIu64 " B) %s since attach\n", est,
			r->live_blocks, live, r->live_bytes, how);
		return;
	}
	/* sampling in the agent: the census's blocks as at attach */
	uint64_t cb = c->blocks - (c->frees_unseen ? 0 : c->freed_blocks);
	uint64_t cy = c->bytes - (c->frees_unseen ? 0 : c->freed_bytes);
	mt_format_bytes(live, sizeof live, (double)(r->live_bytes + cy));
	fprintf(f, "live: %s%" PRIu64 " blocks, %s (%" PRIu64 " B) = %s since attach %s%" PRIu64
		" blocks, %s%" PRIu64 " B + before attach (census%s) %" PRIu64 " blocks, %" PRIu64
		" B\n", est, r->live_blocks + cb, live, r->live_bytes + cy, how, est, r->live_blocks,
		est, r->live_bytes, c->frees_unseen ? ", as at attach" : "", cb, cy);
}

/* pymalloc is hooked at its API's entry points (allocfn.h MT_FAM_PY).  An
 * interpreter built with LTO (Debian's, most distributions') inlines
 * PyObject_Malloc and pymalloc's fast path into its own callers (some 190
 * places in Debian 12's python3.11: object creation, unicode, ...), which
 * never reach the entry.  Where CPython's allocator tables were found and
 * pointed at the agent (MT_FAM_PYTAB), those calls are seen too; else say
 * so, as no count of them can be had (pyenv's shared libpython, built
 * without LTO, has every call seen). */
static void pymalloc_line(FILE *f, const struct mt_report *r)
{
	if (!r->pymalloc[0])
		return;
	if (r->pytab) {
		fprintf(f, "pymalloc: hooked at its entry points (PyObject_Malloc & co) and in "
			"CPython's allocator tables (%s%s%s): calls inlined by link-time "
			"optimization are seen too\n", r->pytab & MT_PYTAB_OBJ ? "OBJ" : "",
			r->pytab == (MT_PYTAB_OBJ | MT_PYTAB_MEM) ? ", " : "",
			r->pytab & MT_PYTAB_MEM ? "MEM" : "");
		return;
	}
	fprintf(f, "pymalloc: hooked at its entry points (PyObject_Malloc & co): an "
		"interpreter built with link-time optimization (Debian's) has them inlined in "
		"places whose calls are not seen, and a block seen that such code frees stays "
		"live here\n");
}

static void header(FILE *f, const struct mt_report *r)
{
	fprintf(f, "pid %d (%s), %d threads, allocator %s%s%s, engine %s\n", r->pid, r->comm,
		r->threads, r->allocator, r->pymalloc[0] ? " + pymalloc in " : "", r->pymalloc,
		r->engine);
	sampling_line(f, r);
	if (r->unsupported[0]) {
		bool many = strchr(r->unsupported, ',') != NULL;
		fprintf(f, "not hooked: %s: the program calls %s, %s blocks are not seen\n",
			r->unsupported, many ? "these allocation entries" : "this allocation entry",
			many ? "their" : "its");
	}
	pymalloc_line(f, r);
	if (r->python[0])
		fprintf(f, "%s\n", r->python);
	unseen_line(f, r);
	if (r->java)
		fprintf(f, "java: %s\n", r->java);
	fprintf(f, "traced %.1f s: %" PRIu64 " events, %" PRIu64 " unknown frees", r->duration_s,
		r->events, r->unknown_frees);
	if (r->unknown_frees_internal)
		fprintf(f, " (%" PRIu64 " by the allocator itself)", r->unknown_frees_internal);
	if (r->sample_bytes)
		fprintf(f, ", %" PRIu64 " unsampled frees", r->unsampled_frees);
	fprintf(f, ", %" PRIu64 " lost events", r->lost_events);
	if (r->in_flight)
		fprintf(f, ", %" PRIu64 " call%s in flight at the end", r->in_flight,
			r->in_flight == 1 ? "" : "s");
	if (r->inconsistencies)
		fprintf(f, ", %" PRIu64 " inconsistencies", r->inconsistencies);
	fprintf(f, "\n");
	live_line(f, r);
	rss_lines(f, r);
	cut_line(f, r);
	fprintf(f, "\n");
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
		if (r->show_stacks)
			print_stack(f, s);
	}
	if (n < r->nsites)
		fprintf(f, "(%zu more site%s; --top 0 shows all)\n", r->nsites - n,
			r->nsites - n == 1 ? "" : "s");
	if (r->census) {
		fprintf(f, "\n");
		mt_report_census_table(f, r->census, top);
	}
	return ferror(f) ? -1 : 0;
}

/* ANSI colors for the verdicts, only when R->color. */
static const char *trend_color(const struct mt_report *r, const char *trend)
{
	if (!r->color || !trend)
		return "";
	if (strcmp(trend, "growing") == 0)
		return "\033[1;31m";
	if (strcmp(trend, "plateau") == 0)
		return "\033[33m";
	if (strcmp(trend, "shrinking") == 0)
		return "\033[32m";
	return "";
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
			   " unknown frees, %" PRIu64 " lost events",
			r->duration_s, r->events, r->live_blocks, live, r->unknown_frees, r->lost_events);
		if (r->inconsistencies)
			fprintf(f, ", %" PRIu64 " inconsistencies", r->inconsistencies);
		fprintf(f, " ---\n");
		sampling_line(f, r);
	}
	fprintf(f, "%4s %10s %11s %12s %11s  %-12s %-11s %15s  %s\n", "rank", "live bytes",
		"interval", "since attach", "rate/min", "trend", "verdict", "churn a/f", "site");
	size_t n = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	for (size_t i = 0; i < n; i++) {
		const struct mt_report_site *s = &r->sites[i];
		char name[1024], live[32], di[32], dt[32], rate[32], churn[48];
		site_name(name, sizeof name, s);
		mt_format_bytes(live, sizeof live, (double)s->live_bytes);
		mt_format_bytes(di, sizeof di, (double)s->delta_interval);
		mt_format_bytes(dt, sizeof dt, (double)s->delta_total);
		mt_format_bytes(rate, sizeof rate, s->rate_bytes_per_min);
		snprintf(churn, sizeof churn, "%" PRIu64 "/%" PRIu64, s->churn_allocs, s->churn_frees);
		const char *trend = s->trend ? s->trend : "flat";
		/* The sparkline is UTF-8: pad it by cells, not bytes. */
		int cells = 0;
		for (const char *p = s->sparkline; *p; p++)
			cells += ((unsigned char)*p & 0xc0) != 0x80;
		fprintf(f, "%4zu %10s %s%10s %s%11s %11s  %s%*s %s%-11s%s %15s  %s\n", i + 1, live,
			s->delta_interval > 0 ? "+" : " ", di, s->delta_total > 0 ? "+" : " ", dt,
			rate, s->sparkline, cells < 12 ? 12 - cells : 0, "", trend_color(r, trend),
			trend, r->color && trend_color(r, trend)[0] ? "\033[0m" : "", churn, name);
	}
	fprintf(f, "\n");
	if (final && r->census) {
		mt_report_census_table(f, r->census, top);
		fprintf(f, "\n");
	}
	fflush(f);
	return ferror(f) ? -1 : 0;
}
