/* What a memtrace killed with SIGKILL may have left at an allocator entry
 * point, and which bytes `memtrace detach` may write back (cmd_detach.c).
 * Pure: it compares bytes it is given; reading the target and the files,
 * and writing, are the caller's.
 *
 * The ELF file's bytes are the truth; memory holds them, or one of the
 * two things memtrace writes there (the first 8 bytes of glibc 2.36's
 * malloc, f3 0f 1e fa = endbr64):
 *
 *   file     f3 0f 1e fa 55 48 89 e5     the function as the file has it
 *   inject   e9 xx xx xx xx cc cc cc     jmp T, int3 padding to patch_len
 *            (tramp_plan.h; T: a trampoline whose head is agent_abi.h's)
 *   int3     cc 0f 1e fa 55 48 89 e5     the breakpoint engine: byte 0 only
 *
 * Anything else is someone else's: left alone.  A jump is memtrace's only
 * when the caller found that it lands on a memtrace trampoline
 * (mt_leftover_tramp_ok), and, when the agent still holds its record of
 * the hook, when that record says the same (what it wrote, what it
 * replaced) as memory and the file.
 */
#ifndef MT_LEFTOVER_H
#define MT_LEFTOVER_H

#include <stdbool.h>
#include <stdint.h>

#define MT_LEFTOVER_MAX 16   /* bytes compared at an entry (MT_TRAMP_MAX_PATCH) */

enum mt_leftover_kind {
	MT_LEFTOVER_CLEAN,    /* memory holds the file's bytes */
	MT_LEFTOVER_INT3,     /* a breakpoint: write back byte 0 */
	MT_LEFTOVER_JUMP,     /* memtrace's jump: write back LEN bytes */
	MT_LEFTOVER_FOREIGN,  /* changed, not the way memtrace changes code: left */
};

/* The agent's record of a hook at this address (struct mt_agent_hook_rec),
 * read from the target: untrusted. */
struct mt_leftover_rec {
	unsigned patch_len;
	uint8_t orig[MT_LEFTOVER_MAX];
	uint8_t patch[MT_LEFTOVER_MAX];
};

struct mt_leftover {
	enum mt_leftover_kind kind;
	unsigned len;         /* INT3, JUMP: bytes to write back, from the file */
	const char *why;      /* FOREIGN: why it is left as it is */
};

/* Where the `jmp rel32` at ADDR (bytes MEM, at least 5) lands; 0 when
 * MEM is not such a jump. */
uint64_t mt_leftover_jump_target(uint64_t addr, const uint8_t *mem);

/* Whether the 64 bytes HEAD read at T are a trampoline memtrace wrote for
 * the entry at ADDR: the head of agent_abi.h (movabs $HOOK, %r11; jmp
 * *0(%rip); .quad STUB; int3 x 8) with STUB inside an agent's code
 * [AGENT_LO, AGENT_HI), and HOOK either T+32 with the struct mt_agent_hook
 * there naming ADDR and T+64, or 0 (ld.so's notification). */
bool mt_leftover_tramp_ok(uint64_t addr, uint64_t t, const uint8_t head[64], uint64_t agent_lo,
			  uint64_t agent_hi);

/* Classify the N bytes (1..MT_LEFTOVER_MAX) at an entry: MEM from memory,
 * FILE from the ELF file at the entry's file offset.  REC: the agent's
 * record for this address, or NULL.  TO_TRAMP: MEM is a jump onto a
 * trampoline of memtrace's (mt_leftover_tramp_ok). */
struct mt_leftover mt_leftover_classify(const uint8_t *mem, const uint8_t *file, unsigned n,
					const struct mt_leftover_rec *rec, bool to_tramp);

#endif
