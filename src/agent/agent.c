/* The in-process agent (issue 5): freestanding code that memtrace maps into
 * the target.  See agent_abi.h for the layout and the trampolines.
 *
 * Rules of this file: no libc, no lock, nothing that can block but the
 * bounded futex waits for memtrace's answers (skipped once memtrace has
 * failed to answer in time), no writable global but the state page.  Built
 * with -ffreestanding -fPIC -fvisibility=hidden and linked at 0 into a flat
 * image (agent.ld): every reference is RIP-relative.
 *
 * Every handler is entered from its stub (arch/ARCH/agent_entry.S) with the
 * allocator's own arguments, then the hook (r11 of the trampoline) and the
 * rsp/rbp of the allocator's first instruction, where the caller's return
 * address is at [sp].  It returns straight to the caller.
 */
#include <stddef.h>
#include <stdint.h>

#include "agent/agent_abi.h"
#include "arch/agent_sys.h"
#include "model/allocfn.h"
#include "agent/ring.h"
#include "agent/sset.h"
#include "agent/ltab.h"

#pragma GCC visibility push(hidden)

/* The state page: memtrace writes it; wiped in a forked child. */
__attribute__((section(".bss.agent_state"), aligned(4096)))
struct mt_agent_state mt_agent_state;

/* What every allocator call runs: inlined into each handler, where the
 * call's state stays in registers (about 2 ns a call less than calls). */
#define HOT inline __attribute__((always_inline))
/* What only a recorded call runs, kept out of a handler whose other path
 * must stay short (a free under sampling: no frame to set up). */
#define NOINLINE __attribute__((noinline))

/* One thread's view of one call. */
struct call {
	struct mt_ring_region *rg;
	struct mt_agent_shared *sh;
	struct mt_ring *r;
	uint32_t tid;
	uint64_t caller;
	uint64_t stack;
	uint32_t slot1;     /* the stack's slot in the shared table + 1; 0: none */
};

enum { PASS, TRACE, NESTED };

static inline uint32_t thread_id(const struct mt_agent_state *s)
{
	uint32_t off = s->tid_off;
	return off ? mt_agent_fs_u32(off) : (uint32_t)mt_agent_gettid();
}

/* ---- waiting for memtrace --------------------------------------------- */

/* The agent waits for memtrace in three places (a ring with room under
 * --lossless, an unwind rule, ld.so's acknowledgement), each a bounded
 * number of milliseconds.  The bound is kept on the clock, not counted in
 * futex wakeups: a signal ends a wait early, and a storm of them
 * (tests/e2e/test_signals.py) once ran a count of 100 waits out in a few
 * milliseconds while memtrace drained every 12 ms, and the agent marked
 * memtrace stale and dropped events under --lossless.
 *
 * Past its bound memtrace is gone, or alive and late: on a loaded machine
 * a runnable memtrace can go 100 ms without a CPU.  With --lossless a
 * waiter goes on while memtrace's pid exists, up to WAIT_ALIVE_NS (then
 * memtrace is stopped, or starved that long); a memtrace whose pid is gone
 * (killed, or not seen from the target's pid namespace) ends the wait at
 * the bound.  Without --lossless every wait ends at its bound, as the
 * target must not wait on memtrace. */
#define WAIT_ALIVE_NS 1000000000ull  /* 1 s */

struct wait_clock {
	uint64_t since;
	uint64_t waits;     /* futex waits so far */
	uint64_t wait_ns;   /* the timeout of each */
};

static void wait_start(struct wait_clock *w, uint64_t wait_ns)
{
	w->since = mt_agent_clock_ns();
	w->waits = 0;
	w->wait_ns = wait_ns;
}

/* Time since the start (or the last restart); without a clock (a seccomp
 * filter may refuse the call) every wait counts as its full timeout. */
static uint64_t wait_elapsed(const struct wait_clock *w)
{
	uint64_t t = w->since ? mt_agent_clock_ns() : 0;
	return t ? t - w->since : w->waits * w->wait_ns;
}

/* memtrace's pid while it reads, else 0. */
static int32_t reader_pid(void)
{
	uint64_t rings = __atomic_load_n(&mt_agent_state.rings, __ATOMIC_ACQUIRE);
	if (!rings)
		return 0;
	return __atomic_load_n(&((struct mt_ring_region *)rings)->reader_pid, __ATOMIC_RELAXED);
}

/* Whether a wait bounded by LIMIT_NS is over (see above). */
static int wait_over(const struct wait_clock *w, uint64_t limit_ns)
{
	uint64_t t = wait_elapsed(w);
	if (t < limit_ns)
		return 0;
	if (!(mt_agent_state.flags & MT_AGENT_F_WAIT) || t >= WAIT_ALIVE_NS)
		return 1;
	int32_t pid = reader_pid();
	return !pid || !mt_agent_pid_exists(pid);
}

static void wait_futex(struct wait_clock *w, uint32_t *word, uint32_t val)
{
	w->waits++;
	mt_agent_futex_wait(word, val, (long)w->wait_ns);
}

/* ---- unwinding -------------------------------------------------------- */

/* A rule memtrace wrote for ADDR, copied out; 0 when there is none.  An
 * entry is read, then its addr again: an entry being cleared is missed. */
static int find_rule(struct mt_agent_shared *sh, uint64_t addr, struct mt_agent_rule *out)
{
	uint32_t cap = sh->rules_cap;
	struct mt_agent_rule *t = (struct mt_agent_rule *)((char *)sh + sh->rules_off);
	uint64_t i = mt_agent_rule_slot(addr, cap);
	for (int probe = 0; probe < 64; probe++, i = (i + 1) & (cap - 1)) {
		uint64_t a = __atomic_load_n(&t[i].addr, __ATOMIC_ACQUIRE);
		if (a == 0)
			return 0;
		if (a != addr)
			continue;
		out->cfa_off = t[i].cfa_off;
		out->ra_off = t[i].ra_off;
		out->bp_off = t[i].bp_off;
		out->kind = t[i].kind;
		out->cfa_reg = t[i].cfa_reg;
		out->bp = t[i].bp;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		return __atomic_load_n(&t[i].addr, __ATOMIC_RELAXED) == addr;
	}
	return 0;
}

/* Ask memtrace for the rule of ADDR and wait a little for it.  A memtrace
 * that does not answer in time (killed, stopped) marks itself stale, and
 * nobody waits again until it clears that (it does at every drain).  One
 * that has no room for the rule says so (agent_abi.h): the waiter stops at
 * once, and once the table is full nobody asks again. */
static int request_rule(struct mt_agent_shared *sh, uint64_t addr, struct mt_agent_rule *out)
{
	/* An address with the top bit set is no code of the process (and
	 * would read as a refusal) */
	if (addr & MT_AGENT_REQ_REFUSED)
		return 0;
	if (__atomic_load_n(&sh->reader_stale, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&sh->rule_skips, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (__atomic_load_n(&sh->rules_full, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(&sh->rule_refusals, 1, __ATOMIC_RELAXED);
		return 0;
	}
	/* j: the slot holding the request; mine: whether this thread posted it */
	int j, mine = 0;
	for (j = 0; j < MT_AGENT_NREQ; j++) {
		uint64_t want = 0;
		if (__atomic_compare_exchange_n(&sh->req[j], &want, addr, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			mine = 1;
			break;
		}
		if (want == addr) /* another thread asked already: wait on its slot */
			break;
		if (want == (addr | MT_AGENT_REQ_REFUSED)) {
			__atomic_fetch_add(&sh->rule_refusals, 1, __ATOMIC_RELAXED);
			return 0;
		}
	}
	if (j == MT_AGENT_NREQ)
		return 0;
	__atomic_fetch_add(&sh->rule_waits, 1, __ATOMIC_RELAXED);
	if (mine) {
		__atomic_fetch_add(&sh->req_seq, 1, __ATOMIC_RELEASE);
		mt_agent_futex_wake(&sh->req_seq);
	}
	int found = 0, ended = 0, refused = 0;
	struct wait_clock w;
	wait_start(&w, 5000000);
	for (;;) {   /* 40 ms (see "waiting for memtrace") */
		uint32_t gen = __atomic_load_n(&sh->rule_gen, __ATOMIC_ACQUIRE);
		/* Refused, or (another thread's request) done with: no wait.
		 * Read before the look, which then sees any rule that was
		 * there when the slot was cleared. */
		uint64_t v = __atomic_load_n(&sh->req[j], __ATOMIC_ACQUIRE);
		refused = v == (addr | MT_AGENT_REQ_REFUSED) ||
			  __atomic_load_n(&sh->rules_full, __ATOMIC_ACQUIRE);
		ended = refused || v != addr;
		found = find_rule(sh, addr, out);
		if (found || ended || wait_over(&w, 40000000))
			break;
		wait_futex(&w, &sh->rule_gen, gen);
	}
	if (mine) {
		uint64_t posted = addr;
		if (!__atomic_compare_exchange_n(&sh->req[j], &posted, 0, 0, __ATOMIC_RELEASE,
						 __ATOMIC_RELAXED) &&
		    posted == (addr | MT_AGENT_REQ_REFUSED))
			__atomic_store_n(&sh->req[j], 0, __ATOMIC_RELEASE);
	}
	if (found)
		return 1;
	if (ended) {
		if (refused)
			__atomic_fetch_add(&sh->rule_refusals, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_fetch_add(&sh->rule_timeouts, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->reader_stale, 1, __ATOMIC_RELAXED);
	return 0;
}

/* The frames above an allocator entry ENTRY, where the thread has SP and
 * BP: PCS[0] = ENTRY, then return addresses.  Frames are found with the
 * rules memtrace derives from the modules' CFI, per code address; a frame
 * further than 1 MiB up, or not above the last, ends the stack (a wrong
 * rule must not make the agent read where nothing is mapped). */
/* What a walk read, for the stack cache (ltab.h): where each return
 * address was, and whether the walk may be replayed from them. */
struct walk {
	uint64_t at[MT_SCACHE_PCS + 1];
	int keep;         /* complete, from the stack pointer alone */
	int zero_end;     /* ended at a 0 read at at[n] */
};

/* ---- Python frames (issue 21) ----------------------------------------- *
 *
 * Each activation of CPython's eval loop (_PyEval_EvalFrameDefault) runs
 * Python frames; the native frame of that activation gives its place in
 * the stack to them, each one a tagged pc (agent_abi.h) of its code object
 * and instruction index, named by memtrace.  How the activations are told
 * apart depends on the version (py_kind):
 *
 * - 3.9, 3.10 (FRAMEOBJ): one PyFrameObject per activation, the thread
 *   state's frame the innermost, linked by f_back: the native frames in
 *   the eval loop's code take them in order.
 * - 3.11 (CFRAME): an activation keeps a _PyCFrame in its own C frame,
 *   linked to the one of the activation it was called under (previous),
 *   the innermost one in the thread state; its current_frame starts the
 *   chain of _PyInterpreterFrames that activation runs (previous), up to
 *   the one it was entered with (is_entry).
 * - 3.12, 3.13 (ENTRY_CF, ENTRY): one chain of _PyInterpreterFrames from
 *   the thread state (3.12: its _PyCFrame's current_frame; 3.13: its
 *   current_frame); each activation pushes an entry frame of its own (owner
 *   FRAME_OWNED_BY_CSTACK), kept in its C frame, after which come the
 *   frames of the activation it was called under.
 * With a marker in the C stack (3.11+), the native frame whose stack holds
 * it is that activation, wherever its code is (a GCC .cold part included);
 * an activation that has not linked it yet stays a native frame.
 *
 * Only the calling thread's own chain is read, and only while it is the
 * interpreter's current thread (it holds the GIL: its frames do not change
 * under it): every pointer non-zero, 8-aligned and in user space, every
 * marker inside the native frame being walked, at most PY_MAX_FRAMES
 * Python frames per stack and as many frames looked through for a marker.
 * A stack that goes through the eval loop is never put in the stack cache
 * (ltab.h): it replays native walks, and the Python frames change where
 * the native stack does not. */
#define PY_MAX_FRAMES 128

struct pywalk {
	int state;          /* 0: not looked yet, 1: reading, 2: done */
	uint64_t cf;        /* the marker of the next activation: its
	                       _PyCFrame (3.11), its entry frame (3.12+) */
	uint64_t f;         /* the next frame to name (3.9, 3.10, 3.12+) */
	uint32_t left;      /* Python frames still allowed */
	uint32_t looks;     /* frames still allowed to look through */
};

static inline int py_ptr_ok(uint64_t p)
{
	return p && !(p & 7) && p < (1ULL << 47);
}

static inline uint64_t py_load(uint64_t base, uint16_t off)
{
	return *(const volatile uint64_t *)(base + off);
}

static inline int in_eval(const struct mt_agent_state *s, uint64_t ra)
{
	return s->py_tstate && ra - 1 >= s->py_eval_lo && ra - 1 < s->py_eval_hi;
}

/* ENTRY kinds: the entry frame that ends the run of frames from pw->f,
 * in pw->cf; done when there is none. */
static void py_next_entry(const struct mt_agent_state *s, struct pywalk *pw)
{
	for (uint64_t f = pw->f; py_ptr_ok(f) && pw->looks; f = py_load(f, s->py_fr_prev)) {
		pw->looks--;
		if (*(const volatile uint8_t *)(f + s->py_fr_entry) == MT_AGENT_PY_OWNED_BY_CSTACK) {
			pw->cf = f;
			return;
		}
	}
	pw->state = 2;
}

/* The thread's innermost frame or _PyCFrame, when it is the current
 * thread. */
static void py_start(const struct mt_agent_state *s, struct pywalk *pw)
{
	pw->state = 2;
	uint64_t ts = __atomic_load_n((const uint64_t *)s->py_tstate, __ATOMIC_ACQUIRE);
	for (int i = 0; i < 2 && s->py_ts_deref[i]; i++) {
		if (!py_ptr_ok(ts) ||
		    (i == 1 && s->py_gil_locked &&
		     *(const volatile int32_t *)(ts + s->py_gil_locked) != 1))
			return;
		ts = py_load(ts, s->py_ts_deref[i]);
	}
	if (!py_ptr_ok(ts) || py_load(ts, s->py_ts_thread) != mt_agent_tp())
		return;
	uint64_t x = py_load(ts, s->py_ts_frame);
	if (s->py_kind == MT_AGENT_PY_ENTRY_CF && py_ptr_ok(x))
		x = py_load(x, s->py_cf_frame);
	if (!py_ptr_ok(x))
		return;
	pw->left = PY_MAX_FRAMES;
	pw->looks = PY_MAX_FRAMES;
	pw->state = 1;
	if (s->py_kind == MT_AGENT_PY_CFRAME) {
		pw->cf = x;
		return;
	}
	pw->f = x;
	if (s->py_kind != MT_AGENT_PY_FRAMEOBJ)
		py_next_entry(s, pw);
}

/* The code unit at the instruction pointer INSTR of CODE, or none. */
static inline uint64_t py_unit(const struct mt_agent_state *s, uint64_t code, uint64_t instr)
{
	uint64_t units = code + s->py_co_code;
	return instr >= units && !(instr & 1) ? (instr - units) / 2 : MT_AGENT_PY_NOUNIT;
}

/* 3.9, 3.10: the native frame PC, when in the eval loop, takes the next
 * PyFrameObject's place. */
static uint32_t py_frameobj(const struct mt_agent_state *s, struct pywalk *pw, uint64_t pc,
			    uint64_t *out)
{
	uint64_t f = pw->f;
	if (!in_eval(s, pc))
		return 0;
	uint64_t code = py_load(f, s->py_fr_code);
	int32_t lasti = *(const volatile int32_t *)(f + s->py_fr_instr);
	uint64_t next = py_load(f, s->py_fr_prev);
	if (!py_ptr_ok(code)) {
		pw->state = 2;
		return 0;
	}
	*out = mt_agent_py_pc(code, lasti < 0 ? MT_AGENT_PY_NOUNIT
					      : (uint64_t)lasti >> s->py_lasti_shift);
	if (!py_ptr_ok(next) || !--pw->left)
		pw->state = 2;
	pw->f = next;
	return 1;
}

/* 3.11: the frames of the activation whose _PyCFrame is pw->cf, into
 * PCS[N..MAX); the next _PyCFrame. */
static uint32_t py_cframe(const struct mt_agent_state *s, struct pywalk *pw, uint64_t *pcs,
			  uint32_t n, uint32_t max)
{
	uint64_t cf = pw->cf;
	uint32_t k = n;
	uint64_t f = py_load(cf, s->py_cf_frame);
	while (py_ptr_ok(f) && k < max && pw->left) {
		pw->left--;
		uint64_t code = py_load(f, s->py_fr_code);
		uint64_t instr = py_load(f, s->py_fr_instr);
		int entry = *(const volatile uint8_t *)(f + s->py_fr_entry) != 0;
		if (!py_ptr_ok(code))
			break;
		pcs[k++] = mt_agent_py_pc(code, py_unit(s, code, instr));
		if (entry)
			break;
		f = py_load(f, s->py_fr_prev);
	}
	uint64_t prev = py_load(cf, s->py_cf_prev);
	if (py_ptr_ok(prev))
		pw->cf = prev;
	else
		pw->state = 2;
	return k - n;
}

/* 3.12+: the frames from pw->f up to the entry frame pw->cf, into
 * PCS[N..MAX); then the run after it and its entry frame. */
static uint32_t py_entry(const struct mt_agent_state *s, struct pywalk *pw, uint64_t *pcs,
			 uint32_t n, uint32_t max)
{
	uint32_t k = n;
	uint64_t f = pw->f;
	while (f != pw->cf && py_ptr_ok(f) && k < max && pw->left) {
		pw->left--;
		uint64_t code = py_load(f, s->py_fr_code);
		uint64_t instr = py_load(f, s->py_fr_instr);
		if (!py_ptr_ok(code))
			break;
		pcs[k++] = mt_agent_py_pc(code, py_unit(s, code, instr));
		f = py_load(f, s->py_fr_prev);
	}
	pw->f = py_load(pw->cf, s->py_fr_prev);
	py_next_entry(s, pw);
	return k - n;
}

/* The native frame at PCS[N] spans [SP, CFA) of the stack: when it is an
 * activation of the eval loop, the Python frames it runs replace it.
 * Returns how many took its place (0: it stays). */
static uint32_t py_activation(const struct mt_agent_state *s, struct pywalk *pw, uint64_t sp,
			      uint64_t cfa, uint64_t *pcs, uint32_t n, uint32_t max)
{
	if (pw->state == 0)
		py_start(s, pw);
	if (pw->state != 1)
		return 0;
	if (s->py_kind == MT_AGENT_PY_FRAMEOBJ)
		return py_frameobj(s, pw, pcs[n], &pcs[n]);
	if (pw->cf < sp || pw->cf + 8 > cfa)
		return 0;
	return s->py_kind == MT_AGENT_PY_CFRAME ? py_cframe(s, pw, pcs, n, max)
						: py_entry(s, pw, pcs, n, max);
}

static uint32_t unwind(struct mt_agent_shared *sh, uint64_t entry, uint64_t sp, uint64_t bp,
		       uint64_t *pcs, uint32_t max, struct walk *wk)
{
	const struct mt_agent_state *st = &mt_agent_state;
	struct pywalk pw = { 0 };
	uint32_t n = 0;
	pcs[n++] = entry;
	/* At a function's first instruction: CFA = rsp + 8, RA at CFA - 8. */
	uint64_t at = sp;
	uint64_t ra = *(const uint64_t *)sp;
	sp += 8;
	int bp_known = 1;
	wk->keep = max <= MT_SCACHE_PCS;
	wk->zero_end = 0;
	while (n < max && ra) {
		if (n <= MT_SCACHE_PCS)
			wk->at[n] = at;
		pcs[n++] = ra;
		if (in_eval(st, ra))
			wk->keep = 0;
		if (n == max)
			break;
		struct mt_agent_rule r;
		if (!find_rule(sh, ra - 1, &r) && !request_rule(sh, ra - 1, &r)) {
			__atomic_fetch_add(&sh->stacks_truncated, 1, __ATOMIC_RELAXED);
			wk->keep = 0;
			break;
		}
		if (r.kind == MT_AGENT_RULE_LAST)
			break;
		if (r.kind != MT_AGENT_RULE_STEP || (r.cfa_reg == MT_DWARF_REG_FP && !bp_known) ||
		    (r.cfa_reg != MT_DWARF_REG_FP && r.cfa_reg != MT_DWARF_REG_SP)) {
			__atomic_fetch_add(&sh->stacks_truncated, 1, __ATOMIC_RELAXED);
			wk->keep = 0;
			break;
		}
		if (r.cfa_reg == MT_DWARF_REG_FP)
			wk->keep = 0;
		uint64_t cfa = (r.cfa_reg == MT_DWARF_REG_SP ? sp : bp) + (uint64_t)(int64_t)r.cfa_off;
		at = cfa + (uint64_t)(int64_t)r.ra_off;
		if (cfa <= sp || cfa - sp > (1u << 20) || (at & 7) || at < sp || at >= cfa + 64) {
			__atomic_fetch_add(&sh->stacks_truncated, 1, __ATOMIC_RELAXED);
			wk->keep = 0;
			break;
		}
		uint32_t py = st->py_tstate ? py_activation(st, &pw, sp, cfa, pcs, n - 1, max) : 0;
		if (py) {
			n = n - 1 + py;
			wk->keep = 0;
		}
		ra = *(const uint64_t *)at;
		if (!ra && n <= MT_SCACHE_PCS) {
			wk->at[n] = at;
			wk->zero_end = 1;
		}
		switch (r.bp) {
		case MT_AGENT_BP_SAME:
			break;
		case MT_AGENT_BP_LOST:
			bp_known = 0;
			break;
		case MT_AGENT_BP_AT: {
			uint64_t slot = cfa + (uint64_t)(int64_t)r.bp_off;
			if (slot < sp || slot >= cfa + 64 || (slot & 7)) {
				bp_known = 0;
				break;
			}
			bp = *(const uint64_t *)slot;
			bp_known = 1;
			break;
		}
		case MT_AGENT_BP_IS:
			bp = cfa + (uint64_t)(int64_t)r.bp_off;
			bp_known = 1;
			break;
		}
		sp = cfa;
	}
	return n;
}

/* The stack's hash, after making sure memtrace can read its pcs from the
 * shared table; 0 when it cannot (table full, or another thread is still
 * writing the same stack: counted). */
static uint64_t publish_stack(struct mt_agent_shared *sh, const uint64_t *pcs, uint32_t n,
			      uint32_t *slot1)
{
	uint64_t h = mt_agent_stack_hash(pcs, n);
	uint32_t cap = sh->stacks_cap, size = sh->stack_slot;
	char *base = (char *)sh + sh->stacks_off;
	uint64_t i = h & (cap - 1);
	for (int probe = 0; probe < 32; probe++, i = (i + 1) & (cap - 1)) {
		struct mt_agent_stack *s = (struct mt_agent_stack *)(base + i * size);
		uint64_t cur = __atomic_load_n(&s->hash, __ATOMIC_ACQUIRE);
		if (cur == 0) {
			if (__atomic_compare_exchange_n(&s->hash, &cur, h, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				s->n = n;
				for (uint32_t k = 0; k < n; k++)
					s->pcs[k] = pcs[k];
				__atomic_store_n(&s->state, MT_AGENT_STACK_READY, __ATOMIC_RELEASE);
				*slot1 = (uint32_t)i + 1;
				return h;
			}
		}
		if (cur != h)
			continue;
		for (int spin = 0; spin < 4096; spin++) {
			if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == MT_AGENT_STACK_READY) {
				*slot1 = (uint32_t)i + 1;
				return h;
			}
			__builtin_ia32_pause();
		}
		break;
	}
	__atomic_fetch_add(&sh->stacks_lost, 1, __ATOMIC_RELAXED);
	return 0;
}

/* ---- sampling --------------------------------------------------------- */

/* ln(u) for u in (0, 1], accurate to about 1e-5: enough to draw sample
 * gaps.  u = m * 2^e with m in [1, 2); ln m = 2 atanh((m-1)/(m+1)). */
static double ln01(double u)
{
	union { double d; uint64_t b; } x = { .d = u };
	int e = (int)((x.b >> 52) & 0x7ff) - 1023;
	x.b = (x.b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	double t = (x.d - 1) / (x.d + 1), t2 = t * t;
	double s = t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 / 11)))));
	return e * 0.69314718055994530942 + 2 * s;
}

/* Bytes to the next sample: exponential with mean MEAN (a Poisson process
 * over allocated bytes, as jemalloc and tcmalloc sample). */
static int64_t next_gap(struct mt_ring *r, uint64_t mean)
{
	uint64_t x = r->rng;
	if (!x)
		x = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)r->owner << 17) ^ (uint64_t)(uintptr_t)r;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->rng = x;
	double u = ((double)((x * 0x2545f4914f6cdd1dULL) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double gap = -ln01(u) * (double)mean;
	return gap < 1 ? 1 : (gap > 4e18 ? (int64_t)4e18 : (int64_t)gap);
}

/* Whether an allocation of SIZE bytes is sampled. */
static HOT int sampled(const struct mt_agent_state *s, struct mt_ring *r, uint64_t size)
{
	uint64_t mean = s->sample_bytes;
	if (!mean)
		return 1;
	if (r->sample_left == 0)
		r->sample_left = next_gap(r, mean);
	r->sample_left -= (int64_t)(size ? size : 1);
	if (r->sample_left > 0)
		return 0;
	r->sample_left = next_gap(r, mean);
	return 1;
}

/* ---- the calls -------------------------------------------------------- */

/* The calling thread's ring: the one its search starts at, when the
 * thread owns it (almost always), found from what memtrace computed once;
 * else ring.h's search, which claims one on the thread's first call. */
static inline struct mt_ring *ring_of(const struct mt_agent_state *s, struct mt_ring_region *rg,
				      uint32_t tid)
{
	uint64_t first = s->ring0;
	if (first) {
		uint64_t i = mt_ring_home(tid, s->ring_mask + 1);
		struct mt_ring *r = (struct mt_ring *)(first + i * s->ring_stride);
		if (__atomic_load_n(&r->owner, __ATOMIC_ACQUIRE) == tid)
			return r;
	}
	return mt_ring_claim(rg, tid);
}

/* The start of a call: PASS (not traced: off, or no ring), NESTED (the
 * allocator or our own code called it: just run it), TRACE (outermost). */
static HOT int begin(struct call *c, uint64_t sp)
{
	const struct mt_agent_state *s = &mt_agent_state;
	uint64_t rings = __atomic_load_n(&s->rings, __ATOMIC_ACQUIRE);
	if (!rings)
		return PASS;
	c->rg = (struct mt_ring_region *)rings;
	c->sh = (struct mt_agent_shared *)s->shared;
	c->tid = thread_id(s);
	c->r = ring_of(s, c->rg, c->tid);
	if (!c->r) {
		mt_ring_push(c->rg, 0, 0);   /* counts dropped_noring */
		return PASS;
	}
	if (c->r->nest++)
		return NESTED;
	c->caller = *(const uint64_t *)sp;
	c->stack = 0;
	c->slot1 = 0;
	return TRACE;
}

/* Whether the ring takes this call's records.  When it does not (no
 * reader, or full), the call is counted as dropped here, once (a realloc's
 * two records are one call, as memtrace counts events), before a stack is
 * unwound.  With --lossless put() waits for room instead; when the agent
 * accounts (ltab.h) most calls never reach a ring, and put() drops and
 * counts what finds one full. */
static HOT int admit(struct call *c)
{
	if (mt_agent_state.flags & (MT_AGENT_F_WAIT | MT_AGENT_F_ACCOUNT))
		return 1;
	int open = mt_ring_open(c->rg, c->r);
	if (open > 0)
		return 1;
	mt_ring_refuse(c->r, open, 1);
	return 0;
}

static char *ring_area(struct call *c);

/* The cache entry of a call at ENTRY with stack pointer SP (ltab.h). */
static inline struct mt_scache_ent *scache_ent(char *area, uint64_t entry, uint64_t sp)
{
	uint64_t i = (((entry ^ sp) * 0x9e3779b97f4a7c15ULL) >> 40) & (MT_SCACHE_WAYS - 1);
	return (struct mt_scache_ent *)area + i;
}

/* The stack of this call from the thread's cache: 1 when it is there and
 * the stack still holds the same return addresses at the same places. */
static HOT int scache_find(struct call *c, char *area, uint64_t entry, uint64_t sp)
{
	struct mt_scache_ent *e = scache_ent(area, entry, sp);
	if (e->sp != sp || e->entry != entry || e->tid != c->tid || e->tp != mt_agent_tp())
		return 0;
	uint32_t n = e->n;
	for (uint32_t k = 1; k < n; k++)
		if (*(const uint64_t *)e->at[k] != e->pcs[k])
			return 0;
	if (e->zero_end && *(const uint64_t *)e->at[n] != 0)
		return 0;
	c->stack = e->hash;
	c->slot1 = e->slot1;
	return 1;
}

static void scache_put(struct call *c, char *area, uint64_t entry, uint64_t sp,
		       const uint64_t *pcs, uint32_t n, const struct walk *wk)
{
	struct mt_scache_ent *e = scache_ent(area, entry, sp);
	e->sp = 0;   /* a signal handler on this thread never sees it half made */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	e->entry = entry;
	e->hash = c->stack;
	e->n = n;
	e->slot1 = c->slot1;
	e->tid = c->tid;
	e->tp = mt_agent_tp();
	e->zero_end = wk->zero_end;
	for (uint32_t k = 1; k < n; k++) {
		e->at[k] = wk->at[k];
		e->pcs[k] = pcs[k];
	}
	if (wk->zero_end)
		e->at[n] = wk->at[n];
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	e->sp = sp;
}

static void take_stack(struct call *c, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	uint32_t depth = mt_agent_state.depth;
	if (depth <= 1 || !c->sh || !c->sh->stacks_cap)
		return;
	/* the cache needs the thread pointer: where memtrace found the
	 * thread id through it, it is set up */
	char *area = (mt_agent_state.flags & MT_AGENT_F_ACCOUNT) && mt_agent_state.tid_off
			     ? ring_area(c) : 0;
	if (area && scache_find(c, area, h->addr, sp))
		return;
	uint64_t pcs[MT_STACKS_MAX_PCS];
	struct walk wk;
	uint32_t max = depth + 1 <= c->sh->stack_max ? depth + 1 : c->sh->stack_max;
	if (max > MT_STACKS_MAX_PCS)
		max = MT_STACKS_MAX_PCS;
	uint32_t n = unwind(c->sh, h->addr, sp, bp, pcs, max, &wk);
	c->stack = publish_stack(c->sh, pcs, n, &c->slot1);
	if (area && wk.keep && c->stack && n <= MT_SCACHE_PCS)
		scache_put(c, area, h->addr, sp, pcs, n, &wk);
}

/* A full ring, by default: the push drops the event and counts it, so the
 * target never waits for memtrace.  With MT_AGENT_F_WAIT (--lossless):
 * wait for memtrace to drain it, so that allocations are not lost while
 * memtrace is alive and draining (its heartbeat moves: then the target
 * goes at memtrace's pace, as with heaptrack's pipe).  A heartbeat that
 * stands still for 100 ms ends the wait as "waiting for memtrace" says
 * (at once if memtrace's pid is gone, else after 1 s), and memtrace is
 * marked stale: from then on nobody waits, events are dropped and
 * counted, until memtrace clears the mark at its next drain.  A killed
 * memtrace costs the target one such wait at most. */
static void wait_room(struct call *c)
{
	struct mt_ring *r = c->r;
	uint32_t cap = c->rg->capacity;
	uint64_t beat = __atomic_load_n(&c->rg->reader_heartbeat, __ATOMIC_RELAXED);
	struct wait_clock w;
	wait_start(&w, 1000000);
	for (;;) {
		/* memtrace is draining, only slower than we allocate: wait on */
		uint64_t now = __atomic_load_n(&c->rg->reader_heartbeat, __ATOMIC_RELAXED);
		if (now != beat) {
			beat = now;
			wait_start(&w, 1000000);
		}
		uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->head, __ATOMIC_RELAXED) - tail < cap) {
			__atomic_store_n(&r->shut, 0, __ATOMIC_RELAXED);
			return;
		}
		if (!__atomic_load_n(&c->rg->reader_pid, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&c->sh->reader_stale, __ATOMIC_RELAXED))
			return;
		if (wait_over(&w, 100000000))
			break;
		wait_futex(&w, (uint32_t *)&r->tail, (uint32_t)tail);
	}
	__atomic_store_n(&c->sh->reader_stale, 1, __ATOMIC_RELAXED);
}

/* Publishes one record.  Its generation (ring.h) is taken here, so put()
 * must be called where the order is decided: for a free and a
 * REALLOC_BEGIN before the real call, for an allocation and a REALLOC
 * after it.  The key is the block the record is about; a REALLOC without
 * a new block has none.  No reader attached: the push drops the record,
 * and no generation is spent on it. */
static int put(struct call *c, enum mt_ring_kind kind, uint32_t fn, uint64_t addr,
	       uint64_t size, uint64_t old)
{
	if ((mt_agent_state.flags & MT_AGENT_F_WAIT) && !mt_ring_room(c->rg, c->r))
		wait_room(c);
	struct mt_ring_rec ev = {
		.addr = addr, .size = size, .old_addr = old, .caller = c->caller,
		.stack = c->stack, .tid = c->tid, .kind = (uint16_t)kind, .fn = (uint16_t)fn,
	};
	uint64_t key = kind == MT_RING_REALLOC_BEGIN ? old : addr;
	return mt_ring_push_keyed(c->rg, c->r, &ev, key);
}

/* ---- the set of sampled live blocks (sset.h) --------------------------- */

/* Whether the free of P needs no record: sampling, and P is surely no
 * block the agent recorded.  The whole cost of an unsampled block's free:
 * two loads of the configuration and one cache line of the set. */
static HOT int free_unseen(uint64_t p)
{
	const struct mt_agent_state *s = &mt_agent_state;
	uint64_t set = __atomic_load_n(&s->sset, __ATOMIC_RELAXED);
	return set && p && !mt_sset_maybe((const struct mt_sset_bucket *)set, s->sset_mask,
				      s->sset_shift, p);
}

/* A block whose allocation was just recorded: into the set, so that its
 * free is recorded too.  No room: its free is recorded anyway (sset.h),
 * and the count says how often that happened. */
static void remember(struct call *c, uint64_t p)
{
	const struct mt_agent_state *s = &mt_agent_state;
	uint64_t set = s->sset;
	if (set && !mt_sset_insert((struct mt_sset_bucket *)set, s->sset_mask, s->sset_shift, p) &&
	    c->sh)
		__atomic_fetch_add(&c->sh->sset_overflows, 1, __ATOMIC_RELAXED);
}

/* The block P is being freed (before the real free): out of the set. */
static void forget(uint64_t p)
{
	const struct mt_agent_state *s = &mt_agent_state;
	uint64_t set = s->sset;
	if (set)
		mt_sset_remove((struct mt_sset_bucket *)set, s->sset_mask, s->sset_shift, p);
}

/* ---- accounting in the agent (ltab.h) ---------------------------------- */

static HOT int accounting(void)
{
	return mt_agent_state.flags & MT_AGENT_F_ACCOUNT;
}

/* The calling thread's area (ltab.h: its stack cache, then its count
 * table): found from its ring's place once, then kept in the ring.  NULL:
 * none (the shared counts take the call, stacks are not cached). */
static char *ring_area(struct call *c)
{
	uint64_t t = c->r->counts;
	if (t)
		return (char *)t;
	const struct mt_agent_state *s = &mt_agent_state;
	struct mt_ring_region *rg = c->rg;
	uint64_t first = (uint64_t)rg + rg->header_size;
	uint64_t stride = rg->ring_header_size + (uint64_t)rg->capacity * rg->record_size;
	if (!s->counts || !stride || (uint64_t)c->r < first)
		return 0;
	uint64_t i = ((uint64_t)c->r - first) / stride;
	if (i >= rg->nrings)
		return 0;
	t = s->counts + i * mt_ltab_area_bytes(s->counts_mask + 1);
	c->r->counts = t;
	return (char *)t;
}

static struct mt_ltab_rcount *ring_counts(struct call *c)
{
	char *a = ring_area(c);
	return a ? (struct mt_ltab_rcount *)(a + MT_SCACHE_BYTES) : 0;
}

/* One allocation (FREED 0) or free (FREED 1) of SIZE bytes, of the stack
 * in SLOT: in this thread's table, else in the stack's shared counts. */
static HOT void count(struct call *c, uint32_t slot, int freed, uint64_t size)
{
	const struct mt_agent_state *s = &mt_agent_state;
	struct mt_ltab_rcount *t = ring_counts(c);
	struct mt_ltab_rcount *e = t ? mt_ltab_rcount_of(t, s->counts_mask, slot) : 0;
	if (e) {
		mt_ltab_bump(freed ? &e->c.frees : &e->c.allocs, 1);
		mt_ltab_bump(freed ? &e->c.freed_bytes : &e->c.alloc_bytes, size);
		return;
	}
	struct mt_agent_shared *sh = c->sh;
	if (slot >= sh->stacks_cap)
		return;
	struct mt_ltab_count *g = (struct mt_ltab_count *)((char *)sh + sh->gcounts_off) + slot;
	__atomic_fetch_add(freed ? &g->frees : &g->allocs, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(freed ? &g->freed_bytes : &g->alloc_bytes, size, __ATOMIC_RELEASE);
}

/* A new block P of SIZE bytes, of this call's stack: into the live table,
 * counted.  0: the table cannot take it (no stack, too big, no room): the
 * caller records it in the ring. */
static HOT int account_alloc(struct call *c, uint64_t p, uint64_t size)
{
	const struct mt_agent_state *s = &mt_agent_state;
	uint32_t slot = c->slot1 - 1;
	if (!c->slot1 || size >= MT_LTAB_SIZE_MAX || slot >= 1u << MT_LTAB_SLOT_BITS)
		return 0;
	uint64_t stale;
	if (!mt_ltab_put((struct mt_ltab_bucket *)s->ltab, s->ltab_mask, p,
			 mt_ltab_val(size, slot), &stale)) {
		__atomic_fetch_add(&c->sh->ltab_overflows, 1, __ATOMIC_RELAXED);
		if (stale)
			count(c, mt_ltab_val_slot(stale), 1, mt_ltab_val_size(stale & ~(1ULL << 63)));
		return 0;
	}
	if (stale) {
		__atomic_fetch_add(&c->sh->ltab_stale, 1, __ATOMIC_RELAXED);
		count(c, mt_ltab_val_slot(stale), 1, mt_ltab_val_size(stale & ~(1ULL << 63)));
	}
	count(c, slot, 0, size);
	return 1;
}

/* The block P leaves the live table (before the real free); its value in
 * *VAL, not counted yet.  0: not there (the ring takes its free). */
static HOT int account_take(uint64_t p, uint64_t *val)
{
	const struct mt_agent_state *s = &mt_agent_state;
	return mt_ltab_take((struct mt_ltab_bucket *)s->ltab, s->ltab_mask, p, val);
}

static HOT void count_free(struct call *c, uint64_t val)
{
	count(c, mt_ltab_val_slot(val), 1, mt_ltab_val_size(val));
}

static inline void end(struct call *c)
{
	c->r->nest--;
}

typedef void *(*fn1)(uint64_t);
typedef void *(*fn2)(uint64_t, uint64_t);
typedef void *(*fn3)(uint64_t, uint64_t, uint64_t);

/* Which arguments give the bytes asked for, per enum mt_fn (allocfn.h). */
static const uint8_t size_rule[MT_FN__COUNT] = {
#define MT_X(id, name, abi, size, fam) [MT_FN_##id] = MT_SZ_##size,
	MT_FN_LIST(MT_X)
#undef MT_X
};

static HOT uint64_t size_of(const struct mt_agent_hook *h, uint64_t a, uint64_t b, uint64_t c)
{
	enum mt_fn_size rule = h->fn < MT_FN__COUNT ? (enum mt_fn_size)size_rule[h->fn] : MT_SZ_A0;
	return mt_fn_size_of(rule, a, b, c);
}

/* An allocation returning its block, with one to three arguments: malloc,
 * operator new, calloc, memalign, mallocx, new(size, align, nothrow)...
 * Nested calls (operator new[] jumping to operator new, new(size, align)
 * calling aligned_alloc) only run: the outermost call is the one counted. */
static HOT void *alloc_common(uint64_t a, uint64_t b, uint64_t c, const struct mt_agent_hook *h,
			      uint64_t sp, uint64_t bp, int nargs)
{
	struct call cl;
	int how = begin(&cl, sp);
#define CALL_ORIG() (nargs == 1 ? ((fn1)h->orig)(a) : nargs == 2 ? ((fn2)h->orig)(a, b) \
				 : ((fn3)h->orig)(a, b, c))
	if (how == PASS)
		return CALL_ORIG();
	/* one argument: the size (allocfn.h), malloc's hot path unchanged */
	uint64_t size = nargs == 1 ? a : size_of(h, a, b, c);
	if (how == NESTED || !sampled(&mt_agent_state, cl.r, size) || !admit(&cl)) {
		void *p = CALL_ORIG();
		end(&cl);
		return p;
	}
	take_stack(&cl, h, sp, bp);
	void *p = CALL_ORIG();
#undef CALL_ORIG
	if (p && !(accounting() && account_alloc(&cl, (uint64_t)p, size)) &&
	    put(&cl, MT_RING_ALLOC, h->fn, (uint64_t)p, size, 0))
		remember(&cl, (uint64_t)p);
	end(&cl);
	return p;
}

/* With --sample-bytes almost every call is not sampled, and its whole
 * cost is this: the thread's ring where it almost always is, its bytes
 * off the gap to the next sample.  The ring, with its nesting count to
 * raise around the original; NULL: the full path decides (no sampling,
 * ring elsewhere, first call, this call sampled).  It takes a call only
 * where begin() and sampled() would let it through untraced, with the
 * same change to the ring. */
static HOT struct mt_ring *skip_ring(uint64_t size)
{
	const struct mt_agent_state *s = &mt_agent_state;
	uint64_t first = s->ring0;
	uint32_t off = s->tid_off;   /* 0: gettid(), a syscall: the full path */
	if (!s->sample_bytes || !first || !off || !__atomic_load_n(&s->rings, __ATOMIC_ACQUIRE))
		return 0;
	uint32_t tid = mt_agent_fs_u32(off);
	uint64_t i = (tid * 0x9e3779b1u) & s->ring_mask;   /* mt_ring_home() */
	struct mt_ring *r = (struct mt_ring *)(first + i * s->ring_stride);
	if (__atomic_load_n(&r->owner, __ATOMIC_RELAXED) != tid)
		return 0;
	if (r->nest)
		return r;   /* nested: only run, and not counted (begin()) */
	int64_t left = r->sample_left;
	int64_t next = left - (int64_t)(size ? size : 1);
	if (left == 0 || next <= 0)
		return 0;
	r->sample_left = next;
	return r;
}

static NOINLINE void *alloc1_full(uint64_t a, const struct mt_agent_hook *h, uint64_t sp,
				  uint64_t bp)
{
	return alloc_common(a, 0, 0, h, sp, bp, 1);
}

static NOINLINE void *alloc1_skip(struct mt_ring *r, uint64_t a, const struct mt_agent_hook *h)
{
	r->nest++;
	void *p = ((fn1)h->orig)(a);
	r->nest--;
	return p;
}

/* The allocators' C entries that call no hooked entry themselves (glibc's,
 * jemalloc's, tcmalloc's and mimalloc's malloc & co run their own code):
 * an unsampled call to one needs no nesting count around it, so it jumps
 * to the original, as an unseen free does.  Not operator new (it calls
 * malloc) nor CPython's (PyMem_Malloc calls PyMem_RawMalloc, malloc). */
static const uint8_t leaf_fn[MT_FN__COUNT] = {
	[MT_FN_MALLOC] = 1, [MT_FN_CALLOC] = 1, [MT_FN_ALIGNED_ALLOC] = 1, [MT_FN_MEMALIGN] = 1,
	[MT_FN_VALLOC] = 1, [MT_FN_PVALLOC] = 1,
};

static HOT int leaf(const struct mt_agent_hook *h)
{
	return h->fn < MT_FN__COUNT && leaf_fn[h->fn];
}

/* malloc and its one-argument kin.  Every way is a tail call, so that this
 * function has no frame: a leaf's unsampled call goes straight to the
 * original, another's (alloc1_skip) saves one register, the full path
 * (alloc1_full) six, as free1_seen for frees. */
void *mt_h_alloc1(uint64_t a, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp);
void *mt_h_alloc1(uint64_t a, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	struct mt_ring *r = skip_ring(a);
	if (__builtin_expect(!r, 0))
		return alloc1_full(a, h, sp, bp);
	if (leaf(h))
		return ((fn1)h->orig)(a);
	return alloc1_skip(r, a, h);
}

static NOINLINE void *alloc2_full(uint64_t a, uint64_t b, const struct mt_agent_hook *h,
				  uint64_t sp, uint64_t bp)
{
	return alloc_common(a, b, 0, h, sp, bp, 2);
}

static NOINLINE void *alloc2_skip(struct mt_ring *r, uint64_t a, uint64_t b,
				  const struct mt_agent_hook *h)
{
	r->nest++;
	void *p = ((fn2)h->orig)(a, b);
	r->nest--;
	return p;
}

/* calloc, memalign, aligned_alloc...: as mt_h_alloc1 */
void *mt_h_alloc2(uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp);
void *mt_h_alloc2(uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	struct mt_ring *r = skip_ring(size_of(h, a, b, 0));
	if (__builtin_expect(!r, 0))
		return alloc2_full(a, b, h, sp, bp);
	if (leaf(h))
		return ((fn2)h->orig)(a, b);
	return alloc2_skip(r, a, b, h);
}

void *mt_h_alloc3(uint64_t a, uint64_t b, uint64_t c, const struct mt_agent_hook *h, uint64_t sp,
		  uint64_t bp);
void *mt_h_alloc3(uint64_t a, uint64_t b, uint64_t c, const struct mt_agent_hook *h, uint64_t sp,
		  uint64_t bp)
{
	return alloc_common(a, b, c, h, sp, bp, 3);
}

/* operator new(size), new(size, align): throwing forms, served by stubs
 * that call this handler and, when it returns 0, jump to the original
 * with the caller's frame as it was (agent_entry.S): the original then
 * runs with no frame of ours on the stack, so that its exception
 * (std::bad_alloc) finds the program's handler; the agent has no unwind
 * information.  The allocation itself is made by the nothrow form (H->alt,
 * hooked too, so nested), which the allocator defines beside it; when
 * that fails, the original tries again and throws.  Untraced calls (PASS,
 * NESTED, not sampled, no room) are the original's alone. */
static const uint8_t nothrow_tag = 1;   /* a std::nothrow_t: empty, never read */

static HOT uint64_t new_common(uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp,
			       uint64_t bp, int nargs)
{
	struct call c;
	int how = begin(&c, sp);
	if (how == PASS)
		return 0;
	if (how == NESTED || !h->alt || !sampled(&mt_agent_state, c.r, a) || !admit(&c)) {
		end(&c);
		return 0;
	}
	take_stack(&c, h, sp, bp);
	uint64_t tag = (uint64_t)&nothrow_tag;
	void *p = nargs == 1 ? ((fn2)h->alt)(a, tag) : ((fn3)h->alt)(a, b, tag);
	if (p && !(accounting() && account_alloc(&c, (uint64_t)p, a)) &&
	    put(&c, MT_RING_ALLOC, h->fn, (uint64_t)p, a, 0))
		remember(&c, (uint64_t)p);
	end(&c);
	return (uint64_t)p;
}

/* An unsampled operator new (skip_ring): its nothrow form runs nested, as
 * a sampled one's does, so that the malloc inside is not drawn a second
 * time; 0 (failed) lets the original run and throw. */
static NOINLINE uint64_t new_skip(struct mt_ring *r, uint64_t a, uint64_t b,
				  const struct mt_agent_hook *h, int nargs)
{
	uint64_t tag = (uint64_t)&nothrow_tag;
	r->nest++;
	void *p = nargs == 1 ? ((fn2)h->alt)(a, tag) : ((fn3)h->alt)(a, b, tag);
	r->nest--;
	return (uint64_t)p;
}

static NOINLINE uint64_t new1_full(uint64_t a, uint64_t b, const struct mt_agent_hook *h,
				   uint64_t sp, uint64_t bp)
{
	return new_common(a, b, h, sp, bp, 1);
}

static NOINLINE uint64_t new2_full(uint64_t a, uint64_t b, const struct mt_agent_hook *h,
				   uint64_t sp, uint64_t bp)
{
	return new_common(a, b, h, sp, bp, 2);
}

uint64_t mt_h_new1(uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp);
uint64_t mt_h_new1(uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	struct mt_ring *r = h->alt ? skip_ring(a) : 0;
	if (__builtin_expect(!r, 0))
		return new1_full(a, b, h, sp, bp);
	return new_skip(r, a, b, h, 1);
}

uint64_t mt_h_new2(uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp);
uint64_t mt_h_new2(uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	struct mt_ring *r = h->alt ? skip_ring(a) : 0;
	if (__builtin_expect(!r, 0))
		return new2_full(a, b, h, sp, bp);
	return new_skip(r, a, b, h, 2);
}

/* posix_memalign(&p, al, size) */
int mt_h_posix_memalign(uint64_t pp, uint64_t al, uint64_t size, const struct mt_agent_hook *h,
			uint64_t sp, uint64_t bp);
int mt_h_posix_memalign(uint64_t pp, uint64_t al, uint64_t size, const struct mt_agent_hook *h,
			uint64_t sp, uint64_t bp)
{
	typedef int (*pm)(uint64_t, uint64_t, uint64_t);
	struct call c;
	int how = begin(&c, sp);
	if (how == PASS)
		return ((pm)h->orig)(pp, al, size);
	if (how == NESTED || !sampled(&mt_agent_state, c.r, size) || !admit(&c)) {
		int rc = ((pm)h->orig)(pp, al, size);
		end(&c);
		return rc;
	}
	take_stack(&c, h, sp, bp);
	int rc = ((pm)h->orig)(pp, al, size);
	if (rc == 0 && pp) {
		uint64_t p = *(const uint64_t *)pp;
		if (p && !(accounting() && account_alloc(&c, p, size)) &&
		    put(&c, MT_RING_ALLOC, h->fn, p, size, 0))
			remember(&c, p);
	}
	end(&c);
	return rc;
}

/* realloc(p, size), reallocarray(p, n, size), rallocx(p, size, flags).
 * The old block is announced before the real call (another thread may be
 * handed it once it is freed), the outcome after it.  Sampling decides
 * first, from the size and the set: a call whose new block is not sampled
 * and whose old one was never recorded only runs.  A call not admitted
 * (ring full) leaves the set as it was: an entry left over is harmless
 * (sset.h), a missing one would lose a free. */
/* realloc when the agent accounts (ltab.h).  The old block leaves the
 * table before the real call, as a free would; its free is counted once
 * the call has released it (moved, in place, or realloc(p, 0)), and a
 * failed call puts it back.  An old block the table did not hold goes
 * through the ring as before (REALLOC_BEGIN, then a REALLOC that releases
 * it); a new block the table cannot take is recorded in the ring. */
/* How a realloc's original is called: (p, n), (p, n, m), or a CPython
 * table's (ctx, p, n), with the context passed in M. */
enum { RE_TWO, RE_THREE, RE_CTX };

static inline void *call_realloc(const struct mt_agent_hook *h, uint64_t p, uint64_t n,
				 uint64_t m, int conv)
{
	return conv == RE_CTX ? ((fn3)h->orig)(m, p, n)
	       : conv == RE_THREE ? ((fn3)h->orig)(p, n, m) : ((fn2)h->orig)(p, n);
}

static void *realloc_account(struct call *c, uint64_t p, uint64_t n, uint64_t m,
			     const struct mt_agent_hook *h, uint64_t sp, uint64_t bp, int conv,
			     uint64_t size)
{
	uint64_t oval = 0;
	int held = p && account_take(p, &oval);
	uint64_t ring_old = held ? 0 : p;
	/* what this one call became: counts in the agent, records in the ring */
	uint32_t counts = 0, records = ring_old != 0;
	if (ring_old)
		put(c, MT_RING_REALLOC_BEGIN, h->fn, 0, 0, ring_old);
	take_stack(c, h, sp, bp);
	void *q = call_realloc(h, p, n, m, conv);
	if (held && (q || size == 0)) {
		count_free(c, oval);
		counts++;
	} else if (held) {
		/* failed: the old block stays; no room for it any more (a
		 * rare race with other threads' inserts): it is counted
		 * freed and recorded anew at this call */
		uint64_t stale;
		if (!mt_ltab_put((struct mt_ltab_bucket *)mt_agent_state.ltab,
				 mt_agent_state.ltab_mask, p, oval, &stale)) {
			count_free(c, oval);
			put(c, MT_RING_ALLOC, h->fn, p, mt_ltab_val_size(oval), 0);
			counts++;
			records = 1;
		}
	}
	if (q && account_alloc(c, (uint64_t)q, size)) {
		counts++;
		if (ring_old)   /* the old block freed, the new one not in the ring */
			put(c, MT_RING_REALLOC, h->fn, 0, 0, ring_old);
	} else if (q) {
		put(c, MT_RING_REALLOC, h->fn, (uint64_t)q, size, ring_old);
		records = 1;
	} else if (ring_old) {
		put(c, MT_RING_REALLOC, h->fn, 0, size, ring_old);   /* failed, or freed */
	}
	/* memtrace counts calls: the ring's records of a call are one call
	 * (REALLOC_BEGIN and REALLOC), and each count in the agent one more */
	if (counts + records > 1)
		mt_ring_count_n(&c->r->joined, counts + records - 1);
	return q;
}

static void *realloc_common(uint64_t p, uint64_t n, uint64_t m, const struct mt_agent_hook *h,
			    uint64_t sp, uint64_t bp, int conv)
{
	struct call c;
	int how = begin(&c, sp);
#define CALL_ORIG() call_realloc(h, p, n, m, conv)
	if (how != TRACE) {
		void *q = CALL_ORIG();
		if (how != PASS)
			end(&c);
		return q;
	}
	uint64_t size = conv == RE_CTX ? n : size_of(h, p, n, m);
	if (accounting()) {
		void *q = realloc_account(&c, p, n, m, h, sp, bp, conv, size);
		end(&c);
		return q;
	}
	int samp = sampled(&mt_agent_state, c.r, size);
	uint64_t old = p && !free_unseen(p) ? p : 0;
	if ((!samp && !old) || !admit(&c)) {
		void *q = CALL_ORIG();
		end(&c);
		return q;
	}
	if (samp)
		take_stack(&c, h, sp, bp);
	if (old) {
		forget(old);
		put(&c, MT_RING_REALLOC_BEGIN, h->fn, 0, 0, old);
	}
	void *q = CALL_ORIG();
#undef CALL_ORIG
	if (!q) {
		/* failed, the old block kept; or realloc(p, 0) freed it */
		put(&c, MT_RING_REALLOC, h->fn, 0, size, old);
		if (old && size)
			remember(&c, old);
	} else if (samp) {
		if (put(&c, MT_RING_REALLOC, h->fn, (uint64_t)q, size, old))
			remember(&c, (uint64_t)q);
	} else {
		put(&c, MT_RING_REALLOC, h->fn, 0, 0, old);   /* old freed, new not traced */
	}
	end(&c);
	return q;
}

void *mt_h_realloc(uint64_t p, uint64_t size, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp);
void *mt_h_realloc(uint64_t p, uint64_t size, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	return realloc_common(p, size, 0, h, sp, bp, RE_TWO);
}

void *mt_h_reallocarray(uint64_t p, uint64_t n, uint64_t m, const struct mt_agent_hook *h,
			uint64_t sp, uint64_t bp);
void *mt_h_reallocarray(uint64_t p, uint64_t n, uint64_t m, const struct mt_agent_hook *h,
			uint64_t sp, uint64_t bp)
{
	return realloc_common(p, n, m, h, sp, bp, RE_THREE);
}

/* CPython's table realloc(ctx, p, n) (allocfn.h MT_FAM_PYTAB) */
void *mt_h_realloc_ctx(uint64_t ctx, uint64_t p, uint64_t n, const struct mt_agent_hook *h,
		       uint64_t sp, uint64_t bp);
void *mt_h_realloc_ctx(uint64_t ctx, uint64_t p, uint64_t n, const struct mt_agent_hook *h,
		       uint64_t sp, uint64_t bp)
{
	return realloc_common(p, n, ctx, h, sp, bp, RE_CTX);
}

/* free(p), free_sized(p, n), free_aligned_sized(p, al, n), operator
 * delete and its sized, aligned and nothrow forms, dallocx, sdallocx:
 * published before the real free runs.  A free inside (jemalloc's delete
 * jumps to free) is nested: one call.  With sampling, the free of a block
 * not in the set (free_unseen) only runs: the handlers test it first. */
static HOT void free_common(uint64_t p, const struct mt_agent_hook *h, uint64_t sp,
			    struct call *c, int *how)
{
	*how = begin(c, sp);
	if (*how != TRACE || !p)
		return;
	forget(p);
	uint64_t val;
	if (accounting() && account_take(p, &val)) {
		count_free(c, val);
		return;
	}
	if (admit(c))
		put(c, MT_RING_FREE, h->fn, p, 0, 0);
}

static NOINLINE void free1_seen(uint64_t p, const struct mt_agent_hook *h, uint64_t sp)
{
	struct call c;
	int how;
	free_common(p, h, sp, &c, &how);
	((void (*)(uint64_t))h->orig)(p);
	if (how != PASS)
		end(&c);
}

void mt_h_free1(uint64_t p, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp);
void mt_h_free1(uint64_t p, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	if (free_unseen(p)) {
		((void (*)(uint64_t))h->orig)(p);
		return;
	}
	free1_seen(p, h, sp);
}

static NOINLINE void free2_seen(uint64_t p, uint64_t a, const struct mt_agent_hook *h,
				uint64_t sp)
{
	struct call c;
	int how;
	free_common(p, h, sp, &c, &how);
	((void (*)(uint64_t, uint64_t))h->orig)(p, a);
	if (how != PASS)
		end(&c);
}

void mt_h_free2(uint64_t p, uint64_t a, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp);
void mt_h_free2(uint64_t p, uint64_t a, const struct mt_agent_hook *h, uint64_t sp, uint64_t bp)
{
	if (free_unseen(p)) {
		((void (*)(uint64_t, uint64_t))h->orig)(p, a);
		return;
	}
	free2_seen(p, a, h, sp);
}

static NOINLINE void free3_seen(uint64_t p, uint64_t a, uint64_t b, const struct mt_agent_hook *h,
				uint64_t sp)
{
	struct call c;
	int how;
	free_common(p, h, sp, &c, &how);
	((void (*)(uint64_t, uint64_t, uint64_t))h->orig)(p, a, b);
	if (how != PASS)
		end(&c);
}

void mt_h_free3(uint64_t p, uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp,
		uint64_t bp);
void mt_h_free3(uint64_t p, uint64_t a, uint64_t b, const struct mt_agent_hook *h, uint64_t sp,
		uint64_t bp)
{
	if (free_unseen(p)) {
		((void (*)(uint64_t, uint64_t, uint64_t))h->orig)(p, a, b);
		return;
	}
	free3_seen(p, a, b, h, sp);
}

/* CPython's table free(ctx, p) (allocfn.h MT_FAM_PYTAB) */
static NOINLINE void free_ctx_seen(uint64_t ctx, uint64_t p, const struct mt_agent_hook *h,
				   uint64_t sp)
{
	struct call c;
	int how;
	free_common(p, h, sp, &c, &how);
	((void (*)(uint64_t, uint64_t))h->orig)(ctx, p);
	if (how != PASS)
		end(&c);
}

void mt_h_free_ctx(uint64_t ctx, uint64_t p, const struct mt_agent_hook *h, uint64_t sp,
		   uint64_t bp);
void mt_h_free_ctx(uint64_t ctx, uint64_t p, const struct mt_agent_hook *h, uint64_t sp,
		   uint64_t bp)
{
	if (free_unseen(p)) {
		((void (*)(uint64_t, uint64_t))h->orig)(ctx, p);
		return;
	}
	free_ctx_seen(ctx, p, h, sp);
}

/* ld.so's _dl_debug_state(), around every dlopen and dlclose: memtrace
 * must see the link map before ld.so goes on (to hook a new library's
 * allocator, to name frames of one about to be unloaded).  Wait for its
 * acknowledgement, at most about half a second, and not at all once it
 * was marked late (until its next drain).  A wait that runs out is
 * counted; it marks memtrace late for everything only when its pid is
 * gone, else only for ld.so (dl_late): a memtrace that is alive but was not
 * given a CPU for half a second (a loaded machine) would otherwise make
 * every rule request after this dlopen give up at once, cutting the new
 * library's stacks short, when the request's own bounded wait would
 * likely have got the rule. */
void mt_h_dl_notify(void);
void mt_h_dl_notify(void)
{
	const struct mt_agent_state *s = &mt_agent_state;
	uint64_t rings = __atomic_load_n(&s->rings, __ATOMIC_ACQUIRE);
	if (!rings)
		return;
	struct mt_ring_region *rg = (struct mt_ring_region *)rings;
	struct mt_agent_shared *sh = (struct mt_agent_shared *)s->shared;
	if (!__atomic_load_n(&rg->reader_pid, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&sh->reader_stale, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&sh->dl_late, __ATOMIC_RELAXED))
		return;
	uint32_t gen = __atomic_add_fetch(&sh->dl_gen, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&sh->req_seq, 1, __ATOMIC_RELEASE);
	mt_agent_futex_wake(&sh->req_seq);
	struct wait_clock w;
	wait_start(&w, 10000000);
	for (;;) {   /* 500 ms (see "waiting for memtrace") */
		uint32_t ack = __atomic_load_n(&sh->dl_ack, __ATOMIC_ACQUIRE);
		if ((int32_t)(ack - gen) >= 0)
			return;
		if (wait_over(&w, 500000000))
			break;
		wait_futex(&w, &sh->dl_ack, ack);
	}
	__atomic_fetch_add(&sh->dl_timeouts, 1, __ATOMIC_RELAXED);
	int32_t pid = reader_pid();
	__atomic_store_n(!pid || !mt_agent_pid_exists(pid) ? &sh->reader_stale : &sh->dl_late, 1,
			 __ATOMIC_RELAXED);
}

/* ---- the header memtrace reads ---------------------------------------- */

extern char mt_agent_code_end[], mt_agent_state_end[];
void mt_stub_alloc1(void), mt_stub_alloc2(void), mt_stub_alloc3(void), mt_stub_realloc(void),
	mt_stub_reallocarray(void), mt_stub_free1(void), mt_stub_free2(void),
	mt_stub_free3(void), mt_stub_posix_memalign(void), mt_stub_new1(void), mt_stub_new2(void),
	mt_stub_dl_notify(void), mt_stub_realloc_ctx(void), mt_stub_free_ctx(void);

_Static_assert(MT_AGENT_ENTRY_DL_NOTIFY == MT_ABI__COUNT, "one entry stub per calling convention");

__attribute__((section(".agent_header"), used))
const struct mt_agent_header mt_agent_header = {
	.magic = MT_AGENT_MAGIC,
	.version = MT_AGENT_VERSION,
	.header_size = sizeof(struct mt_agent_header),
	.code_size = (uint64_t)mt_agent_code_end,
	.state_off = (uint64_t)&mt_agent_state,
	.state_end = (uint64_t)mt_agent_state_end,
	.entry = {
		[MT_ABI_ALLOC1] = (uint64_t)mt_stub_alloc1,
		[MT_ABI_ALLOC2] = (uint64_t)mt_stub_alloc2,
		[MT_ABI_ALLOC3] = (uint64_t)mt_stub_alloc3,
		[MT_ABI_REALLOC2] = (uint64_t)mt_stub_realloc,
		[MT_ABI_REALLOC3] = (uint64_t)mt_stub_reallocarray,
		[MT_ABI_POSIX_MEMALIGN] = (uint64_t)mt_stub_posix_memalign,
		[MT_ABI_FREE1] = (uint64_t)mt_stub_free1,
		[MT_ABI_FREE2] = (uint64_t)mt_stub_free2,
		[MT_ABI_FREE3] = (uint64_t)mt_stub_free3,
		[MT_ABI_NEW1] = (uint64_t)mt_stub_new1,
		[MT_ABI_NEW2] = (uint64_t)mt_stub_new2,
		[MT_ABI_REALLOC_CTX] = (uint64_t)mt_stub_realloc_ctx,
		[MT_ABI_FREE_CTX] = (uint64_t)mt_stub_free_ctx,
		[MT_AGENT_ENTRY_DL_NOTIFY] = (uint64_t)mt_stub_dl_notify,
	},
};

#pragma GCC visibility pop
