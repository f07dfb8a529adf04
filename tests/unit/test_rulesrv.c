/* Tests for src/engine/rulesrv.c on the test's own process: a fake shared area
 * in malloc'd memory plays the agent's side (post a request, bump and wake
 * req_seq, wait on rule_gen), the server answers from the test binary's
 * own CFI.  rs_probe below is assembly with hand-written CFI, so that the
 * rule at each of its instructions is known exactly; a return address in
 * compiled code is checked against the live stack instead. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "engine/rulesrv.h"

/* +0: CFA rsp+8; +1 (after the push): CFA rsp+16, rbp saved at CFA-16;
 * +4 (after the mov): CFA rbp+16.  The return address is at CFA-8 all
 * along.  Never called. */
__asm__(".text\n"
	".globl rs_probe\n"
	".type rs_probe, @function\n"
	"rs_probe:\n"
	".cfi_startproc\n"
	"	pushq %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"	movq %rsp, %rbp\n"
	".cfi_def_cfa_register %rbp\n"
	"	nop\n"
	"	popq %rbp\n"
	".cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	".cfi_endproc\n"
	".size rs_probe, .-rs_probe\n");
void rs_probe(void);

#define PROBE ((uint64_t)(uintptr_t)&rs_probe)
/* Whether the compiler may have kept frame pointers (and rbp-based CFAs):
 * sanitizers and -O0 do, meson's default -O2 does not. */
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
#define MAY_KEEP_FP 1
#else
#define MAY_KEEP_FP 0
#endif
#define NS_PER_MS 1000000L

struct area {
	struct mt_agent_shared *sh;
	struct mt_agent_rule *rules;
	size_t len;
};

static struct area area_new(uint32_t cap)
{
	size_t off = (sizeof(struct mt_agent_shared) + 63) & ~(size_t)63;
	struct area a = { .len = off + cap * sizeof(struct mt_agent_rule) };
	a.sh = aligned_alloc(64, (a.len + 63) & ~(size_t)63);
	ck_assert_ptr_nonnull(a.sh);
	memset(a.sh, 0, a.len);
	a.sh->magic = MT_AGENT_SHARED_MAGIC;
	a.sh->version = MT_AGENT_VERSION;
	a.sh->size = sizeof *a.sh;
	a.sh->rules_off = off;
	a.sh->rules_cap = cap;
	a.rules = (struct mt_agent_rule *)((char *)a.sh + off);
	return a;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void futex(uint32_t *word, int op, uint32_t val, long ns)
{
	struct timespec ts = { 0, ns };
	syscall(SYS_futex, word, op, val, op == FUTEX_WAIT ? &ts : NULL, NULL, 0);
}

/* The agent's lookup: NULL when ADDR has no entry. */
static const struct mt_agent_rule *find(const struct area *a, uint64_t addr)
{
	uint32_t cap = a->sh->rules_cap;
	uint64_t i = mt_agent_rule_slot(addr, cap);
	for (uint32_t n = 0; n < cap; n++, i = (i + 1) & (cap - 1)) {
		uint64_t k = __atomic_load_n(&a->rules[i].addr, __ATOMIC_ACQUIRE);
		if (k == addr)
			return &a->rules[i];
		if (k == 0)
			return NULL;
	}
	return NULL;
}

/* As the agent does: claim a free request slot, bump and wake req_seq. */
static int post(struct area *a, uint64_t addr)
{
	for (int i = 0; i < MT_AGENT_NREQ; i++) {
		uint64_t zero = 0;
		if (__atomic_compare_exchange_n(&a->sh->req[i], &zero, addr, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			__atomic_add_fetch(&a->sh->req_seq, 1, __ATOMIC_SEQ_CST);
			futex(&a->sh->req_seq, FUTEX_WAKE, INT_MAX, 0);
			return i;
		}
	}
	ck_abort_msg("no free request slot");
	return -1;
}

/* Wait (at most 5 s) for ADDR's rule, as the agent does: rule_gen read
 * before the lookup, then a bounded wait on it.  NULL on timeout. */
static const struct mt_agent_rule *await(struct area *a, uint64_t addr)
{
	uint64_t end = now_ns() + 5000 * (uint64_t)NS_PER_MS;
	for (;;) {
		uint32_t gen = __atomic_load_n(&a->sh->rule_gen, __ATOMIC_SEQ_CST);
		const struct mt_agent_rule *r = find(a, addr);
		if (r || now_ns() > end)
			return r;
		futex(&a->sh->rule_gen, FUTEX_WAIT, gen, 20 * NS_PER_MS);
	}
}

static struct mt_rulesrv *server(struct area *a)
{
	struct mt_rulesrv *srv = mt_rulesrv_new(getpid(), a->sh, a->len, NULL, 0);
	ck_assert_ptr_nonnull(srv);
	return srv;
}

static void assert_rule(const struct mt_agent_rule *r, uint64_t addr, int kind, int cfa_reg,
			int cfa_off, int ra_off, int bp, int bp_off)
{
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->addr, addr);
	ck_assert_int_eq(r->kind, kind);
	ck_assert_int_eq(r->cfa_reg, cfa_reg);
	ck_assert_int_eq(r->cfa_off, cfa_off);
	ck_assert_int_eq(r->ra_off, ra_off);
	ck_assert_int_eq(r->bp, bp);
	ck_assert_int_eq(r->bp_off, bp_off);
}

START_TEST(requests_get_exact_rules)
{
	struct area a = area_new(256);
	struct mt_rulesrv *srv = server(&a);
	int s0 = post(&a, PROBE), s1 = post(&a, PROBE + 1), s4 = post(&a, PROBE + 4);

	assert_rule(await(&a, PROBE), PROBE, MT_AGENT_RULE_STEP, 7, 8, -8, MT_AGENT_BP_SAME, 0);
	assert_rule(await(&a, PROBE + 1), PROBE + 1, MT_AGENT_RULE_STEP, 7, 16, -8,
		    MT_AGENT_BP_AT, -16);
	assert_rule(await(&a, PROBE + 4), PROBE + 4, MT_AGENT_RULE_STEP, 6, 16, -8,
		    MT_AGENT_BP_AT, -16);
	ck_assert_uint_ge(a.sh->rule_gen, 1);
	/* The agent clears its slots; nothing more is written. */
	a.sh->req[s0] = a.sh->req[s1] = a.sh->req[s4] = 0;

	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.answered, 3);
	ck_assert_uint_eq(st.slow, 0);
	ck_assert_uint_eq(st.prefilled, 0);
	ck_assert_uint_eq(st.table_full, 0);
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

/* A return address in compiled code: the rule, applied to the stack as it
 * was at the return, must find the caller's own return address. */
static struct area ret_area;
static const struct mt_agent_rule *ret_rule;
static uint64_t ret_addr, ret_found, outer_ra;

static int read_self(uint64_t addr, uint64_t *out)
{
	/* Not a dereference: a wrong rule must fail the test, not crash it. */
	struct iovec l = { out, sizeof *out }, r = { (void *)(uintptr_t)addr, sizeof *out };
	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)sizeof *out ? 0 : -1;
}

__attribute__((noinline, noclone)) static void inner(void)
{
	ret_addr = (uint64_t)(uintptr_t)__builtin_return_address(0);
	/* The caller's rsp and rbp once we have returned: our CFA, and the
	 * rbp our frame pointer (forced by asking for it) saved. */
	uint64_t rsp = (uint64_t)(uintptr_t)__builtin_dwarf_cfa(), rbp = 0;
	if (read_self((uint64_t)(uintptr_t)__builtin_frame_address(0), &rbp) != 0)
		rbp = 0;
	int slot = post(&ret_area, ret_addr - 1);
	ret_rule = await(&ret_area, ret_addr - 1);
	ret_area.sh->req[slot] = 0;
	if (ret_rule && ret_rule->kind == MT_AGENT_RULE_STEP) {
		uint64_t cfa = (ret_rule->cfa_reg == 7 ? rsp : rbp) +
			(uint64_t)(int64_t)ret_rule->cfa_off;
		if (read_self(cfa + (uint64_t)(int64_t)ret_rule->ra_off, &ret_found) != 0)
			ret_found = 0;
	}
}

__attribute__((noinline, noclone)) static int outer(int x)
{
	outer_ra = (uint64_t)(uintptr_t)__builtin_return_address(0);
	inner();
	__asm__ volatile("" ::: "memory");   /* no tail call: a real return */
	return x + 1;
}

START_TEST(return_address_rule_matches_the_stack)
{
	ret_area = area_new(256);
	struct mt_rulesrv *srv = server(&ret_area);
	ck_assert_int_eq(outer(1), 2);
	ck_assert_ptr_nonnull(ret_rule);
	ck_assert_uint_eq(ret_rule->addr, ret_addr - 1);
	ck_assert_int_eq(ret_rule->kind, MT_AGENT_RULE_STEP);
	if (MAY_KEEP_FP)
		ck_assert(ret_rule->cfa_reg == 6 || ret_rule->cfa_reg == 7);
	else
		ck_assert_int_eq(ret_rule->cfa_reg, 7);
	ck_assert_int_eq(ret_rule->ra_off, -8);
	ck_assert_int_ge(ret_rule->cfa_off, 8);
	ck_assert_int_eq(ret_rule->cfa_off % 8, 0);
	ck_assert_uint_ne(outer_ra, 0);
	ck_assert_uint_eq(ret_found, outer_ra);
	mt_rulesrv_destroy(srv);
	free(ret_area.sh);
}
END_TEST

/* An address in no module has no CFI: the frame-pointer rule (JIT code). */
START_TEST(garbage_gets_frame_pointer_rule_and_serving_goes_on)
{
	struct area a = area_new(256);
	struct mt_rulesrv *srv = server(&a);
	int s = post(&a, 0x10);
	assert_rule(await(&a, 0x10), 0x10, MT_AGENT_RULE_STEP, 6, 16, -8, MT_AGENT_BP_AT, -16);
	a.sh->req[s] = 0;
	post(&a, MT_AGENT_REQ_REFUSED - 8);    /* no user address at all */
	ck_assert_ptr_nonnull(await(&a, MT_AGENT_REQ_REFUSED - 8));
	post(&a, PROBE);
	assert_rule(await(&a, PROBE), PROBE, MT_AGENT_RULE_STEP, 7, 8, -8, MT_AGENT_BP_SAME, 0);

	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.answered, 3);
	ck_assert_uint_eq(st.slow, 0);
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

START_TEST(insert_prefills_synchronously)
{
	struct area a = area_new(256);
	struct mt_rulesrv *srv = server(&a);
	uint32_t gen = __atomic_load_n(&a.sh->rule_gen, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE + 1), 0);
	assert_rule(find(&a, PROBE + 1), PROBE + 1, MT_AGENT_RULE_STEP, 7, 16, -8,
		    MT_AGENT_BP_AT, -16);
	ck_assert_uint_eq(a.sh->rule_gen, gen + 1);
	/* Already there: nothing written, nothing woken. */
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE + 1), 0);
	ck_assert_uint_eq(a.sh->rule_gen, gen + 1);
	ck_assert_int_eq(mt_rulesrv_insert(srv, 0), -EINVAL);

	/* After a refresh the server still answers. */
	mt_rulesrv_refresh(srv);
	post(&a, PROBE);
	ck_assert_ptr_nonnull(await(&a, PROBE));

	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.prefilled, 1);
	ck_assert_uint_eq(st.answered, 1);
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

START_TEST(existing_entries_are_never_overwritten)
{
	struct area a = area_new(256);
	/* Left by someone else (an earlier memtrace, or the target). */
	struct mt_agent_rule *e = &a.rules[mt_agent_rule_slot(PROBE, 256)];
	*e = (struct mt_agent_rule){ .addr = PROBE, .kind = MT_AGENT_RULE_LAST, .cfa_reg = 6,
				     .cfa_off = 1234, .ra_off = 5, .bp_off = 6,
				     .bp = MT_AGENT_BP_IS };
	struct mt_agent_rule before = *e;
	struct mt_rulesrv *srv = server(&a);
	post(&a, PROBE);
	post(&a, PROBE + 1);
	ck_assert_ptr_nonnull(await(&a, PROBE + 1));
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE), 0);
	ck_assert_mem_eq(e, &before, sizeof before);
	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.answered, 1);
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

/* Wait (at most 5 s) until slot I of the requests no longer holds the
 * plain address WAS, as the agent's waiter does; the value it then holds. */
static uint64_t await_answer(struct area *a, int i, uint64_t was)
{
	uint64_t end = now_ns() + 5000 * (uint64_t)NS_PER_MS;
	for (;;) {
		uint32_t gen = __atomic_load_n(&a->sh->rule_gen, __ATOMIC_SEQ_CST);
		uint64_t v = __atomic_load_n(&a->sh->req[i], __ATOMIC_SEQ_CST);
		if (v != was || now_ns() > end)
			return v;
		futex(&a->sh->rule_gen, FUTEX_WAIT, gen, 20 * NS_PER_MS);
	}
}

START_TEST(full_table_refuses_and_says_so)
{
	struct area a = area_new(4);       /* room for 2: load <= 1/2 */
	struct mt_rulesrv *srv = server(&a);
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE), 0);
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE + 1), 0);
	ck_assert_uint_eq(a.sh->rules_full, 0);
	uint32_t gen = a.sh->rule_gen;
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE + 4), -ENOSPC);
	ck_assert_ptr_null(find(&a, PROBE + 4));
	/* No rule fits any more: the agent is told, and its waiters woken. */
	ck_assert_uint_eq(a.sh->rules_full, 1);
	ck_assert_uint_gt(a.sh->rule_gen, gen);

	/* A request that finds no room comes back refused, at once. */
	int k = post(&a, PROBE + 5);
	ck_assert_uint_eq(await_answer(&a, k, PROBE + 5), (PROBE + 5) | MT_AGENT_REQ_REFUSED);
	ck_assert_ptr_null(find(&a, PROBE + 5));
	/* A refused slot is the agent's to clear, and is not looked up again:
	 * the pass that refuses a later slot goes past it. */
	int k2 = post(&a, PROBE + 6);
	ck_assert_int_gt(k2, k);
	ck_assert_uint_eq(await_answer(&a, k2, PROBE + 6), (PROBE + 6) | MT_AGENT_REQ_REFUSED);
	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.table_full, 3);
	ck_assert_uint_eq(a.sh->req[k], (PROBE + 5) | MT_AGENT_REQ_REFUSED);
	ck_assert_uint_eq(st.prefilled, 2);
	ck_assert_uint_eq(st.answered, 0);
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

START_TEST(crowded_address_refused_alone)
{
	struct area a = area_new(1024);
	/* Someone else's entries in the 64 slots from PROBE's home on: the
	 * table is far from full, but there is no room for PROBE. */
	uint64_t home = mt_agent_rule_slot(PROBE, 1024);
	for (int n = 0; n < 64; n++)
		a.rules[(home + n) & 1023].addr = 0x1000 + 16 * (uint64_t)n;
	struct mt_rulesrv *srv = server(&a);
	int k = post(&a, PROBE);
	ck_assert_uint_eq(await_answer(&a, k, PROBE), PROBE | MT_AGENT_REQ_REFUSED);
	ck_assert_ptr_null(find(&a, PROBE));
	ck_assert_uint_eq(a.sh->rules_full, 0);
	/* Other addresses still get their rules. */
	uint64_t other = PROBE + 1;
	while (((mt_agent_rule_slot(other, 1024) - home) & 1023) < 64)
		other++;
	post(&a, other);
	ck_assert_ptr_nonnull(await(&a, other));
	ck_assert_uint_eq(a.sh->rules_full, 0);
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

/* A page of executable memory, as a JIT or a library would map it. */
static uint64_t code_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return (uint64_t)(uintptr_t)p;
}

/* PAGE's code unloaded (PROT_NONE, not executable: for the server it is
 * gone) or loaded again there.  The page stays reserved in between: after
 * a munmap, another thread's mmap (ASan's allocator, the server reading the
 * maps) once took the hole and the reload failed with EEXIST. */
static void set_code(uint64_t page, bool code)
{
	void *p = mmap((void *)(uintptr_t)page, 4096, code ? PROT_READ | PROT_EXEC : PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ck_assert_msg(p == (void *)(uintptr_t)page, "mmap: %s", strerror(errno));
}

static size_t slot_of(const struct area *a, uint64_t addr)
{
	for (uint32_t i = 0; i < a->sh->rules_cap; i++)
		if (a->rules[i].addr == addr)
			return i;
	return SIZE_MAX;
}

/* PAGE, holding X, unloaded and loaded again at the same place, as a
 * dlclose and a dlopen do, each seen by a refresh (the insert of PROBE + 1,
 * there or not, runs the first): X's rule is withdrawn, then X gets one
 * again. */
static void reload(const struct area *a, struct mt_rulesrv *srv, uint64_t page, uint64_t x)
{
	set_code(page, false);
	mt_rulesrv_refresh(srv);
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE + 1), 0);
	ck_assert_ptr_null(find(a, x));
	set_code(page, true);
	mt_rulesrv_refresh(srv);
	ck_assert_int_eq(mt_rulesrv_insert(srv, x), 0);
	ck_assert_ptr_nonnull(find(a, x));
}

static void end_with_page(struct area *a, struct mt_rulesrv *srv, uint64_t page)
{
	mt_rulesrv_destroy(srv);
	munmap((void *)(uintptr_t)page, 4096);
	free(a->sh);
}

/* Code unmapped (dlclose) loses its rules at the next refresh: the entry
 * is withdrawn, not emptied, so an entry probed past it is still found.
 * Code mapped again at the same place gets its rule in a new slot when the
 * rule differs, and takes the withdrawn entry again when it is the same. */
START_TEST(unmapped_code_rules_are_withdrawn)
{
	struct area a = area_new(64);
	struct mt_rulesrv *srv = server(&a);
	uint64_t page = code_page(), x = page + 0x10;
	/* Q shares X's first slot, so it is placed after X in the probe. */
	uint64_t q = 0;
	for (uint64_t k = 0; k < 4096 && !q; k++)
		if (mt_agent_rule_slot(PROBE + k, 64) == mt_agent_rule_slot(x, 64))
			q = PROBE + k;
	ck_assert_uint_ne(q, 0);
	ck_assert_int_eq(mt_rulesrv_insert(srv, x), 0);
	ck_assert_int_eq(mt_rulesrv_insert(srv, q), 0);
	size_t at = slot_of(&a, x);
	ck_assert_uint_eq(at, mt_agent_rule_slot(x, 64));
	ck_assert_ptr_nonnull(find(&a, q));

	/* Still mapped: a refresh keeps everything. */
	mt_rulesrv_refresh(srv);
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE + 1), 0);   /* after the refresh */
	ck_assert_ptr_nonnull(find(&a, x));
	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.withdrawn, 0);

	set_code(page, false);
	mt_rulesrv_refresh(srv);
	ck_assert_int_eq(mt_rulesrv_insert(srv, PROBE + 1), 0);
	ck_assert_ptr_null(find(&a, x));
	ck_assert_uint_eq(a.rules[at].addr, MT_AGENT_RULE_GONE);
	ck_assert_ptr_nonnull(find(&a, q));
	ck_assert_ptr_nonnull(find(&a, PROBE + 1));
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.withdrawn, 1);

	/* Mapped again at the same address, with a different rule (another
	 * library there): a new entry, the old slot stays withdrawn. */
	set_code(page, true);
	mt_rulesrv_refresh(srv);
	a.rules[at].cfa_off += 8;   /* as if the old library's rule differed */
	ck_assert_int_eq(mt_rulesrv_insert(srv, x), 0);
	ck_assert_ptr_nonnull(find(&a, x));
	size_t again = slot_of(&a, x);
	ck_assert_uint_ne(again, at);
	ck_assert_uint_eq(a.rules[at].addr, MT_AGENT_RULE_GONE);
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.revived, 0);

	/* Unmapped and mapped again with the same rule (the same library
	 * reloaded): the withdrawn entry of the same rule is taken again. */
	reload(&a, srv, page, x);
	ck_assert_uint_eq(slot_of(&a, x), again);
	ck_assert_uint_eq(a.rules[at].addr, MT_AGENT_RULE_GONE);
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.revived, 1);
	end_with_page(&a, srv, page);
}
END_TEST

/* A library loaded and unloaded at the same place again and again keeps
 * its rules: each load takes its withdrawn entries again.  (Before, every
 * load added one more entry to the address's probe sequence, and after 64
 * loads (MAX_PROBE) the address got no rule: the agent then waited for
 * one in vain at every allocation made there.) */
START_TEST(reloaded_code_keeps_its_rules)
{
	struct area a = area_new(4096);
	struct mt_rulesrv *srv = server(&a);
	uint64_t page = code_page(), x = page + 0x10;
	mt_rulesrv_refresh(srv);   /* as at the ld.so notification of a load */
	ck_assert_int_eq(mt_rulesrv_insert(srv, x), 0);
	size_t at = slot_of(&a, x);
	for (int cycle = 0; cycle < 200; cycle++) {
		reload(&a, srv, page, x);
		ck_assert_msg(slot_of(&a, x) == at, "cycle %d: x moved to slot %zu from %zu",
			      cycle, slot_of(&a, x), at);
	}
	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.withdrawn, 200);
	ck_assert_uint_eq(st.revived, 200);
	ck_assert_uint_eq(st.table_full, 0);
	end_with_page(&a, srv, page);
}
END_TEST

/* A library loaded after the server read the maps, with no refresh asked
 * for (memtrace was late for ld.so's notification: the agent waits for it
 * only so long): a request for its code still gets the library's own rule
 * (the symbolizer reads a module it does not know yet), not the "no CFI
 * here" one that would cut every stack through it short for good. */
START_TEST(code_loaded_unannounced_gets_its_rule)
{
	const char *path = getenv("UNIT_STRIPPED_LIB");
	ck_assert_msg(path != NULL, "UNIT_STRIPPED_LIB is not set");
	struct area a = area_new(1024);
	struct mt_rulesrv *srv = server(&a);
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(lib != NULL, "dlopen: %s", dlerror());
	void *(*hidden)(void) = (void *(*)(void))dlsym(lib, "stripped_hidden_addr");
	ck_assert_ptr_nonnull(hidden);
	uint64_t x = (uint64_t)(uintptr_t)hidden() + 1;
	post(&a, x);
	const struct mt_agent_rule *r = await(&a, x);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->kind, MT_AGENT_RULE_STEP);
	mt_rulesrv_destroy(srv);
	dlclose(lib);
	free(a.sh);
}
END_TEST

/* Entries an earlier memtrace left for code that is no longer mapped are
 * withdrawn when a server starts; those for mapped code stay. */
START_TEST(stale_entries_withdrawn_at_start)
{
	struct area a = area_new(64);
	uint64_t page = code_page();
	ck_assert_int_eq(munmap((void *)(uintptr_t)page, 4096), 0);
	/* The page is where mmap put it: an address in it whose slot is not
	 * PROBE's (the first one could share it: 1 run in 64 failed so). */
	size_t kept = mt_agent_rule_slot(PROBE, 64), gone = kept;
	uint64_t stale = page + 8;
	for (; stale < page + 4096 && (gone = mt_agent_rule_slot(stale, 64)) == kept; stale += 16)
		;
	ck_assert_uint_ne(gone, kept);
	a.rules[gone] = (struct mt_agent_rule){ .addr = stale, .kind = MT_AGENT_RULE_STEP };
	a.rules[kept] = (struct mt_agent_rule){ .addr = PROBE, .kind = MT_AGENT_RULE_LAST };
	struct mt_rulesrv *srv = server(&a);
	ck_assert_uint_eq(a.rules[gone].addr, MT_AGENT_RULE_GONE);
	ck_assert_uint_eq(a.rules[kept].addr, PROBE);
	ck_assert_int_eq(a.rules[kept].kind, MT_AGENT_RULE_LAST);
	struct mt_rulesrv_stats st;
	mt_rulesrv_stats(srv, &st);
	ck_assert_uint_eq(st.withdrawn, 1);
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

START_TEST(bad_layouts_refused)
{
	struct area a = area_new(256);
	uint64_t off = a.sh->rules_off;
	struct {
		uint64_t off;
		uint32_t cap;
		size_t len;
	} bad[] = {
		{ off, 3, a.len },                   /* no power of two */
		{ off, 0, a.len },
		{ off, 1u << 23, (size_t)1 << 40 },  /* too big */
		{ off, 256, a.len - 1 },             /* past the end */
		{ off + 4, 128, a.len },             /* misaligned */
		{ 0, 4, a.len },                     /* over the struct */
		{ UINT64_MAX - 15, 2, a.len },       /* wraps */
		{ off, 256, sizeof *a.sh - 1 },      /* no room for the struct */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		a.sh->rules_off = bad[i].off;
		a.sh->rules_cap = bad[i].cap;
		errno = 0;
		ck_assert_msg(mt_rulesrv_new(getpid(), a.sh, bad[i].len, NULL, 0) == NULL,
			      "layout %zu accepted", i);
		ck_assert_int_eq(errno, EINVAL);
	}
	ck_assert_ptr_null(mt_rulesrv_new(getpid(), NULL, a.len, NULL, 0));
	free(a.sh);
}
END_TEST

START_TEST(destroy_joins_promptly)
{
	struct area a = area_new(256);
	const char *dirs[] = { "/nonexistent-debug-dir" };
	struct mt_rulesrv *srv = mt_rulesrv_new(getpid(), a.sh, a.len, dirs, 1);
	ck_assert_ptr_nonnull(srv);
	/* Idle waits of an hour: after the answer below the thread sleeps in
	 * one, which only the wake of destroy can end before the test's own
	 * timeout.  (Not a timing: destroy returning at all is the check.) */
	mt_rulesrv_set_wait(srv, 3600L * 1000 * NS_PER_MS);
	post(&a, PROBE);
	ck_assert_ptr_nonnull(await(&a, PROBE));
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

/* An ld.so notification (the agent bumps dl_gen, then req_seq, and wakes
 * it) makes the wake fd readable, once per notification: memtrace's main
 * thread waits on it instead of polling dl_gen every 10 ms.  (How soon is
 * timing, not tested: the server relays when the agent's wake arrives.) */
START_TEST(dl_notification_relayed_at_once)
{
	struct area a = area_new(256);
	a.sh->dl_gen = 7;   /* notifications from before the server: not relayed */
	struct mt_rulesrv *srv = server(&a);
	int fd = mt_rulesrv_wake_fd(srv);
	ck_assert_int_ge(fd, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	usleep(5000);      /* the thread is asleep in its 100 ms wait */
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	for (int round = 0; round < 3; round++) {
		__atomic_add_fetch(&a.sh->dl_gen, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&a.sh->req_seq, 1, __ATOMIC_SEQ_CST);
		futex(&a.sh->req_seq, FUTEX_WAKE, INT_MAX, 0);
		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		uint64_t n = 0;
		ck_assert_int_eq(read(fd, &n, sizeof n), (ssize_t)sizeof n);
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	}
	mt_rulesrv_destroy(srv);
	free(a.sh);
}
END_TEST

static Suite *rulesrv_suite(void)
{
	Suite *s = suite_create("rulesrv");
	TCase *tc = tcase_create("self");
	tcase_add_test(tc, requests_get_exact_rules);
	tcase_add_test(tc, return_address_rule_matches_the_stack);
	tcase_add_test(tc, garbage_gets_frame_pointer_rule_and_serving_goes_on);
	tcase_add_test(tc, insert_prefills_synchronously);
	tcase_add_test(tc, existing_entries_are_never_overwritten);
	tcase_add_test(tc, full_table_refuses_and_says_so);
	tcase_add_test(tc, crowded_address_refused_alone);
	tcase_add_test(tc, unmapped_code_rules_are_withdrawn);
	tcase_add_test(tc, stale_entries_withdrawn_at_start);
	tcase_add_test(tc, code_loaded_unannounced_gets_its_rule);
	tcase_add_test(tc, reloaded_code_keeps_its_rules);
	tcase_add_test(tc, bad_layouts_refused);
	tcase_add_test(tc, destroy_joins_promptly);
	tcase_add_test(tc, dl_notification_relayed_at_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rulesrv_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
