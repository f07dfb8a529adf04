/* The hook engine interface.  An engine installs hooks at the allocator
 * entry points found by discover.c, turns what the target does into
 * mt_events for the tracker, and removes every trace of itself on detach.
 * The breakpoint engine (bp_engine.c) is the first; an in-process engine
 * (trampolines and a shared ring buffer) plugs in beside it.
 *
 * Every call is made with the target's threads in the state the comment
 * says; engines reach the target only through target.h and memio.h.
 */
#ifndef MT_ENGINE_H
#define MT_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "discover.h"
#include "event.h"
#include "target.h"

struct mt_engine;

struct mt_engine_stats {
	uint64_t calls;            /* outermost allocator calls seen */
	uint64_t nested_calls;     /* allocator calls made by the allocator itself */
	uint64_t in_flight;        /* calls entered but not returned when tracing ended */
	uint64_t lost_calls;       /* calls whose result could not be caught */
	uint64_t abandoned_calls;  /* calls left without returning (longjmp) */
	int hooks_installed;
	int hooks_skipped;
	int restore_mismatches;    /* code bytes that did not match the file after restore */
};

struct mt_engine_ops {
	const char *name;
	/* All threads stopped.  Installs what it can; installed[i] tells which
	 * of set->hooks[i] are live; *why_not[i] says why a hook was skipped.
	 * 0, or a negative enum mt_err when nothing usable could be installed. */
	int (*install)(struct mt_engine *e, bool *installed, const char **why_not);
	/* A SIGTRAP stop.  true when it was the engine's (and the engine has
	 * resumed the thread, or, when PARKING, left it stopped at a point
	 * where detaching is safe).  false: the target's own SIGTRAP. */
	bool (*on_trap)(struct mt_engine *e, const struct mt_stop *st, bool parking);
	void (*on_task_exit)(struct mt_engine *e, pid_t tid);
	/* A forked child with its own copy of memory, stopped before it ran:
	 * remove every hook from its copy. */
	int (*clean_child)(struct mt_engine *e, pid_t child);
	/* The target exec'd: its old image and our hooks are gone. */
	void (*abandon)(struct mt_engine *e);
	/* All threads stopped (parked): restore every byte, move threads out of
	 * memtrace's code, give back memory. */
	int (*remove)(struct mt_engine *e);
	void (*stats)(const struct mt_engine *e, struct mt_engine_stats *out);
	void (*destroy)(struct mt_engine *e);
};

struct mt_engine {
	const struct mt_engine_ops *ops;
};

#endif
