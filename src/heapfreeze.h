/* A consistent, copy-on-write view of a live process for the census.
 *
 * With every thread of the target stopped (at attach), memtrace waits for
 * a quiescent point (glheap.h: no thread half-way through the allocator;
 * if not, the threads run a moment and are stopped again, a bounded number
 * of times), then makes one stopped thread run a fork-like clone(2) with
 * no exit signal: the child is a frozen copy of the process's memory, seized
 * and stopped before it runs a single instruction.  The threads are resumed
 * at once; the census reads the copy at leisure, and mt_freeze_release()
 * kills the copy and reaps it (so the target never sees a child or a
 * SIGCHLD).  The pause (stop to resume) is measured.
 *
 * Talks to the target only through target.h, remote.h and memio.h.
 */
#ifndef MT_HEAPFREEZE_H
#define MT_HEAPFREEZE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "glheap.h"
#include "maps.h"
#include "memsrc.h"
#include "target.h"

struct mt_freeze;

struct mt_freeze_stats {
	double paused_ms;    /* threads stopped for the census: the waits for a
	                        quiescent point and the clone */
	int tries;           /* quiescence checks made */
	double copy_ms;      /* the clone(2) alone */
};

/* T: the target with every thread stopped (left stopped on return, for the
 * caller to resume).  Finds glibc's heap (mt_glheap_find, with the thread
 * pointers of T's threads), waits for a quiescent point, and clones.  0 and
 * *OUT, or -errno with WHY (one line: what failed and why). */
int mt_freeze_take(struct mt_target *t, const char *cache_dir, struct mt_freeze **out,
		   char *why, size_t whylen);
/* The frozen copy's memory (reads and residency from /proc/COPY/pagemap),
 * its mappings, and what was learned of glibc's heap. */
const struct mt_memsrc *mt_freeze_memsrc(const struct mt_freeze *f);
const struct mt_maps *mt_freeze_maps(const struct mt_freeze *f);
const struct mt_glheap *mt_freeze_glheap(const struct mt_freeze *f);
void mt_freeze_stats(const struct mt_freeze *f, struct mt_freeze_stats *st);
/* Kill the copy and have the target reap it.  T must be attached. */
void mt_freeze_release(struct mt_freeze *f, struct mt_target *t);

#endif
