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
 * What the copy costs the target while it lives: nothing but page faults
 * (each page the target writes is copied once, as after any fork); its
 * reads go through /proc/COPY/mem, which, unlike process_vm_readv(2),
 * never makes the kernel unshare (copy) the pages it reads.  Under
 * seccomp, the thread's filters are run first on the very clone(2)
 * (scfilter.h): one that would not allow it (kill, errno, trap...), or
 * that cannot be read, refuses with WHY.  Clone's own failures (ENOMEM,
 * EAGAIN, EPERM) leave the target as it was.
 *
 * Talks to the target only through target.h, remote.h and memio.h.
 */
#ifndef MT_HEAPFREEZE_H
#define MT_HEAPFREEZE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "census/glheap.h"
#include "target/maps.h"
#include "census/memsrc.h"
#include "target/target.h"

struct mt_freeze;

struct mt_freeze_stats {
	double paused_ms;    /* threads stopped for the census: from the start
	                        of mt_freeze_take() (finding the heap, the waits
	                        for a quiescent point) to the clone's return,
	                        less ran_ms */
	double ran_ms;       /* of that time, the moments the threads ran
	                        between two quiescence checks */
	int tries;           /* quiescence checks made */
	double copy_ms;      /* the clone(2) alone */
};

/* T: the target with every thread stopped (left stopped on return, for the
 * caller to resume), before any hook is planted: while waiting for a
 * quiescent point a SIGTRAP is taken for the target's own and a forked
 * child is released as is.  Finds glibc's heap (mt_glheap_find, with the
 * thread pointers of T's threads), waits for a quiescent point (at most
 * 1 s, 150 ms of it stopped, or 1000 checks: else -EBUSY, "a thread stayed inside the allocator
 * ..."), and clones.  0 and *OUT, or -errno with WHY (one line: what
 * failed and why). */
int mt_freeze_take(struct mt_target *t, const char *cache_dir, struct mt_freeze **out,
		   char *why, size_t whylen);
/* The frozen copy's memory (reads and residency from /proc/COPY/pagemap),
 * its mappings, and what was learned of glibc's heap. */
const struct mt_memsrc *mt_freeze_memsrc(const struct mt_freeze *f);
const struct mt_maps *mt_freeze_maps(const struct mt_freeze *f);
const struct mt_glheap *mt_freeze_glheap(const struct mt_freeze *f);
void mt_freeze_stats(const struct mt_freeze *f, struct mt_freeze_stats *st);
/* Kill the copy now (its memory, and the target's copy-on-write faults,
 * go with it); reads fail from here on.  Threads may run.  Optional:
 * release does it too. */
void mt_freeze_kill(struct mt_freeze *f, struct mt_target *t);
/* Kill the copy and have the target reap it, then free F.  T must be
 * attached; its threads may run: the reaping wait4(COPY, __WALL|WNOHANG)
 * runs in a stopped thread of T if there is one, else one thread is
 * interrupted for it (well under 1 ms; a stop it took meanwhile reaches
 * the caller's next mt_target_next_stop()).
 *
 * What remains when memtrace dies with a copy alive (SIGKILL): the copy
 * was given PTRACE_O_EXITKILL, so the kernel kills it with memtrace, but
 * nobody reaps it: a zombie child of the target (no memory, one pid) until
 * the target exits or waits with __WALL/__WCLONE.  Its exit signal is 0:
 * the target gets no SIGCHLD and a plain wait() never returns it. */
void mt_freeze_release(struct mt_freeze *f, struct mt_target *t);

#endif
