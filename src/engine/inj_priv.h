/* What the inject engine's files share: struct inj_engine, the target's
 * memory and injected system calls, and the engine operations each file
 * implements.  inj_engine.c (the interface, life), inj_map.c (the agent
 * and its shared region in the target), inj_hooks.c (trampolines, patches,
 * restoring), inj_drain.c (configuring the agent, reading its rings).
 * Private to src/engine: include it from nowhere else.  Names with linkage
 * here start with inj_.
 */
#ifndef MT_INJ_PRIV_H
#define MT_INJ_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/agent_abi.h"
#include "arch/tramp_plan.h"
#include "engine/acctread.h"
#include "engine/engine.h"
#include "engine/inj_engine.h"
#include "engine/ringdec.h"
#include "engine/rulesrv.h"
#include "target/maps.h"
#include "target/remote.h"
#include "target/target.h"

#define MAX_PAGES MT_AGENT_MAX_HOOKS
#define SLOTS_PER_PAGE (MT_REMOTE_PAGE / MT_AGENT_TRAMP_SIZE)

struct hook {
	const struct mt_hook_spec *spec;   /* NULL for ld.so's notification */
	uint64_t addr, tramp;
	unsigned patch_len;
	uint8_t orig[MT_TRAMP_MAX_PATCH], patch[MT_TRAMP_MAX_PATCH];
	bool live;
};

struct page {
	uint64_t addr;
	unsigned used;
};

/* A CPython allocator table's entry pointed at a trampoline (inj_pytab.c) */
#define MT_INJ_MAX_PYSWAPS 8
struct inj_pyswap {
	uint64_t slot;             /* the entry's address */
	uint64_t orig;             /* the function it held */
	uint64_t tramp;            /* what it holds now */
	bool live;
};

struct scache_ent {
	uint64_t hash;
	uint32_t id;
};

struct inj_engine {
	struct mt_engine base;
	struct mt_target *t;
	pid_t pid;
	const struct mt_alloc_set *set;
	mt_event_sink sink;
	void *sink_ctx;
	struct mt_inj_config cfg;
	uint64_t syscall_pc;

	struct mt_agent_header hdr;
	uint64_t agent;            /* the agent's mapping in the target, 0: none */
	uint64_t state;            /* its state page */
	uint64_t shm_target;       /* the memfd mapping in the target */
	void *shm;                 /* and in memtrace */
	size_t shm_len, rings_len;
	struct mt_agent_shared *sh; /* memtrace's view: untrusted */
	uint32_t stack_max, stack_slot, stacks_cap;
	uint64_t stacks_off;
	uint64_t sset_off;         /* the set of sampled live blocks (sset.h) */
	uint32_t sset_buckets;     /* 0: the region has none */
	uint32_t sset_shift;
	uint64_t stacks_unkept;    /* the agent's stacks memtrace could not read or intern */
	/* accounting in the agent (ltab.h, acctread.c); ltab_buckets 0: none */
	uint64_t ltab_off, counts_off, gcounts_off;
	uint32_t ltab_buckets, counts_per_ring, counts_nrings;
	struct mt_acctread *acct;  /* the reader of the counts; NULL: not accounting */
	double synced_at;          /* when they were last read (mt_inj_now_s) */
	uint64_t base_ltab_overflows, base_ltab_stale, base_joined;
	struct mt_ringdec *dec;
	struct mt_rulesrv *rs;
	bool reader;               /* we told the agent we read */

	struct page pages[MAX_PAGES];
	int npages;
	struct hook hooks[MT_MAX_HOOKS];
	int nhooks;
	struct hook dl;
	struct inj_pyswap pyswaps[MT_INJ_MAX_PYSWAPS];
	int npyswaps;
	void (*dl_cb)(void *ctx, pid_t tid);
	void *dl_ctx;
	uint32_t dl_seen;

	char why[256];             /* why the agent cannot be used */
	uint32_t foreign_agent;    /* the version of another memtrace's agent found, 0: none */

	struct scache_ent *scache; /* agent stack hash -> interned id */
	size_t scap, sn;

	struct mt_engine_stats st;
	uint64_t emitted;
	struct mt_ringdec_stats at_start;  /* the agent's counts when we started */
	uint64_t base_truncated, base_lost, base_refusals, base_timeouts, base_overflows;
	uint64_t base_dl_timeouts, base_rule_skips;
};

/* ---- between the files ------------------------------------------------ */

/* inj_engine.c: the target's memory, its system calls, the agent's state */
int mt_inj_peek(struct inj_engine *e, uint64_t addr, void *buf, size_t len);
int mt_inj_poke(struct inj_engine *e, uint64_t addr, const void *buf, size_t len);
long mt_inj_rsys(struct inj_engine *e, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
	      uint64_t a3, uint64_t a4, uint64_t a5);
void mt_inj_put_state(struct inj_engine *e, size_t off, const void *v, size_t len);

/* inj_map.c */
int mt_inj_setup(struct inj_engine *e, const struct mt_maps *maps);
uint32_t mt_inj_find_tid_offset(struct inj_engine *e);
void mt_inj_sset_clear(struct inj_engine *e);

/* inj_hooks.c */
enum mt_err mt_inj_install(struct mt_engine *base, bool *installed, const char **why_not);
int mt_inj_watch(struct mt_engine *base, uint64_t addr, void (*cb)(void *ctx, pid_t tid),
	      void *ctx);
int mt_inj_clean_child(struct mt_engine *base, pid_t child);
int mt_inj_remove(struct mt_engine *base);
uint64_t mt_inj_tramp_slot(struct inj_engine *e, const struct mt_maps *maps, uint64_t near);

/* inj_pytab.c: CPython's allocator tables (allocfn.h MT_FAM_PYTAB), all
 * threads stopped.  Restore: in the target or a forked child; the number
 * of entries that could not be written back. */
void mt_inj_pytab_install(struct inj_engine *e, const struct mt_maps *maps);
int mt_inj_pytab_restore(struct inj_engine *e, pid_t pid);

/* inj_drain.c */
int mt_inj_start_reading(struct inj_engine *e);
size_t mt_inj_drain(struct inj_engine *e, size_t budget);
int mt_inj_poll(struct mt_engine *base, bool *notify);
void mt_inj_notify(struct mt_engine *base);
void mt_inj_on_task_exit(struct mt_engine *base, pid_t tid);
void mt_inj_stats(const struct mt_engine *base, struct mt_engine_stats *out);
void mt_inj_sync(struct mt_engine *base);
double mt_inj_now_s(void);

#endif
