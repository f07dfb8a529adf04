/* Poisson sampling by bytes for an engine that sees every allocation (the
 * breakpoint engine): the same law as the in-process agent's sampler
 * (agent.c) and jemalloc's and tcmalloc's heap profiles.  Bytes allocated
 * form one stream; a sample point falls on average every MEAN bytes, the
 * gaps drawn from an exponential law, and an allocation is recorded when a
 * point falls inside it.  An allocation of SIZE bytes is then recorded with
 * probability 1 - exp(-SIZE / MEAN), whatever came before it, which is the
 * weight the tracker gives it (tracker.h).  Pure: no I/O. */
#ifndef MT_SAMPLER_H
#define MT_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

struct mt_sampler;

/* A sampler of mean MEAN bytes (0: every allocation is recorded), its
 * random stream started from SEED.  NULL when out of memory. */
struct mt_sampler *mt_sampler_new(uint64_t mean, uint64_t seed);
void mt_sampler_destroy(struct mt_sampler *s);

/* Whether an allocation of SIZE bytes (0 counts as 1) is recorded. */
bool mt_sampler_take(struct mt_sampler *s, uint64_t size);

#endif
