/* memtrace leaks: which blocks nothing points to any more.
 *
 *   leaks PID:
 *     attach (all stopped) -> discover -> freeze (the copy) -> registers of
 *     every thread -> resume -> walk the copy (census) -> roots -> mark
 *     (census/leaks.h) -> kill the copy -> stop, reap, detach -> print
 *   leaks PID --duration S:
 *     as histo: attach, hook, trace S seconds (or to Ctrl-C); then at the
 *     detach, every thread stopped and the hooks out, the events drained,
 *     the same check; blocks allocated while traced are grouped by their
 *     allocation site and carry its stack.
 *
 * The roots (what memcheck and LeakSanitizer scan, as memtrace can see it
 * in the copy):
 *   - every readable and writable mapping that holds no heap chunk: the
 *     modules' data and bss, anonymous memory (a JIT's, an interpreter's
 *     arenas, the dynamic linker's own allocations), shared memory; but
 *     not glibc's main_arena and mp_ (their bins point at chunk headers,
 *     which are the last word of the block before), not memtrace's rings,
 *     not device mappings nor [vvar];
 *   - each thread's stack from its stack pointer less the red zone; a
 *     stack mapping that holds no thread's stack pointer (a thread on an
 *     alternate signal stack: its own stack then) is scanned whole;
 *   - each thread's registers as ptrace gives them: a thread stopped in a
 *     system call has its callee-saved registers there;
 *   - a thread whose stack pointer is inside a heap block (an alternate
 *     signal stack or a stack it malloc'd): that block, from the stack
 *     pointer to its end, and the block itself is in use;
 *   - each thread's dynamic thread vector, which its TCB points into
 *     (one entry past the block's start): that block is the linker's, in
 *     use, as LeakSanitizer treats it;
 *   - with glibc's pointer guard read from the main thread's TCB, words
 *     of those ranges that demangle into a block (setjmp buffers, atexit
 *     handlers' arguments).
 * Known limits (memtrace(1), LEAKS): memory the kernel holds a pointer to
 * (an io_uring buffer, a sigaltstack the program forgot) is not seen as
 * holding; pointers kept only in vector registers or mangled inside heap
 * blocks are missed; a mapping the copy lacks (MADV_DONTFORK) cannot be
 * read and is counted as such.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_abi.h"
#include "arch/arch.h"
#include "census/leaks.h"
#include "report/leaks_report.h"
#include "report/report_build.h"
#include "session/session_priv.h"
#include "util/errors.h"
#include "util/msg.h"
#include "util/u64map.h"

#define TRACED_BIT 0x40000000u /* a group that is a site of the trace */
#define REACHABLE_SHOWN 5      /* reachable rows shown without --show-reachable */
#define MAX_CHAIN 16

struct leak_thread {
	int tid;
	mt_regs regs;
};

struct leakrun {
	struct session *s;
	struct leak_thread *th;
	size_t nth, capth;
	struct mt_leaks *lk;
	char **labels;
	uint64_t *label_sym; /* per label: its symbol's start (0: no symbol) */
	size_t nlabels, caplabels;
	uint32_t last_label;
	/* --duration: groups of traced blocks, (site, census row) pairs */
	struct mt_u64map pairs; /* site << 32 | row -> index */
	uint32_t *psite, *prow;
	size_t npairs, cappairs;
	struct mt_report sites; /* --duration: the trace's rows, by site */
	bool have_sites;
	struct mt_leaks_report rep;
	census_pump_fn pump; /* the target's stops while the copy is read */
	double t0;
};

/* ---- threads ------------------------------------------------------------ */

static void grab_thread(void *ctx, pid_t tid)
{
	struct leakrun *lr = ctx;
	if (lr->nth == lr->capth) {
		size_t cap = lr->capth ? lr->capth * 2 : 16;
		struct leak_thread *t = realloc(lr->th, cap * sizeof *t);
		if (!t)
			return;
		lr->th = t;
		lr->capth = cap;
	}
	struct leak_thread *t = &lr->th[lr->nth];
	if (mt_target_get_regs(lr->s->t, tid, &t->regs) == 0) {
		t->tid = tid;
		lr->nth++;
	}
}

/* ---- labels of roots --------------------------------------------------- */

/* NAME's label (made if need be), or UINT32_MAX when out of memory (a
 * label no root has: its chains say "a root"). */
static uint32_t intern(struct leakrun *lr, const char *name, uint64_t sym)
{
	if (lr->last_label < lr->nlabels && strcmp(lr->labels[lr->last_label], name) == 0)
		return lr->last_label;
	for (size_t i = 0; i < lr->nlabels; i++)
		if (strcmp(lr->labels[i], name) == 0)
			return lr->last_label = (uint32_t)i;
	if (lr->nlabels == lr->caplabels) {
		size_t cap = lr->caplabels ? lr->caplabels * 2 : 64;
		char **v = realloc(lr->labels, cap * sizeof *v);
		if (!v)
			return UINT32_MAX;
		lr->labels = v;
		uint64_t *ls = realloc(lr->label_sym, cap * sizeof *ls);
		if (!ls)
			return UINT32_MAX;
		lr->label_sym = ls;
		lr->caplabels = cap;
	}
	char *d = strdup(name);
	if (!d)
		return UINT32_MAX;
	lr->labels[lr->nlabels] = d;
	lr->label_sym[lr->nlabels] = sym;
	return lr->last_label = (uint32_t)lr->nlabels++;
}

static uint32_t label_root(void *ctx, const struct mt_leaks_root *r, uint64_t *lo, uint64_t *hi)
{
	struct leakrun *lr = ctx;
	char buf[600];
	uint64_t sym = 0;
	*lo = *hi = 0;
	switch (r->kind) {
	case MT_ROOT_STACK:
		snprintf(buf, sizeof buf, "thread %d's stack", r->tid);
		*hi = UINT64_MAX;
		break;
	case MT_ROOT_REGISTER:
		snprintf(buf, sizeof buf, "thread %d's register %s", r->tid,
			 r->where < MT_ARCH_NREGS ? mt_arch_reg_names[r->where] : "?");
		break;
	case MT_ROOT_TLS:
		snprintf(buf, sizeof buf, "thread %d's dynamic thread vector", r->tid);
		break;
	default: {
		struct mt_data_symbol ds;
		const struct mt_map *m =
			lr->s->freeze ? mt_maps_find(mt_freeze_maps(lr->s->freeze), r->where)
				      : NULL;
		if (mt_symbolize_data(lr->s->sym, r->where, &ds) && ds.name[0]) {
			snprintf(buf, sizeof buf, "%s (%s)", ds.name, ds.module);
			*lo = sym = ds.lo;
			*hi = ds.hi;
			break;
		}
		if (ds.module[0])
			snprintf(buf, sizeof buf, "data of %s", ds.module);
		else if (m && m->path && m->path[0])
			snprintf(buf, sizeof buf, "%s", m->path);
		else if (m)
			snprintf(buf, sizeof buf, "anonymous memory at 0x%" PRIx64, m->start);
		else
			snprintf(buf, sizeof buf, "anonymous memory");
		if (m) {
			*lo = m->start;
			*hi = m->end;
		}
	}
	}
	return intern(lr, buf, sym);
}

/* ---- groups ------------------------------------------------------------- */

/* The group of the traced blocks of SITE and census row ROW (a class or
 * a size): its index, or -1. */
static long pair(struct leakrun *lr, uint32_t site, uint32_t row)
{
	uint64_t key = (uint64_t)site << 32 | row;
	uint32_t p;
	if (mt_u64map_get(&lr->pairs, key, &p))
		return p;
	if (lr->npairs >= TRACED_BIT || key == UINT64_MAX)
		return -1;
	if (lr->npairs == lr->cappairs) {
		size_t cap = lr->cappairs ? lr->cappairs * 2 : 64;
		uint32_t *ps = realloc(lr->psite, cap * sizeof *ps);
		if (ps)
			lr->psite = ps;
		uint32_t *pr = realloc(lr->prow, cap * sizeof *pr);
		if (pr)
			lr->prow = pr;
		if (!ps || !pr)
			return -1;
		lr->cappairs = cap;
	}
	if (mt_u64map_put(&lr->pairs, key, (uint32_t)lr->npairs) < 0)
		return -1;
	lr->psite[lr->npairs] = site;
	lr->prow[lr->npairs] = row;
	return (long)lr->npairs++;
}

/* A block allocated while traced is grouped by its site and its class or
 * size; any other by its census row alone. */
static uint32_t group_of(void *ctx, size_t i, uint64_t addr, uint32_t row)
{
	(void)i;
	struct leakrun *lr = ctx;
	struct mt_block b;
	long p;
	if (mt_livetable_find_containing(mt_tracker_live(lr->s->tracker), addr, &b) &&
	    b.addr == addr && (p = pair(lr, b.site, row)) >= 0)
		return TRACED_BIT | (uint32_t)p;
	return row;
}

/* ---- roots -------------------------------------------------------------- */

static bool not_memory(const struct mt_map *m)
{
	if (!m->r || !m->w || !m->path)
		return !m->r || !m->w;
	return strncmp(m->path, "/dev/", 5) == 0 || strcmp(m->path, "[vvar]") == 0 ||
	       strcmp(m->path, "[vsyscall]") == 0 || strstr(m->path, MT_AGENT_REGION_NAME);
}

/* [LO, HI) less glibc's own state (OWN_LO/HI, N ranges). */
static int scan_less_own(struct leakrun *lr, uint64_t lo, uint64_t hi, const uint64_t *own_lo,
			 const uint64_t *own_hi, size_t n, const struct mt_leaks_root *r)
{
	for (size_t k = 0; k < n; k++) {
		if (own_hi[k] <= lo || own_lo[k] >= hi)
			continue;
		int err = 0;
		if (own_lo[k] > lo)
			err = scan_less_own(lr, lo, own_lo[k], own_lo, own_hi, n, r);
		if (!err && own_hi[k] < hi)
			err = scan_less_own(lr, own_hi[k], hi, own_lo, own_hi, n, r);
		return err;
	}
	return mt_leaks_root_range(lr->lk, lo, hi, r);
}

/* The lowest stack pointer in [LO, HI), and its thread: false if none. */
static bool stack_in(const struct leakrun *lr, uint64_t lo, uint64_t hi, uint64_t *sp, int *tid)
{
	bool found = false;
	for (size_t i = 0; i < lr->nth; i++) {
		uint64_t p = mt_regs_sp(&lr->th[i].regs);
		if (p >= lo && p < hi && (!found || p < *sp)) {
			*sp = p;
			*tid = lr->th[i].tid;
			found = true;
		}
	}
	return found;
}

/* One piece of a mapping that is no heap: a stack from its lowest stack
 * pointer, or all of it. */
static int scan_piece(struct leakrun *lr, const struct mt_map *m, uint64_t lo, uint64_t hi,
		      const uint64_t *own_lo, const uint64_t *own_hi, size_t nown)
{
	uint64_t sp = 0;
	int tid = 0;
	if (stack_in(lr, lo, hi, &sp, &tid)) {
		struct mt_leaks_root r = { MT_ROOT_STACK, tid, 0 };
		uint64_t from = sp - MT_ARCH_RED_ZONE > lo ? sp - MT_ARCH_RED_ZONE : lo;
		return mt_leaks_root_range(lr->lk, from, hi, &r);
	}
	bool file = m->path && m->path[0] == '/';
	struct mt_leaks_root r = { file ? MT_ROOT_GLOBAL : MT_ROOT_MEMORY, 0, 0 };
	return scan_less_own(lr, lo, hi, own_lo, own_hi, nown, &r);
}

/* Every mapping that may hold pointers, less the heap's extents (the
 * census's: a mapping of an mmapped chunk merged with its neighbours holds
 * both). */
static int memory_roots(struct leakrun *lr)
{
	const struct mt_maps *maps = mt_freeze_maps(lr->s->freeze);
	uint64_t own_lo[2], own_hi[2];
	size_t nown = mt_glheap_own_state(mt_freeze_glheap(lr->s->freeze), own_lo, own_hi);
	size_t next;
	const struct mt_census_extent *ext = mt_census_extents(lr->s->census, &next);
	size_t e = 0;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (not_memory(m))
			continue;
		while (e < next && ext[e].hi <= m->start)
			e++;
		uint64_t at = m->start;
		for (size_t k = e; k < next && ext[k].lo < m->end && at < m->end; k++) {
			if (ext[k].lo > at) {
				int err = scan_piece(lr, m, at, ext[k].lo, own_lo, own_hi, nown);
				if (err)
					return err;
			}
			at = ext[k].hi > at ? ext[k].hi : at;
		}
		if (at < m->end) {
			int err = scan_piece(lr, m, at, m->end, own_lo, own_hi, nown);
			if (err)
				return err;
		}
	}
	return 0;
}

/* A thread whose stack pointer is in a heap block (an alternate signal
 * stack or a stack it malloc'd): the block is in use, and only from the
 * stack pointer (less the red zone) up does it hold live frames.  Before
 * any other root: a block reached first by a pointer would be scanned
 * whole, dead frames and all. */
static int stacks_in_blocks(struct leakrun *lr)
{
	for (size_t i = 0; i < lr->nth; i++) {
		size_t bi;
		uint64_t lo, hi, sp = mt_regs_sp(&lr->th[i].regs);
		if (!mt_leaks_find(lr->lk, sp, &bi, &lo, &hi))
			continue;
		struct mt_leaks_root r = { MT_ROOT_STACK, lr->th[i].tid, sp };
		if (mt_leaks_root_held(lr->lk, lo, &r) < 0)
			return -ENOMEM;
		uint64_t from = sp - MT_ARCH_RED_ZONE > lo ? sp - MT_ARCH_RED_ZONE : lo;
		if (mt_leaks_root_range(lr->lk, from, hi, &r) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int thread_roots(struct leakrun *lr)
{
	const struct mt_memsrc *src = mt_freeze_memsrc(lr->s->freeze);
	for (size_t i = 0; i < lr->nth; i++) {
		const struct leak_thread *t = &lr->th[i];
		uint64_t w[MT_ARCH_NREGS];
		mt_arch_reg_words(&t->regs, w);
		for (unsigned k = 0; k < MT_ARCH_NREGS; k++) {
			struct mt_leaks_root r = { MT_ROOT_REGISTER, t->tid, k };
			if (mt_leaks_root_value(lr->lk, w[k], &r) < 0)
				return -ENOMEM;
		}
		size_t bi;
		uint64_t lo, hi;
		uint64_t dtv;
		uint64_t tp = mt_regs_tp(&t->regs);
		if (tp && mt_memsrc_read(src, tp + MT_ARCH_TCB_DTV, &dtv, 8) == 0 &&
		    mt_leaks_find(lr->lk, dtv, &bi, &lo, &hi)) {
			struct mt_leaks_root r = { MT_ROOT_TLS, t->tid, tp + MT_ARCH_TCB_DTV };
			if (mt_leaks_root_value(lr->lk, lo, &r) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---- the report --------------------------------------------------------- */

static void warn(struct leakrun *lr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct leakrun *lr, const char *fmt, ...)
{
	struct mt_leaks_report *r = &lr->rep;
	char **w = realloc(r->warnings, (r->nwarnings + 1) * sizeof *w);
	if (!w)
		return;
	r->warnings = w;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&w[r->nwarnings], fmt, ap) >= 0)
		r->nwarnings++;
	va_end(ap);
}

static const struct mt_report_site *site_row(struct leakrun *lr, uint32_t site)
{
	if (!lr->have_sites)
		return NULL;
	const struct mt_site *st = mt_sites_get_const(mt_tracker_sites(lr->s->tracker), site);
	if (!st)
		return NULL;
	for (size_t i = 0; i < lr->sites.nsites; i++)
		if (lr->sites.sites[i].key == st->key)
			return &lr->sites.sites[i];
	return NULL;
}

/* The name parts of group G: a class, a site (its frames), or a size. */
static void name_group(struct leakrun *lr, uint32_t g, const char **type, const char **site,
		       uint64_t *size, const struct mt_report_site **rs)
{
	*type = NULL;
	*site = NULL;
	*size = 0;
	*rs = NULL;
	if (g & TRACED_BIT) {
		uint32_t p = g & ~TRACED_BIT;
		*rs = site_row(lr, lr->psite[p]);
		*site = *rs ? (*rs)->function : "?";
		if (*rs && !(*rs)->function[0])
			*site = (*rs)->module;
		g = lr->prow[p];
	}
	*type = mt_census_row_type(lr->s->census, g);
	*size = mt_census_row_size(lr->s->census, g);
}

/* A root's name in a chain: a global's symbol, with the offset of the
 * field when one word of it held all it reached ("g_sessions+16 (app)").
 * Kept in LR (freed with it). */
static const char *root_name(struct leakrun *lr, uint32_t label)
{
	if (label >= lr->nlabels)
		return "a root";
	uint64_t where, sym = lr->label_sym[label];
	const char *name = lr->labels[label];
	const char *paren = strstr(name, " (");
	if (!sym || !paren || !mt_leaks_label_where(lr->lk, label, &where) || where <= sym)
		return name;
	char buf[700];
	snprintf(buf, sizeof buf, "%.*s+%" PRIu64 "%s", (int)(paren - name), name, where - sym,
		 paren);
	uint32_t k = intern(lr, buf, 0);
	return k < lr->nlabels ? lr->labels[k] : name;
}

/* G's chain: the path that holds most of its bytes; its last link counts
 * all of G's blocks, and how many of them this path holds. */
static struct mt_leaks_report_link *chain_of(struct leakrun *lr, const struct mt_leaks_group *g,
					     size_t *n)
{
	struct mt_leaks_link raw[MAX_CHAIN];
	*n = mt_leaks_chain(lr->lk, g->path, raw, MAX_CHAIN);
	if (!*n)
		return NULL;
	struct mt_leaks_report_link *out = calloc(*n, sizeof *out);
	if (!out) {
		*n = 0;
		return NULL;
	}
	for (size_t k = 0; k < *n; k++) {
		out[k].blocks = raw[k].blocks;
		out[k].bytes = raw[k].bytes;
		out[k].run = raw[k].run;
		if (raw[k].root) {
			out[k].root = root_name(lr, raw[k].id);
			continue;
		}
		const struct mt_report_site *rs;
		name_group(lr, raw[k].id, &out[k].type, &out[k].site, &out[k].size, &rs);
	}
	struct mt_leaks_report_link *last = &out[*n - 1];
	last->chain_blocks = last->blocks;
	last->blocks = g->blocks;
	last->bytes = g->bytes;
	return out;
}

static bool matches(const char *q, const char *type, const char *site, uint64_t size)
{
	if (type)
		return strcmp(type, q) == 0 || strstr(type, q) != NULL;
	if (site)
		return strstr(site, q) != NULL;
	char buf[48];
	snprintf(buf, sizeof buf, "%" PRIu64, size);
	return strcmp(q, buf) == 0 || (strncmp(q, "size ", 5) == 0 && strcmp(q + 5, buf) == 0);
}

static int add_why(struct leakrun *lr, const struct mt_leaks_group *g, const char *name)
{
	struct mt_leaks_report *r = &lr->rep;
	struct mt_leaks_why *w = realloc(r->why, (r->nwhy + 1) * sizeof *w);
	if (!w)
		return -ENOMEM;
	r->why = w;
	struct mt_leaks_why *y = &w[r->nwhy++];
	*y = (struct mt_leaks_why){ strdup(name), (enum mt_leaks_class)g->kind,
				    g->blocks,	  g->bytes,
				    NULL,	  0 };
	if (g->path != MT_LEAKS_NO_PATH)
		y->chain = chain_of(lr, g, &y->nchain);
	return y->match ? 0 : -ENOMEM;
}

static int build_rows(struct leakrun *lr)
{
	struct mt_leaks_group *g;
	size_t n;
	if (mt_leaks_groups(lr->lk, &g, &n) < 0)
		return -ENOMEM;
	struct mt_leaks_report *r = &lr->rep;
	const struct mt_options *o = lr->s->o;
	r->rows = calloc(n ? n : 1, sizeof *r->rows);
	if (!r->rows) {
		free(g);
		return -ENOMEM;
	}
	r->reachable_shown = o->show_reachable ? SIZE_MAX : REACHABLE_SHOWN;
	size_t reach = 0;
	for (size_t i = 0; i < n; i++) {
		struct mt_leaks_row *x = &r->rows[r->nrows++];
		const struct mt_report_site *rs;
		name_group(lr, g[i].group, &x->type, &x->site, &x->size, &rs);
		x->kind = (enum mt_leaks_class)g[i].kind;
		x->blocks = g[i].blocks;
		x->bytes = g[i].bytes;
		x->indirect_bytes = g[i].indirect_bytes;
		if (rs) {
			x->frames = rs->frames;
			x->nframes = rs->nframes;
		}
		if (x->kind == MT_LEAKS_REACHABLE && reach++ < r->reachable_shown &&
		    g[i].path != MT_LEAKS_NO_PATH)
			x->chain = chain_of(lr, &g[i], &x->nchain);
		char name[600];
		if (o->leaks_why && matches(o->leaks_why, x->type, x->site, x->size)) {
			if (x->type)
				snprintf(name, sizeof name, "%s", x->type);
			else if (x->site)
				snprintf(name, sizeof name, "%s", x->site);
			else
				snprintf(name, sizeof name, "size %" PRIu64, x->size);
			if (add_why(lr, &g[i], name) < 0) {
				free(g);
				return -ENOMEM;
			}
		}
	}
	free(g);
	r->why_query = o->leaks_why;
	return 0;
}

static void say_unavailable(struct leakrun *lr, const char *why)
{
	lr->rep.available = false;
	snprintf(lr->rep.reason, sizeof lr->rep.reason, "%s", why);
}

/* Ticks of the mark: the target's stops are taken as the walk takes them. */
static void tick(void *ctx)
{
	struct leakrun *lr = ctx;
	if (lr->pump && !lr->s->end)
		lr->pump(lr->s);
}

/* Roots, mark, rows: 0, or -ENOMEM. */
static int check(struct leakrun *lr)
{
	struct session *s = lr->s;
	const struct mt_memsrc *src = mt_freeze_memsrc(s->freeze);
	uint64_t guard = 0;
	bool have_guard = lr->nth && mt_regs_tp(&lr->th[0].regs) &&
			  mt_memsrc_read(src,
					 mt_regs_tp(&lr->th[0].regs) + MT_ARCH_TCB_POINTER_GUARD,
					 &guard, 8) == 0;
	struct mt_leaks_config cfg = {
		.src = src,
		.census = s->census,
		.group = s->o->duration > 0 ? group_of : NULL,
		.group_ctx = lr,
		.label = label_root,
		.label_ctx = lr,
		.guard = have_guard,
		.pointer_guard = guard,
		.tick = tick,
		.tick_ctx = lr,
	};
	const char *why;
	lr->lk = mt_leaks_new(&cfg, &why);
	if (!lr->lk) {
		say_unavailable(lr, why);
		return 0;
	}
	if (stacks_in_blocks(lr) < 0 || memory_roots(lr) < 0 || thread_roots(lr) < 0 ||
	    mt_leaks_mark(lr->lk) < 0)
		return -ENOMEM;
	if (s->o->duration > 0)
		lr->have_sites = mt_session_report_rows(s, &lr->sites) == 0;
	return build_rows(lr);
}

static void totals(struct leakrun *lr)
{
	struct mt_leaks_totals t;
	mt_leaks_totals(lr->lk, &t);
	struct mt_leaks_report *r = &lr->rep;
	for (int k = 0; k < MT_LEAKS__CLASSES; k++) {
		r->blocks[k] = t.blocks[k];
		r->bytes[k] = t.bytes[k];
	}
	r->root_bytes = t.root_bytes;
	r->unreadable_bytes = t.root_unreadable + t.block_unreadable;
	if (r->unreadable_bytes)
		warn(lr,
		     "%" PRIu64 " bytes of memory that may hold pointers could not be read "
		     "(%" PRIu64 " of roots, %" PRIu64 " of blocks): some blocks said lost may "
		     "not be",
		     r->unreadable_bytes, t.root_unreadable, t.block_unreadable);
	if (lr->s->o->verbose)
		mt_say("leaks: scanned %" PRIu64 " bytes of roots and %" PRIu64
		       " of blocks in %" PRIu64 " reads",
		       t.root_bytes, t.block_bytes, t.reads);
}

void mt_session_leaks_take(struct session *s, census_pump_fn pump)
{
	struct leakrun *lr = calloc(1, sizeof *lr);
	if (!lr)
		return;
	s->leaks = lr;
	lr->s = s;
	lr->pump = pump;
	lr->t0 = mt_clock_s();
	struct mt_leaks_report *r = &lr->rep;
	r->pid = (int)s->pid;
	snprintf(r->comm, sizeof r->comm, "%s", s->comm);
	r->available = true;
	r->complete = true;
	if (s->o->duration > 0)
		r->traced_s = (s->t_end ? s->t_end : mt_clock_s()) - s->t_start;

	char why[256], dir[4200];
	if (mt_census_allocator_refusal(s->set.allocator, why, sizeof why)) {
		say_unavailable(lr, why);
		return;
	}
	if (mt_freeze_take(s->t, mt_session_cache_dir(dir, sizeof dir), &s->freeze, why,
			   sizeof why) < 0) {
		s->freeze = NULL;
		say_unavailable(lr, why);
		return;
	}
	double t1 = mt_clock_s();
	mt_target_for_each_task(s->t, grab_thread, lr);
	r->threads = (int)lr->nth;
	mt_target_resume_all(s->t);
	struct mt_freeze_stats fs;
	mt_freeze_stats(s->freeze, &fs);
	r->paused_ms = fs.paused_ms + (mt_clock_s() - t1) * 1000;
	snprintf(r->allocator, sizeof r->allocator, "glibc %s",
		 mt_glheap_version(mt_freeze_glheap(s->freeze)));
	/* data symbols name the roots: the modules as they are now */
	mt_symbolizer_refresh(s->sym);
	int err = mt_session_census_walk(s, pump, why, sizeof why);
	if (err)
		say_unavailable(lr, why);
	else if (check(lr) < 0)
		say_unavailable(lr, "out of memory for the leak check");
	mt_session_census_kill(s, pump);
	if (r->available) {
		const struct mt_census_report *c = mt_session_census_report(s);
		r->complete = c->available && c->complete;
		for (size_t i = 0; i < c->nwarnings; i++)
			warn(lr, "heap walk: %s", c->warnings[i]);
		if (lr->lk)
			totals(lr);
		if (r->unreadable_bytes)
			r->complete = false;
	}
	r->took_ms = (mt_clock_s() - lr->t0) * 1000;
	if (s->o->verbose)
		mt_say("leaks: threads paused %.1f ms (%d quiescence checks), the check took %.1f ms",
		       r->paused_ms, fs.tries, r->took_ms);
}

int mt_session_leaks_print(struct session *s)
{
	struct leakrun *lr = s->leaks;
	const struct mt_options *o = s->o;
	if (!lr)
		return mt_fail(MT_E_INTERNAL, "out of memory for the leak check");
	struct mt_leaks_report *r = &lr->rep;
	if (!r->available) {
		/* said once, on stderr; JSON keeps its object on stdout */
		int rc = mt_fail(MT_E_CENSUS_UNAVAILABLE, "leaks: not available: %s", r->reason);
		if (o->json && mt_report_leaks_json(s->out, r) < 0)
			return mt_fail(MT_E_IO, "cannot write the report: %s", strerror(errno));
		return rc;
	}
	int err = o->json ? mt_report_leaks_json(s->out, r)
			  : mt_report_leaks_table(s->out, r, o->top);
	if (err < 0)
		return mt_fail(MT_E_IO, "cannot write the report: %s", strerror(errno));
	if (o->error_exitcode && (r->blocks[MT_LEAKS_DEFINITE] || r->blocks[MT_LEAKS_POSSIBLE]))
		return o->error_exitcode;
	return 0;
}

void mt_session_leaks_free(struct session *s)
{
	struct leakrun *lr = s->leaks;
	if (!lr)
		return;
	struct mt_leaks_report *r = &lr->rep;
	for (size_t i = 0; i < r->nrows; i++)
		free(r->rows[i].chain);
	free(r->rows);
	for (size_t i = 0; i < r->nwhy; i++) {
		free((char *)r->why[i].match);
		free(r->why[i].chain);
	}
	free(r->why);
	for (size_t i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	for (size_t i = 0; i < lr->nlabels; i++)
		free(lr->labels[i]);
	free(lr->labels);
	free(lr->label_sym);
	if (lr->have_sites)
		mt_report_free(&lr->sites);
	mt_u64map_free(&lr->pairs);
	free(lr->psite);
	free(lr->prow);
	mt_leaks_destroy(lr->lk);
	free(lr->th);
	free(lr);
	s->leaks = NULL;
}

int mt_session_leaks_command(struct session *s)
{
	int rc = mt_session_census_attach(s);
	if (rc)
		return rc;
	s->start_unix_ns = mt_session_unix_ns();
	mt_session_leaks_take(s, mt_session_pump_plain);
	mt_session_census_detach(s);
	if (s->end == END_EXITED)
		return mt_fail(MT_E_TARGET_LOST, "pid %d exited during the leak check",
			       (int)s->pid);
	return mt_session_leaks_print(s);
}
