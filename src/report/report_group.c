/* Grouping report rows (--group-by).  Rows come one per stack (or per
 * caller without stacks); grouping merges rows whose key is equal. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static const char *const group_names[] = {
	[MT_REPORT_BY_SITE] = "site", [MT_REPORT_BY_STACK] = "stack",
	[MT_REPORT_BY_FUNCTION] = "function", [MT_REPORT_BY_MODULE] = "module",
};

const char *mt_report_group_name(enum mt_report_group g)
{
	return (unsigned)g < sizeof group_names / sizeof group_names[0] ? group_names[g] : "?";
}

struct keyed {
	char key[600];
	size_t index;
};

void mt_report_row_key(const struct mt_report_site *s, enum mt_report_group g, char *buf,
		       size_t len)
{
	switch (g) {
	case MT_REPORT_BY_STACK:
		snprintf(buf, len, "%016" PRIx64, s->key);
		break;
	case MT_REPORT_BY_FUNCTION:
		if (s->function[0])
			snprintf(buf, len, "%s", s->function);
		else
			snprintf(buf, len, "%s+%" PRIx64, s->module, s->module_offset);
		break;
	case MT_REPORT_BY_MODULE:
		snprintf(buf, len, "%s", s->module);
		break;
	case MT_REPORT_BY_SITE:
	default:
		snprintf(buf, len, "%016" PRIx64 " %s", s->address, s->function);
		break;
	}
}

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->index < y->index ? -1 : (x->index > y->index);
}

static void add_into(struct mt_report_site *to, const struct mt_report_site *from)
{
	bool bigger = from->live_bytes > to->live_bytes ||
		      (from->live_bytes == to->live_bytes && from->allocs > to->allocs);
	uint64_t lb = to->live_blocks + from->live_blocks, ly = to->live_bytes + from->live_bytes;
	uint64_t al = to->allocs + from->allocs, fr = to->frees + from->frees;
	uint64_t ab = to->alloc_bytes + from->alloc_bytes;
	uint64_t sl = to->sampled_live_blocks + from->sampled_live_blocks;
	uint64_t sa = to->sampled_allocs + from->sampled_allocs;
	int64_t di = to->delta_interval + from->delta_interval;
	int64_t dt = to->delta_total + from->delta_total;
	int64_t db = to->delta_blocks + from->delta_blocks;
	uint64_t ca = to->churn_allocs + from->churn_allocs;
	uint64_t cf = to->churn_frees + from->churn_frees;
	if (bigger)
		*to = *from; /* the largest member names the row and gives its stack */
	to->live_blocks = lb;
	to->live_bytes = ly;
	to->allocs = al;
	to->frees = fr;
	to->alloc_bytes = ab;
	to->sampled_live_blocks = sl;
	to->sampled_allocs = sa;
	to->delta_interval = di;
	to->delta_total = dt;
	to->delta_blocks = db;
	to->churn_allocs = ca;
	to->churn_frees = cf;
}

int mt_report_group(struct mt_report *r, enum mt_report_group g)
{
	if (g == MT_REPORT_BY_STACK || r->nsites < 2) {
		mt_report_sort(r);
		return 0;
	}
	struct keyed *k = malloc(r->nsites * sizeof *k);
	if (!k)
		return -1;
	for (size_t i = 0; i < r->nsites; i++) {
		mt_report_row_key(&r->sites[i], g, k[i].key, sizeof k[i].key);
		k[i].index = i;
	}
	qsort(k, r->nsites, sizeof *k, cmp_keyed);
	struct mt_report_site *out = malloc(r->nsites * sizeof *out);
	if (!out) {
		free(k);
		return -1;
	}
	size_t n = 0;
	for (size_t i = 0; i < r->nsites; i++) {
		const struct mt_report_site *s = &r->sites[k[i].index];
		if (i > 0 && strcmp(k[i].key, k[i - 1].key) == 0)
			add_into(&out[n - 1], s);
		else
			out[n++] = *s;
	}
	memcpy(r->sites, out, n * sizeof *out);
	r->nsites = n;
	free(out);
	free(k);
	mt_report_sort(r);
	return 0;
}
