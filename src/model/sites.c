#include <stdlib.h>
#include <string.h>

#include "model/sites.h"

/* Sites in an array (ids are indexes), found by key through an
 * open-addressing hash of ids, kept under half full. */
struct mt_sites {
	struct mt_site *v;
	size_t n, cap;
	uint32_t *slots;      /* id + 1; 0 is empty */
	size_t nslots;
};

static size_t hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k;
}

struct mt_sites *mt_sites_new(void)
{
	struct mt_sites *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->nslots = 256;
	s->slots = calloc(s->nslots, sizeof *s->slots);
	if (!s->slots) {
		free(s);
		return NULL;
	}
	return s;
}

void mt_sites_destroy(struct mt_sites *s)
{
	if (!s)
		return;
	free(s->v);
	free(s->slots);
	free(s);
}

static int grow_slots(struct mt_sites *s)
{
	size_t n = s->nslots * 2;
	uint32_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		size_t j = hash64(s->v[i].key) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = n;
	return 0;
}

uint32_t mt_sites_intern(struct mt_sites *s, uint64_t key)
{
	size_t mask = s->nslots - 1;
	size_t j = hash64(key) & mask;
	for (; s->slots[j]; j = (j + 1) & mask)
		if (s->v[s->slots[j] - 1].key == key)
			return s->slots[j] - 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct mt_site *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return UINT32_MAX;
		s->v = v;
		s->cap = cap;
	}
	uint32_t id = (uint32_t)s->n++;
	memset(&s->v[id], 0, sizeof s->v[id]);
	s->v[id].key = key;
	s->slots[j] = id + 1;
	if (s->n * 2 > s->nslots && grow_slots(s) < 0)
		return id; /* still findable, only slower */
	return id;
}

struct mt_site *mt_sites_get(struct mt_sites *s, uint32_t id)
{
	return id < s->n ? &s->v[id] : NULL;
}

const struct mt_site *mt_sites_get_const(const struct mt_sites *s, uint32_t id)
{
	return id < s->n ? &s->v[id] : NULL;
}

size_t mt_sites_count(const struct mt_sites *s)
{
	return s->n;
}
