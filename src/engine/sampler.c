/* Poisson sampling by bytes: see sampler.h. */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>

struct mt_sampler {
	uint64_t mean;
	uint64_t rng;       /* xorshift64 state, never 0 */
	double left;        /* bytes until the next sample point */
};

/* A uniform draw in (0, 1]. */
static double uniform(struct mt_sampler *s)
{
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return ((double)((x * 0x2545f4914f6cdd1dULL) >> 11) + 1.0) / 9007199254740992.0;
}

static double gap(struct mt_sampler *s)
{
	return -log(uniform(s)) * (double)s->mean;
}

struct mt_sampler *mt_sampler_new(uint64_t mean, uint64_t seed)
{
	struct mt_sampler *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->mean = mean;
	s->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	if (mean)
		s->left = gap(s);
	return s;
}

void mt_sampler_destroy(struct mt_sampler *s)
{
	free(s);
}

bool mt_sampler_take(struct mt_sampler *s, uint64_t size)
{
	if (!s->mean)
		return true;
	s->left -= (double)(size ? size : 1);
	if (s->left > 0)
		return false;
	/* The exponential law forgets: the next point is a fresh gap away
	 * from the end of this allocation, however many points fell in it. */
	s->left = gap(s);
	return true;
}
