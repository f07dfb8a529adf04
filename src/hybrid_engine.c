/* The inject engine with breakpoints for the functions it cannot patch:
 * see hybrid_engine.h. */
#include "hybrid_engine.h"

#include <stdio.h>
#include <stdlib.h>

#include "errors.h"

struct hybrid {
	struct mt_engine base;
	struct mt_engine *inj;
	struct mt_engine *bp;              /* made at the first refusal */
	struct mt_target *t;
	const struct mt_alloc_set *set;    /* the session's */
	struct mt_alloc_set bpset;         /* the functions given to bp */
	int bp_of[MT_MAX_HOOKS];           /* set index -> bpset index, -1 */
	char why[MT_MAX_HOOKS][192];       /* why inject refused it (set index) */
	mt_event_sink sink;
	void *sink_ctx;
	struct mt_stack_source stacks;
	bool have_stacks;
	uint64_t sample_bytes;
};

/* A breakpoint event: what the agent published before it goes first. */
static void bp_sink(void *ctx, const struct mt_event *ev)
{
	struct hybrid *h = ctx;
	mt_inj_engine_sync(h->inj);
	h->sink(h->sink_ctx, ev);
}

static bool gate_enter(void *ctx, pid_t tid)
{
	return mt_inj_engine_call_enter(((struct hybrid *)ctx)->inj, tid);
}

static void gate_leave(void *ctx, pid_t tid)
{
	mt_inj_engine_call_leave(((struct hybrid *)ctx)->inj, tid);
}

static int make_bp(struct hybrid *h)
{
	h->bp = mt_bp_engine_new(h->t, &h->bpset, bp_sink, h, h->have_stacks ? &h->stacks : NULL);
	if (!h->bp)
		return -MT_E_INTERNAL;
	if (mt_bp_engine_set_sampling(h->bp, h->sample_bytes) < 0)
		return -MT_E_INTERNAL;
	struct mt_call_gate g = { gate_enter, gate_leave, h };
	mt_bp_engine_set_gate(h->bp, &g);
	return 0;
}

static int hy_install(struct mt_engine *base, bool *installed, const char **why_not)
{
	struct hybrid *h = (struct hybrid *)base;
	bool inj_ok[MT_MAX_HOOKS];
	const char *inj_why[MT_MAX_HOOKS];
	int err = h->inj->ops->install(h->inj, inj_ok, inj_why);
	if (err == -MT_E_NOT_TRACEABLE || err == -MT_E_TARGET_LOST) {
		/* the agent is not there: the session falls back to the
		 * breakpoint engine for every function */
		for (int i = 0; i < h->set->n; i++) {
			installed[i] = inj_ok[i];
			why_not[i] = inj_why[i];
		}
		return err;
	}
	int added = 0;
	for (int i = 0; i < h->set->n; i++) {
		if (h->bp_of[i] >= 0)
			continue;   /* declined to inject: bp's, below */
		installed[i] = inj_ok[i];
		why_not[i] = inj_why[i];
		if (inj_ok[i] || !inj_why[i] || h->bpset.n == MT_MAX_HOOKS)
			continue;
		snprintf(h->why[i], sizeof h->why[i], "%s", inj_why[i]);
		h->bp_of[i] = h->bpset.n;
		h->bpset.hooks[h->bpset.n++] = h->set->hooks[i];
		mt_inj_engine_decline(h->inj, h->set->hooks[i].addr);
		added++;
	}
	if (h->bpset.n) {
		if (!h->bp && make_bp(h) < 0)
			return -MT_E_INTERNAL;
		bool bp_ok[MT_MAX_HOOKS];
		const char *bp_why[MT_MAX_HOOKS];
		int bperr = h->bp->ops->install(h->bp, bp_ok, bp_why);
		if (bperr == -MT_E_TARGET_LOST)
			return bperr;
		for (int i = 0; i < h->set->n; i++) {
			int k = h->bp_of[i];
			if (k < 0)
				continue;
			installed[i] = bp_ok[k];
			why_not[i] = bp_ok[k] ? NULL : bp_why[k];
		}
	}
	for (int i = 0; i < h->set->n; i++)
		if (installed[i] && mt_fn_set_has(&h->set->hooks[i].fn_mask, MT_FN_MALLOC))
			return 0;
	return err < 0 ? err : -MT_E_NO_ALLOCATOR;
}

static bool hy_on_trap(struct mt_engine *base, const struct mt_stop *st, bool parking)
{
	struct hybrid *h = (struct hybrid *)base;
	if (h->inj->ops->on_trap(h->inj, st, parking))
		return true;
	return h->bp && h->bp->ops->on_trap(h->bp, st, parking);
}

static void hy_on_task_exit(struct mt_engine *base, pid_t tid)
{
	struct hybrid *h = (struct hybrid *)base;
	/* bp first: it ends the thread's calls (and their nest count) before
	 * the agent's ring of the thread is retired */
	if (h->bp)
		h->bp->ops->on_task_exit(h->bp, tid);
	h->inj->ops->on_task_exit(h->inj, tid);
}

static bool hy_past_int3(struct mt_engine *base, pid_t tid)
{
	struct hybrid *h = (struct hybrid *)base;
	return h->inj->ops->past_int3(h->inj, tid) || (h->bp && h->bp->ops->past_int3(h->bp, tid));
}

static int hy_watch(struct mt_engine *base, uint64_t addr, void (*cb)(void *ctx, pid_t tid),
		    void *ctx)
{
	struct hybrid *h = (struct hybrid *)base;
	return h->inj->ops->watch(h->inj, addr, cb, ctx);
}

static int hy_clean_child(struct mt_engine *base, pid_t child)
{
	struct hybrid *h = (struct hybrid *)base;
	int err = h->inj->ops->clean_child(h->inj, child);
	int err2 = h->bp ? h->bp->ops->clean_child(h->bp, child) : 0;
	return err < 0 ? err : err2;
}

static void hy_abandon(struct mt_engine *base)
{
	struct hybrid *h = (struct hybrid *)base;
	if (h->bp)
		h->bp->ops->abandon(h->bp);
	h->inj->ops->abandon(h->inj);
}

static int hy_remove(struct mt_engine *base)
{
	struct hybrid *h = (struct hybrid *)base;
	/* bp first: its last events are ordered after what the agent
	 * published, which the inject engine can still drain */
	int err = h->bp ? h->bp->ops->remove(h->bp) : 0;
	int err2 = h->inj->ops->remove(h->inj);
	return err < 0 ? err : err2;
}

static int hy_poll(struct mt_engine *base, bool *notify)
{
	struct hybrid *h = (struct hybrid *)base;
	return h->inj->ops->poll(h->inj, notify);
}

static void hy_notify(struct mt_engine *base)
{
	struct hybrid *h = (struct hybrid *)base;
	h->inj->ops->notify(h->inj);
}

static int hy_wake_fd(const struct mt_engine *base)
{
	const struct hybrid *h = (const struct hybrid *)base;
	return h->inj->ops->wake_fd ? h->inj->ops->wake_fd(h->inj) : -1;
}

static void hy_stats(const struct mt_engine *base, struct mt_engine_stats *out)
{
	const struct hybrid *h = (const struct hybrid *)base;
	h->inj->ops->stats(h->inj, out);
	if (!h->bp)
		return;
	struct mt_engine_stats b;
	h->bp->ops->stats(h->bp, &b);
	out->calls += b.calls;
	out->nested_calls += b.nested_calls;
	out->in_flight += b.in_flight;
	out->lost_calls += b.lost_calls;
	out->abandoned_calls += b.abandoned_calls;
	out->hooks_installed += b.hooks_installed;
	out->hooks_skipped = h->set->n - out->hooks_installed;
	out->restore_mismatches += b.restore_mismatches;
}

static const char *hy_hook_engine(const struct mt_engine *base, uint64_t addr, const char **why)
{
	const struct hybrid *h = (const struct hybrid *)base;
	for (int i = 0; i < h->set->n; i++) {
		if (h->set->hooks[i].addr == addr && h->bp_of[i] >= 0 && h->bp) {
			if (why)
				*why = h->why[i];
			return h->bp->ops->name;
		}
	}
	return h->base.ops->name;
}

static void hy_destroy(struct mt_engine *base)
{
	struct hybrid *h = (struct hybrid *)base;
	if (h->bp)
		h->bp->ops->destroy(h->bp);
	h->inj->ops->destroy(h->inj);
	free(h);
}

static const struct mt_engine_ops hy_ops = {
	.name = "inject",
	.install = hy_install,
	.on_trap = hy_on_trap,
	.on_task_exit = hy_on_task_exit,
	.past_int3 = hy_past_int3,
	.watch = hy_watch,
	.clean_child = hy_clean_child,
	.abandon = hy_abandon,
	.remove = hy_remove,
	.poll = hy_poll,
	.notify = hy_notify,
	.wake_fd = hy_wake_fd,
	.stats = hy_stats,
	.hook_engine = hy_hook_engine,
	.destroy = hy_destroy,
};

struct mt_engine *mt_hybrid_engine_new(struct mt_engine *inj, struct mt_target *t,
				       const struct mt_alloc_set *set, mt_event_sink sink,
				       void *sink_ctx, const struct mt_stack_source *stacks,
				       uint64_t sample_bytes)
{
	struct hybrid *h = calloc(1, sizeof *h);
	if (!h) {
		inj->ops->destroy(inj);
		return NULL;
	}
	h->base.ops = &hy_ops;
	h->inj = inj;
	h->t = t;
	h->set = set;
	for (int i = 0; i < MT_MAX_HOOKS; i++)
		h->bp_of[i] = -1;
	snprintf(h->bpset.allocator, sizeof h->bpset.allocator, "%s", set->allocator);
	h->sink = sink;
	h->sink_ctx = sink_ctx;
	if (stacks) {
		h->stacks = *stacks;
		h->have_stacks = true;
	}
	h->sample_bytes = sample_bytes;
	return &h->base;
}
