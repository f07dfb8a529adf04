/* The breakpoint engine.  See bp_engine.h and engine.h.
 *
 * At each hooked entry the first byte becomes int3.  When a thread hits it:
 *
 *   1. the arguments are read from its registers;
 *   2. for calls whose result matters, the return address at [sp] is saved
 *      and replaced by the address of a return trap (an int3 in a page
 *      memtrace maps into the target), so the thread stops again when the
 *      call returns, with the result in the return register;
 *   3. the displaced first instruction runs from its plan (insn_plan.h):
 *      out of line in a slot of that same page, followed by a jump back,
 *      or emulated.  The int3 is never lifted, so no thread runs past a
 *      hook unseen.
 *
 * Page layout (one page per region of hooks within +-2 GiB):
 *   +0    int3           the return trap
 *   +64   slot 0         relocated instruction of hook 0, jump back
 *   +128  slot 1         ...
 *
 * A thread already inside a hooked call (the allocator calling itself:
 * realloc(NULL, n) entering malloc) only runs the displaced instruction:
 * the outer call is the one counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/bp_engine.h"
#include "util/errors.h"
#include "util/clock.h"
#include "arch/insn_plan.h"
#include "target/maps.h"
#include "target/memio.h"
#include "target/remote.h"
#include "engine/sampler.h"

#define PAGE_SIZE_BYTES 4096
#define MAX_PAGES 8
#define SLOT0 MT_SLOT_SIZE
#define REACH (1ULL << 30) /* how far a page may sit from its hooks */

struct page {
	uint64_t addr;
	int used_slots;
};

struct hook {
	const struct mt_hook_spec *spec;
	struct mt_insn_plan plan;
	int page;                 /* index into pages */
	uint64_t slot;            /* slot address */
	bool installed;
};

/* An outermost hooked call waiting for its return trap. */
struct call {
	bool live;
	enum mt_fn fn;
	const struct hook *hook;
	uint64_t args[3];
	uint64_t caller;          /* the saved return address */
	uint64_t ret_slot;        /* where on the stack it was */
	uint32_t stack;           /* interned stack at entry, 0 if none */
};

/* A thread normally has at most one call in flight.  More happen when a
 * signal handler running on another stack (sigaltstack) allocates while the
 * thread is inside malloc; a call is also left behind when a handler
 * longjmps out of the allocator.  Calls are told apart by their stack slot:
 * the return trap fires with the stack pointer just above it. */
#define MAX_CALLS 4
/* How far apart two frames of one stack may be. */
#define STACK_WINDOW (64ULL << 20)

/* One per thread that has entered a hooked call. */
struct tstate {
	pid_t tid;
	struct call calls[MAX_CALLS];
	struct tstate *next;
};

/* A notification breakpoint (engine.h, watch). */
struct watch {
	uint64_t addr;
	struct mt_insn_plan plan;
	uint64_t slot;
	unsigned char orig;
	bool installed;
	void (*cb)(void *ctx, pid_t tid);
	void *ctx;
};
#define MAX_WATCHES 4

#define NBUCKETS 1024

struct bp_engine {
	struct mt_engine base;
	struct mt_target *t;
	pid_t pid;
	int memfd;                        /* /proc/PID/mem */
	const struct mt_alloc_set *set;
	struct hook hooks[MT_MAX_HOOKS];
	int nhooks;
	struct page pages[MAX_PAGES];
	int npages;
	uint64_t syscall_pc;
	struct tstate *threads[NBUCKETS];
	mt_event_sink sink;
	void *sink_ctx;
	struct mt_stack_source stacks;
	struct mt_sampler *sampler;       /* NULL: every allocation */
	struct watch watches[MAX_WATCHES];
	int nwatches;
	struct mt_engine_stats st;
};

/* The call in flight whose frame SP is inside (a deeper point of the same
 * stack): an entry at SP is the allocator calling itself.  SP equal to the
 * call's return slot is a tail call: glibc's reallocarray ends in
 * `jmp realloc`, and the outer call's return trap catches the result. */
static struct call *call_around(struct tstate *s, uint64_t sp)
{
	for (int i = 0; i < MAX_CALLS; i++) {
		struct call *c = &s->calls[i];
		if (c->live && sp <= c->ret_slot && c->ret_slot - sp < STACK_WINDOW)
			return c;
	}
	return NULL;
}

/* Calls whose frames lie below SP on the same stack were left without
 * returning (longjmp out of a signal handler): forget them. */
static void drop_abandoned(struct bp_engine *e, struct tstate *s, uint64_t sp)
{
	for (int i = 0; i < MAX_CALLS; i++) {
		struct call *c = &s->calls[i];
		if (c->live && c->ret_slot < sp && sp - c->ret_slot < STACK_WINDOW) {
			c->live = false;
			e->st.abandoned_calls++;
		}
	}
}

/* The call a return trap at stack pointer SP (just popped) belongs to. */
static struct call *call_returning(struct tstate *s, uint64_t sp)
{
	for (int i = 0; i < MAX_CALLS; i++)
		if (s->calls[i].live && s->calls[i].ret_slot + 8 == sp)
			return &s->calls[i];
	return NULL;
}

/* ---- memory ------------------------------------------------------------ */

static int peek(struct bp_engine *e, uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(e->memfd, buf, len, (off_t)addr);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static int poke(struct bp_engine *e, uint64_t addr, const void *buf, size_t len)
{
	ssize_t n = pwrite(e->memfd, buf, len, (off_t)addr);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

/* ---- per-thread state -------------------------------------------------- */

static struct tstate *tstate_get(struct bp_engine *e, pid_t tid, bool create)
{
	unsigned b = (unsigned)tid % NBUCKETS;
	for (struct tstate *s = e->threads[b]; s; s = s->next)
		if (s->tid == tid)
			return s;
	if (!create)
		return NULL;
	struct tstate *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->tid = tid;
	s->next = e->threads[b];
	e->threads[b] = s;
	return s;
}

static void tstate_drop(struct bp_engine *e, pid_t tid)
{
	for (struct tstate **pp = &e->threads[(unsigned)tid % NBUCKETS]; *pp; pp = &(*pp)->next) {
		if ((*pp)->tid == tid) {
			struct tstate *s = *pp;
			*pp = s->next;
			free(s);
			return;
		}
	}
}

/* ---- injected pages ---------------------------------------------------- */

static int page_for(struct bp_engine *e, const struct mt_maps *maps, uint64_t near)
{
	for (int i = 0; i < e->npages; i++) {
		uint64_t a = e->pages[i].addr;
		uint64_t d = a > near ? a - near : near - a;
		if (d < REACH && SLOT0 + (e->pages[i].used_slots + 1) * MT_SLOT_SIZE <= PAGE_SIZE_BYTES)
			return i;
	}
	if (e->npages == MAX_PAGES)
		return -ENOSPC;
	uint64_t hole = mt_remote_find_hole(maps, near, PAGE_SIZE_BYTES, REACH);
	if (!hole)
		return -ENOSPC;
	/* MAP_FIXED_NOREPLACE: never clobber a mapping that appeared meanwhile. */
	int err;
	if (!mt_remote_mmap(e->t, e->syscall_pc, hole, PAGE_SIZE_BYTES, PROT_READ | PROT_EXEC,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, &err))
		return err == -EEXIST ? -ENOSPC : err;
	unsigned char trap[SLOT0];
	memset(trap, MT_BP_BYTE, sizeof trap);
	if (poke(e, hole, trap, sizeof trap) < 0)
		return -EFAULT;
	e->pages[e->npages].addr = hole;
	e->pages[e->npages].used_slots = 0;
	return e->npages++;
}

static bool is_trap(const struct bp_engine *e, uint64_t addr)
{
	for (int i = 0; i < e->npages; i++)
		if (e->pages[i].addr == addr)
			return true;
	return false;
}

static const struct page *page_containing(const struct bp_engine *e, uint64_t addr)
{
	for (int i = 0; i < e->npages; i++)
		if (addr >= e->pages[i].addr && addr < e->pages[i].addr + PAGE_SIZE_BYTES)
			return &e->pages[i];
	return NULL;
}

/* ---- install ----------------------------------------------------------- */

static enum mt_err bp_install(struct mt_engine *base, bool *installed, const char **why_not)
{
	struct bp_engine *e = (struct bp_engine *)base;
	struct mt_maps maps;
	if (mt_maps_read(e->pid, &maps) < 0)
		return MT_E_TARGET_LOST;
	e->syscall_pc = mt_remote_syscall_insn(e->pid, &maps);

	for (int i = 0; i < e->set->n; i++) {
		const struct mt_hook_spec *spec = &e->set->hooks[i];
		struct hook *h = &e->hooks[e->nhooks];
		installed[i] = false;
		why_not[i] = NULL;
		bool live = false;
		for (int k = 0; k < e->nhooks; k++)
			live |= e->hooks[k].spec->addr == spec->addr;
		if (live) {
			installed[i] = true; /* from an earlier install */
			continue;
		}
		if (e->nhooks == MT_MAX_HOOKS) {
			why_not[i] = "memtrace hooks at most 64 entry points";
			continue;
		}

		unsigned char mem[MT_MAX_ORIG];
		if (peek(e, spec->addr, mem, sizeof mem) < 0) {
			why_not[i] = "its code cannot be read";
			continue;
		}
		if (memcmp(mem, spec->orig, sizeof mem) != 0) {
			why_not[i] = mem[0] == MT_BP_BYTE ? "it already has a breakpoint (another tracer's, or a killed memtrace's: 'memtrace detach PID' removes those)"
						      : "its code in memory differs from the file";
			continue;
		}
		if (mt_insn_plan_make(mem, sizeof mem, spec->addr, &h->plan) < 0) {
			why_not[i] = "its first instruction does not decode";
			continue;
		}
		if (h->plan.kind == MT_PLAN_UNSUPPORTED) {
			why_not[i] = h->plan.why;
			continue;
		}
		h->spec = spec;
		h->page = -1;
		if (h->plan.kind == MT_PLAN_OOL || h->plan.kind == MT_PLAN_OOL_JCC) {
			int p = page_for(e, &maps, spec->addr);
			if (p < 0) {
				why_not[i] = "memtrace could not map its code page within reach of it";
				continue;
			}
			struct page *pg = &e->pages[p];
			uint64_t slot = pg->addr + SLOT0 + (uint64_t)pg->used_slots * MT_SLOT_SIZE;
			unsigned char code[MT_SLOT_SIZE];
			if (mt_insn_plan_slot(&h->plan, slot, code) < 0) {
				why_not[i] = "its RIP-relative operand cannot reach memtrace's code page";
				continue;
			}
			if (poke(e, slot, code, sizeof code) < 0) {
				why_not[i] = "memtrace's code page cannot be written";
				continue;
			}
			pg->used_slots++;
			h->page = p;
			h->slot = slot;
		}
		/* Needs-return hooks need a return trap, i.e. a page. */
		if (mt_fn_needs_return(spec->fn) && h->page < 0) {
			int p = page_for(e, &maps, spec->addr);
			if (p < 0) {
				why_not[i] = "memtrace could not map its code page within reach of it";
				continue;
			}
			h->page = p;
		}
		/* Verify once more right before the write: all threads are stopped,
		 * so nothing changes it between this read and the write. */
		unsigned char b;
		if (peek(e, spec->addr, &b, 1) < 0 || b != spec->orig[0]) {
			why_not[i] = "its code changed during install";
			continue;
		}
		b = MT_BP_BYTE;
		if (poke(e, spec->addr, &b, 1) < 0) {
			why_not[i] = "its code cannot be written";
			continue;
		}
		h->installed = true;
		installed[i] = true;
		e->nhooks++;
	}
	mt_maps_free(&maps);
	bool have_malloc = false;
	for (int k = 0; k < e->nhooks; k++)
		have_malloc |= mt_fn_set_has(&e->hooks[k].spec->fn_mask, MT_FN_MALLOC);
	e->st.hooks_installed = e->nhooks;
	e->st.hooks_skipped = e->set->n - e->nhooks;
	if (!have_malloc)
		return MT_E_NO_ALLOCATOR;
	return MT_E_OK;
}

static int bp_watch(struct mt_engine *base, uint64_t addr, void (*cb)(void *ctx, pid_t tid),
		    void *ctx)
{
	struct bp_engine *e = (struct bp_engine *)base;
	if (e->nwatches == MAX_WATCHES)
		return -ENOSPC;
	struct watch *w = &e->watches[e->nwatches];
	unsigned char mem[MT_MAX_ORIG];
	if (peek(e, addr, mem, sizeof mem) < 0)
		return -EFAULT;
	if (mem[0] == MT_BP_BYTE)
		return -EBUSY; /* someone else's breakpoint */
	if (mt_insn_plan_make(mem, sizeof mem, addr, &w->plan) < 0 ||
	    w->plan.kind == MT_PLAN_UNSUPPORTED || w->plan.kind == MT_PLAN_OOL ||
	    w->plan.kind == MT_PLAN_OOL_JCC)
		return -ENOTSUP; /* only emulated plans: no page needed */
	w->addr = addr;
	w->orig = mem[0];
	w->cb = cb;
	w->ctx = ctx;
	unsigned char b = MT_BP_BYTE;
	if (poke(e, addr, &b, 1) < 0)
		return -EFAULT;
	w->installed = true;
	e->nwatches++;
	return 0;
}

/* ---- the hot path ------------------------------------------------------ */

static void emit(struct bp_engine *e, enum mt_event_kind kind, const struct call *c,
		 pid_t tid, enum mt_fn fn, uint64_t addr, uint64_t size, uint64_t old, uint64_t caller)
{
	/* Sampling: an allocation not sampled is not sent; a realloc whose
	 * new block is not sampled frees the old one (event.h). */
	if (e->sampler && addr && (kind == MT_EV_ALLOC || kind == MT_EV_REALLOC) &&
	    !mt_sampler_take(e->sampler, size)) {
		if (kind == MT_EV_ALLOC)
			return;
		addr = 0;
		size = 0;
	}
	/* A call counts when its event is sent, as the agent counts what it
	 * records: not free(NULL), not a failed allocation, not an
	 * allocation left unsampled, and a realloc once (its REALLOC). */
	if (kind != MT_EV_REALLOC_BEGIN)
		e->st.calls++;
	struct mt_event ev = {
		.kind = kind, .fn = fn, .tid = tid, .addr = addr, .size = size,
		.old_addr = old, .caller = caller, .stack = c ? c->stack : 0, .time_ns = mt_clock_ns(),
	};
	e->sink(e->sink_ctx, &ev);
}

static bool is_throwing_new(enum mt_fn fn)
{
	return mt_fn_abi(fn) == MT_ABI_NEW1 || mt_fn_abi(fn) == MT_ABI_NEW2;
}

/* Entry of an outermost call.  True when it sent the thread elsewhere
 * (R's pc set): a throwing operator new runs its nothrow form instead
 * (allocfn.h MT_ABI_NEW1), whose return the trap sees; an exception must
 * not meet the trap's address on the stack, which has no unwind rule. */
static bool begin_call(struct bp_engine *e, struct tstate *s, const struct hook *h,
		       pid_t tid, mt_regs *r)
{
	enum mt_fn fn = h->spec->fn;
	if (is_throwing_new(fn) && !h->spec->nothrow_addr)
		return false;   /* discovery hooks none such: never traced */
	uint64_t slot = mt_regs_retaddr_slot(r), caller = 0;
	if (mt_fn_is_free(fn)) {
		/* Published before the real free runs: no other thread can be
		 * handed this address until we resume this one. */
		uint64_t p = mt_regs_arg(r, 0);
		/* The caller tells an unknown free by the allocator's own
		 * module (a dying thread's cache) from the program's. */
		peek(e, slot, &caller, sizeof caller);
		if (p)
			emit(e, MT_EV_FREE, NULL, tid, fn, p, 0, 0, caller);
		/* A C++ or extended free is followed to its return, so that
		 * the free it makes inside is nested (jemalloc's delete jumps
		 * to free): one call.  Without a slot for it, that inner free
		 * would be counted twice, so it is left untraced. */
		if (!mt_fn_needs_return(fn) || h->page < 0) {
			return false;
		}
	}
	struct call *c = NULL;
	for (int i = 0; i < MAX_CALLS && !c; i++)
		if (!s->calls[i].live)
			c = &s->calls[i];
	if (!c || peek(e, slot, &caller, sizeof caller) < 0) {
		if (!mt_fn_is_free(fn))
			e->st.lost_calls++; /* its result cannot be seen */
		return false;
	}
	/* The stack is taken before the return address is replaced, with the
	 * registers as they are at the entry (the pc back on the hook). */
	uint32_t stack = 0;
	if (e->stacks.capture && !mt_fn_is_free(fn)) {
		mt_regs at = *r;
		mt_regs_set_pc(&at, h->spec->addr);
		stack = e->stacks.capture(e->stacks.ctx, tid, &at);
	}
	uint64_t trap = e->pages[h->page].addr;
	if (poke(e, slot, &trap, sizeof trap) < 0) {
		e->st.lost_calls++;
		return false;
	}
	c->live = true;
	c->fn = fn;
	c->hook = h;
	for (int i = 0; i < 3; i++)
		c->args[i] = mt_regs_arg(r, i);
	c->caller = caller;
	c->ret_slot = slot;
	c->stack = stack;
	if (mt_fn_is_realloc(fn) && c->args[0])
		emit(e, MT_EV_REALLOC_BEGIN, c, tid, fn, 0, 0, c->args[0], caller);
	if (!is_throwing_new(fn))
		return false;
	/* new(size[, align]) -> new(size[, align], nothrow): the nothrow_t
	 * reference, never read, points at the return slot.  Its entry is
	 * hooked too: a nested call. */
	mt_regs_set_arg(r, mt_fn_abi(fn) == MT_ABI_NEW1 ? 1 : 2, slot);
	mt_regs_set_pc(r, h->spec->nothrow_addr);
	return true;
}

static void apply_plan(struct bp_engine *e, const struct mt_insn_plan *plan, uint64_t slot,
		       mt_regs *r);

/* A throwing operator new whose nothrow form failed: the thread enters the
 * original again (past the breakpoint, PARKING: the original bytes are
 * back), with its arguments and its caller's return address, so that the
 * exception it throws unwinds to the program's handler. */
static void retry_throwing(struct bp_engine *e, const struct call *c, mt_regs *r, bool parking)
{
	const struct hook *h = c->hook;
	poke(e, c->ret_slot, &c->caller, sizeof c->caller);
	mt_regs_set_sp(r, c->ret_slot);
	for (int i = 0; i < 3; i++)
		mt_regs_set_arg(r, i, c->args[i]);
	mt_regs_set_pc(r, h->spec->addr);
	if (!parking && h->installed)
		apply_plan(e, &h->plan, h->slot, r);
}

/* The return trap of an outermost call.  True when the thread was sent
 * back into the call (retry_throwing), R set for that. */
static bool finish_call(struct bp_engine *e, struct tstate *s, struct call *c, pid_t tid,
			mt_regs *r, bool parking)
{
	uint64_t ret = mt_regs_ret(r);
	uint64_t *a = c->args;
	uint64_t size = mt_fn_size_of(mt_fn_size(c->fn), a[0], a[1], a[2]);
	c->live = false;
	switch (mt_fn_abi(c->fn)) {
	case MT_ABI_ALLOC1:
	case MT_ABI_ALLOC2:
	case MT_ABI_ALLOC3:
		if (ret)
			emit(e, MT_EV_ALLOC, c, tid, c->fn, ret, size, 0, c->caller);
		break;
	case MT_ABI_REALLOC2:
	case MT_ABI_REALLOC3:
		emit(e, MT_EV_REALLOC, c, tid, c->fn, ret, size, a[0], c->caller);
		break;
	case MT_ABI_POSIX_MEMALIGN: {
		uint64_t p = 0;
		if ((uint32_t)ret == 0 && peek(e, a[0], &p, sizeof p) == 0 && p)
			emit(e, MT_EV_ALLOC, c, tid, c->fn, p, size, 0, c->caller);
		break;
	}
	case MT_ABI_NEW1:
	case MT_ABI_NEW2:
		if (ret) {
			emit(e, MT_EV_ALLOC, c, tid, c->fn, ret, size, 0, c->caller);
			break;
		}
		retry_throwing(e, c, r, parking);
		return true;
	default:
		break;   /* a free: published at its entry */
	}
	return false;
}

/* Run the displaced instruction per its plan, from the state at the hook. */
static void apply_plan(struct bp_engine *e, const struct mt_insn_plan *plan, uint64_t slot,
		       mt_regs *r)
{
	switch (plan->kind) {
	case MT_PLAN_OOL:
	case MT_PLAN_OOL_JCC:
		mt_regs_set_pc(r, slot);
		break;
	case MT_PLAN_EMU_JMP:
		mt_regs_set_pc(r, plan->target);
		break;
	case MT_PLAN_EMU_CALL: {
		uint64_t ret = plan->addr + plan->len;
		uint64_t sp = mt_regs_sp(r) - sizeof ret;
		if (poke(e, sp, &ret, sizeof ret) == 0) {
			mt_regs_set_sp(r, sp);
			mt_regs_set_pc(r, plan->target);
		}
		break;
	}
	case MT_PLAN_EMU_RET: {
		uint64_t ret;
		if (peek(e, mt_regs_sp(r), &ret, sizeof ret) == 0) {
			mt_regs_set_sp(r, mt_regs_sp(r) + sizeof ret);
			mt_regs_set_pc(r, ret);
		}
		break;
	}
	default:
		break;
	}
}

static const struct hook *hook_at(const struct bp_engine *e, uint64_t addr)
{
	for (int i = 0; i < e->nhooks; i++)
		if (e->hooks[i].spec->addr == addr)
			return &e->hooks[i];
	return NULL;
}

static bool bp_on_trap(struct mt_engine *base, const struct mt_stop *st, bool parking)
{
	struct bp_engine *e = (struct bp_engine *)base;
	mt_regs r = st->regs;
	uint64_t at = mt_regs_pc(&r) - MT_BP_LEN;
	pid_t tid = st->tid;

	const struct hook *h = hook_at(e, at);
	if (h) {
		if (parking) {
			/* Not yet entered: after restore it runs the original code. */
			mt_regs_set_pc(&r, at);
			mt_target_set_regs(e->t, tid, &r);
			return true;
		}
		struct tstate *s = tstate_get(e, tid, true);
		uint64_t sp = mt_regs_sp(&r);
		bool sent = false;   /* to a throwing new's nothrow form */
		if (s && call_around(s, sp)) {
			e->st.nested_calls++;
		} else if (s) {
			drop_abandoned(e, s, sp);
			sent = begin_call(e, s, h, tid, &r);
		}
		if (!sent)
			apply_plan(e, &h->plan, h->slot, &r);
		mt_target_set_regs(e->t, tid, &r);
		mt_target_resume(e->t, tid, 0);
		return true;
	}
	for (int i = 0; i < e->nwatches; i++) {
		struct watch *w = &e->watches[i];
		if (!w->installed || w->addr != at)
			continue;
		if (parking) {
			mt_regs_set_pc(&r, at);
			mt_target_set_regs(e->t, tid, &r);
			return true;
		}
		w->cb(w->ctx, tid);
		apply_plan(e, &w->plan, w->slot, &r);
		mt_target_set_regs(e->t, tid, &r);
		mt_target_resume(e->t, tid, 0);
		return true;
	}
	if (is_trap(e, at)) {
		struct tstate *s = tstate_get(e, tid, false);
		struct call *c = s ? call_returning(s, mt_regs_sp(&r)) : NULL;
		if (!c)
			return false; /* cannot know where to return: not ours to fix */
		uint64_t caller = c->caller;
		if (!finish_call(e, s, c, tid, &r, parking))
			mt_regs_set_pc(&r, caller);
		mt_target_set_regs(e->t, tid, &r);
		if (!parking)
			mt_target_resume(e->t, tid, 0);
		return true;
	}
	return false;
}

static bool bp_past_int3(struct mt_engine *base, pid_t tid)
{
	struct bp_engine *e = (struct bp_engine *)base;
	mt_regs r;
	if (mt_target_get_regs(e->t, tid, &r) < 0)
		return false;
	uint64_t at = mt_regs_pc(&r) - MT_BP_LEN;
	if (hook_at(e, at) || is_trap(e, at))
		return true;
	for (int i = 0; i < e->nwatches; i++)
		if (e->watches[i].installed && e->watches[i].addr == at)
			return true;
	return false;
}

static void bp_on_task_exit(struct mt_engine *base, pid_t tid)
{
	/* Its calls in flight end with it: nothing returns to their traps. */
	tstate_drop((struct bp_engine *)base, tid);
}

/* ---- children, exec, removal ------------------------------------------ */

static int restore_hooks(struct bp_engine *e, int fd, bool verify)
{
	int mismatches = 0;
	for (int i = 0; i < e->nwatches; i++) {
		const struct watch *w = &e->watches[i];
		unsigned char b;
		if (w->installed && pread(fd, &b, 1, (off_t)w->addr) == 1 && b == MT_BP_BYTE)
			pwrite(fd, &w->orig, 1, (off_t)w->addr);
	}
	for (int i = 0; i < e->nhooks; i++) {
		struct hook *h = &e->hooks[i];
		if (!h->installed)
			continue;
		unsigned char b;
		if (pread(fd, &b, 1, (off_t)h->spec->addr) != 1)
			continue;
		if (b == MT_BP_BYTE)
			pwrite(fd, &h->spec->orig[0], 1, (off_t)h->spec->addr);
		if (verify) {
			unsigned char now[MT_MAX_ORIG];
			if (pread(fd, now, sizeof now, (off_t)h->spec->addr) != (ssize_t)sizeof now ||
			    memcmp(now, h->spec->orig, sizeof now) != 0)
				mismatches++;
		}
	}
	return mismatches;
}

static int bp_clean_child(struct mt_engine *base, pid_t child)
{
	struct bp_engine *e = (struct bp_engine *)base;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int bad = restore_hooks(e, fd, true);
	close(fd);
	return bad ? -EIO : 0;
}

static void bp_abandon(struct mt_engine *base)
{
	struct bp_engine *e = (struct bp_engine *)base;
	for (int i = 0; i < e->nhooks; i++)
		e->hooks[i].installed = false;
	for (int i = 0; i < e->nwatches; i++)
		e->watches[i].installed = false;
	e->npages = 0;
}

struct unpark_ctx {
	struct bp_engine *e;
	bool page_in_use;
};

/* Move a stopped thread out of memtrace's page, to where it would be in
 * the original code. */
static void unpark(void *ctx, pid_t tid)
{
	struct unpark_ctx *u = ctx;
	struct bp_engine *e = u->e;
	mt_regs r;
	if (mt_target_get_regs(e->t, tid, &r) < 0)
		return;
	uint64_t pc = mt_regs_pc(&r);
	const struct page *pg = page_containing(e, pc);
	if (!pg)
		return;
	uint64_t to = 0;
	if (pc == pg->addr) {
		/* Returned into the trap but not yet trapped. */
		struct tstate *s = tstate_get(e, tid, false);
		struct call *c = s ? call_returning(s, mt_regs_sp(&r)) : NULL;
		if (c && is_throwing_new(c->fn) && mt_regs_ret(&r) == 0) {
			/* its nothrow form failed: the original throws */
			retry_throwing(e, c, &r, true);
			to = mt_regs_pc(&r);
		} else if (c) {
			to = c->caller;
		}
		if (c) {
			c->live = false;
			e->st.in_flight++;
		}
	} else {
		for (int i = 0; i < e->nhooks && !to; i++) {
			const struct hook *h = &e->hooks[i];
			if (h->slot && pc >= h->slot && pc < h->slot + MT_SLOT_SIZE)
				to = mt_insn_plan_slot_pc_to_orig(&h->plan, (unsigned)(pc - h->slot));
		}
	}
	if (to) {
		mt_regs_set_pc(&r, to);
		mt_target_set_regs(e->t, tid, &r);
	} else {
		u->page_in_use = true;
	}
}

static int bp_remove(struct mt_engine *base)
{
	struct bp_engine *e = (struct bp_engine *)base;
	struct unpark_ctx u = { e, false };

	/* Threads stopped in memtrace's code go back to the original code.  A
	 * thread that did not stop may be anywhere: the page then stays. */
	mt_target_for_each_task(e->t, unpark, &u);
	if (!mt_target_all_stopped(e->t))
		u.page_in_use = true;

	/* Threads inside a hooked call get their real return address back.
	 * One inside a throwing new's nothrow form (begin_call) then returns
	 * its result as is: NULL, where the program expects an exception, if
	 * that allocation fails at this moment (not handled). */
	for (unsigned b = 0; b < NBUCKETS; b++) {
		for (struct tstate *s = e->threads[b]; s; s = s->next) {
			for (int i = 0; i < MAX_CALLS; i++) {
				struct call *c = &s->calls[i];
				if (!c->live)
					continue;
				uint64_t cur;
				if (peek(e, c->ret_slot, &cur, sizeof cur) == 0 && is_trap(e, cur))
					poke(e, c->ret_slot, &c->caller, sizeof c->caller);
				else
					u.page_in_use = true; /* cannot prove it is safe to unmap */
				c->live = false;
				e->st.in_flight++;
			}
		}
	}

	e->st.restore_mismatches = restore_hooks(e, e->memfd, true);
	for (int i = 0; i < e->nhooks; i++)
		e->hooks[i].installed = false;
	for (int i = 0; i < e->nwatches; i++)
		e->watches[i].installed = false;

	/* Give the pages back unless something may still run or return there. */
	if (!u.page_in_use) {
		for (int i = 0; i < e->npages; i++) {
			uint64_t args[6] = { e->pages[i].addr, PAGE_SIZE_BYTES, 0, 0, 0, 0 };
			long ret;
			mt_remote_syscall(e->t, e->syscall_pc, SYS_munmap, args, &ret);
		}
		e->npages = 0;
	}
	return e->st.restore_mismatches ? -EIO : 0;
}

static void bp_stats(const struct mt_engine *base, struct mt_engine_stats *out)
{
	*out = ((const struct bp_engine *)base)->st;
}

static void bp_destroy(struct mt_engine *base)
{
	struct bp_engine *e = (struct bp_engine *)base;
	if (!e)
		return;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct tstate *s = e->threads[b];
		while (s) {
			struct tstate *n = s->next;
			free(s);
			s = n;
		}
	}
	if (e->memfd >= 0)
		close(e->memfd);
	mt_sampler_destroy(e->sampler);
	free(e);
}

static const struct mt_engine_ops bp_ops = {
	.name = "breakpoint",
	.install = bp_install,
	.on_trap = bp_on_trap,
	.on_task_exit = bp_on_task_exit,
	.past_int3 = bp_past_int3,
	.watch = bp_watch,
	.clean_child = bp_clean_child,
	.abandon = bp_abandon,
	.remove = bp_remove,
	.stats = bp_stats,
	.destroy = bp_destroy,
};

struct mt_engine *mt_bp_engine_new(struct mt_target *t, const struct mt_alloc_set *set,
				   mt_event_sink sink, void *sink_ctx,
				   const struct mt_stack_source *stacks)
{
	struct bp_engine *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->base.ops = &bp_ops;
	e->t = t;
	e->pid = mt_target_pid(t);
	e->set = set;
	e->sink = sink;
	e->sink_ctx = sink_ctx;
	if (stacks)
		e->stacks = *stacks;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)e->pid);
	e->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (e->memfd < 0) {
		free(e);
		return NULL;
	}
	return &e->base;
}

int mt_bp_engine_set_sampling(struct mt_engine *base, uint64_t mean)
{
	struct bp_engine *e = (struct bp_engine *)base;
	mt_sampler_destroy(e->sampler);
	e->sampler = NULL;
	if (!mean)
		return 0;
	e->sampler = mt_sampler_new(mean, (uint64_t)mt_clock_ns() ^ ((uint64_t)e->pid << 32));
	return e->sampler ? 0 : -ENOMEM;
}

