/* A hash map from 64-bit keys to 32-bit values: open addressing, linear
 * probing, grown at 3/4 full.  The key UINT64_MAX is never stored (it
 * marks an empty slot): a put of it does nothing, a get finds nothing.
 * Zeroed ({ 0 }) is an empty map. */
#ifndef MT_U64MAP_H
#define MT_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mt_u64map {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap, n;
};

/* K's value into *V: true, or false when K is not in M. */
bool mt_u64map_get(const struct mt_u64map *m, uint64_t k, uint32_t *v);
/* K -> V, in place of what K had: 0, or -ENOMEM (M as it was). */
int mt_u64map_put(struct mt_u64map *m, uint64_t k, uint32_t v);
/* Everything freed; M is empty again. */
void mt_u64map_free(struct mt_u64map *m);

#endif
