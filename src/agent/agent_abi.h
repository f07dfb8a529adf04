/* The contract between memtrace and its in-process agent (issue 5).
 *
 * The agent is freestanding position-independent code built with memtrace
 * (src/agent/) and embedded in its binary.  memtrace maps it into the
 * target with injected system calls, then a shared region (one sealed
 * memfd) that both sides map:
 *
 *   agent mapping (private, anonymous)      shared memfd (MAP_SHARED)
 *   +------------------------------+        +------------------------------+
 *   | code: struct mt_agent_header |        | ring region (ring.h)         |
 *   |   stubs, C handlers (r-x)    |        +------------------------------+
 *   +------------------------------+  page  | struct mt_agent_shared       |
 *   | struct mt_agent_state:       |        |   futex words, requests      |
 *   |   configuration (rw,         |        | rules  [rules_cap]  memtrace |
 *   |   MADV_WIPEONFORK)           |        | stacks [stacks_cap] agent    |
 *   |                              |        | sampled set (sset.h)  agent  |
 *   |                              |        | live table (ltab.h)   agent  |
 *   |                              |        | counts per ring, per stack   |
 *   +------------------------------+  page  +------------------------------+
 *   |   records (rw, inherited)    |        (MADV_DONTFORK; the target keeps
 *   +------------------------------+         its fd open: records.region_fd)
 *
 * Each hooked entry F starts with `jmp T`; its trampoline T (in a page
 * memtrace maps within +-2 GiB of F) loads r11 with the address of the
 * struct mt_agent_hook inside T and jumps to the agent's stub for F's
 * function.  The stub passes r11 and the entry's rsp/rbp to the agent's C
 * handler, which calls the original code (T's relocated prologue, then
 * back into F) and records the call:
 *
 *   T+0   49 bb <imm64>     movabs $T+32, %r11
 *   T+10  ff 25 00 00 00 00 jmp *0(%rip)
 *   T+16  <imm64>           the stub's address
 *   T+24  cc x 8
 *   T+32  struct mt_agent_hook (32 bytes; orig first: the NEW stubs jump
 *         through it)
 *   T+64  relocated prologue, then jmp F+patch_len   (tramp_plan.h)
 *
 * A forked child (issue 16) must never write into its parent's rings: the
 * configuration page is wiped in it (MADV_WIPEONFORK), so `rings` reads 0
 * and every handler only calls the original, and the shared region is not
 * mapped in it at all (MADV_DONTFORK).  Hooks live in the trampoline
 * pages, which a child keeps, so its calls still work; the records page
 * (what memtrace installed: trampolines, patched bytes) is inherited, so
 * a memtrace attaching to the child later reuses the agent and its
 * trampolines, takes over jumps the child inherited, and gives the child
 * a region of its own.  The child also inherits the fd of its parent's
 * memfd (records.region_fd): that memtrace closes it in the child.
 *
 * Trust: the agent believes what memtrace wrote (the state page, the rules);
 * memtrace believes nothing it reads from the target (ringdec.c validates
 * the rings, the stack reader validates stacks).
 */
#ifndef MT_AGENT_ABI_H
#define MT_AGENT_ABI_H

#include <stdint.h>

#include "model/stacks.h"

#define MT_AGENT_MAGIC   0x31544e4547415446ULL   /* "FTAGENT1" */
#define MT_AGENT_VERSION 10u  /* 9: pyframes per version (h/pyver) or the CPython tables (h/pyswap); 10: both */
#define MT_AGENT_STATE_MAGIC 0x4554415453544d4dULL
#define MT_AGENT_SHARED_MAGIC 0x4445524148534d4dULL
#define MT_AGENT_REGION_NAME "memtrace-rings"   /* the memfd's name */

/* Entry stubs: one per calling convention (enum mt_fn_abi, allocfn.h),
 * then ld.so's notification.  The agent reads a hook's sizes by its fn. */
#define MT_AGENT_ENTRY_DL_NOTIFY 13
#define MT_AGENT_NENTRIES 14

/* At offset 0 of the agent's code.  Offsets are from the mapping's start. */
struct mt_agent_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t code_size;        /* bytes of code (page-rounded: state_off) */
	uint64_t state_off;        /* struct mt_agent_state, page aligned */
	uint64_t state_end;        /* end of the state pages (page aligned) */
	uint64_t entry[MT_AGENT_NENTRIES]; /* stub offsets; 0: none */
};

/* Inside each trampoline, at T+32: read by the agent (r11 points here).
 * A trampoline that a CPython allocator table's entry points at
 * (engine/inj_pytab.c) has no relocated prologue: orig is the function
 * the entry held, addr the domain's API entry, index UINT32_MAX. */
struct mt_agent_hook {
	uint64_t orig;       /* T+64: call this to run the original function */
	uint64_t addr;       /* F: the hooked entry (pcs[0] of its stacks) */
	uint32_t fn;         /* enum mt_fn */
	uint32_t index;      /* the hook's index in mt_agent_state.hooks */
	uint64_t alt;        /* a throwing operator new: its nothrow form's entry
	                      * (allocfn.h mt_fn_nothrow); else 0 */
};

#define MT_AGENT_TRAMP_HOOK_OFF 32
#define MT_AGENT_TRAMP_CODE_OFF 64
#define MT_AGENT_TRAMP_SIZE 256     /* one trampoline slot */
#define MT_AGENT_MAX_HOOKS 64     /* jemalloc: 10 C entries, 20 C++ operators */

/* What memtrace installed, kept in the target so that a later memtrace
 * (after a SIGKILL, or after a detach) can find and reuse it, and so that
 * `memtrace detach PID` can check a jump it undoes (cmd_detach.c). */
struct mt_agent_hook_rec {
	uint64_t addr;        /* F; 0: slot unused */
	uint64_t tramp;       /* T */
	uint32_t patch_len;
	uint32_t live;        /* 1 while F holds the jmp */
	uint8_t orig[16];     /* F's original bytes */
	uint8_t patch[16];    /* what F holds while live */
};

/* A full ring: wait for room while memtrace's heartbeat moves (--lossless)
 * instead of dropping the event and counting it. */
#define MT_AGENT_F_WAIT 1u

/* Accounting in the agent (issue 20, ltab.h): the allocating thread keeps
 * its blocks in the shared live table and counts calls per stack; only
 * what the table cannot hold goes through the rings. */
#define MT_AGENT_F_ACCOUNT 2u

/* The agent's own pages, right after its code: memtrace writes them while
 * every thread is stopped; the agent only reads the configuration (the
 * first page, wiped in a forked child) and never the records (the second
 * page, inherited by a forked child). */
#define MT_AGENT_RECORDS_OFF 4096u
#define MT_AGENT_CONFIG_BYTES 168u
struct mt_agent_state {
	/* ---- configuration: MADV_WIPEONFORK ---- */
	uint64_t magic;        /* MT_AGENT_STATE_MAGIC once configured */
	uint64_t rings;        /* the ring region (ring.h) in the target; 0: off */
	uint64_t shared;       /* struct mt_agent_shared in the target */
	uint64_t shared_len;   /* bytes of the memfd mapping (rings + shared) */
	uint32_t tid_off;      /* %fs:tid_off holds the thread id; 0: gettid() */
	uint32_t depth;        /* return addresses to record above pcs[0] (>= 1) */
	uint64_t sample_bytes; /* mean bytes between samples; 0: every call */
	uint32_t flags;        /* MT_AGENT_F_* */
	uint32_t ring_mask;    /* nrings - 1 (nrings is a power of two)      */
	uint64_t ring0;        /* ring 0 in the target; 0: ask mt_ring_claim */
	uint64_t ring_stride;  /* bytes from one ring to the next            */
	uint64_t sset;         /* with sample_bytes: the set of sampled live
	                          blocks (sset.h) in the target, and the free of
	                          a block not in it is not recorded; 0: none,
	                          every free is recorded */
	uint32_t sset_mask;    /* its buckets - 1 */
	uint32_t sset_shift;   /* its granules' log2 (sset.h) */
	/* with MT_AGENT_F_ACCOUNT (ltab.h), in the target: */
	uint64_t ltab;         /* the live table's buckets */
	uint64_t counts;       /* the per-ring areas (ltab.h): ring i's at
	                          counts + i * mt_ltab_area_bytes(counts_mask + 1) */
	uint32_t ltab_mask;    /* its buckets - 1 */
	uint32_t counts_mask;  /* entries per ring - 1 */
	/* Python frames (issue 21, symbols/pyframes.h, agent.c): each native
	 * frame of the eval loop gives its place to the Python frames it runs
	 * (tagged pcs, MT_AGENT_PY_TAG).  py_tstate 0: none.  Offsets are in
	 * bytes; how they are used depends on py_kind (MT_AGENT_PY_*). */
	uint64_t py_tstate;    /* the address of a pointer that leads to the
	                          current PyThreadState * (through py_ts_deref) */
	uint64_t py_eval_lo;   /* the eval loop's code, [lo, hi) */
	uint64_t py_eval_hi;
	uint16_t py_ts_thread; /* PyThreadState: its thread's pthread_self() */
	uint16_t py_ts_frame;  /* PyThreadState: the _PyCFrame * (3.11, 3.12),
	                          the current frame (3.9, 3.10, 3.13) */
	uint16_t py_cf_frame;  /* _PyCFrame: the current _PyInterpreterFrame * */
	uint16_t py_cf_prev;   /* _PyCFrame: the previous _PyCFrame * */
	uint16_t py_fr_code;   /* a frame's code object (f_code, f_executable) */
	uint16_t py_fr_prev;   /* a frame's caller (previous, f_back) */
	uint16_t py_fr_instr;  /* a frame's instruction: a pointer (prev_instr,
	                          instr_ptr) or an int32 index (f_lasti) */
	uint16_t py_fr_entry;  /* _PyInterpreterFrame: is_entry (3.11) or owner
	                          (3.12, 3.13; a byte) */
	uint16_t py_co_code;   /* PyCodeObject: its code units */
	uint8_t py_kind;       /* MT_AGENT_PY_*: which frames and links */
	uint8_t py_lasti_shift; /* f_lasti >> this = the code unit (3.9: 1) */
	uint16_t py_ts_deref[2]; /* then load *(ts + off) for each non-zero one:
	                          3.12+ find the GIL holder through the main
	                          interpreter (interp->ceval.gil->last_holder) */
	uint16_t py_gil_locked; /* 3.12+: the GIL's locked flag (an int32 in
	                          what py_ts_deref[0] leads to): its holder is
	                          only read while it is taken, never a thread
	                          state freed after its thread dropped it */
	uint16_t py_pad[3];
	uint8_t config_pad[MT_AGENT_RECORDS_OFF - MT_AGENT_CONFIG_BYTES];
	/* ---- records: inherited by a forked child ---- */
	uint64_t tramp_pages[MT_AGENT_MAX_HOOKS]; /* pages memtrace mapped, 0: none */
	uint64_t dl_hook;      /* _dl_debug_state's patched address, 0: none */
	struct mt_agent_hook_rec hooks[MT_AGENT_MAX_HOOKS + 1]; /* +1: dl_notify */
	/* The target's fd of the shared region's memfd, + 1 (0: none): kept
	 * open so that memtrace can take the region with pidfd_getfd(2) as a
	 * plain user (opening /proc/PID/map_files needs CAP_SYS_ADMIN). */
	int32_t region_fd1;
	uint32_t pad;
	uint64_t reserved[16];
};
_Static_assert(__builtin_offsetof(struct mt_agent_state, config_pad) == MT_AGENT_CONFIG_BYTES,
	       "the configuration's size");
_Static_assert(__builtin_offsetof(struct mt_agent_state, tramp_pages) == MT_AGENT_RECORDS_OFF,
	       "the records start a page");

/* ---- the shared part of the memfd, after the ring region ---------------- */

/* How the caller's frame is found from code at ADDR (unwind.c's rule):
 *   CFA = (cfa_reg == MT_DWARF_REG_SP ? rsp : rbp) + cfa_off   (dwarf_regs.h)
 *   return address at CFA + ra_off
 *   rbp: SAME, LOST, AT (saved at CFA + bp_off) or IS (= CFA + bp_off)
 *   rsp = CFA
 * kind STEP: as above; LAST: the outermost frame; SLOW: the agent cannot
 * (the stack ends there, counted in stacks_truncated). */
enum mt_agent_rule_kind { MT_AGENT_RULE_SLOW = 0, MT_AGENT_RULE_STEP = 1, MT_AGENT_RULE_LAST = 2 };
enum mt_agent_rule_bp { MT_AGENT_BP_SAME = 0, MT_AGENT_BP_LOST = 1, MT_AGENT_BP_AT = 2,
			MT_AGENT_BP_IS = 3 };

/* Written by memtrace only: every field, then addr with release.  Open
 * addressing on mt_agent_rule_slot(addr), linear probing; an addr of 0 ends
 * a probe.  An entry whose code was unmapped (dlclose) is withdrawn by
 * storing MT_AGENT_RULE_GONE in addr: it matches no lookup, does not end a
 * probe, and its fields are never written again.  It may only be taken
 * again by a rule with exactly those fields, by storing addr alone (a
 * library reloaded at the same place).  So an entry read while withdrawn
 * fails the agent's second look at addr or holds the rule looked up, and
 * can never be a mix of two rules. */
#define MT_AGENT_RULE_GONE UINT64_MAX
struct mt_agent_rule {
	uint64_t addr;        /* the looked-up code address (a return address - 1) */
	int32_t cfa_off, ra_off, bp_off;
	uint8_t kind, cfa_reg, bp, pad;
	uint64_t reserved;
};

/* A distinct stack, written once by the agent thread that met it first:
 * it claims the slot by a compare-and-swap of hash from 0, writes n and
 * pcs, then stores state READY with release.  Other threads use the slot
 * only once READY.  Open addressing on hash. */
#define MT_AGENT_STACK_WRITING 1u
#define MT_AGENT_STACK_READY 2u
struct mt_agent_stack {
	uint64_t hash;        /* mt_agent_stack_hash(pcs, n), never 0 */
	uint32_t state;
	uint32_t n;           /* pcs, at most stack_max */
	uint64_t pcs[];       /* pcs[0]: the allocator's entry; then return addresses */
};

/* Requests: the agent claims a free req[] slot by a compare-and-swap of
 * the address from 0 and clears it again (to 0) when done; a thread that
 * finds the address posted already waits on that slot instead.  memtrace
 * answers a request by writing the rule into the table, or, when the table
 * has no room for it, by setting MT_AGENT_REQ_REFUSED in the slot (a
 * compare-and-swap from the address; addresses are user-space, so the bit
 * is free) and, if no rule can be added any more at all, rules_full; then
 * it bumps rule_gen.  A waiter stops as soon as its slot no longer holds
 * the plain address: without a rule, the frame ends the stack and nobody
 * is marked stale, so that a full table never makes the target wait. */
#define MT_AGENT_REQ_REFUSED (1ULL << 63)
#define MT_AGENT_NREQ 64

struct mt_agent_shared {
	uint64_t magic;        /* MT_AGENT_SHARED_MAGIC */
	uint32_t version;
	uint32_t size;         /* sizeof(struct mt_agent_shared) */
	uint64_t rules_off;    /* from this struct's start */
	uint32_t rules_cap;    /* a power of two */
	uint32_t stack_max;    /* pcs per stack slot, at most MT_STACKS_MAX_PCS */
	uint64_t stacks_off;   /* from this struct's start */
	uint32_t stacks_cap;   /* a power of two */
	uint32_t stack_slot;   /* bytes per slot: 16 + 8 * stack_max */
	/* futex words (shared futexes: both processes wait on them) */
	uint32_t req_seq;      /* agent: +1 and wake after posting a request */
	uint32_t rule_gen;     /* memtrace: +1 and wake after answering */
	uint32_t dl_gen;       /* agent: +1 and wake at each ld.so notification */
	uint32_t dl_ack;       /* memtrace: = dl_gen and wake once handled */
	uint32_t reader_stale; /* agent: 1 when memtrace did not answer in time;
	                          memtrace: 0 at every drain.  While 1 the
	                          agent never waits. */
	uint32_t rules_full;   /* memtrace: 1 once the rules table has no room
	                          left (entries are never freed); the agent
	                          then asks for no rule again */
	uint64_t req[MT_AGENT_NREQ]; /* addresses that need a rule; 0: free */
	/* agent's counters (untrusted: reported as the agent says) */
	uint64_t stacks_truncated;   /* a frame without a usable rule */
	uint64_t stacks_lost;        /* no room in the stack table */
	uint64_t rule_waits;         /* requests the agent waited for */
	uint64_t rule_timeouts;      /* requests memtrace did not answer in time */
	uint64_t rule_refusals;      /* requests memtrace had no room for */
	/* the set of sampled live blocks (sset.h): made by memtrace, zeroed;
	 * used by the agent only; sset_buckets 0: none */
	uint64_t sset_off;           /* from this struct's start, 64-aligned */
	uint32_t sset_buckets;       /* a power of two, <= MT_SSET_MAX_BUCKETS */
	uint32_t sset_shift;         /* granules of 2^sset_shift bytes, fixed for
	                                the region's life (sset.h) */
	uint64_t sset_overflows;     /* recorded blocks the set had no room for
	                                (their frees are recorded all the same) */
	uint64_t dl_timeouts;        /* ld.so notifications memtrace did not
	                                acknowledge in time */
	uint64_t rule_skips;         /* rules not asked for: memtrace marked late
	                                (reader_stale), the frame cut short */
	uint32_t dl_late;            /* agent: 1 once an ld.so wait lapsed while
	                                memtrace lived: ld.so waits are skipped
	                                (rule requests still wait); memtrace: 0
	                                at every drain, as reader_stale */
	uint32_t reserved32;
	/* accounting in the agent (ltab.h): made by memtrace, zeroed; 0
	 * buckets: none */
	uint64_t ltab_off;           /* the live table, from this struct's start */
	uint32_t ltab_buckets;       /* a power of two, <= MT_LTAB_MAX_BUCKETS */
	uint32_t counts_per_ring;    /* a power of two, <= MT_LTAB_MAX_COUNTS */
	uint64_t counts_off;         /* one area per ring, ring order: its stack
	                                cache, then its count table (ltab.h) */
	uint64_t gcounts_off;        /* per stack slot (stacks_cap of them): what a
	                                ring's table had no room for */
	uint64_t ltab_overflows;     /* blocks the live table had no room for
	                                (recorded through the rings) */
	uint64_t ltab_stale;         /* allocations of an address the table
	                                still held (its free was not seen) */
	uint64_t reserved[3];
};

/* py_kind: how the agent walks CPython's frames (agent.c, Python frames).
 * FRAMEOBJ (3.9, 3.10): one PyFrameObject per activation of the eval
 * loop, linked by f_back from the thread state's frame.  CFRAME (3.11):
 * a _PyCFrame in each activation's C frame, its _PyInterpreterFrames up to
 * the one marked is_entry.  ENTRY_CF (3.12) and ENTRY (3.13): one chain of
 * _PyInterpreterFrames from the thread state (through its _PyCFrame in
 * 3.12), with an entry frame (owner MT_AGENT_PY_OWNED_BY_CSTACK) in each
 * activation's C frame after the frames it runs. */
enum {
	MT_AGENT_PY_NONE = 0,
	MT_AGENT_PY_FRAMEOBJ,
	MT_AGENT_PY_CFRAME,
	MT_AGENT_PY_ENTRY_CF,
	MT_AGENT_PY_ENTRY,
};
#define MT_AGENT_PY_OWNED_BY_CSTACK 3

/* A Python frame in a stack's pcs: the tag bit (no user-space address
 * has it), the instruction's index in code units (MT_AGENT_PY_NOUNIT when
 * unknown or too far) and the code object's address. */
#define MT_AGENT_PY_TAG (1ULL << 63)
#define MT_AGENT_PY_NOUNIT 0x7fffu
#define MT_AGENT_PY_ADDR_MASK ((1ULL << 48) - 1)

static inline uint64_t mt_agent_py_pc(uint64_t code, uint64_t unit)
{
	if (unit > MT_AGENT_PY_NOUNIT)
		unit = MT_AGENT_PY_NOUNIT;
	return MT_AGENT_PY_TAG | unit << 48 | (code & MT_AGENT_PY_ADDR_MASK);
}

static inline uint64_t mt_agent_rule_slot(uint64_t addr, uint32_t cap)
{
	return ((addr * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
}

static inline uint64_t mt_agent_stack_hash(const uint64_t *pcs, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ n;
	for (uint32_t i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

#endif
