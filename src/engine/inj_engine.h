/* The in-process engine (issue 5): trampolines into an agent that memtrace
 * injects, and shared ring buffers it drains.  See inj_engine.c and
 * agent_abi.h. */
#ifndef MT_INJ_ENGINE_H
#define MT_INJ_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent_abi.h"
#include "symbols/discover.h"
#include "symbols/pyframes.h"
#include "engine/engine.h"
#include "model/event.h"
#include "model/stacks.h"
#include "target/maps.h"
#include "target/target.h"

struct mt_inj_config {
	int depth;                 /* return addresses to record (>= 1) */
	uint64_t sample_bytes;     /* 0: every call */
	bool lossless;             /* a full ring makes the agent wait, not drop */
	bool account;              /* the agent may account calls itself (ltab.h)
	                              when it takes stacks and every call */
	struct mt_stacks *stacks;  /* where stacks are interned; NULL: callers only */
	const char *const *debug_dirs;
	int ndebug_dirs;
	/* CPython in the target (pyframes.h): its frames are taken with the
	 * stacks when supported; NULL: none */
	const struct mt_pyinfo *py;
};

/* An engine for the stopped target T hooking SET (which must outlive it),
 * sending events to SINK.  NULL when out of memory.  Nothing is done to
 * the target before install. */
struct mt_engine *mt_inj_engine_new(struct mt_target *t, const struct mt_alloc_set *set,
				    mt_event_sink sink, void *sink_ctx,
				    const struct mt_inj_config *cfg);

/* ---- what a killed memtrace left (memtrace detach, cmd_detach.c) ----- */

#define MT_INJ_MAX_AGENTS 4

/* An agent found in a process (untrusted: read from it). */
struct mt_inj_agent {
	uint64_t code, code_end;   /* its code mapping (r-x, anonymous) */
	uint64_t state;            /* its state; 0: another version's agent */
	uint64_t rings;            /* its ring region (header checked); 0: none */
	int32_t reader_pid;        /* the region's reader_pid: 0, or a memtrace,
	                              alive or not */
	struct mt_agent_hook_rec hooks[MT_AGENT_MAX_HOOKS + 1]; /* state 0: none */
};

struct mt_inj_leftover {
	struct mt_inj_agent v[MT_INJ_MAX_AGENTS];
	int n;
};

/* The agents in PID's anonymous r-x mappings (MAPS), with their records
 * when their version is this memtrace's and their state was configured (a
 * forked child's is wiped).  PID should be stopped.  Never writes. */
void mt_inj_leftover_find(pid_t pid, const struct mt_maps *maps, struct mt_inj_leftover *out);
/* Marks agent A's record of the hook at ADDR as no longer live. */
void mt_inj_leftover_unhooked(pid_t pid, const struct mt_inj_agent *a, uint64_t addr);
/* Tells agent A's rings that no reader is attached (reader_pid 0). */
void mt_inj_leftover_readerless(pid_t pid, const struct mt_inj_agent *a);
/* CPython's allocator tables (inj_pytab.c) whose entries hold trampolines
 * of an agent of LO, SET naming the process's PyObject_Malloc & co: each
 * such entry gets its function back.  Every thread stopped.  The number
 * of entries put back. */
int mt_inj_leftover_pytab(pid_t pid, const struct mt_maps *maps, const struct mt_alloc_set *set,
			  const struct mt_inj_leftover *lo);

#endif
