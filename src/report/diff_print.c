/* memtrace diff's printers: the table, --json and --format folded of a
 * diff that diff.c computed (diff.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "report/diff.h"
#include "report/diff_priv.h"
#include "report/report_json.h"

/* ---- the table ------------------------------------------------------------ */

#define SGR_RED "\033[31m"
#define SGR_GREEN "\033[32m"
#define SGR_RESET "\033[0m"

/* "2024-05-01 10:00:00 UTC" (ISO: "2024-05-01T10:00:00Z"); "" when unknown. */
static void format_time(char *buf, size_t len, uint64_t unix_ns, bool iso)
{
	buf[0] = 0;
	if (!unix_ns)
		return;
	time_t t = (time_t)(unix_ns / 1000000000u);
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(buf, len, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* "+1.5 KiB", "-300 B", "0 B" */
static void signed_bytes(char *buf, size_t len, int64_t v)
{
	char num[24];  /* "-8388608.0 TiB" at most */
	mt_format_bytes(num, sizeof num, (double)v);
	snprintf(buf, len, "%s%s", v > 0 ? "+" : "", num);
}

/* "+3", "-2", "0" */
static void signed_count(char *buf, size_t len, int64_t v)
{
	snprintf(buf, len, v > 0 ? "+%" PRId64 : "%" PRId64, v);
}

static const char *sgr(bool color, int64_t v)
{
	return !color || !v ? "" : v > 0 ? SGR_RED : SGR_GREEN;
}

/* A snapshot of memtrace census -o: a census, nothing traced. */
static bool census_only(const struct mt_snapshot *s)
{
	return s->census && !s->nsites && !s->events && !s->duration_s;
}

static void describe(FILE *f, const char *label, const struct mt_snapshot *s)
{
	char when[64];
	format_time(when, sizeof when, s->time_unix_ns, false);
	fprintf(f, "%s: pid %d (%s)", label, s->pid, S(s->comm));
	if (exe_path(s)[0])
		fprintf(f, " %s", exe_path(s));
	if (when[0])
		fprintf(f, " at %s", when);
	if (census_only(s)) {
		fprintf(f, ", census only (nothing traced)\n");
		return;
	}
	fprintf(f, ", traced %.1f s: %" PRIu64 " events, %" PRIu64 " unknown frees, %" PRIu64
		   " lost events\n",
		s->duration_s, s->events, s->unknown_frees, s->lost_events);
	if (s->sample_bytes)
		fprintf(f, "%s: sampled: 1 in ~%" PRIu64 " bytes, counts and bytes are estimates "
			   "(%" PRIu64 " unsampled frees)\n", label, s->sample_bytes, s->unsampled_frees);
}

/* Two snapshots sampled differently are compared all the same (both sides
 * estimate the same quantities), with a note saying so. */
static void sampling_note(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b)
{
	if (a->sample_bytes == b->sample_bytes)
		return;
	char sa[48], sb[48];
	snprintf(sa, sizeof sa, a->sample_bytes ? "1 in ~%" PRIu64 " bytes" : "not sampled",
		 a->sample_bytes);
	snprintf(sb, sizeof sb, b->sample_bytes ? "1 in ~%" PRIu64 " bytes" : "not sampled",
		 b->sample_bytes);
	fprintf(f, "note: A is %s, B %s: the changes compare estimates, small ones are "
		   "noise\n", sa, sb);
}

/* "leak_small+0x17 (target_basic) target.c:42", "libfoo.so+0x2b11",
 * "0x7f3a1c0a2b11" (runtime address, from the row's snapshot). */
static void row_name(char *buf, size_t len, const struct mt_diff_row *r)
{
	const char *mod = base_name(r->module);
	int n;
	if (r->function[0]) {
		n = snprintf(buf, len, "%s+0x%" PRIx64, r->function, r->offset);
		if (n >= 0 && (size_t)n < len && mod[0])
			n += snprintf(buf + n, len - (size_t)n, " (%s)", mod);
	} else if (mod[0]) {
		n = snprintf(buf, len, "%s+0x%" PRIx64, mod, r->module_offset);
	} else {
		const struct mt_snap_frame *fr = r->snap ? site_frame(r->snap, r->stack) : NULL;
		if (fr)
			n = snprintf(buf, len, "0x%" PRIx64, fr->address);
		else
			n = snprintf(buf, len, "(no stack)");
	}
	if (n >= 0 && (size_t)n < len && r->file[0])
		snprintf(buf + n, len - (size_t)n, " %s:%d", base_name(r->file), r->line);
}

/* ---- the censuses in the table -------------------------------------------- */

#define NO_CENSUS "none in this snapshot (taken with --no-census, or by a memtrace " \
		  "without the census)"

/* "census A: glibc 2.36, 40017 blocks, 3.1 MiB live at attach (incomplete:
 * 2 warnings), 12 freed since"; or why there is none. */
static void census_line(FILE *f, const char *label, const struct mt_census_report *c,
			bool other_usable)
{
	const char *tail = other_usable ? ": no rows by type or size compared" : "";
	if (!c) {
		fprintf(f, "census %s: " NO_CENSUS "%s\n", label, tail);
		return;
	}
	if (!c->available) {
		fprintf(f, "census %s: not available (%s)%s\n", label,
			c->reason[0] ? c->reason : "no reason given", tail);
		return;
	}
	char by[32];
	mt_format_bytes(by, sizeof by, (double)c->bytes);
	fprintf(f, "census %s: %s, %" PRIu64 " blocks, %s live at attach", label,
		c->allocator[0] ? c->allocator : "allocator unknown", c->blocks, by);
	if (!c->complete)
		fprintf(f, " (incomplete: %zu warning%s)", c->nwarnings,
			c->nwarnings == 1 ? "" : "s");
	if (c->freed_blocks)
		fprintf(f, ", %" PRIu64 " freed since", c->freed_blocks);
	fprintf(f, "\n");
}

static const struct mt_heap_summary *heap_of(const struct mt_snapshot *s)
{
	return census_usable(s) && s->census->heap.known ? &s->census->heap : NULL;
}

/* One line of the heap table: A's and B's value (NULL: "-", a side that
 * does not know it) and the change. */
static void heap_line(FILE *f, const char *name, const uint64_t *a, const uint64_t *b)
{
	char va[32] = "-", vb[32] = "-", dl[32];
	if (a)
		mt_format_bytes(va, sizeof va, (double)*a);
	if (b)
		mt_format_bytes(vb, sizeof vb, (double)*b);
	fprintf(f, "  %-10s %12s %12s", name, va, vb);
	if (a && b) {
		signed_bytes(dl, sizeof dl, (int64_t)(*b - *a));
		fprintf(f, " %12s", dl);
	}
	fputc('\n', f);
}

#define HEAP_LINE(f, name, ha, hb, field) \
	heap_line((f), (name), (ha) ? &(ha)->field : NULL, (hb) ? &(hb)->field : NULL)

/* The two heap summaries side by side: is the memory in use, or kept? */
static void heap_table(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b)
{
	const struct mt_heap_summary *ha = heap_of(a), *hb = heap_of(b);
	if (!ha && !hb)
		return;
	fprintf(f, "%-12s %12s %12s %12s\n", "heap", "A", "B", "change");
	HEAP_LINE(f, "rss", ha, hb, rss_bytes);
	HEAP_LINE(f, "mapped", ha, hb, mapped_bytes);
	HEAP_LINE(f, "live", ha, hb, live_bytes);
	HEAP_LINE(f, "free", ha, hb, free_bytes);
	HEAP_LINE(f, "trimmable", ha, hb, trimmable_bytes);
	char aa[16] = "-", ab[16] = "-";
	if (ha)
		snprintf(aa, sizeof aa, "%u", ha->arenas);
	if (hb)
		snprintf(ab, sizeof ab, "%u", hb->arenas);
	fprintf(f, "  %-10s %12s %12s\n", "arenas", aa, ab);
	fprintf(f, "  %-10s %12s %12s\n", "verdict", ha ? S(ha->verdict) : "-",
		hb ? S(hb->verdict) : "-");
}

static void census_header(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b)
{
	if (!a->census && !b->census)
		return;  /* snapshots from before the census: nothing to say */
	census_line(f, "A", a->census, census_usable(b));
	census_line(f, "B", b->census, census_usable(a));
	heap_table(f, a, b);
}

static bool census_row_changed(const struct mt_diff_census_row *r)
{
	return r->delta_blocks || r->delta_bytes;
}

/* "census by type": the TOP rows (0: all) that changed. */
static void census_section(FILE *f, const char *what, const char *plural,
			   const struct mt_diff_census_row *rows, size_t n, int top, bool color)
{
	size_t changed = 0;
	for (size_t i = 0; i < n; i++)
		changed += census_row_changed(&rows[i]);
	bool typed = strcmp(what, "type") == 0;
	fprintf(f, "\ncensus by %s: %zu changed, %zu unchanged\n", what, changed, n - changed);
	if (!changed)
		return;
	fprintf(f, "%5s %11s %11s %13s %10s %10s %11s  %s\n", "rank", "bytes A", "bytes B",
		"Δ bytes", "blocks A", "blocks B", "Δ blocks", typed ? "type" : "size");
	size_t limit = top > 0 && (size_t)top < changed ? (size_t)top : changed, rank = 0;
	for (size_t i = 0; i < n && rank < limit; i++) {
		const struct mt_diff_census_row *r = &rows[i];
		if (!census_row_changed(r))
			continue;
		char ba[32], bb[32], dby[32], dbl[32], size[32];
		mt_format_bytes(ba, sizeof ba, (double)r->bytes_a);
		mt_format_bytes(bb, sizeof bb, (double)r->bytes_b);
		signed_bytes(dby, sizeof dby, r->delta_bytes);
		signed_count(dbl, sizeof dbl, r->delta_blocks);
		snprintf(size, sizeof size, "%" PRIu64, r->size);
		const char *c_by = sgr(color, r->delta_bytes), *c_bl = sgr(color, r->delta_blocks);
		fprintf(f, "%5zu %11s %11s %s%12s%s %10" PRIu64 " %10" PRIu64 " %s%10s%s  %s\n",
			++rank, ba, bb, c_by, dby, c_by[0] ? SGR_RESET : "", r->blocks_a,
			r->blocks_b, c_bl, dbl, c_bl[0] ? SGR_RESET : "", typed ? S(r->type) : size);
	}
	if (limit < changed)
		fprintf(f, "(%zu more changed %s; --top 0 shows all)\n", changed - limit, plural);
}

static void census_sections(FILE *f, const struct mt_diff *d, int top, bool color)
{
	if (!d->census)
		return;
	census_section(f, "type", "types", d->types, d->ntypes, top, color);
	census_section(f, "size", "sizes", d->sizes, d->nsizes, top, color);
}

int mt_diff_print_table(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b,
			const struct mt_diff *d, int top, bool color)
{
	uint64_t blocks_a = 0, blocks_b = 0, bytes_a = 0, bytes_b = 0;
	size_t count[4] = { 0 }, shown_rows = 0;
	for (size_t i = 0; i < d->nrows; i++) {
		const struct mt_diff_row *r = &d->rows[i];
		blocks_a += r->blocks_a;
		blocks_b += r->blocks_b;
		bytes_a += r->bytes_a;
		bytes_b += r->bytes_b;
		if (!empty_row(r)) {
			count[r->status]++;
			shown_rows++;
		}
	}
	describe(f, "A", a);
	describe(f, "B", b);
	sampling_note(f, a, b);
	census_header(f, a, b);
	if (census_only(a) && census_only(b)) {
		fprintf(f, "traced: nothing in either snapshot (census only)\n");
		census_sections(f, d, top, color);
		fflush(f);
		return ferror(f) ? -1 : 0;
	}
	char la[32], lb[32], dl[32];
	mt_format_bytes(la, sizeof la, (double)bytes_a);
	mt_format_bytes(lb, sizeof lb, (double)bytes_b);
	signed_bytes(dl, sizeof dl, (int64_t)(bytes_b - bytes_a));
	fprintf(f, "live: A %" PRIu64 " blocks, %s; B %" PRIu64 " blocks, %s; change %s%s%s\n", blocks_a,
		la, blocks_b, lb, sgr(color, (int64_t)(bytes_b - bytes_a)), dl,
		color && bytes_a != bytes_b ? SGR_RESET : "");
	fprintf(f, "by %s: %zu changed, %zu new, %zu gone, %zu same\n\n", mt_report_group_name(d->group),
		count[MT_DIFF_CHANGED], count[MT_DIFF_NEW], count[MT_DIFF_GONE], count[MT_DIFF_SAME]);

	/* "Δ" is two bytes in UTF-8 and one column: its fields are one wider. */
	fprintf(f, "%5s %11s %11s %13s %10s %10s %11s  %-7s  %s\n", "rank", "bytes A", "bytes B",
		"Δ bytes", "blocks A", "blocks B", "Δ blocks", "status", "site");
	size_t limit = top > 0 && (size_t)top < shown_rows ? (size_t)top : shown_rows;
	size_t rank = 0;
	for (size_t i = 0; i < d->nrows && rank < limit; i++) {
		const struct mt_diff_row *r = &d->rows[i];
		if (empty_row(r))
			continue;
		char ba[32], bb[32], dby[32], dbl[32], name[1024];
		mt_format_bytes(ba, sizeof ba, (double)r->bytes_a);
		mt_format_bytes(bb, sizeof bb, (double)r->bytes_b);
		signed_bytes(dby, sizeof dby, r->delta_bytes);
		signed_count(dbl, sizeof dbl, r->delta_blocks);
		row_name(name, sizeof name, r);
		const char *c_by = sgr(color, r->delta_bytes), *c_bl = sgr(color, r->delta_blocks);
		fprintf(f, "%5zu %11s %11s %s%12s%s %10" PRIu64 " %10" PRIu64 " %s%10s%s  %s%-7s%s  %s\n",
			++rank, ba, bb, c_by, dby, c_by[0] ? SGR_RESET : "", r->blocks_a, r->blocks_b,
			c_bl, dbl, c_bl[0] ? SGR_RESET : "", c_by, mt_diff_status_name(r->status),
			c_by[0] ? SGR_RESET : "", name);
	}
	if (!shown_rows)
		fprintf(f, "(nothing live in either snapshot)\n");
	else if (limit < shown_rows)
		fprintf(f, "(%zu more row%s; --top 0 shows all)\n", shown_rows - limit,
			shown_rows - limit == 1 ? "" : "s");
	census_sections(f, d, top, color);
	fflush(f);
	return ferror(f) ? -1 : 0;
}

/* ---- --json --------------------------------------------------------------- */

/* A JSON string from bytes that need not be UTF-8 (paths, comm): bytes
 * outside ASCII become '?' when the whole is not valid UTF-8. */
static json_t *jstr(const char *s)
{
	s = S(s);
	json_t *j = json_string(s);
	if (j)
		return j;
	char *copy = strdup(s);
	if (!copy)
		return json_null();
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j ? j : json_null();
}

static json_t *jint(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *meta(const struct mt_snapshot *s)
{
	char id[130], when[64];
	hex_id(id, sizeof id, exe_module(s));
	format_time(when, sizeof when, s->time_unix_ns, true);
	json_t *o = json_object();
	json_object_set_new(o, "memtrace_version", jstr(s->memtrace_version));
	json_object_set_new(o, "pid", json_integer(s->pid));
	json_object_set_new(o, "comm", jstr(s->comm));
	json_object_set_new(o, "exe", jstr(exe_path(s)));
	json_object_set_new(o, "build_id", json_string(id));
	json_object_set_new(o, "start_unix_ns", jint(s->start_unix_ns));
	json_object_set_new(o, "time_unix_ns", jint(s->time_unix_ns));
	json_object_set_new(o, "time", when[0] ? json_string(when) : json_null());
	json_object_set_new(o, "duration_s", json_real(s->duration_s));
	json_object_set_new(o, "events", jint(s->events));
	json_object_set_new(o, "unknown_frees", jint(s->unknown_frees));
	json_object_set_new(o, "lost_events", jint(s->lost_events));
	json_object_set_new(o, "engine", jstr(s->engine));
	json_object_set_new(o, "allocator", jstr(s->allocator));
	json_object_set_new(o, "depth", json_integer(s->depth));
	if (s->sample_bytes) {
		json_t *smp = json_object();
		json_object_set_new(smp, "mean_bytes", jint(s->sample_bytes));
		json_object_set_new(o, "sampling", smp);
		json_object_set_new(o, "unsampled_frees", jint(s->unsampled_frees));
	} else {
		json_object_set_new(o, "sampling", json_null());
	}
	return o;
}

/* A snapshot's frame as a report's (strings never NULL), so that diff's
 * stacks are printed by the printers of histo's. */
static void report_frame(struct mt_report_frame *to, const struct mt_snapshot *s,
			 const struct mt_snap_frame *fr)
{
	const struct mt_snap_module *m = module_of(s, fr->module);
	*to = (struct mt_report_frame){
		.address = fr->address, .function = S(fr->function), .offset = fr->offset,
		.module = m ? S(m->path) : "", .module_offset = fr->module_offset,
		.file = S(fr->file), .line = fr->line, .inlined = fr->inlined,
	};
}

static json_t *row_json(const struct mt_diff_row *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "function", jstr(r->function));
	json_object_set_new(o, "offset", jint(r->offset));
	json_object_set_new(o, "module", jstr(r->module));
	json_object_set_new(o, "module_offset", jint(r->module_offset));
	json_object_set_new(o, "file", jstr(r->file));
	json_object_set_new(o, "line", json_integer(r->line));
	json_object_set_new(o, "blocks_a", jint(r->blocks_a));
	json_object_set_new(o, "blocks_b", jint(r->blocks_b));
	json_object_set_new(o, "bytes_a", jint(r->bytes_a));
	json_object_set_new(o, "bytes_b", jint(r->bytes_b));
	json_object_set_new(o, "delta_blocks", json_integer(r->delta_blocks));
	json_object_set_new(o, "delta_bytes", json_integer(r->delta_bytes));
	json_object_set_new(o, "status", json_string(mt_diff_status_name(r->status)));
	json_t *stack = json_array();
	const struct mt_snap_stack *st = r->snap ? stack_of(r->snap, r->stack) : NULL;
	for (uint32_t i = 0; st && i < st->nframes; i++) {
		const struct mt_snap_frame *fr = frame_at(r->snap, st, i);
		struct mt_report_frame rf;
		if (fr) {
			report_frame(&rf, r->snap, fr);
			json_array_append_new(stack, mt_report_json_frame(&rf));
		}
	}
	json_object_set_new(o, "stack", stack);
	json_object_set_new(o, "site_frame",
			    json_integer(st && st->site_frame < st->nframes ? st->site_frame : 0));
	return o;
}

static json_t *heap_json(const struct mt_heap_summary *h)
{
	if (!h->known)
		return json_null();
	json_t *o = json_object();
	json_object_set_new(o, "rss_bytes", jint(h->rss_bytes));
	json_object_set_new(o, "mapped_bytes", jint(h->mapped_bytes));
	json_object_set_new(o, "live_bytes", jint(h->live_bytes));
	json_object_set_new(o, "free_bytes", jint(h->free_bytes));
	json_object_set_new(o, "trimmable_bytes", jint(h->trimmable_bytes));
	json_object_set_new(o, "arenas", json_integer(h->arenas));
	json_object_set_new(o, "verdict", h->verdict ? json_string(h->verdict) : json_null());
	return o;
}

/* census_a, census_b: availability first, the summary when available. */
static json_t *census_json(const struct mt_census_report *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "available", json_boolean(c && c->available));
	if (!c || !c->available) {
		json_object_set_new(o, "reason", c ? jstr(c->reason) : json_string(NO_CENSUS));
		return o;
	}
	json_object_set_new(o, "allocator", jstr(c->allocator));
	json_object_set_new(o, "complete", json_boolean(c->complete));
	json_object_set_new(o, "blocks", jint(c->blocks));
	json_object_set_new(o, "bytes", jint(c->bytes));
	json_object_set_new(o, "freed_blocks", jint(c->freed_blocks));
	json_object_set_new(o, "freed_bytes", jint(c->freed_bytes));
	json_object_set_new(o, "paused_ms", json_real(c->paused_ms));
	json_object_set_new(o, "took_ms", json_real(c->took_ms));
	json_object_set_new(o, "tcache_bytes", jint(c->tcache_bytes));
	json_object_set_new(o, "fastbin_bytes", jint(c->fastbin_bytes));
	json_object_set_new(o, "bin_bytes", jint(c->bin_bytes));
	json_object_set_new(o, "top_bytes", jint(c->top_bytes));
	json_object_set_new(o, "overhead_bytes", jint(c->overhead_bytes));
	json_t *w = json_array();
	for (size_t i = 0; c->warnings && i < c->nwarnings; i++)
		json_array_append_new(w, jstr(c->warnings[i]));
	json_object_set_new(o, "warnings", w);
	json_object_set_new(o, "heap", heap_json(&c->heap));
	return o;
}

/* "types" or "sizes": TOP rows (0: all), or null without both censuses. */
static json_t *census_rows_json(const struct mt_diff *d, const struct mt_diff_census_row *rows,
				size_t n, bool typed, int top)
{
	if (!d->census)
		return json_null();
	json_t *arr = json_array();
	size_t limit = top > 0 && (size_t)top < n ? (size_t)top : n;
	for (size_t i = 0; i < limit; i++) {
		const struct mt_diff_census_row *r = &rows[i];
		json_t *o = json_object();
		if (typed)
			json_object_set_new(o, "type", jstr(r->type));
		else
			json_object_set_new(o, "size", jint(r->size));
		json_object_set_new(o, "blocks_a", jint(r->blocks_a));
		json_object_set_new(o, "blocks_b", jint(r->blocks_b));
		json_object_set_new(o, "delta_blocks", json_integer(r->delta_blocks));
		json_object_set_new(o, "bytes_a", jint(r->bytes_a));
		json_object_set_new(o, "bytes_b", jint(r->bytes_b));
		json_object_set_new(o, "delta_bytes", json_integer(r->delta_bytes));
		json_array_append_new(arr, o);
	}
	return arr;
}

int mt_diff_print_json(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b,
		       const struct mt_diff *d, int top)
{
	json_t *o = json_object();
	json_object_set_new(o, "memtrace_version", json_string(MT_VERSION));
	json_object_set_new(o, "group_by", json_string(mt_report_group_name(d->group)));
	json_object_set_new(o, "a", meta(a));
	json_object_set_new(o, "b", meta(b));
	json_object_set_new(o, "census_a", census_json(a->census));
	json_object_set_new(o, "census_b", census_json(b->census));
	uint64_t blocks_a = 0, blocks_b = 0, bytes_a = 0, bytes_b = 0;
	for (size_t i = 0; i < d->nrows; i++) {
		blocks_a += d->rows[i].blocks_a;
		blocks_b += d->rows[i].blocks_b;
		bytes_a += d->rows[i].bytes_a;
		bytes_b += d->rows[i].bytes_b;
	}
	json_t *tot = json_object();
	json_object_set_new(tot, "blocks_a", jint(blocks_a));
	json_object_set_new(tot, "blocks_b", jint(blocks_b));
	json_object_set_new(tot, "bytes_a", jint(bytes_a));
	json_object_set_new(tot, "bytes_b", jint(bytes_b));
	json_object_set_new(tot, "delta_blocks", json_integer((json_int_t)(blocks_b - blocks_a)));
	json_object_set_new(tot, "delta_bytes", json_integer((json_int_t)(bytes_b - bytes_a)));
	json_object_set_new(o, "totals", tot);
	json_t *sites = json_array();
	size_t n = top > 0 && (size_t)top < d->nrows ? (size_t)top : d->nrows;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(sites, row_json(&d->rows[i]));
	json_object_set_new(o, "sites", sites);
	json_object_set_new(o, "types", census_rows_json(d, d->types, d->ntypes, true, top));
	json_object_set_new(o, "sizes", census_rows_json(d, d->sizes, d->nsizes, false, top));
	int err = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(o);
	fflush(f);
	return err < 0 || ferror(f) ? -1 : 0;
}

/* ---- --format folded ------------------------------------------------------
 * The rows that grew become report rows on B's stacks, weighted by their
 * growth, and report_folded.c prints them: one folded format. */

int mt_diff_print_folded(FILE *f, const struct mt_snapshot *b, const struct mt_diff *d)
{
	size_t n = 0, nframes = 0;
	for (size_t i = 0; i < d->nrows; i++) {
		const struct mt_diff_row *r = &d->rows[i];
		const struct mt_snap_stack *st = r->snap ? stack_of(r->snap, r->stack) : NULL;
		if (r->delta_bytes > 0 && (!b || r->snap == b)) {
			n++;
			nframes += st ? st->nframes : 0;
		}
	}
	struct mt_report rep = { .nsites = 0 };
	rep.sites = calloc(n + 1, sizeof *rep.sites);
	struct mt_report_frame *frames = calloc(nframes + 1, sizeof *frames);
	int ret = -1;
	if (!rep.sites || !frames)
		goto out;
	size_t at = 0;
	for (size_t i = 0; i < d->nrows; i++) {
		const struct mt_diff_row *r = &d->rows[i];
		if (r->delta_bytes <= 0 || (b && r->snap != b))
			continue;
		struct mt_report_site *s = &rep.sites[rep.nsites++];
		const struct mt_snap_frame *sf = r->snap ? site_frame(r->snap, r->stack) : NULL;
		snprintf(s->function, sizeof s->function, "%s", r->function);
		snprintf(s->module, sizeof s->module, "%s", r->module);
		s->module_offset = r->module_offset;
		s->address = sf ? sf->address : 0;
		s->live_bytes = (uint64_t)r->delta_bytes;
		const struct mt_snap_stack *st = r->snap ? stack_of(r->snap, r->stack) : NULL;
		s->frames = &frames[at];
		for (uint32_t k = 0; st && k < st->nframes; k++) {
			const struct mt_snap_frame *fr = frame_at(r->snap, st, k);
			if (fr)
				report_frame(&frames[at + (size_t)s->nframes++], r->snap, fr);
		}
		at += (size_t)s->nframes;
	}
	ret = mt_report_folded(f, &rep);
out:
	free(frames);
	free(rep.sites);
	return ret;
}
