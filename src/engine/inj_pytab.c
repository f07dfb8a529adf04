/* CPython's allocator tables (allocfn.h MT_FAM_PYTAB): the calls an LTO
 * build inlined PyObject_Malloc & co into are seen by pointing the
 * tables' entries at trampolines of the agent.
 *
 * CPython calls pymalloc through a PyMemAllocatorEx per domain: {ctx,
 * malloc, calloc, realloc, free}, each function taking ctx first (3.11:
 * the static _PyObject and _PyMem of obmalloc.c; 3.12+: inside
 * _PyRuntime.allocators.standard).  An LTO build (Debian's python3.11)
 * devirtualises `_PyObject.malloc(_PyObject.ctx, n)` speculatively: it
 * compares the entry with _PyObject_Malloc and runs pymalloc's inlined
 * copy when equal, which is why some 190 call sites never reach a hooked
 * entry.  With the entry pointing at a trampoline, every one of them makes
 * the indirect call, as it does under tracemalloc (PyMem_SetAllocator).
 *
 * The tables are static and the executable stripped, so they are found
 * from the code of the exported entries, which read them: PyObject_Malloc
 * loads the table's ctx and malloc entries and PyObject_Free its free
 * entry, by a RIP-relative or absolute address, or through a GOT entry
 * and a displacement (3.12+ in pyenv's shared libpython: _PyRuntime + off),
 * whatever the version's layout; a base address all three agree on whose
 * four functions are code of a mapped file is the table (candidates()).
 *
 * Each entry's trampoline is a head alone (no relocated prologue): its
 * hook calls the function the entry held, unpatched, with the caller's
 * ctx, which stays as it was.  Writing one aligned word per entry while
 * every thread is stopped keeps each call whole: a thread that read the
 * entry before calls the original, which is as right as ever.  A block
 * pymalloc served before the swap and freed after is an unseen free,
 * counted as such.  Trampolines are never unmapped, so after a detach
 * (each entry still holding its trampoline gets its function back) or a
 * SIGKILL of memtrace (the agent passes every call through once nobody
 * reads) they keep working; a later memtrace finds its own agent's
 * trampoline in the entry and takes it over.  ctx is never written.
 */
#include <string.h>

#include "agent/agent_abi.h"
#include "arch/arch.h"
#include "engine/inj_priv.h"
#include "model/allocfn.h"
#include "target/memio.h"

#define CODE_SCAN 64      /* bytes of an exported entry searched for the table */
#define TABLE_WORDS 5     /* ctx, malloc, calloc, realloc, free */
#define MAX_CANDS 4096    /* addresses an entry's code may read (candidates) */
#define MAX_FIELD_OFF (1 << 20)  /* a table's offset in a struct (_PyRuntime) */

/* A domain's API entries: malloc, calloc, realloc, free (as the table) */
static const struct {
	enum mt_fn api[TABLE_WORDS - 1];
	uint32_t bit;
} domains[] = {
	{ { MT_FN_PY_OBJECT_MALLOC, MT_FN_PY_OBJECT_CALLOC, MT_FN_PY_OBJECT_REALLOC,
	    MT_FN_PY_OBJECT_FREE }, MT_PYTAB_OBJ },
	{ { MT_FN_PY_MEM_MALLOC, MT_FN_PY_MEM_CALLOC, MT_FN_PY_MEM_REALLOC, MT_FN_PY_MEM_FREE },
	  MT_PYTAB_MEM },
};

static const enum mt_fn slot_fn[TABLE_WORDS - 1] = {
	MT_FN_PYTAB_MALLOC, MT_FN_PYTAB_CALLOC, MT_FN_PYTAB_REALLOC, MT_FN_PYTAB_FREE,
};

/* Where tables are looked for: the process, its maps, and the agents whose
 * trampolines an entry may hold ([lo, hi): their code); HDR: this
 * memtrace's agent's header, at lo[0], whose stubs a trampoline taken
 * over must jump to; NULL (memtrace detach): any agent's. */
struct look {
	pid_t pid;
	const struct mt_maps *maps;
	int nagents;
	uint64_t lo[MT_INJ_MAX_AGENTS], hi[MT_INJ_MAX_AGENTS];
	const struct mt_agent_header *hdr;
};

static const struct mt_hook_spec *spec_of(const struct mt_alloc_set *set, enum mt_fn fn)
{
	for (int i = 0; i < set->n; i++)
		if (mt_fn_set_has(&set->hooks[i].fn_mask, fn))
			return &set->hooks[i];
	return NULL;
}

/* The first CODE_SCAN bytes of SPEC's entry as the file has them (a live
 * hook's jump is over its first bytes in memory). */
static bool entry_code(pid_t pid, const struct mt_hook_spec *spec, uint8_t *code)
{
	if (mt_mem_read(pid, spec->addr, code, CODE_SCAN) < 0)
		return false;
	memcpy(code, spec->orig, MT_MAX_ORIG);
	return true;
}

static bool is_code(const struct mt_maps *maps, uint64_t a)
{
	const struct mt_map *m = mt_maps_find(maps, a);
	return m && m->x && !m->w && m->path;
}

static bool is_data(const struct mt_maps *maps, uint64_t a, uint64_t len)
{
	const struct mt_map *m = mt_maps_find(maps, a);
	return m && m->r && !m->x && a + len <= m->end;
}

struct cands {
	uint64_t v[MAX_CANDS];
	int n;
};

static void cand_add(struct cands *c, uint64_t a)
{
	if (c->n < MAX_CANDS)
		c->v[c->n++] = a;
}

static bool cand_has(const struct cands *c, uint64_t a)
{
	for (int i = 0; i < c->n; i++)
		if (c->v[i] == a)
			return true;
	return false;
}

/* The data addresses CODE (at AT) may read: every 4 bytes taken as a
 * RIP-relative displacement ending its instruction (a load has no
 * immediate after it) or as an absolute address; and where such an
 * address holds a pointer to writable data (a GOT entry: pyenv's shared
 * libpython reaches _PyRuntime so), that pointer plus each small
 * displacement the code holds (disp32 or disp8).  Most are noise: the
 * table must be named three times over (find_table). */
static void candidates(const struct look *lk, const uint8_t *code, uint64_t at,
		       struct cands *out)
{
	const struct mt_maps *maps = lk->maps;
	out->n = 0;
	for (size_t i = 0; i + 4 <= CODE_SCAN; i++) {
		int32_t d;
		memcpy(&d, code + i, sizeof d);
		uint64_t rel = at + i + 4 + (uint64_t)(int64_t)d;
		cand_add(out, rel);
		cand_add(out, (uint32_t)d);
		uint64_t p;
		const struct mt_map *pm;
		if (rel % 8 || !is_data(maps, rel, 8) || mt_mem_read(lk->pid, rel, &p, 8) < 0 ||
		    !(pm = mt_maps_find(maps, p)) || !pm->w || pm->x)
			continue;
		for (size_t j = 0; j + 4 <= CODE_SCAN; j++) {
			int32_t o;
			memcpy(&o, code + j, sizeof o);
			if (o >= 0 && o < MAX_FIELD_OFF)
				cand_add(out, p + (uint64_t)o);
			if (code[j] < 0x80)
				cand_add(out, p + code[j]);
		}
	}
}

/* An entry V that holds a memtrace trampoline for FN (of a killed
 * memtrace, or this one's): the function it calls, else 0. */
static uint64_t tramp_orig(const struct look *lk, uint64_t v, enum mt_fn fn)
{
	const struct mt_map *m = mt_maps_find(lk->maps, v);
	uint8_t t[MT_AGENT_TRAMP_CODE_OFF], want[MT_TRAMP_HEAD_LEN];
	if (!m || m->path || !m->x || v % MT_AGENT_TRAMP_SIZE ||
	    mt_mem_read(lk->pid, v, t, sizeof t) < 0)
		return 0;
	uint64_t stub;
	memcpy(&stub, t + 16, sizeof stub);   /* mt_arch_tramp_head's layout */
	bool ours = false;
	for (int i = 0; i < lk->nagents; i++)
		ours |= stub >= lk->lo[i] && stub < lk->hi[i];
	if (lk->hdr && stub != lk->lo[0] + lk->hdr->entry[mt_fn_abi(fn)])
		ours = false;
	mt_arch_tramp_head(want, v + MT_AGENT_TRAMP_HOOK_OFF, stub);
	struct mt_agent_hook hk;
	memcpy(&hk, t + MT_AGENT_TRAMP_HOOK_OFF, sizeof hk);
	if (!ours || memcmp(t, want, sizeof want) != 0 || hk.fn != (uint32_t)fn ||
	    !is_code(lk->maps, hk.addr) || !is_code(lk->maps, hk.orig))
		return 0;
	return hk.orig;
}

/* The table of a domain: a base whose ctx and malloc entries the malloc
 * code reads and whose free entry the free code reads, in writable data,
 * and whose four functions are code of a file (or this agent's
 * trampolines of them); 0: none. */
static uint64_t find_table(const struct look *lk, const uint8_t *mcode, uint64_t maddr,
			   const uint8_t *fcode, uint64_t faddr)
{
	static struct cands m, f;   /* one look at a time: not on the stack */
	const struct mt_maps *maps = lk->maps;
	candidates(lk, mcode, maddr, &m);
	candidates(lk, fcode, faddr, &f);
	for (int i = 0; i < m.n; i++) {
		uint64_t base = m.v[i] - 8;
		const struct mt_map *mp = mt_maps_find(maps, base);
		if (m.v[i] % 8 || !mp || !mp->w || mp->x || base + TABLE_WORDS * 8 > mp->end)
			continue;
		uint64_t w[TABLE_WORDS];
		if (!cand_has(&m, base) || !cand_has(&f, base + 32) ||
		    mt_mem_read(lk->pid, base, w, sizeof w) < 0)
			continue;
		bool ok = true;
		for (int k = 0; k < TABLE_WORDS - 1 && ok; k++)
			ok = is_code(maps, w[k + 1]) || tramp_orig(lk, w[k + 1], slot_fn[k]);
		if (ok)
			return base;
	}
	return 0;
}

/* Points the table entry SLOT (holding V) for FN at a trampoline.  Its
 * stacks start at API, the domain's exported entry for the same call
 * (PyObject_Malloc for the OBJ table's malloc): a call the LTO build
 * inlined is one of those, and a site is named past it (wrappers.h), as
 * the static function V of a stripped interpreter has no name. */
static bool swap_entry(struct inj_engine *e, const struct look *lk, uint64_t slot, uint64_t v,
		       enum mt_fn fn, uint64_t api)
{
	const struct mt_maps *maps = lk->maps;
	if (e->npyswaps == MT_INJ_MAX_PYSWAPS || !e->hdr.entry[mt_fn_abi(fn)])
		return false;
	struct inj_pyswap *s = &e->pyswaps[e->npyswaps];
	uint64_t orig = tramp_orig(lk, v, fn);
	if (orig) {
		*s = (struct inj_pyswap){ slot, orig, v, true };
		e->npyswaps++;
		e->st.hooks_adopted++;
		return true;
	}
	if (!is_code(maps, v))
		return false;
	uint64_t t = mt_inj_tramp_slot(e, maps, v);
	if (!t)
		return false;
	uint8_t tr[MT_AGENT_TRAMP_SIZE];
	memset(tr, MT_BP_BYTE, sizeof tr);
	mt_arch_tramp_head(tr, t + MT_AGENT_TRAMP_HOOK_OFF, e->agent + e->hdr.entry[mt_fn_abi(fn)]);
	/* index: no record in mt_agent_state.hooks, the entry is data */
	struct mt_agent_hook hk = { .orig = v, .addr = api ? api : v, .fn = (uint32_t)fn,
				    .index = UINT32_MAX };
	memcpy(tr + MT_AGENT_TRAMP_HOOK_OFF, &hk, sizeof hk);
	uint64_t now = 0;
	if (mt_inj_poke(e, t, tr, sizeof tr) < 0 || mt_inj_poke(e, slot, &t, 8) < 0 ||
	    mt_inj_peek(e, slot, &now, 8) < 0 || now != t)
		return false;
	*s = (struct inj_pyswap){ slot, v, t, true };
	e->npyswaps++;
	return true;
}

/* One domain's table: every entry swapped, or none kept (an entry that
 * could not be, puts the others back). */
static void swap_table(struct inj_engine *e, const struct look *lk, uint64_t table, size_t d)
{
	uint64_t w[TABLE_WORDS];
	if (mt_inj_peek(e, table, w, sizeof w) < 0)
		return;
	int first = e->npyswaps;
	for (int k = 0; k < TABLE_WORDS - 1; k++) {
		const struct mt_hook_spec *api = spec_of(e->set, domains[d].api[k]);
		if (!swap_entry(e, lk, table + 8 + (uint64_t)k * 8, w[k + 1], slot_fn[k],
				api ? api->addr : 0)) {
			while (e->npyswaps > first) {
				struct inj_pyswap *s = &e->pyswaps[--e->npyswaps];
				mt_inj_poke(e, s->slot, &s->orig, 8);
			}
			return;
		}
	}
	e->st.pytab |= domains[d].bit;
	e->st.pytab_at[d] = table;
}

/* The table of domain D in LK's process, SET naming its entry points; 0:
 * not found. */
static uint64_t domain_table(const struct look *lk, const struct mt_alloc_set *set, size_t d)
{
	const struct mt_hook_spec *ms = spec_of(set, domains[d].api[0]);
	const struct mt_hook_spec *fs = spec_of(set, domains[d].api[TABLE_WORDS - 2]);
	uint8_t mcode[CODE_SCAN], fcode[CODE_SCAN];
	if (!ms || !fs || !entry_code(lk->pid, ms, mcode) || !entry_code(lk->pid, fs, fcode))
		return 0;
	return find_table(lk, mcode, ms->addr, fcode, fs->addr);
}

void mt_inj_pytab_install(struct inj_engine *e, const struct mt_maps *maps)
{
	struct look lk = { .pid = e->pid, .maps = maps, .nagents = 1, .lo = { e->agent },
			   .hi = { e->agent + e->hdr.code_size }, .hdr = &e->hdr };
	for (size_t d = 0; d < sizeof domains / sizeof domains[0]; d++) {
		if (e->st.pytab & domains[d].bit)
			continue;
		uint64_t table = domain_table(&lk, e->set, d);
		bool seen = false;
		for (int k = 0; k < e->npyswaps; k++)
			seen |= e->pyswaps[k].slot == table + 8;
		if (table && !seen)
			swap_table(e, &lk, table, d);
	}
}

/* Puts S's function back in PID (the target, or a forked child): only
 * where the entry still holds the trampoline (one that PyMem_SetAllocator
 * changed since keeps its value, the trampoline passes through).  0, or -1
 * when it cannot be written. */
static int restore_entry(pid_t pid, const struct inj_pyswap *s)
{
	uint64_t now;
	if (mt_mem_read(pid, s->slot, &now, 8) < 0)
		return -1;
	if (now != s->tramp)
		return 0;
	if (mt_mem_write(pid, s->slot, &s->orig, 8) < 0 || mt_mem_read(pid, s->slot, &now, 8) < 0 ||
	    now != s->orig)
		return -1;
	return 0;
}

int mt_inj_pytab_restore(struct inj_engine *e, pid_t pid)
{
	int bad = 0;
	for (int k = 0; k < e->npyswaps; k++)
		if (e->pyswaps[k].live)
			bad += restore_entry(pid, &e->pyswaps[k]) < 0;
	if (pid == e->pid) {
		for (int k = 0; k < e->npyswaps; k++)
			e->pyswaps[k].live = false;
		e->npyswaps = 0;
	}
	return bad;
}

int mt_inj_leftover_pytab(pid_t pid, const struct mt_maps *maps, const struct mt_alloc_set *set,
			  const struct mt_inj_leftover *lo)
{
	struct look lk = { .pid = pid, .maps = maps };
	for (int i = 0; i < lo->n && lk.nagents < MT_INJ_MAX_AGENTS; i++) {
		lk.lo[lk.nagents] = lo->v[i].code;
		lk.hi[lk.nagents++] = lo->v[i].code_end;
	}
	int put = 0;
	for (size_t d = 0; lk.nagents && d < sizeof domains / sizeof domains[0]; d++) {
		uint64_t table = domain_table(&lk, set, d), w[TABLE_WORDS], now;
		if (!table || mt_mem_read(pid, table, w, sizeof w) < 0)
			continue;
		for (int k = 0; k < TABLE_WORDS - 1; k++) {
			uint64_t slot = table + 8 + (uint64_t)k * 8;
			uint64_t orig = tramp_orig(&lk, w[k + 1], slot_fn[k]);
			if (orig && mt_mem_write(pid, slot, &orig, 8) == 0 &&
			    mt_mem_read(pid, slot, &now, 8) == 0 && now == orig)
				put++;
		}
	}
	return put;
}
