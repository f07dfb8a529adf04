#include <stdlib.h>
#include <string.h>

#include "model/history.h"

struct entry {
	char *key;
	struct mt_history_row row;
};

struct mt_history {
	struct entry *v;       /* open addressing; key NULL: empty */
	size_t n, cap;
	size_t key_bytes;
};

static size_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 31));
}

struct mt_history *mt_history_new(void)
{
	return calloc(1, sizeof(struct mt_history));
}

void mt_history_destroy(struct mt_history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cap; i++) {
		if (h->v[i].key) {
			free(h->v[i].key);
			mt_series_destroy(h->v[i].row.series);
		}
	}
	free(h->v);
	free(h);
}

static int grow(struct mt_history *h)
{
	size_t cap = h->cap ? h->cap * 2 : 64;
	struct entry *v = calloc(cap, sizeof *v);
	if (!v)
		return -1;
	for (size_t i = 0; i < h->cap; i++) {
		if (!h->v[i].key)
			continue;
		size_t j = hash(h->v[i].key) & (cap - 1);
		while (v[j].key)
			j = (j + 1) & (cap - 1);
		v[j] = h->v[i];
	}
	free(h->v);
	h->v = v;
	h->cap = cap;
	return 0;
}

struct mt_history_row *mt_history_get(struct mt_history *h, const char *key)
{
	if ((h->n + 1) * 2 > h->cap && grow(h) < 0)
		return NULL;
	size_t j = hash(key) & (h->cap - 1);
	for (; h->v[j].key; j = (j + 1) & (h->cap - 1))
		if (strcmp(h->v[j].key, key) == 0)
			return &h->v[j].row;
	char *k = strdup(key);
	struct mt_series *s = mt_series_new();
	if (!k || !s) {
		free(k);
		mt_series_destroy(s);
		return NULL;
	}
	h->v[j].key = k;
	memset(&h->v[j].row, 0, sizeof h->v[j].row);
	h->v[j].row.series = s;
	h->n++;
	h->key_bytes += strlen(k) + 1;
	return &h->v[j].row;
}

size_t mt_history_count(const struct mt_history *h)
{
	return h->n;
}

size_t mt_history_memory(const struct mt_history *h)
{
	size_t bytes = sizeof *h + h->cap * sizeof *h->v + h->key_bytes;
	for (size_t i = 0; i < h->cap; i++)
		if (h->v[i].key)
			bytes += mt_series_memory(h->v[i].row.series);
	return bytes;
}
