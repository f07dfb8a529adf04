/* --json: one object, schema in man/memtrace.1 (JSON OUTPUT).  Built with
 * jansson: escaping and number formatting are its job, not ours. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "model/allocfn.h"
#include "report/hints.h"
#include "report/report.h"
#include "report/report_json.h"
#include "report/leaks_report.h"

/* A JSON string from bytes that may not be UTF-8 (a comm set with prctl, a
 * path): invalid bytes become '?' rather than the key going missing. */
static json_t *str(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char buf[1024];
	size_t n = 0;
	for (; s[n] && n < sizeof buf - 1; n++)
		buf[n] = (unsigned char)s[n] < 0x80 ? s[n] : '?';
	buf[n] = 0;
	return json_string(buf);
}

/* A frame without a symbol: no name, or the one memtrace made from the
 * function's .eh_frame entry (hints.h); "module_offset" says where it is. */
static bool unnamed(const char *function, const char *module)
{
	return module[0] && (!function[0] || mt_hint_is_fde_name(function, module));
}

static json_t *hex(uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "0x%" PRIx64, v);
	return json_string(buf);
}

/* The members that name a site: function, offset, module, file, line, address. */
static json_t *site_identity(const struct mt_report_site *s)
{
	json_t *j = json_object();
	json_object_set_new(j, "function", str(s->function));
	json_object_set_new(j, "offset", json_integer((json_int_t)s->offset));
	json_object_set_new(j, "module", str(s->module));
	json_object_set_new(j, "file", str(s->file));
	json_object_set_new(j, "line", json_integer(s->line));
	json_object_set_new(j, "address", hex(s->address));
	return j;
}

json_t *mt_report_json_frame(const struct mt_report_frame *fr)
{
	json_t *j = json_object();
	json_object_set_new(j, "function", str(fr->function));
	json_object_set_new(j, "offset", json_integer((json_int_t)fr->offset));
	json_object_set_new(j, "module", str(fr->module));
	json_object_set_new(j, "module_offset", json_integer((json_int_t)fr->module_offset));
	json_object_set_new(j, "file", str(fr->file));
	json_object_set_new(j, "line", json_integer(fr->line));
	json_object_set_new(j, "address", hex(fr->address));
	json_object_set_new(j, "inlined", json_boolean(fr->inlined));
	return j;
}

/* "sampling": {"mean_bytes": N}, or null when every allocation was seen. */
static json_t *sampling(const struct mt_report *r)
{
	if (!r->sample_bytes)
		return json_null();
	json_t *j = json_object();
	json_object_set_new(j, "mean_bytes", json_integer((json_int_t)r->sample_bytes));
	return j;
}

/* "rss": the process's resident memory beside what memtrace saw (the
 * coverage line), or null when /proc/PID/status could not be read. */
static json_t *rss(const struct mt_report *r)
{
	if (!r->rss.known)
		return json_null();
	json_t *j = json_object();
	json_object_set_new(j, "start_bytes", json_integer((json_int_t)r->rss.start));
	json_object_set_new(j, "end_bytes", json_integer((json_int_t)r->rss.end));
	json_object_set_new(j, "anon_start_bytes", r->rss.has_anon
			    ? json_integer((json_int_t)r->rss.anon_start) : json_null());
	json_object_set_new(j, "anon_end_bytes", r->rss.has_anon
			    ? json_integer((json_int_t)r->rss.anon_end) : json_null());
	json_object_set_new(j, "end_age_s", json_real(r->rss.end_age_s));
	json_object_set_new(j, "peak_live_bytes", json_integer((json_int_t)r->peak_live_bytes));
	json_object_set_new(j, "peak_at_reads", json_boolean(r->peak_at_reads));
	json_object_set_new(j, "untraced_growth", json_boolean(mt_report_rss_unseen(r)));
	return j;
}

static json_t *names_array(const char *csv)
{
	json_t *a = json_array();
	char buf[320];
	snprintf(buf, sizeof buf, "%s", csv);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(a, str(tok));
	return a;
}

static json_t *census_rows(const struct mt_census_row *v, size_t n, bool types)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_object();
		if (types)
			json_object_set_new(j, "type", str(v[i].type ? v[i].type : "?"));
		else
			json_object_set_new(j, "size", json_integer((json_int_t)v[i].size));
		json_object_set_new(j, "blocks", json_integer((json_int_t)v[i].blocks));
		json_object_set_new(j, "bytes", json_integer((json_int_t)v[i].bytes));
		json_array_append_new(a, j);
	}
	return a;
}

#define INT(o, key, v) json_object_set_new(o, key, json_integer((json_int_t)(v)))

/* "census": the census taken at attach (census_report.h), null when none
 * could be taken. */
static json_t *census_json(const struct mt_census_report *c)
{
	if (!c->available)
		return json_null();
	json_t *j = json_object();
	json_object_set_new(j, "allocator", str(c->allocator));
	json_object_set_new(j, "complete", json_boolean(c->complete));
	INT(j, "blocks", c->blocks);
	INT(j, "bytes", c->bytes);
	INT(j, "freed_blocks", c->freed_blocks);
	INT(j, "freed_bytes", c->freed_bytes);
	json_object_set_new(j, "frees_followed", json_boolean(!c->frees_unseen));
	json_object_set_new(j, "paused_ms", json_real(c->paused_ms));
	json_object_set_new(j, "took_ms", json_real(c->took_ms));
	INT(j, "tcache_bytes", c->tcache_bytes);
	INT(j, "fastbin_bytes", c->fastbin_bytes);
	INT(j, "bin_bytes", c->bin_bytes);
	INT(j, "top_bytes", c->top_bytes);
	INT(j, "overhead_bytes", c->overhead_bytes);
	json_object_set_new(j, "types", census_rows(c->types, c->ntypes, true));
	json_object_set_new(j, "sizes", census_rows(c->sizes, c->nsizes, false));
	json_t *w = json_array();
	for (size_t i = 0; i < c->nwarnings; i++)
		json_array_append_new(w, str(c->warnings[i]));
	json_object_set_new(j, "warnings", w);
	return j;
}

/* "heap": the allocator's memory as a whole and the verdict, or null. */
static json_t *heap_json(const struct mt_census_report *c)
{
	const struct mt_heap_summary *h = &c->heap;
	if (!c->available || !h->known)
		return json_null();
	json_t *j = json_object();
	INT(j, "rss_bytes", h->rss_bytes);
	INT(j, "mapped_bytes", h->mapped_bytes);
	INT(j, "live_bytes", h->live_bytes);
	INT(j, "free_bytes", h->free_bytes);
	INT(j, "trimmable_bytes", h->trimmable_bytes);
	INT(j, "arenas", h->arenas);
	json_object_set_new(j, "verdict", json_string(h->verdict ? h->verdict : "unknown"));
	return j;
}

json_t *mt_report_json_text(const char *s)
{
	return str(s);
}

/* census, census_unavailable (the reason, null when there is a census)
 * and heap into O; nothing when C is NULL (run takes no census). */
void mt_report_json_add_census(json_t *o, const struct mt_census_report *c)
{
	if (!c)
		return;
	json_object_set_new(o, "census", census_json(c));
	json_object_set_new(o, "census_unavailable", c->available ? json_null() : str(c->reason));
	json_object_set_new(o, "heap", heap_json(c));
}

int mt_report_census_json(FILE *f, int pid, const char *comm, const struct mt_census_report *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "memtrace_version", json_string(MT_VERSION));
	json_object_set_new(o, "pid", json_integer(pid));
	json_object_set_new(o, "comm", str(comm));
	mt_report_json_add_census(o, c);
	int err = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(o);
	fflush(f);
	return err < 0 || ferror(f) ? -1 : 0;
}

int mt_report_json(FILE *f, const struct mt_report *r, int top)
{
	json_t *o = json_object();
	json_object_set_new(o, "memtrace_version", json_string(MT_VERSION));
	json_object_set_new(o, "pid", json_integer(r->pid));
	json_object_set_new(o, "comm", str(r->comm));
	json_object_set_new(o, "engine", json_string(r->engine));
	json_object_set_new(o, "allocator", str(r->allocator));
	/* CPython's allocator API hooked in this module (report.h), or null */
	json_object_set_new(o, "pymalloc", r->pymalloc[0] ? str(r->pymalloc) : json_null());
	/* the allocator tables pointed at the agent: "obj", "mem" */
	json_t *tabs = json_array();
	if (r->pytab & MT_PYTAB_OBJ)
		json_array_append_new(tabs, json_string("obj"));
	if (r->pytab & MT_PYTAB_MEM)
		json_array_append_new(tabs, json_string("mem"));
	json_object_set_new(o, "pymalloc_tables", tabs);
	json_object_set_new(o, "unsupported", names_array(r->unsupported));
	json_object_set_new(o, "java", r->java ? json_string(r->java) : json_null());
	if (r->python[0])
		json_object_set_new(o, "python", str(r->python));
	json_object_set_new(o, "threads", json_integer(r->threads));
	json_object_set_new(o, "duration_s", json_real(r->duration_s));
	json_object_set_new(o, "events", json_integer((json_int_t)r->events));
	json_object_set_new(o, "unknown_frees", json_integer((json_int_t)r->unknown_frees));
	json_object_set_new(o, "unknown_frees_by_allocator",
			    json_integer((json_int_t)r->unknown_frees_internal));
	json_object_set_new(o, "lost_events", json_integer((json_int_t)r->lost_events));
	json_object_set_new(o, "stacks_cut_short", json_integer((json_int_t)r->stacks_cut));
	json_object_set_new(o, "nested_calls", json_integer((json_int_t)r->nested_calls));
	json_object_set_new(o, "in_flight", json_integer((json_int_t)r->in_flight));
	json_object_set_new(o, "inconsistencies", json_integer((json_int_t)r->inconsistencies));
	json_object_set_new(o, "end_reason", json_string(r->end_reason));
	json_object_set_new(o, "depth", json_integer(r->depth));
	json_object_set_new(o, "group_by", json_string(r->group_by ? r->group_by : "site"));
	json_object_set_new(o, "sampling", sampling(r));
	if (r->sample_bytes)
		json_object_set_new(o, "unsampled_frees", json_integer((json_int_t)r->unsampled_frees));

	json_t *tot = json_object();
	json_object_set_new(tot, "live_blocks", json_integer((json_int_t)r->live_blocks));
	json_object_set_new(tot, "live_bytes", json_integer((json_int_t)r->live_bytes));
	json_object_set_new(tot, "allocs", json_integer((json_int_t)r->allocs));
	json_object_set_new(tot, "frees", json_integer((json_int_t)r->frees));
	json_object_set_new(o, "totals", tot);
	json_object_set_new(o, "rss", rss(r));

	json_t *hooks = json_array();
	for (size_t i = 0; i < r->nhooks; i++) {
		const struct mt_report_hook *h = &r->hooks[i];
		json_t *j = json_object();
		json_object_set_new(j, "symbol", str(h->symbol));
		json_object_set_new(j, "names", names_array(h->names));
		json_object_set_new(j, "address", hex(h->address));
		json_object_set_new(j, "module", str(h->module));
		json_object_set_new(j, "file_offset", json_integer((json_int_t)h->file_offset));
		json_object_set_new(j, "engine", str(h->engine));
		json_array_append_new(hooks, j);
	}
	json_object_set_new(o, "hooks", hooks);
	/* entry points found but not hooked: their calls are not in the counts */
	json_t *unhooked = json_array();
	for (size_t i = 0; i < r->nunhooked; i++) {
		const struct mt_report_hook *h = &r->unhooked[i];
		json_t *j = json_object();
		json_object_set_new(j, "symbol", str(h->symbol));
		json_object_set_new(j, "names", names_array(h->names));
		json_object_set_new(j, "address", hex(h->address));
		json_object_set_new(j, "module", str(h->module));
		json_object_set_new(j, "why", str(h->why));
		json_array_append_new(unhooked, j);
	}
	json_object_set_new(o, "unhooked", unhooked);

	json_t *sites = json_array();
	size_t n = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	for (size_t i = 0; i < n; i++) {
		const struct mt_report_site *s = &r->sites[i];
		json_t *j = site_identity(s);
		json_object_set_new(j, "live_blocks", json_integer((json_int_t)s->live_blocks));
		json_object_set_new(j, "live_bytes", json_integer((json_int_t)s->live_bytes));
		json_object_set_new(j, "allocs", json_integer((json_int_t)s->allocs));
		json_object_set_new(j, "frees", json_integer((json_int_t)s->frees));
		json_object_set_new(j, "alloc_bytes", json_integer((json_int_t)s->alloc_bytes));
		if (r->sample_bytes) {
			json_object_set_new(j, "sampled_live_blocks",
					    json_integer((json_int_t)s->sampled_live_blocks));
			json_object_set_new(j, "sampled_allocs",
					    json_integer((json_int_t)s->sampled_allocs));
		}
		if (unnamed(s->function, s->module))
			json_object_set_new(j, "module_offset", json_integer((json_int_t)s->module_offset));
		json_t *stack = json_array();
		for (int k = 0; k < s->nframes; k++)
			json_array_append_new(stack, mt_report_json_frame(&s->frames[k]));
		json_object_set_new(j, "stack", stack);
		json_array_append_new(sites, j);
	}
	json_object_set_new(o, "sites", sites);
	mt_report_json_add_census(o, r->census);

	int err = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(o);
	fflush(f);
	return err < 0 || ferror(f) ? -1 : 0;
}

int mt_report_json_interval(FILE *f, const struct mt_report *r, int top, bool final)
{
	json_t *o = json_object();
	json_object_set_new(o, "interval", json_integer(r->interval));
	json_object_set_new(o, "final", json_boolean(final));
	json_object_set_new(o, "pid", json_integer(r->pid));
	json_object_set_new(o, "time_s", json_real(r->duration_s));
	json_object_set_new(o, "events", json_integer((json_int_t)r->events));
	json_object_set_new(o, "unknown_frees", json_integer((json_int_t)r->unknown_frees));
	json_object_set_new(o, "lost_events", json_integer((json_int_t)r->lost_events));
	json_object_set_new(o, "inconsistencies", json_integer((json_int_t)r->inconsistencies));
	json_object_set_new(o, "live_bytes", json_integer((json_int_t)r->live_bytes));
	json_object_set_new(o, "live_blocks", json_integer((json_int_t)r->live_blocks));
	json_object_set_new(o, "sampling", sampling(r));
	if (r->sample_bytes)
		json_object_set_new(o, "unsampled_frees", json_integer((json_int_t)r->unsampled_frees));
	json_object_set_new(o, "rss", rss(r));
	if (final)
		json_object_set_new(o, "end_reason", json_string(r->end_reason));
	json_object_set_new(o, "java", r->java ? json_string(r->java) : json_null());
	json_t *sites = json_array();
	size_t n = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	for (size_t i = 0; i < n; i++) {
		const struct mt_report_site *s = &r->sites[i];
		json_t *j = site_identity(s);
		json_object_set_new(j, "live_bytes", json_integer((json_int_t)s->live_bytes));
		json_object_set_new(j, "live_blocks", json_integer((json_int_t)s->live_blocks));
		json_object_set_new(j, "delta_bytes", json_integer((json_int_t)s->delta_interval));
		json_object_set_new(j, "delta_blocks", json_integer((json_int_t)s->delta_blocks));
		json_object_set_new(j, "delta_bytes_since_attach",
				    json_integer((json_int_t)s->delta_total));
		json_object_set_new(j, "rate_bytes_per_min", json_real(s->rate_bytes_per_min));
		json_object_set_new(j, "trend", json_string(s->trend ? s->trend : "flat"));
		json_object_set_new(j, "score", json_real(s->score));
		json_object_set_new(j, "churn_allocs", json_integer((json_int_t)s->churn_allocs));
		json_object_set_new(j, "churn_frees", json_integer((json_int_t)s->churn_frees));
		json_object_set_new(j, "sparkline", str(s->sparkline));
		json_object_set_new(j, "allocs", json_integer((json_int_t)s->allocs));
		json_object_set_new(j, "frees", json_integer((json_int_t)s->frees));
		if (r->sample_bytes)
			json_object_set_new(j, "sampled_live_blocks",
					    json_integer((json_int_t)s->sampled_live_blocks));
		json_array_append_new(sites, j);
	}
	json_object_set_new(o, "sites", sites);
	if (final)
		mt_report_json_add_census(o, r->census);
	int err = json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(o);
	fflush(f);
	return err < 0 || ferror(f) ? -1 : 0;
}

/* ---- memtrace leaks ----------------------------------------------------- */

static json_t *blocks_bytes(uint64_t blocks, uint64_t bytes)
{
	json_t *j = json_object();
	json_object_set_new(j, "blocks", json_integer((json_int_t)blocks));
	json_object_set_new(j, "bytes", json_integer((json_int_t)bytes));
	return j;
}

static json_t *leaks_chain(const struct mt_leaks_report_link *c, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_object();
		if (c[i].root) {
			json_object_set_new(j, "root", str(c[i].root));
		} else {
			if (c[i].type)
				json_object_set_new(j, "type", str(c[i].type));
			else
				json_object_set_new(j, "size", json_integer((json_int_t)c[i].size));
			if (c[i].site)
				json_object_set_new(j, "site", str(c[i].site));
			json_object_set_new(j, "blocks", json_integer((json_int_t)c[i].blocks));
			json_object_set_new(j, "bytes", json_integer((json_int_t)c[i].bytes));
			json_object_set_new(j, "list", json_boolean(c[i].run));
			if (i + 1 == n)
				json_object_set_new(j, "chain_blocks",
						    json_integer((json_int_t)c[i].chain_blocks));
		}
		json_array_append_new(a, j);
	}
	return a;
}

static json_t *leaks_row(const struct mt_leaks_row *r)
{
	json_t *j = json_object();
	json_object_set_new(j, "kind", json_string(mt_leaks_class_key(r->kind)));
	if (r->type)
		json_object_set_new(j, "type", str(r->type));
	else
		json_object_set_new(j, "size", json_integer((json_int_t)r->size));
	if (r->site) {
		json_object_set_new(j, "site", str(r->site));
		json_t *st = json_array();
		for (int i = 0; i < r->nframes; i++)
			json_array_append_new(st, mt_report_json_frame(&r->frames[i]));
		json_object_set_new(j, "stack", st);
	}
	json_object_set_new(j, "blocks", json_integer((json_int_t)r->blocks));
	json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(j, "indirect_bytes", json_integer((json_int_t)r->indirect_bytes));
	if (r->nchain)
		json_object_set_new(j, "chain", leaks_chain(r->chain, r->nchain));
	return j;
}

int mt_report_leaks_json(FILE *f, const struct mt_leaks_report *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "memtrace_version", json_string(MT_VERSION));
	json_object_set_new(o, "pid", json_integer(r->pid));
	json_object_set_new(o, "comm", str(r->comm));
	json_object_set_new(o, "available", json_boolean(r->available));
	if (!r->available) {
		json_object_set_new(o, "reason", str(r->reason));
	} else {
		json_object_set_new(o, "allocator", str(r->allocator));
		json_object_set_new(o, "paused_ms", json_real(r->paused_ms));
		json_object_set_new(o, "took_ms", json_real(r->took_ms));
		json_object_set_new(o, "traced_s", json_real(r->traced_s));
		json_object_set_new(o, "threads", json_integer(r->threads));
		json_object_set_new(o, "complete", json_boolean(r->complete));
		json_t *w = json_array();
		for (size_t i = 0; i < r->nwarnings; i++)
			json_array_append_new(w, str(r->warnings[i]));
		json_object_set_new(o, "warnings", w);
		json_object_set_new(o, "root_bytes", json_integer((json_int_t)r->root_bytes));
		json_object_set_new(o, "unreadable_bytes",
				    json_integer((json_int_t)r->unreadable_bytes));
		for (int k = 0; k < MT_LEAKS__CLASSES; k++)
			json_object_set_new(o, mt_leaks_class_key(k),
					    blocks_bytes(r->blocks[k], r->bytes[k]));
		json_t *g = json_array();
		size_t reach = 0;
		for (size_t i = 0; i < r->nrows; i++) {
			if (r->rows[i].kind == MT_LEAKS_REACHABLE && reach++ >= r->reachable_shown)
				continue;
			json_array_append_new(g, leaks_row(&r->rows[i]));
		}
		json_object_set_new(o, "groups", g);
		if (r->why_query) {
			json_t *wa = json_array();
			for (size_t i = 0; i < r->nwhy; i++) {
				const struct mt_leaks_why *y = &r->why[i];
				json_t *j = json_object();
				json_object_set_new(j, "match", str(y->match));
				json_object_set_new(j, "kind", json_string(mt_leaks_class_key(y->kind)));
				json_object_set_new(j, "blocks", json_integer((json_int_t)y->blocks));
				json_object_set_new(j, "bytes", json_integer((json_int_t)y->bytes));
				json_object_set_new(j, "chain", leaks_chain(y->chain, y->nchain));
				json_array_append_new(wa, j);
			}
			json_object_set_new(o, "why", wa);
		}
	}
	int err = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(o);
	fflush(f);
	return err < 0 || ferror(f) ? -1 : 0;
}
