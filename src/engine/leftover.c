/* What a killed memtrace left at an entry point.  See leftover.h. */
#include <string.h>

#include "agent/agent_abi.h"
#include "arch/arch.h"
#include "engine/leftover.h"

#define JMP_LEN MT_JMP_LEN

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

uint64_t mt_leftover_jump_target(uint64_t addr, const uint8_t *mem)
{
	return mt_arch_jump_target(addr, mem);
}

bool mt_leftover_tramp_ok(uint64_t addr, uint64_t t, const uint8_t head[64], uint64_t agent_lo,
			  uint64_t agent_hi)
{
	uint64_t hook = rd64(head + 2), stub = rd64(head + 16);
	uint8_t want[MT_TRAMP_HEAD_LEN];
	mt_arch_tramp_head(want, hook, stub);
	if (memcmp(head, want, sizeof want) != 0 || stub < agent_lo || stub >= agent_hi)
		return false;
	if (hook == 0)
		return true;   /* ld.so's notification: no struct mt_agent_hook */
	struct mt_agent_hook hk;
	memcpy(&hk, head + MT_AGENT_TRAMP_HOOK_OFF, sizeof hk);
	return hook == t + MT_AGENT_TRAMP_HOOK_OFF && hk.addr == addr &&
	       hk.orig == t + MT_AGENT_TRAMP_CODE_OFF;
}

static struct mt_leftover foreign(const char *why)
{
	return (struct mt_leftover){ .kind = MT_LEFTOVER_FOREIGN, .why = why };
}

/* A jump onto a memtrace trampoline: with the agent's record, exactly the
 * bytes it says it wrote over exactly the file's; without (a forked
 * child's wiped state, another version's agent), the jump and its int3
 * padding and nothing else. LAST: one past the last byte that differs. */
static struct mt_leftover classify_jump(const uint8_t *mem, const uint8_t *file, unsigned n,
					unsigned last, const struct mt_leftover_rec *rec)
{
	if (rec) {
		unsigned len = rec->patch_len;
		if (len < JMP_LEN || len > n || last > len || memcmp(mem, rec->patch, len) != 0 ||
		    memcmp(file, rec->orig, len) != 0)
			return foreign("the agent's record of this hook disagrees with memory or "
				       "the file");
		return (struct mt_leftover){ .kind = MT_LEFTOVER_JUMP, .len = len };
	}
	for (unsigned i = JMP_LEN; i < last; i++)
		if (mem[i] != MT_BP_BYTE)
			return foreign("more bytes differ from the file than memtrace's jump covers");
	return (struct mt_leftover){ .kind = MT_LEFTOVER_JUMP, .len = last < JMP_LEN ? JMP_LEN : last };
}

struct mt_leftover mt_leftover_classify(const uint8_t *mem, const uint8_t *file, unsigned n,
					const struct mt_leftover_rec *rec, bool to_tramp)
{
	if (n == 0 || n > MT_LEFTOVER_MAX)
		return foreign("no bytes to compare");
	unsigned last = n;
	while (last && mem[last - 1] == file[last - 1])
		last--;
	if (last == 0)
		return (struct mt_leftover){ .kind = MT_LEFTOVER_CLEAN };
	if (mem[0] == MT_BP_BYTE && file[0] != MT_BP_BYTE && last == 1)
		return (struct mt_leftover){ .kind = MT_LEFTOVER_INT3, .len = 1 };
	if (!mt_arch_is_jump(mem))
		return foreign("its code differs from the file, not by a jump or a breakpoint");
	if (n < JMP_LEN)
		return foreign("too few bytes to hold memtrace's jump");
	if (!to_tramp)
		return foreign("it jumps to code that is not a memtrace trampoline (another "
			       "tool's hook?)");
	return classify_jump(mem, file, n, last, rec);
}
