/* The inject engine's reading side (step 2 in inj_engine.c, and "while
 * tracing"): the agent configured to record, its rings drained into the
 * sink, its stack hashes turned into interned stacks, ld.so's
 * notifications answered, and the counts.  See inj_priv.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent_abi.h"
#include "engine/acctread.h"
#include "engine/inj_engine.h"
#include "engine/inj_priv.h"
#include "agent/ring.h"
#include "engine/ringdec.h"
#include "engine/rulesrv.h"
#include "symbols/pyframes.h"

/* ---- the agent's stacks ----------------------------------------------- */

/* The interned stack of the agent's stack HASH: read from the shared
 * table once, validated, cached.  0 when it is not there or not right. */
static uint32_t stack_of(void *ctx, uint64_t hash)
{
	struct inj_engine *e = ctx;
	if (!e->cfg.stacks || !e->scap)
		return 0;
	size_t mask = e->scap - 1;
	for (size_t i = hash & mask; e->scache[i].hash; i = (i + 1) & mask)
		if (e->scache[i].hash == hash)
			return e->scache[i].id;

	uint64_t pcs[MT_STACKS_MAX_PCS];
	uint32_t n = 0;
	const char *base = (const char *)e->sh + e->stacks_off;
	uint64_t j = hash & (e->stacks_cap - 1);
	for (int probe = 0; probe < 32 && !n; probe++, j = (j + 1) & (e->stacks_cap - 1)) {
		const struct mt_agent_stack *s =
			(const struct mt_agent_stack *)(base + j * e->stack_slot);
		if (__atomic_load_n(&s->hash, __ATOMIC_ACQUIRE) != hash)
			continue;
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != MT_AGENT_STACK_READY)
			break;
		uint32_t k = __atomic_load_n(&s->n, __ATOMIC_RELAXED);
		if (k == 0 || k > e->stack_max || k > MT_STACKS_MAX_PCS)
			break;
		for (uint32_t q = 0; q < k; q++)
			pcs[q] = __atomic_load_n(&s->pcs[q], __ATOMIC_RELAXED);
		if (mt_agent_stack_hash(pcs, k) == hash)
			n = k;
		break;
	}
	if (!n) {
		e->stacks_unkept++;
		return 0;
	}
	uint32_t id = mt_stacks_intern(e->cfg.stacks, pcs, (int)n);
	if (!id) {
		e->stacks_unkept++;
		return 0;
	}
	if (2 * (e->sn + 1) > e->scap) {
		size_t cap = e->scap * 2;
		struct scache_ent *v = calloc(cap, sizeof *v);
		if (!v)
			return id;
		for (size_t i = 0; i < e->scap; i++) {
			if (!e->scache[i].hash)
				continue;
			size_t k = e->scache[i].hash & (cap - 1);
			while (v[k].hash)
				k = (k + 1) & (cap - 1);
			v[k] = e->scache[i];
		}
		free(e->scache);
		e->scache = v;
		e->scap = cap;
		mask = cap - 1;
	}
	size_t i = hash & mask;
	while (e->scache[i].hash)
		i = (i + 1) & mask;
	e->scache[i] = (struct scache_ent){ hash, id };
	e->sn++;
	return id;
}

/* ---- what the agent accounted itself (ltab.h) --------------------------- */

/* The interned stack of the agent's stack SLOT; 0 when it cannot be read. */
static uint32_t stack_at_slot(struct inj_engine *e, uint32_t slot)
{
	if (slot >= e->stacks_cap)
		return 0;
	const struct mt_agent_stack *s =
		(const struct mt_agent_stack *)((const char *)e->sh + e->stacks_off +
						(uint64_t)slot * e->stack_slot);
	uint64_t hash = __atomic_load_n(&s->hash, __ATOMIC_ACQUIRE);
	if (!hash) {
		e->stacks_unkept++;
		return 0;
	}
	return stack_of(e, hash);
}

static void count_emit(void *ctx, uint32_t slot, const struct mt_counts *d)
{
	struct inj_engine *e = ctx;
	struct mt_event ev = { .kind = MT_EV_COUNTS, .stack = stack_at_slot(e, slot), .counts = d };
	e->sink(e->sink_ctx, &ev);
}

void mt_inj_sync(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (!e->acct)
		return;
	mt_acctread_sync(e->acct, count_emit, e);
	struct mt_event ev = { .kind = MT_EV_COUNTS_DONE };
	e->sink(e->sink_ctx, &ev);
	e->synced_at = mt_inj_now_s();
}

/* Calls the agent counted twice, summed over the rings (ring.h: joined). */
static uint64_t joined_now(const struct inj_engine *e)
{
	uint64_t ring0_off, stride, sum = 0;
	uint32_t nrings;
	mt_ringdec_geometry(e->dec, &ring0_off, &stride, &nrings);
	for (uint32_t i = 0; i < nrings; i++) {
		const struct mt_ring *r =
			(const struct mt_ring *)((const char *)e->shm + ring0_off + i * stride);
		uint64_t v = __atomic_load_n(&r->joined, __ATOMIC_RELAXED);
		sum = sum + v < sum ? UINT64_MAX : sum + v;
	}
	return sum;
}

/* Whether the agent can account (ltab.h): the region has the tables,
 * stacks are taken (a block's stack slot is its key), every call is seen
 * (no sampling), and the session wants it. */
static bool can_account(const struct inj_engine *e, uint32_t depth)
{
	return e->cfg.account && e->ltab_buckets && e->cfg.stacks && depth > 1 &&
	       !e->cfg.sample_bytes;
}

/* The count reader, its baseline taken now (all threads stopped). */
static int start_counting(struct inj_engine *e)
{
	uint64_t ring0_off, stride;
	uint32_t nrings;
	mt_ringdec_geometry(e->dec, &ring0_off, &stride, &nrings);
	const char *sh = (const char *)e->sh;
	struct mt_acctread_geom g = {
		.counts = sh + e->counts_off,
		.nrings = nrings < e->counts_nrings ? nrings : e->counts_nrings,
		.per_ring = e->counts_per_ring,
		.gcounts = sh + e->gcounts_off,
		.nslots = e->stacks_cap,
		.owners = (const char *)e->shm + ring0_off + offsetof(struct mt_ring, owner),
		.owner_stride = stride,
	};
	e->acct = mt_acctread_new(&g);
	e->base_joined = joined_now(e);
	return e->acct ? 0 : -ENOMEM;
}

static void route_emit(void *ctx, const struct mt_event *ev)
{
	struct inj_engine *e = ctx;
	e->sink(e->sink_ctx, ev);
	/* A beat every 1024 events: an agent waiting for room in a full ring
	 * sees memtrace at work however long one drain takes. */
	if ((++e->emitted & 1023) == 0)
		__atomic_fetch_add(&((struct mt_ring_region *)e->shm)->reader_heartbeat, 1,
				   __ATOMIC_RELAXED);
}

int mt_inj_start_reading(struct inj_engine *e)
{
	struct mt_ringdec_ops ops = { .emit = route_emit, .stack = stack_of, .ctx = e };
	mt_inj_sset_clear(e);
	int err = mt_ringdec_new(e->shm, e->rings_len, &ops, &e->dec);
	if (err < 0)
		return err;
	uint32_t depth = (uint32_t)(e->cfg.stacks ? e->cfg.depth : 1);
	bool account = can_account(e, depth);
	mt_ringdec_set_evict(e->dec, !e->cfg.lossless && !account);
	/* The agent's counters run since it was loaded: ours start now. */
	mt_ringdec_stats(e->dec, &e->at_start);
	e->base_truncated = __atomic_load_n(&e->sh->stacks_truncated, __ATOMIC_RELAXED);
	e->base_lost = __atomic_load_n(&e->sh->stacks_lost, __ATOMIC_RELAXED);
	e->base_refusals = __atomic_load_n(&e->sh->rule_refusals, __ATOMIC_RELAXED);
	e->base_timeouts = __atomic_load_n(&e->sh->rule_timeouts, __ATOMIC_RELAXED);
	e->base_overflows = __atomic_load_n(&e->sh->sset_overflows, __ATOMIC_RELAXED);
	e->base_dl_timeouts = __atomic_load_n(&e->sh->dl_timeouts, __ATOMIC_RELAXED);
	e->base_rule_skips = __atomic_load_n(&e->sh->rule_skips, __ATOMIC_RELAXED);
	e->base_ltab_overflows = __atomic_load_n(&e->sh->ltab_overflows, __ATOMIC_RELAXED);
	e->base_ltab_stale = __atomic_load_n(&e->sh->ltab_stale, __ATOMIC_RELAXED);
	e->rs = mt_rulesrv_new(e->pid, e->sh, e->shm_len - e->rings_len, e->cfg.debug_dirs,
			       e->cfg.ndebug_dirs);
	if (!e->rs)
		return -ENOMEM;
	uint32_t tid_off = mt_inj_find_tid_offset(e);
	struct mt_agent_state st;
	if (mt_inj_peek(e, e->state, &st, sizeof st) < 0)
		return -EFAULT;
	st.magic = MT_AGENT_STATE_MAGIC;
	st.shared = e->shm_target + e->rings_len;
	st.shared_len = e->shm_len;
	st.tid_off = tid_off;
	e->st.tid_offset = tid_off;
	st.depth = depth < 1 ? 1 : depth;
	st.sample_bytes = e->cfg.sample_bytes;
	/* Accounting in the agent: the rings carry only what its table
	 * cannot take, and the agent waits for room there, so that every
	 * call is accounted while memtrace lives. */
	if (account && start_counting(e) < 0)
		return -ENOMEM;
	st.flags = (e->cfg.lossless || account ? MT_AGENT_F_WAIT : 0) |
		   (account ? MT_AGENT_F_ACCOUNT : 0);
	st.ltab = account ? e->shm_target + e->rings_len + e->ltab_off : 0;
	st.ltab_mask = account ? e->ltab_buckets - 1 : 0;
	st.counts = account ? e->shm_target + e->rings_len + e->counts_off : 0;
	st.counts_mask = account ? e->counts_per_ring - 1 : 0;
	/* where each thread's ring starts its search (ring.h): the agent
	 * finds its ring without reading the region's geometry */
	uint64_t ring0_off, stride;
	uint32_t nrings;
	mt_ringdec_geometry(e->dec, &ring0_off, &stride, &nrings);
	bool pow2 = (nrings & (nrings - 1)) == 0;
	st.ring0 = pow2 ? e->shm_target + ring0_off : 0;
	st.ring_stride = stride;
	st.ring_mask = pow2 ? nrings - 1 : 0;
	/* with sampling, the free of a block not in the set is not sent */
	bool sset = e->cfg.sample_bytes && e->sset_buckets;
	st.sset = sset ? e->shm_target + e->rings_len + e->sset_off : 0;
	st.sset_mask = sset ? e->sset_buckets - 1 : 0;
	st.sset_shift = sset ? e->sset_shift : 0;
	e->st.frees_sampled = sset;
	mt_pyframes_configure(e->cfg.stacks && st.depth > 1 ? e->cfg.py : NULL, &st);
	st.rings = 0;   /* written last */
	mt_inj_poke(e, e->state, &st, offsetof(struct mt_agent_state, tramp_pages));
	__atomic_store_n(&e->sh->reader_stale, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&e->sh->dl_late, 0, __ATOMIC_RELAXED);
	e->dl_seen = __atomic_load_n(&e->sh->dl_gen, __ATOMIC_RELAXED);
	__atomic_store_n(&e->sh->dl_ack, e->dl_seen, __ATOMIC_RELEASE);
	mt_ringdec_set_reader(e->dec, getpid());
	mt_inj_put_state(e, offsetof(struct mt_agent_state, rings), &e->shm_target, 8);
	e->reader = true;
	return 0;
}

size_t mt_inj_drain(struct inj_engine *e, size_t budget)
{
	size_t total = 0;
	while (e->dec && total < budget) {
		size_t n = mt_ringdec_drain(e->dec, 65536);
		total += n;
		if (n < 65536)
			break;
	}
	return total;
}

int mt_inj_poll(struct mt_engine *base, bool *notify)
{
	struct inj_engine *e = (struct inj_engine *)base;
	*notify = false;
	if (!e->dec)
		return 1000;
	/* A batch at a time, so that timers, signals and requests are seen
	 * between batches. */
	size_t n = mt_inj_drain(e, 65536);
	__atomic_store_n(&e->sh->reader_stale, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&e->sh->dl_late, 0, __ATOMIC_RELAXED);
	uint32_t gen = __atomic_load_n(&e->sh->dl_gen, __ATOMIC_ACQUIRE);
	if (gen != e->dl_seen)
		*notify = true;
	/* the agent's counts, now and then: the peak is taken at each read */
	if (e->acct && mt_inj_now_s() - e->synced_at >= 0.1)
		mt_inj_sync(base);
	/* Busy: come back at once (the agent may be waiting for room). */
	return n >= 65536 ? 0 : n > 4096 ? 1 : 10;
}

void mt_inj_notify(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (!e->dec)
		return;
	mt_inj_drain(e, SIZE_MAX);
	uint32_t gen = __atomic_load_n(&e->sh->dl_gen, __ATOMIC_ACQUIRE);
	if (e->dl_cb)
		e->dl_cb(e->dl_ctx, 0);
	if (e->rs)
		mt_rulesrv_refresh(e->rs);
	e->dl_seen = gen;
	__atomic_store_n(&e->sh->dl_ack, gen, __ATOMIC_RELEASE);
	syscall(SYS_futex, &e->sh->dl_ack, 1 /* FUTEX_WAKE */, 0x7fffffff, NULL, NULL, 0);
}

void mt_inj_on_task_exit(struct mt_engine *base, pid_t tid)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (e->dec) {
		mt_inj_drain(e, SIZE_MAX);
		mt_ringdec_retire(e->dec, (uint32_t)tid);
	}
}

static void collect_stats(struct inj_engine *e)
{
	if (!e->dec)
		return;
	struct mt_ringdec_stats ds;
	mt_ringdec_stats(e->dec, &ds);
#define SINCE(now, then) ((now) > (then) ? (now) - (then) : 0)
	const struct mt_ringdec_stats *b = &e->at_start;
	/* Calls, as the breakpoint engine counts them: a realloc of a block
	 * sends two records. */
	e->st.calls = SINCE(ds.events, ds.realloc_begins);
	e->st.dropped = SINCE(ds.dropped_full, b->dropped_full) +
			SINCE(ds.dropped_noring, b->dropped_noring) +
			SINCE(ds.dropped_reentered, b->dropped_reentered);
	e->st.rejected = ds.rejected;
	e->st.order_forced = ds.order_forced;
	e->st.stacks_truncated = SINCE(__atomic_load_n(&e->sh->stacks_truncated, __ATOMIC_RELAXED),
				       e->base_truncated);
	e->st.stacks_lost = SINCE(__atomic_load_n(&e->sh->stacks_lost, __ATOMIC_RELAXED),
				  e->base_lost) + e->stacks_unkept;
	e->st.rule_refusals = SINCE(__atomic_load_n(&e->sh->rule_refusals, __ATOMIC_RELAXED),
				    e->base_refusals);
	e->st.rule_timeouts = SINCE(__atomic_load_n(&e->sh->rule_timeouts, __ATOMIC_RELAXED),
				    e->base_timeouts);
	e->st.sset_overflows = SINCE(__atomic_load_n(&e->sh->sset_overflows, __ATOMIC_RELAXED),
				     e->base_overflows);
	e->st.dl_timeouts = SINCE(__atomic_load_n(&e->sh->dl_timeouts, __ATOMIC_RELAXED),
				  e->base_dl_timeouts);
	e->st.rule_skips = SINCE(__atomic_load_n(&e->sh->rule_skips, __ATOMIC_RELAXED),
				 e->base_rule_skips);
	e->st.ltab_overflows = SINCE(__atomic_load_n(&e->sh->ltab_overflows, __ATOMIC_RELAXED),
				     e->base_ltab_overflows);
	e->st.ltab_stale = SINCE(__atomic_load_n(&e->sh->ltab_stale, __ATOMIC_RELAXED),
				 e->base_ltab_stale);
	e->st.accounting = e->acct != NULL;
	if (e->acct) {
		struct mt_acctread_stats as;
		mt_acctread_stats(e->acct, &as);
		e->st.accounted = as.allocs + as.frees;
		/* a realloc the agent counted as a free and an allocation, or
		 * as a count and a record, is one call */
		uint64_t joined = SINCE(joined_now(e), e->base_joined);
		e->st.calls += e->st.accounted > joined ? e->st.accounted - joined : 0;
		e->st.count_rejects = as.rejected;
	}
#undef SINCE
	e->st.lost_calls = e->st.dropped + e->st.rejected;
}

void mt_inj_stats(const struct mt_engine *base, struct mt_engine_stats *out)
{
	struct inj_engine *e = (struct inj_engine *)base;
	collect_stats(e);
	*out = e->st;
}
