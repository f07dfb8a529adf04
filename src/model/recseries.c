/* See recseries.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/recseries.h"
#include "model/sites.h"

struct mt_recseries {
	double t[MT_RECSERIES_MAX_POINTS];
	size_t n;
	uint64_t **rows;     /* by site id; NULL: not sampled yet */
	size_t nrows;
};

struct mt_recseries *mt_recseries_new(void)
{
	return calloc(1, sizeof(struct mt_recseries));
}

void mt_recseries_destroy(struct mt_recseries *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nrows; i++)
		free(r->rows[i]);
	free(r->rows);
	free(r);
}

/* Full: keep points 1, 3, 5... (the later of each pair). */
static void halve(struct mt_recseries *r)
{
	size_t half = r->n / 2;
	for (size_t j = 0; j < half; j++)
		r->t[j] = r->t[2 * j + 1];
	for (size_t i = 0; i < r->nrows; i++)
		for (size_t j = 0; r->rows[i] && j < half; j++)
			r->rows[i][j] = r->rows[i][2 * j + 1];
	r->n = half;
}

static int grow_rows(struct mt_recseries *r, size_t n)
{
	if (n <= r->nrows)
		return 0;
	size_t cap = r->nrows ? r->nrows : 64;
	while (cap < n)
		cap *= 2;
	uint64_t **v = realloc(r->rows, cap * sizeof *v);
	if (!v)
		return -ENOMEM;
	memset(v + r->nrows, 0, (cap - r->nrows) * sizeof *v);
	r->rows = v;
	r->nrows = cap;
	return 0;
}

int mt_recseries_sample(struct mt_recseries *r, const struct mt_tracker *tracker, double t)
{
	const struct mt_sites *sites = mt_tracker_sites(tracker);
	size_t n = mt_sites_count(sites);
	if (grow_rows(r, n) < 0)
		return -ENOMEM;
	if (r->n == MT_RECSERIES_MAX_POINTS)
		halve(r);
	size_t j = r->n++;
	r->t[j] = j && t < r->t[j - 1] ? r->t[j - 1] : t;
	int err = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		const struct mt_site *site = i < n ? mt_sites_get_const(sites, (uint32_t)i) : NULL;
		if (!r->rows[i] && site && site->allocs)
			r->rows[i] = calloc(MT_RECSERIES_MAX_POINTS, sizeof **r->rows);
		if (!r->rows[i]) {
			if (site && site->allocs)
				err = -ENOMEM;
			continue;
		}
		struct mt_site_counts c = { 0 };
		if (site)
			mt_tracker_site_counts(tracker, site, &c);
		r->rows[i][j] = c.live_bytes;
	}
	return err;
}

size_t mt_recseries_times(const struct mt_recseries *r, const double **t)
{
	*t = r->t;
	return r->n;
}

const uint64_t *mt_recseries_site(const struct mt_recseries *r, uint32_t id)
{
	return id < r->nrows ? r->rows[id] : NULL;
}
