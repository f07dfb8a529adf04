/* Unwinding a stopped thread of a live process with libdwfl, for the
 * symbolizer (symbolize_priv.h), and the unwind rules the agent asks for.
 *
 * Unwinding: the Dwfl gets a process state once (dwfl_attach_state) whose
 * callbacks serve the one thread being unwound, from the registers and the
 * memory reader the current mt_unwind call was given (struct unwind_call).
 * libdwfl unwinds with .eh_frame, then .debug_frame, then the backend's
 * frame-pointer walk.  It costs about 1 us a frame, so a fast path first
 * walks the stack with the same .eh_frame rules, reduced once per address
 * to a few offsets (struct rule), and leaves the stacks it cannot do alone
 * to libdwfl (see unwind_fast).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_abi.h"
#include "symbols/symbolize.h"
#include "symbols/symbolize_priv.h"
#include "symbols/unwind.h"

/* An ELF header alone tells dwfl_attach_state the architecture, so the
 * unwinder never depends on a module (which a later report may remove). */
void mt_sym_arch_ehdr(Elf64_Ehdr *eh)
{
	memset(eh, 0, sizeof *eh);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof *eh;
}

/* How to find the caller's frame from code at one address, when the CFI
 * is as simple as compilers make it:
 *
 *   CFA = rsp + cfa_off  or  rbp + cfa_off      (DW_CFA_def_cfa 7/6, N)
 *   return address at CFA + ra_off              (DW_CFA_offset 16, N)
 *   rbp: unchanged, lost, at CFA + bp_off, or = CFA + bp_off
 *   rsp: = CFA                                  (the x86_64 ABI)
 *
 * Nothing else is needed to find the next frame, since such a CFA depends
 * on rsp and rbp only.  Anything else (CFA expressions, signal frames, no
 * CFI, no module) is SLOW: the whole stack is left to libdwfl. */
enum rule_kind { RULE_SLOW, RULE_STEP, RULE_LAST /* return address undefined */ };
enum bp_rule { BP_SAME, BP_LOST, BP_AT, BP_IS };

struct rule {
	uint64_t addr;                /* the looked-up pc; 0: empty slot */
	int64_t cfa_off, ra_off, bp_off;
	uint8_t kind, cfa_reg, bp;
};

static size_t rule_slot(const struct rules *t, uint64_t addr)
{
	return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 32) & (t->cap - 1);
}

/* Adds a copy of R (not there yet); NULL when out of memory. */
static const struct rule *rules_put(struct rules *t, const struct rule *r)
{
	if (2 * (t->used + 1) > t->cap) {
		struct rules n = { .cap = t->cap ? 2 * t->cap : 1024 };
		n.v = calloc(n.cap, sizeof *n.v);
		if (!n.v)
			return NULL;
		for (size_t i = 0; i < t->cap; i++)
			if (t->v[i].addr)
				rules_put(&n, &t->v[i]);
		free(t->v);
		*t = n;
	}
	size_t i = rule_slot(t, r->addr);
	while (t->v[i].addr)
		i = (i + 1) & (t->cap - 1);
	t->v[i] = *r;
	t->used++;
	return &t->v[i];
}

/* Drop the rules made without a module (there may be one now) and those
 * for addresses in the DROPPED ranges. */
void mt_sym_rules_filter(struct rules *t, const struct known *old, const bool *dropped)
{
	struct rule *v = t->v;
	size_t cap = t->cap;
	*t = (struct rules){ 0 };
	for (size_t i = 0; i < cap; i++) {
		if (!v[i].addr || v[i].kind == RULE_SLOW)
			continue;
		bool keep = true;
		for (size_t k = 0; k < old->n && keep; k++)
			keep = !dropped[k] || v[i].addr < old->v[k].start || v[i].addr >= old->v[k].end;
		if (keep)
			rules_put(t, &v[i]);
	}
	free(v);
}

/* --- unwinding ------------------------------------------------------- */

/* libdwfl allocates and interprets the CFI afresh for every frame of every
 * unwind (about 1 us a frame).  The fast path below walks the stack with
 * rules derived from the same CFI once per address (struct rule), and
 * hands the whole stack to libdwfl when a frame needs more (RULE_SLOW, a
 * failed read). */

/* A libdw location [DW_OP_call_frame_cfa (, DW_OP_plus_uconst N)
 * (, DW_OP_stack_value)]: *OFF = N, *VALUE = whether it is the value
 * CFA + N rather than the memory there. */
static bool cfa_relative(const Dwarf_Op *ops, size_t nops, int64_t *off, bool *value)
{
	*off = 0;
	*value = false;
	if (nops == 0 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	size_t i = 1;
	if (i < nops && ops[i].atom == DW_OP_plus_uconst)
		*off = (int64_t)ops[i++].number;    /* wraps: may be negative */
	if (i < nops && ops[i].atom == DW_OP_stack_value) {
		*value = true;
		i++;
	}
	return i == nops;
}

/* The rule for code at ADDR, from the module's .eh_frame. */
static void make_rule(struct mt_symbolizer *s, uint64_t addr, struct rule *r)
{
	*r = (struct rule){ .addr = addr, .kind = RULE_SLOW };
	Dwfl_Module *mod = mt_sym_known_code(s, addr) ? dwfl_addrmodule(s->dwfl, addr) : NULL;
	Dwarf_Addr bias;
	Dwarf_CFI *cfi = mod ? dwfl_module_eh_cfi(mod, &bias) : NULL;
	Dwarf_Frame *frame = NULL;
	if (!cfi || dwarf_cfi_addrframe(cfi, addr - bias, &frame) != 0)
		return;

	bool signal = false;
	int ra = dwarf_frame_info(frame, NULL, NULL, &signal);
	Dwarf_Op *ops, mem[3];
	size_t nops;
	int64_t off;
	bool value;
	if (ra != MT_DWARF_REG_RA || signal)
		goto out;
	/* CFA: one DW_OP_bregx (or DW_OP_bregN) from libdw. */
	if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1)
		goto out;
	if (ops[0].atom == DW_OP_bregx) {
		r->cfa_reg = (uint8_t)(ops[0].number < 256 ? ops[0].number : 255);
		r->cfa_off = (int64_t)ops[0].number2;
	} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
		r->cfa_reg = (uint8_t)(ops[0].atom - DW_OP_breg0);
		r->cfa_off = (int64_t)ops[0].number;
	} else {
		goto out;
	}
	if (r->cfa_reg != MT_DWARF_REG_FP && r->cfa_reg != MT_DWARF_REG_SP)
		goto out;

	/* rsp: the CFA, by the ABI rule libdw adds to every CIE. */
	if (dwarf_frame_register(frame, MT_DWARF_REG_SP, mem, &ops, &nops) != 0 ||
	    !cfa_relative(ops, nops, &off, &value) || !value || off != 0)
		goto out;

	if (dwarf_frame_register(frame, MT_DWARF_REG_FP, mem, &ops, &nops) != 0)
		goto out;
	if (nops == 0)
		r->bp = ops ? BP_LOST : BP_SAME;   /* ops == mem: undefined */
	else if (cfa_relative(ops, nops, &r->bp_off, &value))
		r->bp = value ? BP_IS : BP_AT;
	else
		goto out;

	if (dwarf_frame_register(frame, MT_DWARF_REG_RA, mem, &ops, &nops) != 0)
		goto out;
	if (nops == 0 && ops) {
		r->kind = RULE_LAST;          /* the outermost frame (_start) */
	} else if (cfa_relative(ops, nops, &r->ra_off, &value) && !value) {
		r->kind = RULE_STEP;
	}
out:
	free(frame);
}

/* The rule for ADDR, made on first use; NULL only when out of memory. */
static const struct rule *rule_for(struct mt_symbolizer *s, uint64_t addr)
{
	struct rules *t = &s->rules;
	if (t->cap) {
		for (size_t i = rule_slot(t, addr); t->v[i].addr; i = (i + 1) & (t->cap - 1))
			if (t->v[i].addr == addr)
				return &t->v[i];
	}
	struct rule r;
	make_rule(s, addr, &r);
	return rules_put(t, &r);
}

/* The stack by the rules alone: the count, or -1 when libdwfl must do it
 * (same answer, slower).  Stops where libdwfl would: at an undefined return
 * address, a zero one, or MAX. */
static int unwind_fast(struct mt_symbolizer *s)
{
	struct unwind_call *c = &s->call;
	uint64_t pc = mt_regs_pc(c->regs), sp = mt_regs_sp(c->regs), bp = mt_regs_fp(c->regs);
	bool bp_known = true;
	int n = 0;
	c->pcs[n++] = pc;
	/* The first pc is where the thread is; the others are return
	 * addresses, whose call is the byte before. */
	for (uint64_t addr = pc; n < c->max; addr = pc - 1) {
		const struct rule *r = addr ? rule_for(s, addr) : NULL;
		if (!r || r->kind == RULE_SLOW)
			return -1;
		if (r->kind == RULE_LAST)
			break;
		if (r->cfa_reg == MT_DWARF_REG_FP && !bp_known)
			return -1;
		uint64_t cfa = (r->cfa_reg == MT_DWARF_REG_SP ? sp : bp) + (uint64_t)r->cfa_off;
		uint64_t ra;
		if (c->read(c->ctx, cfa + (uint64_t)r->ra_off, &ra, sizeof ra) != 0)
			return -1;
		switch (r->bp) {
		case BP_SAME:
			break;
		case BP_LOST:
			bp_known = false;
			break;
		case BP_AT:
			if (c->read(c->ctx, cfa + (uint64_t)r->bp_off, &bp, sizeof bp) != 0)
				return -1;
			bp_known = true;
			break;
		case BP_IS:
			bp = cfa + (uint64_t)r->bp_off;
			bp_known = true;
			break;
		}
		sp = cfa;
		if (ra == 0)
			break;
		pc = ra;
		c->pcs[n++] = pc;
	}
	return n;
}

/* Only the thread being unwound exists, as far as libdwfl is told. */
static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct mt_symbolizer *s = arg;
	if (*thread_argp)
		return 0;
	*thread_argp = s;
	return s->call.tid;
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	*thread_argp = arg;
	return true;
}

/* Failing leaves dwfl_errno unset (libdwfl has no public setter): the
 * stack just ends. */
static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct mt_symbolizer *s = arg;
	return s->call.read(s->call.ctx, addr, result, sizeof *result) == 0;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct mt_symbolizer *s = arg;
	Dwarf_Word w[MT_DWARF_NREGS];
	mt_arch_regs_to_dwarf(s->call.regs, w);
	return dwfl_thread_state_registers(thread, 0, MT_DWARF_NREGS, w);
}

const Dwfl_Thread_Callbacks mt_sym_thread_callbacks = {
	.next_thread = cb_next_thread,
	.get_thread = cb_get_thread,
	.memory_read = cb_memory_read,
	.set_initial_registers = cb_set_initial_registers,
};

static int cb_frame(Dwfl_Frame *frame, void *arg)
{
	struct unwind_call *c = arg;
	Dwarf_Addr pc;
	/* No isactivation: it would unwind one more frame to answer. */
	if (!dwfl_frame_pc(frame, &pc, NULL) || (pc == 0 && c->n > 0))
		return DWARF_CB_ABORT;
	c->pcs[c->n++] = pc;
	return c->n < c->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

static int unwind_once(struct mt_symbolizer *s)
{
	s->call.n = 0;
	/* -1 at the end of most stacks: outermost frame's CFI has no return
	 * address, or a read failed.  The frames seen are the answer. */
	dwfl_getthread_frames(s->dwfl, s->call.tid, cb_frame, &s->call);
	if (s->call.n == 0)
		s->call.pcs[s->call.n++] = mt_regs_pc(s->call.regs);
	return s->call.n;
}

int mt_unwind(struct mt_symbolizer *s, pid_t tid, const mt_regs *regs, mt_read_fn read,
	      void *ctx, uint64_t *pcs, int max)
{
	if (max < 1)
		return 0;
	pcs[0] = mt_regs_pc(regs);
	if (!s || !s->unwinder || !read)
		return 1;
	s->call = (struct unwind_call){ .tid = tid, .regs = regs, .read = read,
					.ctx = ctx, .pcs = pcs, .max = max };
	int n = unwind_fast(s);
	/* The fast path found a module for every pc it stepped from: only
	 * the last pc, where MAX stopped it, may be in none. */
	int from = n > 0 ? n - 1 : 0;
	if (n < 0)
		n = unwind_once(s);

	/* A pc in no module may be in a library loaded since the last report
	 * (dlopen): libdwfl had no CFI for it and guessed with the frame
	 * pointer.  Once the module is known, unwind again. */
	for (int i = from; i < n; i++) {
		uint64_t addr = i ? pcs[i] - 1 : pcs[i];
		if (!mt_sym_known_code(s, addr)) {
			if (mt_sym_report_for(s, addr) && (n = unwind_fast(s)) < 0)
				n = unwind_once(s);
			break;
		}
	}
	return n;
}

static bool fits_i32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* Whether no module's CFI covers ADDR (.eh_frame nor .debug_frame). */
static bool no_cfi(struct mt_symbolizer *s, uint64_t addr)
{
	Dwfl_Module *mod = mt_sym_known_code(s, addr) ? dwfl_addrmodule(s->dwfl, addr) : NULL;
	if (!mod)
		return true;
	Dwarf_Addr bias;
	Dwarf_Frame *frame = NULL;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
	if (cfi && dwarf_cfi_addrframe(cfi, addr - bias, &frame) == 0) {
		free(frame);
		return false;
	}
	cfi = dwfl_module_dwarf_cfi(mod, &bias);
	if (cfi && dwarf_cfi_addrframe(cfi, addr - bias, &frame) == 0) {
		free(frame);
		return false;
	}
	return true;
}

int mt_symbolizer_agent_rule(struct mt_symbolizer *s, uint64_t addr, struct mt_agent_rule *out)
{
	*out = (struct mt_agent_rule){ .addr = addr, .kind = MT_AGENT_RULE_SLOW };
	if (!s)
		return 0;
	/* A module loaded since the last report (dlopen) has CFI for ADDR:
	 * the agent keeps the answer for good, so look before saying SLOW. */
	if (!mt_sym_known_code(s, addr))
		mt_sym_report_for(s, addr);
	struct rule made;
	const struct rule *r = rule_for(s, addr);
	if (!r) {                     /* out of memory for the cache only */
		make_rule(s, addr, &made);
		r = &made;
	}
	if (r->kind == RULE_SLOW && no_cfi(s, addr)) {
		/* Code without CFI (JIT, hand-written assembly): the frame
		 * pointer chain, as libdwfl falls back to for such code:
		 * CFA = rbp + 16, return address at CFA - 8, rbp at CFA - 16. */
		*out = (struct mt_agent_rule){ .addr = addr, .kind = MT_AGENT_RULE_STEP,
					       .cfa_reg = MT_DWARF_REG_FP, .cfa_off = 16, .ra_off = -8,
					       .bp_off = -16, .bp = MT_AGENT_BP_AT };
		return 0;
	}
	if (r->kind == RULE_SLOW || !fits_i32(r->cfa_off) || !fits_i32(r->ra_off) ||
	    !fits_i32(r->bp_off))
		return 0;
	/* The ABI's numbers are the DWARF ones, but say so rather than
	 * rely on it. */
	out->cfa_reg = r->cfa_reg == MT_DWARF_REG_SP ? MT_DWARF_REG_SP : MT_DWARF_REG_FP;
	out->cfa_off = (int32_t)r->cfa_off;
	out->ra_off = (int32_t)r->ra_off;
	out->bp_off = (int32_t)r->bp_off;
	switch (r->bp) {
	case BP_SAME: out->bp = MT_AGENT_BP_SAME; break;
	case BP_LOST: out->bp = MT_AGENT_BP_LOST; break;
	case BP_AT: out->bp = MT_AGENT_BP_AT; break;
	default: out->bp = MT_AGENT_BP_IS; break;
	}
	out->kind = r->kind == RULE_LAST ? MT_AGENT_RULE_LAST : MT_AGENT_RULE_STEP;
	return 0;
}
