/* The rule server: answers the agent's requests for unwind rules.
 *
 * The agent, meeting a code address without a rule, posts it in
 * mt_agent_shared.req[], bumps req_seq and wakes it, then waits on rule_gen
 * (agent_abi.h).  The server is one thread, with a symbolizer of its own
 * for the target, that waits on req_seq, writes a rule into the shared
 * table for every posted address the table lacks, then bumps rule_gen and
 * wakes every waiter.  memtrace's main thread may also write rules
 * beforehand (mt_rulesrv_insert), e.g. for the return addresses of stacks
 * it already knows; both writers share one lock, which the agent never
 * sees: it only reads the table.
 *
 * Everything in the shared area may be written by the target at any time.
 * The table's place is read once, at creation, and checked against the
 * mapping's length; each request slot is read once; a rule is never
 * written over an existing entry; a wake does at most MT_AGENT_NREQ
 * lookups.  An address the table has no room for (no free slot within 64
 * probes, or a load over 1/2) is refused: its request slot is marked
 * MT_AGENT_REQ_REFUSED, and at a load over 1/2, when no rule fits any
 * more, rules_full is set; the agent ends the stack there without waiting.
 *
 * The agent must read rule_gen before it looks the address up in the table
 * (then post, then wait on the value it read): rule_gen is bumped after
 * rules are written, not when a posted address is found there already.
 * memtrace's side also bumps req_seq, to wake its own thread.
 *
 * Never prints. */
#ifndef MT_RULESRV_H
#define MT_RULESRV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/agent_abi.h"

struct mt_rulesrv;

struct mt_rulesrv_stats {
	uint64_t answered;    /* rules written for the agent's requests */
	uint64_t prefilled;   /* rules written by mt_rulesrv_insert */
	uint64_t slow;        /* of both, those of kind SLOW */
	uint64_t table_full;  /* addresses left out for want of room */
	uint64_t withdrawn;   /* entries whose code was unmapped (dlclose) */
	uint64_t revived;     /* of the written, those that took a withdrawn
	                         entry of the same rule again (no new slot) */
};

/* Serve the shared area SH (SH_LEN bytes mapped from it) of process PID,
 * searching DEBUG_DIRS (NDEBUG of them) for separate debug info.  NULL with
 * errno: EINVAL when the rules table is not a power-of-two count of at most
 * 1 << 22 aligned entries inside SH_LEN, ENOMEM, or pthread_create's
 * error. */
struct mt_rulesrv *mt_rulesrv_new(pid_t pid, struct mt_agent_shared *sh, size_t sh_len,
				  const char *const *debug_dirs, int ndebug);
/* Stops the thread (promptly: it is woken) and joins it.  The shared area
 * must still be mapped; its rules stay. */
void mt_rulesrv_destroy(struct mt_rulesrv *srv);
/* Tests: bound each of the thread's idle waits by NS instead of 100 ms
 * (<= 0: back to 100 ms); the next wait takes it.  With a bound of an hour,
 * a destroy that returns at all was woken. */
void mt_rulesrv_set_wait(struct mt_rulesrv *srv, long ns);

/* Write the rule for code address ADDR (the looked-up one: a return
 * address - 1) now, from the calling thread, and wake the agent's waiters.
 * 0 when the table holds an entry for ADDR (new or not), -EINVAL for
 * ADDR 0, -ENOSPC when the table has no room for it (setting rules_full
 * when it has none for any). */
int mt_rulesrv_insert(struct mt_rulesrv *srv, uint64_t addr);

/* The target's modules changed (ld.so's notification): the server reads
 * the maps again before its next rule, and withdraws the rules of code
 * that was unmapped or replaced since the last look. */
void mt_rulesrv_refresh(struct mt_rulesrv *srv);

/* An eventfd (non-blocking) that becomes readable when the agent raised an
 * ld.so notification (dl_gen moved) since the server last looked: the
 * server's thread, which the agent wakes, relays it, so that memtrace's
 * main thread may wait on it instead of polling dl_gen.  -1 when none. */
int mt_rulesrv_wake_fd(const struct mt_rulesrv *srv);

void mt_rulesrv_stats(const struct mt_rulesrv *srv, struct mt_rulesrv_stats *out);

#endif
