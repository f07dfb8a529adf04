/* The hash map.  See u64map.h. */
#include <errno.h>
#include <stdlib.h>

#include "util/u64map.h"

#define EMPTY UINT64_MAX

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

static int grow(struct mt_u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	uint64_t *keys = malloc(cap * sizeof *keys);
	uint32_t *vals = malloc(cap * sizeof *vals);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cap; i++)
		keys[i] = EMPTY;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i] == EMPTY)
			continue;
		size_t j = mix(m->keys[i]) & (cap - 1);
		while (keys[j] != EMPTY)
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

bool mt_u64map_get(const struct mt_u64map *m, uint64_t k, uint32_t *v)
{
	if (!m->cap || k == EMPTY)
		return false;
	for (size_t j = mix(k) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
		if (m->keys[j] == EMPTY)
			return false;
		if (m->keys[j] == k) {
			*v = m->vals[j];
			return true;
		}
	}
}

int mt_u64map_put(struct mt_u64map *m, uint64_t k, uint32_t v)
{
	if (k == EMPTY)
		return 0;
	if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -ENOMEM;
	size_t j = mix(k) & (m->cap - 1);
	while (m->keys[j] != EMPTY && m->keys[j] != k)
		j = (j + 1) & (m->cap - 1);
	if (m->keys[j] == EMPTY)
		m->n++;
	m->keys[j] = k;
	m->vals[j] = v;
	return 0;
}

void mt_u64map_free(struct mt_u64map *m)
{
	free(m->keys);
	free(m->vals);
	*m = (struct mt_u64map){ 0 };
}
