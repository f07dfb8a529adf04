/* The inject engine's hooks (step 3 in inj_engine.c, and remove):
 * trampoline pages within reach of the hooked functions, planning and
 * writing each patch, ld.so's notification hook, and the original bytes
 * put back (in the target, or in a forked child).  See inj_priv.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "agent/agent_abi.h"
#include "util/errors.h"
#include "engine/inj_engine.h"
#include "engine/inj_priv.h"
#include "target/maps.h"
#include "target/memio.h"
#include "target/remote.h"
#include "arch/tramp_plan.h"

#define REACH (1ULL << 30)       /* how far a trampoline page may sit from its hooks */
#define CODE_READ 256            /* bytes of a function read to plan its patch */
#define DL_SLOT MT_AGENT_MAX_HOOKS /* state.hooks[] index of ld.so's hook */

/* ---- trampolines ------------------------------------------------------ */

/* A hole for a trampoline page near NEAR.  MAPS was read before any page
 * of this install was mapped: once one was, the hole MAPS shows may be the
 * one it took (past 16 hooks: a C++ allocator has 30), so the maps are
 * read again. */
static uint64_t find_page_hole(struct inj_engine *e, const struct mt_maps *maps, uint64_t near)
{
	struct mt_maps fresh;
	if (e->npages == 0 || mt_maps_read(e->pid, &fresh) < 0)
		return mt_remote_find_hole(maps, near, MT_REMOTE_PAGE, REACH);
	uint64_t hole = mt_remote_find_hole(&fresh, near, MT_REMOTE_PAGE, REACH);
	mt_maps_free(&fresh);
	return hole;
}

static bool map_tramp_page(struct inj_engine *e, uint64_t addr)
{
	return mt_remote_mmap(e->t, e->syscall_pc, addr, MT_REMOTE_PAGE, PROT_READ | PROT_EXEC,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, NULL) != 0;
}

static uint64_t tramp_slot(struct inj_engine *e, const struct mt_maps *maps, uint64_t near)
{
	for (int i = 0; i < e->npages; i++) {
		struct page *pg = &e->pages[i];
		uint64_t d = pg->addr > near ? pg->addr - near : near - pg->addr;
		if (d < REACH && pg->used < SLOTS_PER_PAGE)
			return pg->addr + (uint64_t)pg->used++ * MT_AGENT_TRAMP_SIZE;
	}
	if (e->npages == MAX_PAGES)
		return 0;
	uint64_t hole = find_page_hole(e, maps, near);
	if (!hole || !map_tramp_page(e, hole))
		return 0;
	int k = e->npages++;
	e->pages[k] = (struct page){ hole, 1 };
	mt_inj_put_state(e, offsetof(struct mt_agent_state, tramp_pages) + (size_t)k * 8, &hole, 8);
	return hole;
}

uint64_t mt_inj_tramp_slot(struct inj_engine *e, const struct mt_maps *maps, uint64_t near)
{
	return tramp_slot(e, maps, near);
}

struct pc_check {
	struct inj_engine *e;
	uint64_t lo, hi;
	bool inside;
};

/* A thread stopped inside the bytes about to be patched (after the first
 * instruction, before the first one the patch leaves) is stepped out of
 * them: the covered instructions never branch back into them
 * (tramp_plan.h), so a few steps do.  Testcase: tests/e2e/test_cycles.py
 * (8 threads in malloc, 100 attaches). */
static void check_pc(void *ctx, pid_t tid)
{
	struct pc_check *c = ctx;
	mt_regs r;
	for (int step = 0; step <= MT_TRAMP_MAX_PATCH; step++) {
		if (mt_target_get_regs(c->e->t, tid, &r) < 0)
			return;
		uint64_t pc = mt_regs_pc(&r);
		if (pc <= c->lo || pc >= c->hi)
			return;
		if (step == MT_TRAMP_MAX_PATCH || mt_target_singlestep(c->e->t, tid) < 0)
			break;
	}
	c->inside = true;
}

static void record_hook(struct inj_engine *e, int slot, const struct hook *h)
{
	struct mt_agent_hook_rec rec = { .addr = h->addr, .tramp = h->tramp,
					 .patch_len = h->patch_len, .live = h->live };
	memcpy(rec.orig, h->orig, sizeof rec.orig);
	memcpy(rec.patch, h->patch, sizeof rec.patch);
	mt_inj_put_state(e, offsetof(struct mt_agent_state, hooks) + (size_t)slot * sizeof rec, &rec,
		  sizeof rec);
}

/* Writes H's patch, all threads stopped: NULL, or why not. */
static const char *patch_in(struct inj_engine *e, struct hook *h)
{
	struct pc_check c = { e, h->addr, h->addr + h->patch_len, false };
	mt_target_for_each_task(e->t, check_pc, &c);
	if (c.inside)
		return "a thread was stopped inside its first instructions";
	uint8_t now[MT_TRAMP_MAX_PATCH];
	if (mt_inj_peek(e, h->addr, now, h->patch_len) < 0 || memcmp(now, h->orig, h->patch_len) != 0)
		return "its code changed during install";
	if (mt_inj_poke(e, h->addr, h->patch, h->patch_len) < 0)
		return "its code cannot be written";
	h->live = true;
	return NULL;
}

/* The trampoline of an earlier memtrace for ADDR, if it is intact and its
 * patch fits what the file has. */
static bool reuse_tramp(struct inj_engine *e, struct hook *h, const struct mt_agent_state *st,
			int slot)
{
	const struct mt_agent_hook_rec *rec = &st->hooks[slot];
	if (rec->addr != h->addr || !rec->tramp || rec->patch_len < MT_TRAMP_JMP_LEN ||
	    rec->patch_len > MT_TRAMP_MAX_PATCH || memcmp(rec->orig, h->orig, rec->patch_len) != 0)
		return false;
	struct mt_agent_hook hk;
	if (mt_inj_peek(e, rec->tramp + MT_AGENT_TRAMP_HOOK_OFF, &hk, sizeof hk) < 0 || hk.addr != h->addr ||
	    hk.orig != rec->tramp + MT_AGENT_TRAMP_CODE_OFF)
		return false;
	h->tramp = rec->tramp;
	h->patch_len = rec->patch_len;
	memcpy(h->patch, rec->patch, sizeof h->patch);
	return true;
}

/* Plans and installs hook H at slot SLOT: NULL, or why not.  ST: the
 * state as found (an earlier memtrace's records), or NULL. */
static const char *install_hook(struct inj_engine *e, struct hook *h, int slot, enum mt_fn fn,
				const struct mt_maps *maps, const struct mt_agent_state *st)
{
	uint8_t code[CODE_READ];
	if (mt_inj_peek(e, h->addr, code, sizeof code) < 0)
		return "its code cannot be read";
	/* Still patched by a memtrace that was killed: take it over. */
	if (st && st->hooks[slot].addr == h->addr && st->hooks[slot].live &&
	    reuse_tramp(e, h, st, slot) && memcmp(code, h->patch, h->patch_len) == 0) {
		h->live = true;
		e->st.hooks_adopted++;
		return NULL;
	}
	if (memcmp(code, h->orig, MT_MAX_ORIG) != 0)
		return !mt_arch_is_jump(code) ? "its code in memory differs from the file"
		       : e->foreign_agent ? "it still jumps to the agent of another memtrace version "
					    "(killed while tracing): trace with that version, or "
					    "restart the process"
					  : "it already jumps elsewhere (another tool's hook?)";
	if (st && reuse_tramp(e, h, st, slot))
		return patch_in(e, h);

	uint64_t t = tramp_slot(e, maps, h->addr);
	if (!t)
		return "memtrace could not map a trampoline page within reach of it";
	struct mt_tramp_plan plan;
	mt_tramp_plan_make(code, sizeof code, h->addr, t, t + MT_AGENT_TRAMP_CODE_OFF, &plan);
	if (!plan.ok)
		return plan.why;
	uint8_t tr[MT_AGENT_TRAMP_SIZE];
	memset(tr, MT_BP_BYTE, sizeof tr);
	mt_arch_tramp_head(tr, t + MT_AGENT_TRAMP_HOOK_OFF, e->agent + e->hdr.entry[mt_fn_abi(fn)]);
	struct mt_agent_hook hk = { .orig = t + MT_AGENT_TRAMP_CODE_OFF, .addr = h->addr,
				    .fn = (uint32_t)fn, .index = (uint32_t)slot,
				    .alt = h->spec->nothrow_addr };
	memcpy(tr + MT_AGENT_TRAMP_HOOK_OFF, &hk, sizeof hk);
	if (plan.tramp_len > sizeof tr - MT_AGENT_TRAMP_CODE_OFF)
		return "its relocated prologue is too long";
	memcpy(tr + MT_AGENT_TRAMP_CODE_OFF, plan.tramp, plan.tramp_len);
	if (mt_inj_poke(e, t, tr, sizeof tr) < 0)
		return "memtrace's trampoline page cannot be written";
	h->tramp = t;
	h->patch_len = plan.patch_len;
	memcpy(h->patch, plan.patch, sizeof h->patch);
	return patch_in(e, h);
}

enum mt_err mt_inj_install(struct mt_engine *base, bool *installed, const char **why_not)
{
	struct inj_engine *e = (struct inj_engine *)base;
	struct mt_maps maps;
	if (mt_maps_read(e->pid, &maps) < 0)
		return MT_E_TARGET_LOST;
	if (!e->syscall_pc)
		e->syscall_pc = mt_remote_syscall_insn(e->pid, &maps);
	int err = 0;
	if (!e->agent) {
		err = mt_inj_setup(e, &maps);
		if (err == 0)
			err = mt_inj_start_reading(e);
		/* the agent and the region took room the trampolines may not */
		mt_maps_free(&maps);
		if (mt_maps_read(e->pid, &maps) < 0)
			return MT_E_TARGET_LOST;
	}
	if (err < 0) {
		mt_maps_free(&maps);
		for (int i = 0; i < e->set->n; i++) {
			installed[i] = false;
			why_not[i] = e->why[0] ? e->why : "memtrace's agent could not be loaded";
		}
		return MT_E_NOT_TRACEABLE;
	}
	struct mt_agent_state st;
	bool have_st = mt_inj_peek(e, e->state, &st, sizeof st) == 0;

	for (int i = 0; i < e->set->n; i++) {
		const struct mt_hook_spec *spec = &e->set->hooks[i];
		installed[i] = false;
		why_not[i] = NULL;
		bool live = false;
		for (int k = 0; k < e->nhooks; k++)
			live |= e->hooks[k].spec == spec || e->hooks[k].addr == spec->addr;
		if (live) {
			installed[i] = true;
			continue;
		}
		if (e->nhooks == MT_MAX_HOOKS || e->nhooks == MT_AGENT_MAX_HOOKS) {
			why_not[i] = "memtrace hooks at most 64 entry points";
			continue;
		}
		if (mt_fn_abi(spec->fn) >= MT_ABI__COUNT || !e->hdr.entry[mt_fn_abi(spec->fn)]) {
			why_not[i] = "the agent has no handler for it";
			continue;
		}
		/* the slot an earlier memtrace used for this address, else a free one */
		int slot = -1;
		for (int k = 0; have_st && k < MT_AGENT_MAX_HOOKS && slot < 0; k++)
			if (st.hooks[k].addr == spec->addr)
				slot = k;
		for (int k = 0; have_st && k < MT_AGENT_MAX_HOOKS && slot < 0; k++)
			if (st.hooks[k].addr == 0)
				slot = k;
		if (slot < 0) {
			why_not[i] = "no room left in the agent's records";
			continue;
		}
		struct hook *h = &e->hooks[e->nhooks];
		*h = (struct hook){ .spec = spec, .addr = spec->addr };
		memcpy(h->orig, spec->orig, MT_MAX_ORIG);
		why_not[i] = install_hook(e, h, slot, spec->fn, &maps, have_st ? &st : NULL);
		if (why_not[i])
			continue;
		record_hook(e, slot, h);
		if (have_st)
			st.hooks[slot].addr = h->addr;   /* taken */
		installed[i] = true;
		e->nhooks++;
	}
	mt_inj_pytab_install(e, &maps);
	mt_maps_free(&maps);
	bool have_malloc = false;
	for (int k = 0; k < e->nhooks; k++)
		have_malloc |= mt_fn_set_has(&e->hooks[k].spec->fn_mask, MT_FN_MALLOC);
	e->st.hooks_installed = e->nhooks;
	e->st.hooks_skipped = e->set->n - e->nhooks;
	return have_malloc ? MT_E_OK : MT_E_NO_ALLOCATOR;
}

/* ld.so's _dl_debug_state is a lone `ret` followed by padding: the jump
 * covers the ret and four bytes of padding nothing executes, and the agent
 * returns to the caller itself. */
int mt_inj_watch(struct mt_engine *base, uint64_t addr, void (*cb)(void *ctx, pid_t tid),
		     void *ctx)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (e->dl.live || !e->agent)
		return -EBUSY;
	uint8_t code[MT_TRAMP_MAX_PATCH];
	if (mt_inj_peek(e, addr, code, sizeof code) < 0)
		return -EFAULT;
	struct mt_agent_state st;
	bool have_st = mt_inj_peek(e, e->state, &st, sizeof st) == 0;
	struct hook *h = &e->dl;
	*h = (struct hook){ .addr = addr, .patch_len = MT_TRAMP_JMP_LEN };
	const struct mt_agent_hook_rec *rec = have_st ? &st.hooks[DL_SLOT] : NULL;
	if (rec && rec->addr == addr && rec->tramp && rec->patch_len == MT_TRAMP_JMP_LEN) {
		memcpy(h->orig, rec->orig, sizeof h->orig);
		memcpy(h->patch, rec->patch, sizeof h->patch);
		h->tramp = rec->tramp;
		if (rec->live && memcmp(code, h->patch, h->patch_len) == 0)
			h->live = true;
	}
	if (!h->live) {
		if (!mt_arch_is_padded_ret(code, MT_TRAMP_JMP_LEN))
			return -EINVAL;
		if (!h->tramp) {
			struct mt_maps maps;
			if (mt_maps_read(e->pid, &maps) < 0)
				return -ESRCH;
			h->tramp = tramp_slot(e, &maps, addr);
			mt_maps_free(&maps);
			if (!h->tramp)
				return -ENOSPC;
			uint8_t tr[MT_AGENT_TRAMP_SIZE];
			memset(tr, MT_BP_BYTE, sizeof tr);
			mt_arch_tramp_head(tr, 0, e->agent + e->hdr.entry[MT_AGENT_ENTRY_DL_NOTIFY]);
			if (mt_inj_poke(e, h->tramp, tr, sizeof tr) < 0)
				return -EFAULT;
		}
		memcpy(h->orig, code, sizeof h->orig);
		int32_t d = (int32_t)(h->tramp - (addr + MT_TRAMP_JMP_LEN));
		if ((int64_t)d != (int64_t)(h->tramp - (addr + MT_TRAMP_JMP_LEN)))
			return -ERANGE;
		memcpy(h->patch, code, sizeof h->patch);
		mt_arch_put_jump(h->patch, d);
		if (patch_in(e, h))
			return -EFAULT;
	}
	record_hook(e, DL_SLOT, h);
	mt_inj_put_state(e, offsetof(struct mt_agent_state, dl_hook), &addr, 8);
	e->dl_cb = cb;
	e->dl_ctx = ctx;
	return 0;
}

/* Puts H's original bytes back in PID (the target, or a forked child). */
static int restore(pid_t pid, const struct hook *h)
{
	uint8_t now[MT_TRAMP_MAX_PATCH];
	if (mt_mem_read(pid, h->addr, now, h->patch_len) < 0)
		return -1;
	if (memcmp(now, h->patch, h->patch_len) != 0)
		return memcmp(now, h->orig, h->patch_len) == 0 ? 0 : -1;
	if (mt_mem_write(pid, h->addr, h->orig, h->patch_len) < 0 ||
	    mt_mem_read(pid, h->addr, now, h->patch_len) < 0 ||
	    memcmp(now, h->orig, h->patch_len) != 0)
		return -1;
	return 0;
}

/* The child's copy of the records says so too: a memtrace attaching to it
 * later finds the jumps gone, as they are. */
static void record_restored(struct inj_engine *e, pid_t child, uint64_t addr)
{
	for (int k = 0; k < MT_AGENT_MAX_HOOKS + 1; k++) {
		size_t off = offsetof(struct mt_agent_state, hooks) +
			     (size_t)k * sizeof(struct mt_agent_hook_rec);
		uint64_t a;
		uint32_t zero = 0;
		if (mt_mem_read(child, e->state + off, &a, 8) == 0 && a == addr)
			mt_mem_write(child, e->state + off + offsetof(struct mt_agent_hook_rec, live),
				     &zero, 4);
	}
}

int mt_inj_clean_child(struct mt_engine *base, pid_t child)
{
	struct inj_engine *e = (struct inj_engine *)base;
	int bad = 0;
	for (int i = 0; i < e->nhooks + 1; i++) {
		const struct hook *h = i < e->nhooks ? &e->hooks[i] : &e->dl;
		if (!h->live)
			continue;
		if (restore(child, h) < 0)
			bad++;
		else
			record_restored(e, child, h->addr);
	}
	bad += mt_inj_pytab_restore(e, child);
	return bad ? -EIO : 0;
}

int mt_inj_remove(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	/* the tables first: their trampolines call the functions, unpatched */
	int bad = mt_inj_pytab_restore(e, e->pid);
	for (int i = 0; i < e->nhooks; i++) {
		struct hook *h = &e->hooks[i];
		if (!h->live)
			continue;
		bad += restore(e->pid, h) < 0;
		h->live = false;
		for (int k = 0; k < MT_AGENT_MAX_HOOKS; k++) {
			uint64_t a;
			size_t off = offsetof(struct mt_agent_state, hooks) + (size_t)k * sizeof(struct mt_agent_hook_rec);
			if (mt_inj_peek(e, e->state + off, &a, 8) == 0 && a == h->addr) {
				uint32_t zero = 0;
				mt_inj_put_state(e, off + offsetof(struct mt_agent_hook_rec, live), &zero, 4);
			}
		}
	}
	if (e->dl.live) {
		bad += restore(e->pid, &e->dl) < 0;
		e->dl.live = false;
		record_hook(e, DL_SLOT, &e->dl);
	}
	/* What the rings hold is drained once the threads run again (poll),
	 * not while they are stopped: the reader stays attached until
	 * destroy, and a thread still inside a handler records its call. */
	e->st.restore_mismatches = bad;
	return bad ? -EIO : 0;
}
