/* memtrace's reader of the shared event rings (ring.h).
 *
 * The region lives in memory the target can write at any time, so nothing
 * read from it is believed:
 *   - the geometry (magic, version, sizes, ring count, capacity) is read
 *     once by mt_ringdec_new(), checked against the length memtrace mapped
 *     and against this build's layout, and copied; later changes to it are
 *     never read;
 *   - the reader keeps its own position per ring and never reads tail
 *     back; a published head that moved backwards or more than a ring's
 *     capacity ahead marks the ring poisoned: it is not read again;
 *   - each record is copied out of the region before it is checked, and
 *     is rejected (skipped, counted) unless its seq is its position (low
 *     32 bits), its check word matches, its kind and fn are known and agree, and its
 *     addresses and sizes are possible;
 *   - a drain does at most BUDGET records' work and O(BUDGET * rings)
 *     steps in all, whatever the region holds.
 * The caller must seal the memfd against shrinking (ring.h).
 *
 * Order: per ring, records are emitted in ring order.  Across rings, by
 * the records' generations (ring.h): the reader keeps, per generation
 * slot, the last generation it emitted (starting from the region's values
 * at mt_ringdec_new()).  A record whose generation is the next one, an
 * old one, or 0 goes; one further ahead is held while the reader reloads
 * the other rings' heads and drains them up to there; if that moves
 * nothing (its predecessor was dropped, or is not published yet), it is
 * emitted anyway, counted in order_forced, and its slot moves on to it.
 * The generation table is the target's too: its values only steer the
 * order, never memory safety or termination.
 */
#ifndef MT_RINGDEC_H
#define MT_RINGDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/event.h"

struct mt_ringdec;

struct mt_ringdec_ops {
	mt_event_sink emit;   /* every accepted record, as an mt_event */
	/* optional: the interned stack id (stacks.h) of an agent's stack
	 * hash; without it events carry stack 0 */
	uint32_t (*stack)(void *ctx, uint64_t hash);
	void *ctx;
};

struct mt_ringdec_stats {
	uint64_t events;          /* records emitted                         */
	uint64_t realloc_begins;  /* of those, REALLOC_BEGIN: the first of a
	                             realloc call's two records            */
	uint64_t drains;
	uint64_t skipped_at_open; /* records a previous reader left unread   */
	uint64_t rejected;        /* records that failed a check, skipped    */
	uint64_t poisoned_rings;  /* rings given up: impossible head         */
	uint64_t order_waits;     /* records held back for other rings       */
	uint64_t order_forced;    /* held records emitted with nothing to wait for */
	/* the agent's own counts, as the region reports them (untrusted,
	 * summed with saturation) */
	uint64_t dropped_full;
	uint64_t dropped_noreader;
	uint64_t dropped_reentered;
	uint64_t dropped_noring;
};

/* Initialises a region of LEN bytes at BASE (64-byte aligned) with NRINGS
 * rings of CAPACITY records and MT_RING_GENS generation slots
 * (mt_ring_region_bytes()): memtrace does it on the memfd it creates.
 * 0, or -EINVAL when the numbers break the reader's limits or do not fit. */
int mt_ring_region_init(void *base, size_t len, uint32_t nrings, uint32_t capacity);

/* A reader of the region mapped at BASE for LEN bytes.  It starts at each
 * ring's current head (what an earlier reader left is skipped and
 * counted).  0 and *OUT, or -EINVAL (not a region this build reads: bad
 * magic, version, sizes, ring count, capacity, generation slots, or larger
 * than LEN) or
 * -ENOMEM. */
int mt_ringdec_new(void *base, size_t len, const struct mt_ringdec_ops *ops,
		   struct mt_ringdec **out);
void mt_ringdec_destroy(struct mt_ringdec *d);

/* Tells the agent a reader is attached (PID) or gone (0). */
void mt_ringdec_set_reader(struct mt_ringdec *d, pid_t pid);

/* Whether the reader drops each record's cache line from every cache once
 * it has copied it out (mt_arch_evict_line; on by default).  A producer
 * that runs ahead of the reader and drops records when its ring is full
 * then writes each slot into a line no other core holds; left in the
 * reader's cache, the line must be taken back on every write, and on two
 * vCPUs that made the traced process run two to three times as slowly in
 * some runs as in others.  An agent that waits for room (--lossless) writes each slot as
 * soon as it is freed, into a line still being evicted: off for it. */
void mt_ringdec_set_evict(struct mt_ringdec *d, bool on);

/* Decodes and emits at most BUDGET records (accepted or rejected), in
 * batches per ring, giving the space back to the producers after each
 * batch (and waking a producer waiting on a ring it saw full once half of
 * that ring is free).  Records published meanwhile are read too: the heads
 * are loaded again before it stops.  Returns how many records it
 * consumed; less than BUDGET means every readable ring was empty at the
 * last look (or held a record back for another ring). */
size_t mt_ringdec_drain(struct mt_ringdec *d, size_t budget);

/* Thread TID exited: the ring it owned (if any) may be claimed by another
 * thread, which goes on with its positions. */
void mt_ringdec_retire(struct mt_ringdec *d, uint32_t tid);

void mt_ringdec_stats(const struct mt_ringdec *d, struct mt_ringdec_stats *out);

/* The region's geometry as checked when it was opened: ring 0's offset
 * from the region's start, the bytes from one ring to the next, and the
 * number of rings. */
void mt_ringdec_geometry(const struct mt_ringdec *d, uint64_t *ring0_off, uint64_t *stride,
			 uint32_t *nrings);

#endif
