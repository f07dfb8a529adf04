/* The rule server (rulesrv.h): one thread answering the agent's requests
 * for unwind rules through the shared area.
 *
 * Waking: the thread waits on req_seq with the value it read before
 * looking at the requests, so a request posted meanwhile makes the wait
 * return at once (EAGAIN) instead of being missed.  memtrace's side wakes
 * its own thread the same way, by bumping req_seq too (the agent only ever
 * adds to it, so an extra count means nothing to it): a stop or refresh
 * request can then never be lost between the thread's check and its wait.
 * The wait is bounded anyway, so that a target that scribbles over req_seq
 * cannot keep the thread asleep past a stop.
 *
 * Locking: the lock guards the symbolizer and the table's writers (the
 * thread and mt_rulesrv_insert); the agent never takes it, it only reads
 * entries whose addr it saw stored with release, after every other field.
 *
 * Unloaded code: at each refresh the server compares the target's
 * executable mappings with those it saw last, and withdraws the entries of
 * every mapping that is gone or changed (MT_AGENT_RULE_GONE), so that a
 * library loaded later at the same addresses is unwound with its own rules,
 * not those of the one before.  A withdrawn entry is only ever taken
 * again for a rule with exactly its fields (put_locked).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "target/maps.h"
#include "engine/rulesrv.h"
#include "symbols/symbolize.h"
#include "symbols/unwind.h"

/* Bound on one futex wait: how late a stop may be seen if the target
 * tampers with req_seq. */
#define WAIT_NS (100 * 1000000L)
#define MAX_RULES_CAP (1u << 22)
/* Longest probe sequence written or searched: the target may fill the
 * table with junk, and a lookup must stay cheap for the agent too. */
#define MAX_PROBE 64

struct mt_rulesrv {
	struct mt_agent_shared *sh;
	struct mt_agent_rule *rules;   /* sh + rules_off, as checked at creation */
	uint32_t cap;                  /* rules_cap, as checked at creation */

	pthread_mutex_t lock;          /* guards sym, used, code, table writes */
	struct mt_symbolizer *sym;
	size_t used;                   /* entries seen at creation + written
	                                  (withdrawn ones included) */
	pid_t pid;
	struct mt_maps code;           /* the mappings at the last refresh */

	pthread_t thread;
	int wake_fd;                   /* eventfd: readable when dl_gen moved */
	uint32_t dl_relayed;           /* the dl_gen last relayed (thread only) */
	int stop, refresh;             /* __atomic: set by memtrace's thread */
	long wait_ns;                  /* __atomic: one futex wait's bound (WAIT_NS) */
	struct mt_rulesrv_stats stats; /* __atomic: read by memtrace's thread */
};

static void futex_wait(uint32_t *word, uint32_t val, long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
	/* Shared futex (no FUTEX_PRIVATE_FLAG): the agent is another
	 * process.  EAGAIN, EINTR and ETIMEDOUT all mean "look again". */
	syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void count(uint64_t *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* Wake the server's own thread (see the top of the file). */
static void kick(struct mt_rulesrv *srv)
{
	__atomic_add_fetch(&srv->sh->req_seq, 1, __ATOMIC_SEQ_CST);
	futex_wake_all(&srv->sh->req_seq);
}

/* Tell the agent's waiters that the table grew. */
static void publish(struct mt_rulesrv *srv)
{
	__atomic_add_fetch(&srv->sh->rule_gen, 1, __ATOMIC_SEQ_CST);
	futex_wake_all(&srv->sh->rule_gen);
}

/* Whether A, an executable mapping, is in MAPS unchanged. */
static bool still_mapped(const struct mt_maps *maps, const struct mt_map *a)
{
	const struct mt_map *b = mt_maps_find(maps, a->start);
	return b && b->start == a->start && b->end == a->end && b->x && b->offset == a->offset &&
	       b->dev_major == a->dev_major && b->dev_minor == a->dev_minor &&
	       b->inode == a->inode && b->deleted == a->deleted &&
	       (a->path ? b->path && strcmp(a->path, b->path) == 0 : !b->path);
}

/* Withdraw entry I, the lock held. */
static void withdraw(struct mt_rulesrv *srv, uint32_t i)
{
	__atomic_store_n(&srv->rules[i].addr, MT_AGENT_RULE_GONE, __ATOMIC_RELEASE);
	count(&srv->stats.withdrawn);
}

/* Withdraw, the lock held, every entry for an address in [LO, HI). */
static void withdraw_locked(struct mt_rulesrv *srv, uint64_t lo, uint64_t hi)
{
	for (uint32_t i = 0; i < srv->cap; i++) {
		uint64_t a = __atomic_load_n(&srv->rules[i].addr, __ATOMIC_RELAXED);
		if (a >= lo && a < hi && a != 0 && a != MT_AGENT_RULE_GONE)
			withdraw(srv, i);
	}
}

/* The lock held: read the maps again; withdraw the entries of executable
 * mappings that are gone or changed since the last look (at creation:
 * entries, left by an earlier memtrace, outside any executable mapping);
 * then the symbolizer reads the modules again.  A process whose maps
 * cannot be read keeps its entries. */
static void refresh_locked(struct mt_rulesrv *srv, bool first)
{
	struct mt_maps now = { 0 };
	if (mt_maps_read(srv->pid, &now) == 0) {
		if (first) {
			for (uint32_t i = 0; i < srv->cap; i++) {
				uint64_t a = __atomic_load_n(&srv->rules[i].addr, __ATOMIC_RELAXED);
				const struct mt_map *m = mt_maps_find(&now, a);
				if (a != 0 && a != MT_AGENT_RULE_GONE && (!m || !m->x))
					withdraw(srv, i);
			}
		}
		for (size_t i = 0; i < srv->code.n; i++) {
			const struct mt_map *m = &srv->code.v[i];
			if (m->x && !still_mapped(&now, m))
				withdraw_locked(srv, m->start, m->end);
		}
		mt_maps_free(&srv->code);
		srv->code = now;
	}
	if (!first)
		mt_symbolizer_refresh(srv->sym);
}

/* FULL: no rule can be added any more (load over 1/2; entries are never
 * freed); CROWDED: none for this address (MAX_PROBE slots taken). */
enum probe { PROBE_FOUND, PROBE_FREE, PROBE_FULL, PROBE_CROWDED };

/* Whether entry E, withdrawn, holds exactly rule R's fields: then it can
 * take R's address again without a field being written (see put_locked). */
static bool same_rule(const struct mt_agent_rule *e, const struct mt_agent_rule *r)
{
	return __atomic_load_n(&e->cfa_off, __ATOMIC_RELAXED) == r->cfa_off &&
	       __atomic_load_n(&e->ra_off, __ATOMIC_RELAXED) == r->ra_off &&
	       __atomic_load_n(&e->bp_off, __ATOMIC_RELAXED) == r->bp_off &&
	       __atomic_load_n(&e->kind, __ATOMIC_RELAXED) == r->kind &&
	       __atomic_load_n(&e->cfa_reg, __ATOMIC_RELAXED) == r->cfa_reg &&
	       __atomic_load_n(&e->bp, __ATOMIC_RELAXED) == r->bp &&
	       __atomic_load_n(&e->pad, __ATOMIC_RELAXED) == 0 &&
	       __atomic_load_n(&e->reserved, __ATOMIC_RELAXED) == 0;
}

/* Where ADDR is (FOUND) or would go (FREE, *AT), each slot's addr read
 * once.  CROWDED past MAX_PROBE slots, FULL over half the table.  *REVIVE: the
 * first withdrawn entry on the way that holds exactly RULE, else SIZE_MAX. */
static enum probe probe(const struct mt_rulesrv *srv, uint64_t addr,
			const struct mt_agent_rule *rule, size_t *at, size_t *revive)
{
	size_t mask = srv->cap - 1, i = (size_t)mt_agent_rule_slot(addr, srv->cap);
	*revive = SIZE_MAX;
	for (int n = 0; n < MAX_PROBE && (uint32_t)n < srv->cap; n++, i = (i + 1) & mask) {
		uint64_t a = __atomic_load_n(&srv->rules[i].addr, __ATOMIC_ACQUIRE);
		if (a == addr)
			return PROBE_FOUND;
		if (a == MT_AGENT_RULE_GONE && *revive == SIZE_MAX &&
		    same_rule(&srv->rules[i], rule))
			*revive = i;
		if (a == 0) {
			*at = i;
			return 2 * (srv->used + 1) > srv->cap ? PROBE_FULL : PROBE_FREE;
		}
	}
	return PROBE_CROWDED;
}

/* The rule for ADDR into the table, the lock held: 1 written, 0 there
 * already, -ENOSPC (and rules_full set once no rule fits any more).
 * WRITTEN counts it.
 *
 * A withdrawn entry holding exactly the same rule is taken again, by
 * storing only its addr: no field changes, so an agent that reads it at
 * any moment sees either a miss or the right rule, never a mix of two.
 * That is what keeps a library that is loaded, unloaded and loaded again
 * at the same place (a plugin reloaded in a loop) from filling its probe
 * sequences with withdrawn entries, one more per load, until its frames
 * could no longer be given a rule. */
static int put_locked(struct mt_rulesrv *srv, uint64_t addr, uint64_t *written)
{
	size_t at = 0, revive;
	/* Maps first: a refresh may withdraw what the probe would find. */
	if (__atomic_exchange_n(&srv->refresh, 0, __ATOMIC_ACQ_REL))
		refresh_locked(srv, false);
	struct mt_agent_rule r;
	mt_symbolizer_agent_rule(srv->sym, addr, &r);
	enum probe p = probe(srv, addr, &r, &at, &revive);
	if (p == PROBE_FOUND)
		return 0;
	struct mt_agent_rule *e;
	if (revive != SIZE_MAX) {
		e = &srv->rules[revive];
		__atomic_store_n(&e->addr, addr, __ATOMIC_RELEASE);
		count(&srv->stats.revived);
	} else if (p != PROBE_FREE) {
		count(&srv->stats.table_full);
		if (p == PROBE_FULL)
			__atomic_store_n(&srv->sh->rules_full, 1, __ATOMIC_RELEASE);
		return -ENOSPC;
	} else {
		/* Every field, then addr with release: the agent reads an
		 * entry only once its addr matches.  Atomic stores, since the
		 * target may be touching the same memory. */
		e = &srv->rules[at];
		__atomic_store_n(&e->cfa_off, r.cfa_off, __ATOMIC_RELAXED);
		__atomic_store_n(&e->ra_off, r.ra_off, __ATOMIC_RELAXED);
		__atomic_store_n(&e->bp_off, r.bp_off, __ATOMIC_RELAXED);
		__atomic_store_n(&e->kind, r.kind, __ATOMIC_RELAXED);
		__atomic_store_n(&e->cfa_reg, r.cfa_reg, __ATOMIC_RELAXED);
		__atomic_store_n(&e->bp, r.bp, __ATOMIC_RELAXED);
		__atomic_store_n(&e->pad, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&e->reserved, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&e->addr, addr, __ATOMIC_RELEASE);
		srv->used++;
	}
	count(written);
	if (r.kind == MT_AGENT_RULE_SLOW)
		count(&srv->stats.slow);
	return 1;
}

/* One look at the requests: at most MT_AGENT_NREQ lookups, each slot read
 * once.  The agent clears its own slot once it has the rule; one the table
 * has no room for is marked refused, so that its waiters stop at once. */
static void answer(struct mt_rulesrv *srv)
{
	bool wake = false;
	for (int i = 0; i < MT_AGENT_NREQ; i++) {
		if (__atomic_load_n(&srv->stop, __ATOMIC_SEQ_CST))
			break;
		uint64_t addr = __atomic_load_n(&srv->sh->req[i], __ATOMIC_ACQUIRE);
		if (!addr || (addr & MT_AGENT_REQ_REFUSED))
			continue;
		pthread_mutex_lock(&srv->lock);
		int rc = put_locked(srv, addr, &srv->stats.answered);
		pthread_mutex_unlock(&srv->lock);
		if (rc < 0) {
			/* Only if the slot still holds that request. */
			uint64_t posted = addr;
			__atomic_compare_exchange_n(&srv->sh->req[i], &posted,
						    addr | MT_AGENT_REQ_REFUSED, false,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
		}
		wake |= rc != 0;
	}
	if (wake)
		publish(srv);
}

static void *serve(void *arg)
{
	struct mt_rulesrv *srv = arg;
	uint32_t *seq = &srv->sh->req_seq;
	for (;;) {
		/* Read before looking, so that what is posted after the look
		 * makes the wait below return at once. */
		uint32_t seen = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&srv->stop, __ATOMIC_SEQ_CST))
			break;
		/* An ld.so notification (the agent bumps dl_gen before req_seq):
		 * memtrace's main thread is told at once, not at its next poll. */
		uint32_t dl = __atomic_load_n(&srv->sh->dl_gen, __ATOMIC_ACQUIRE);
		if (dl != srv->dl_relayed) {
			srv->dl_relayed = dl;
			uint64_t one = 1;
			if (srv->wake_fd >= 0 && write(srv->wake_fd, &one, sizeof one) < 0) {
				/* EAGAIN: the counter is full, so readable anyway */
			}
		}
		if (__atomic_load_n(&srv->refresh, __ATOMIC_ACQUIRE)) {
			pthread_mutex_lock(&srv->lock);
			if (__atomic_exchange_n(&srv->refresh, 0, __ATOMIC_ACQ_REL))
				refresh_locked(srv, false);
			pthread_mutex_unlock(&srv->lock);
		}
		answer(srv);
		futex_wait(seq, seen, __atomic_load_n(&srv->wait_ns, __ATOMIC_RELAXED));
	}
	return NULL;
}

/* The rules table inside SH_LEN bytes at SH, read once: NULL when it does
 * not fit (the target may have written anything there). */
static struct mt_agent_rule *checked_table(struct mt_agent_shared *sh, size_t sh_len,
					   uint32_t *cap_out)
{
	if (!sh || sh_len < sizeof *sh || (uintptr_t)sh % _Alignof(struct mt_agent_shared))
		return NULL;
	uint64_t off = __atomic_load_n(&sh->rules_off, __ATOMIC_RELAXED);
	uint32_t cap = __atomic_load_n(&sh->rules_cap, __ATOMIC_RELAXED);
	if (cap == 0 || cap > MAX_RULES_CAP || (cap & (cap - 1)) != 0)
		return NULL;
	/* Past the struct (its futex words and requests are not rules), on
	 * an entry boundary (atomics need aligned words), within SH_LEN. */
	if (off < sizeof *sh || off % _Alignof(struct mt_agent_rule) != 0 || off > sh_len ||
	    (sh_len - off) / sizeof(struct mt_agent_rule) < cap)
		return NULL;
	*cap_out = cap;
	return (struct mt_agent_rule *)((char *)sh + off);
}

struct mt_rulesrv *mt_rulesrv_new(pid_t pid, struct mt_agent_shared *sh, size_t sh_len,
				  const char *const *debug_dirs, int ndebug)
{
	uint32_t cap = 0;
	struct mt_agent_rule *rules = checked_table(sh, sh_len, &cap);
	if (!rules) {
		errno = EINVAL;
		return NULL;
	}
	struct mt_rulesrv *srv = calloc(1, sizeof *srv);
	if (!srv) {
		errno = ENOMEM;
		return NULL;
	}
	srv->sh = sh;
	srv->rules = rules;
	srv->cap = cap;
	srv->pid = pid;
	/* A table left by an earlier memtrace keeps its entries: count them
	 * for the load limit. */
	for (uint32_t i = 0; i < cap; i++)
		if (__atomic_load_n(&rules[i].addr, __ATOMIC_RELAXED))
			srv->used++;

	srv->sym = mt_symbolizer_new(pid);
	if (!srv->sym) {
		free(srv);
		errno = ENOMEM;
		return NULL;
	}
	for (int i = 0; i < ndebug; i++)
		mt_symbolizer_add_debug_dir(srv->sym, debug_dirs[i]);
	pthread_mutex_init(&srv->lock, NULL);
	srv->wait_ns = WAIT_NS;
	srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	srv->dl_relayed = __atomic_load_n(&sh->dl_gen, __ATOMIC_ACQUIRE);
	refresh_locked(srv, true);   /* no thread yet: the lock is not needed */

	/* Signals stay with memtrace's main thread (its signalfd): the
	 * server thread blocks them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&srv->thread, NULL, serve, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		if (srv->wake_fd >= 0)
			close(srv->wake_fd);
		pthread_mutex_destroy(&srv->lock);
		mt_symbolizer_destroy(srv->sym);
		mt_maps_free(&srv->code);
		free(srv);
		errno = err;
		return NULL;
	}
	return srv;
}

void mt_rulesrv_set_wait(struct mt_rulesrv *srv, long ns)
{
	__atomic_store_n(&srv->wait_ns, ns > 0 ? ns : WAIT_NS, __ATOMIC_RELAXED);
}

void mt_rulesrv_destroy(struct mt_rulesrv *srv)
{
	if (!srv)
		return;
	__atomic_store_n(&srv->stop, 1, __ATOMIC_SEQ_CST);
	kick(srv);
	pthread_join(srv->thread, NULL);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	pthread_mutex_destroy(&srv->lock);
	mt_symbolizer_destroy(srv->sym);
	mt_maps_free(&srv->code);
	free(srv);
}

int mt_rulesrv_insert(struct mt_rulesrv *srv, uint64_t addr)
{
	if (!srv || !addr)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	int rc = put_locked(srv, addr, &srv->stats.prefilled);
	pthread_mutex_unlock(&srv->lock);
	if (rc != 0)  /* a new rule, or (full) rules_full for the waiters */
		publish(srv);
	return rc < 0 ? rc : 0;
}

void mt_rulesrv_refresh(struct mt_rulesrv *srv)
{
	if (!srv)
		return;
	__atomic_store_n(&srv->refresh, 1, __ATOMIC_RELEASE);
	kick(srv);
}

int mt_rulesrv_wake_fd(const struct mt_rulesrv *srv)
{
	return srv ? srv->wake_fd : -1;
}

void mt_rulesrv_stats(const struct mt_rulesrv *srv, struct mt_rulesrv_stats *out)
{
	*out = (struct mt_rulesrv_stats){ 0 };
	if (!srv)
		return;
	out->answered = __atomic_load_n(&srv->stats.answered, __ATOMIC_RELAXED);
	out->prefilled = __atomic_load_n(&srv->stats.prefilled, __ATOMIC_RELAXED);
	out->slow = __atomic_load_n(&srv->stats.slow, __ATOMIC_RELAXED);
	out->table_full = __atomic_load_n(&srv->stats.table_full, __ATOMIC_RELAXED);
	out->withdrawn = __atomic_load_n(&srv->stats.withdrawn, __ATOMIC_RELAXED);
	out->revived = __atomic_load_n(&srv->stats.revived, __ATOMIC_RELAXED);
}
