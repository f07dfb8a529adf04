/* See recseries.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/recseries.h"
#include "model/sites.h"

/* The points are the samples whose number is a multiple of STRIDE (the
 * grid), then the newest sample when it is not one of those. */
struct mt_recseries {
	double t[MT_RECSERIES_MAX_POINTS];
	uint64_t k[MT_RECSERIES_MAX_POINTS];  /* each point's sample number */
	size_t n;
	uint64_t samples, stride;
	double last_t;
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

/* Full (of grid points only): twice the stride, so every other point goes. */
static void thin(struct mt_recseries *r)
{
	r->stride *= 2;
	size_t n = 0;
	for (size_t j = 0; j < r->n; j++) {
		if (r->k[j] % r->stride)
			continue;
		r->t[n] = r->t[j];
		r->k[n] = r->k[j];
		for (size_t i = 0; i < r->nrows; i++)
			if (r->rows[i])
				r->rows[i][n] = r->rows[i][j];
		n++;
	}
	r->n = n;
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
	if (!r->stride)
		r->stride = 1;
	/* the newest sample off the grid gives way to this one */
	if (r->n && r->k[r->n - 1] % r->stride)
		r->n--;
	if (r->n == MT_RECSERIES_MAX_POINTS)
		thin(r);
	size_t j = r->n++;
	r->k[j] = r->samples++;
	r->t[j] = r->last_t = r->samples > 1 && t < r->last_t ? r->last_t : t;
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
