#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/stacks.h"

/* Layout.
 *
 *   chunks   frames of every stack, back to back, in a list of arena chunks.
 *            A chunk is never reallocated, so the pointers mt_stacks_get()
 *            hands out stay valid; a stack never straddles two chunks.
 *            Chunks double from 8 KiB up to 1 MiB, so a million 32-frame
 *            stacks cost ~250 mallocs and the slack at a chunk's end (less
 *            than one stack) stays under 1%.
 *   stacks   id - 1 -> where its frames are, how many, and their full hash.
 *   slots    open addressing with linear probing, kept at most half full:
 *            the id and the hash's top 32 bits, so a probe that passes
 *            other stacks rarely touches their frames.
 */

#define FIRST_CHUNK_FRAMES 1024u
#define MAX_CHUNK_FRAMES (128u * 1024u)
#define FIRST_SLOTS 1024u

struct chunk {
	struct chunk *prev;
	size_t cap, used;          /* in frames */
	uint64_t pcs[];
};

struct stack {
	const uint64_t *pcs;
	uint64_t hash;
	uint32_t n;
};

struct slot {
	uint32_t id;               /* 0: empty */
	uint32_t tag;              /* hash >> 32 */
};

struct mt_stacks {
	struct chunk *chunk;       /* the newest; older ones through prev */
	size_t chunk_bytes;        /* all chunks, headers included */
	struct stack *stacks;
	size_t n, cap;
	struct slot *slots;
	size_t nslots;             /* a power of two */
};

/* splitmix64's finalizer: every input bit reaches every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Return addresses share their high bits (one module) and differ in the low
 * ones; each step multiplies to carry the low bits up and folds the high
 * half back down, so the order of frames matters and a one-frame prefix or
 * suffix changes everything.  The length seeds the state. */
static uint64_t hash_pcs(const uint64_t *pcs, int n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL * (uint64_t)n;
	for (int i = 0; i < n; i++) {
		h = (h ^ pcs[i]) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return mix64(h);
}

struct mt_stacks *mt_stacks_new(void)
{
	struct mt_stacks *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->nslots = FIRST_SLOTS;
	t->slots = calloc(t->nslots, sizeof *t->slots);
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

void mt_stacks_destroy(struct mt_stacks *t)
{
	if (!t)
		return;
	for (struct chunk *c = t->chunk, *prev; c; c = prev) {
		prev = c->prev;
		free(c);
	}
	free(t->stacks);
	free(t->slots);
	free(t);
}

static bool same(const struct stack *s, uint64_t hash, const uint64_t *pcs, int n)
{
	return s->hash == hash && s->n == (uint32_t)n &&
	       memcmp(s->pcs, pcs, (size_t)n * sizeof *pcs) == 0;
}

/* Double the slots; the old ones stay if that fails. */
static bool grow_slots(struct mt_stacks *t)
{
	size_t nslots = t->nslots * 2;
	struct slot *slots = calloc(nslots, sizeof *slots);
	if (!slots)
		return false;
	size_t mask = nslots - 1;
	for (size_t i = 0; i < t->n; i++) {
		uint64_t h = t->stacks[i].hash;
		size_t j = (size_t)h & mask;
		while (slots[j].id)
			j = (j + 1) & mask;
		slots[j] = (struct slot){ (uint32_t)(i + 1), (uint32_t)(h >> 32) };
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return true;
}

/* Room for N more frames in the newest chunk. */
static bool reserve_frames(struct mt_stacks *t, int n)
{
	struct chunk *c = t->chunk;
	if (c && c->cap - c->used >= (size_t)n)
		return true;
	size_t cap = c ? c->cap * 2 : FIRST_CHUNK_FRAMES;
	if (cap > MAX_CHUNK_FRAMES)
		cap = MAX_CHUNK_FRAMES;
	size_t bytes = sizeof *c + cap * sizeof c->pcs[0];
	struct chunk *nc = malloc(bytes);
	if (!nc)
		return false;
	nc->prev = c;
	nc->cap = cap;
	nc->used = 0;
	t->chunk = nc;
	t->chunk_bytes += bytes;
	return true;
}

static bool reserve_stack(struct mt_stacks *t)
{
	if (t->n < t->cap)
		return true;
	size_t cap = t->cap ? t->cap * 2 : 256;
	struct stack *v = realloc(t->stacks, cap * sizeof *v);
	if (!v)
		return false;
	t->stacks = v;
	t->cap = cap;
	return true;
}

uint32_t mt_stacks_intern(struct mt_stacks *t, const uint64_t *pcs, int n)
{
	if (!pcs || n < 1 || n > MT_STACKS_MAX_PCS)
		return 0;
	uint64_t h = hash_pcs(pcs, n);
	uint32_t tag = (uint32_t)(h >> 32);
	size_t mask = t->nslots - 1;
	size_t j = (size_t)h & mask;
	for (; t->slots[j].id; j = (j + 1) & mask) {
		uint32_t id = t->slots[j].id;
		if (t->slots[j].tag == tag && same(&t->stacks[id - 1], h, pcs, n))
			return id;
	}

	/* A new stack.  Everything that can fail happens before anything
	 * changes, so running out of memory leaves the table as it was. */
	if (t->n >= UINT32_MAX - 1)
		return 0;
	if (!reserve_stack(t) || !reserve_frames(t, n))
		return 0;
	if ((t->n + 1) * 2 > t->nslots) {
		if (!grow_slots(t))
			return 0;
		mask = t->nslots - 1;
		for (j = (size_t)h & mask; t->slots[j].id; j = (j + 1) & mask)
			;
	}
	struct chunk *c = t->chunk;
	uint64_t *dst = c->pcs + c->used;
	memcpy(dst, pcs, (size_t)n * sizeof *pcs);
	c->used += (size_t)n;
	uint32_t id = (uint32_t)++t->n;
	t->stacks[id - 1] = (struct stack){ dst, h, (uint32_t)n };
	t->slots[j] = (struct slot){ id, tag };
	return id;
}

int mt_stacks_get(const struct mt_stacks *t, uint32_t id, const uint64_t **pcs)
{
	if (id == 0 || id > t->n) {
		if (pcs)
			*pcs = NULL;
		return 0;
	}
	const struct stack *s = &t->stacks[id - 1];
	if (pcs)
		*pcs = s->pcs;
	return (int)s->n;
}

size_t mt_stacks_count(const struct mt_stacks *t)
{
	return t->n;
}

size_t mt_stacks_memory(const struct mt_stacks *t)
{
	return sizeof *t + t->chunk_bytes + t->cap * sizeof *t->stacks +
	       t->nslots * sizeof *t->slots;
}
