/* The event stream: what every hook engine produces and the tracker consumes.
 *
 * Engines (breakpoint now, in-process later) emit one mt_event per completed
 * outermost allocator call, in an order that is consistent per address: a
 * free of an address is emitted before any later allocation returning it.
 */
#ifndef MT_EVENT_H
#define MT_EVENT_H

#include <stdint.h>
#include <sys/types.h>

#include "model/allocfn.h"

enum mt_event_kind {
	MT_EV_ALLOC,   /* addr/size: a new block (malloc, calloc, memalign, ...) */
	MT_EV_FREE,    /* addr: a block released (free, free_sized, ...)        */
	MT_EV_REALLOC_BEGIN, /* a realloc of old_addr has started: until it
	                  returns, another thread may legitimately be handed
	                  old_addr (the realloc moved and freed it)             */
	MT_EV_REALLOC, /* a realloc returned: old_addr released (if non-zero),
	                  addr/size allocated (if addr non-zero); addr == 0 with
	                  size == 0 frees old_addr (glibc's realloc(p, 0));
	                  addr == 0 otherwise is a failure: old_addr stays     */
	MT_EV_COUNTS,  /* counts: calls an in-process agent accounted itself
	                  (agent/ltab.h), of the blocks of stack (0: of
	                  caller), since the last such event for that stack    */
	MT_EV_COUNTS_DONE, /* a read of those counts is complete: the live
	                  totals are consistent here (the peak is taken)       */
};

/* What MT_EV_COUNTS adds to a site: allocations and frees of its blocks. */
struct mt_counts {
	uint64_t allocs, alloc_bytes;
	uint64_t frees, freed_bytes;
};

struct mt_event {
	enum mt_event_kind kind;
	enum mt_fn fn;        /* which allocator entry point was called   */
	pid_t tid;
	uint64_t addr;
	uint64_t size;
	uint64_t old_addr;
	uint64_t caller;      /* return address of the outermost call      */
	uint32_t stack;       /* interned call stack (stacks.h), 0: none    */
	uint64_t time_ns;     /* CLOCK_MONOTONIC, memtrace's clock          */
	const struct mt_counts *counts;   /* MT_EV_COUNTS only            */
};

typedef void (*mt_event_sink)(void *ctx, const struct mt_event *ev);

#endif
