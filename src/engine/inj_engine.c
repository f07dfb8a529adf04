/* The in-process engine.  See inj_engine.h, agent_abi.h and ring.h.
 *
 * install (all threads stopped):
 *   1. find the agent an earlier memtrace left in the target (its header
 *      in an anonymous r-x mapping), or map a new one: injected mmap r-x of
 *      code + state, the image written, mprotect rw of the state (never
 *      writable and executable at once), MADV_WIPEONFORK on
 *      the configuration page; an injected memfd_create + ftruncate +
 *      F_ADD_SEALS + mmap MAP_SHARED + MADV_DONTFORK for the shared
 *      region.  The target keeps the memfd open (records.region_fd1):
 *      memtrace takes it with pidfd_getfd(2), which any user who may
 *      ptrace the target may call, where /proc/PID/map_files needs
 *      CAP_SYS_ADMIN (issue 16).  An agent whose configuration is wiped
 *      (a forked child's, see agent_abi.h) or whose region cannot be
 *      reached any more is given a new region;
 *   2. configure the state page (thread-id offset, depth, sampling, where
 *      the region is), then mark memtrace as the reader;
 *   3. per hook: plan the patch (tramp_plan.h), write the trampoline into
 *      a page within +-2 GiB of the entry (an earlier one is reused when
 *      its bytes are still right), check that no thread's pc is inside
 *      the bytes to patch, and write the jump.
 *
 * While tracing, poll() drains the rings into the sink (ringdec.c), turns
 * the agent's stack hashes into interned stacks, and a rule server thread
 * (rulesrv.c) answers the agent's requests for unwind rules.
 *
 * remove (all threads stopped): drain, restore every patched entry, and
 * tell the agent no reader is attached.  The agent, its state and the
 * trampolines stay mapped: a thread may still be inside them, or return
 * into them, and a later attach reuses them.
 *
 * The engine is four files sharing struct inj_engine (inj_priv.h):
 * inj_map.c maps the agent and its shared region (step 1), inj_drain.c
 * configures it and reads the rings (step 2, and while tracing),
 * inj_hooks.c writes and restores the hooks (step 3, remove); this one
 * holds the engine's interface and life.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "engine/inj_engine.h"
#include "engine/inj_priv.h"
#include "target/memio.h"
#include "target/remote.h"
#include "engine/ringdec.h"
#include "engine/rulesrv.h"

int mt_inj_peek(struct inj_engine *e, uint64_t addr, void *buf, size_t len)
{
	return mt_mem_read(e->pid, addr, buf, len);
}

int mt_inj_poke(struct inj_engine *e, uint64_t addr, const void *buf, size_t len)
{
	return mt_mem_write(e->pid, addr, buf, len);
}

long mt_inj_rsys(struct inj_engine *e, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3, uint64_t a4, uint64_t a5)
{
	uint64_t args[6] = { a0, a1, a2, a3, a4, a5 };
	long ret;
	int err = mt_remote_syscall(e->t, e->syscall_pc, nr, args, &ret);
	return err ? err : ret;
}

double mt_inj_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mt_inj_put_state(struct inj_engine *e, size_t off, const void *v, size_t len)
{
	mt_inj_poke(e, e->state + off, v, len);
}

/* ---- engine ops ------------------------------------------------------- */

static int inj_wake_fd(const struct mt_engine *base)
{
	const struct inj_engine *e = (const struct inj_engine *)base;
	return mt_rulesrv_wake_fd(e->rs);
}

static bool inj_on_trap(struct mt_engine *base, const struct mt_stop *st, bool parking)
{
	(void)base; (void)st; (void)parking;
	return false;
}

static bool inj_past_int3(struct mt_engine *base, pid_t tid)
{
	(void)base; (void)tid;
	return false;
}

static void inj_abandon(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (e->dec)
		mt_inj_drain(e, SIZE_MAX);
	for (int i = 0; i < e->nhooks; i++)
		e->hooks[i].live = false;
	e->dl.live = false;
	e->npyswaps = 0;
	e->reader = false;
}

static void inj_destroy(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	/* No reader from now on: the agent drops and counts, and asks no
	 * more rules; then the rule server can go. */
	if (e->dec && e->reader)
		mt_ringdec_set_reader(e->dec, 0);
	if (e->rs)
		mt_rulesrv_destroy(e->rs);
	if (e->dec)
		mt_ringdec_destroy(e->dec);
	mt_acctread_destroy(e->acct);
	if (e->shm)
		munmap(e->shm, e->shm_len);
	free(e->scache);
	free(e);
}

static const struct mt_engine_ops inj_ops = {
	.name = "inject",
	.install = mt_inj_install,
	.on_trap = inj_on_trap,
	.on_task_exit = mt_inj_on_task_exit,
	.past_int3 = inj_past_int3,
	.watch = mt_inj_watch,
	.clean_child = mt_inj_clean_child,
	.abandon = inj_abandon,
	.remove = mt_inj_remove,
	.poll = mt_inj_poll,
	.notify = mt_inj_notify,
	.wake_fd = inj_wake_fd,
	.stats = mt_inj_stats,
	.sync = mt_inj_sync,
	.destroy = inj_destroy,
};

struct mt_engine *mt_inj_engine_new(struct mt_target *t, const struct mt_alloc_set *set,
				    mt_event_sink sink, void *sink_ctx,
				    const struct mt_inj_config *cfg)
{
	struct inj_engine *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->base.ops = &inj_ops;
	e->t = t;
	e->pid = mt_target_pid(t);
	e->set = set;
	e->sink = sink;
	e->sink_ctx = sink_ctx;
	e->cfg = *cfg;
	e->scap = 1024;
	e->scache = calloc(e->scap, sizeof *e->scache);
	if (!e->scache) {
		free(e);
		return NULL;
	}
	return &e->base;
}
