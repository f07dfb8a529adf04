/* x86_64 jump-patch and trampoline planning with capstone.  See tramp_plan.h.
 *
 * Three passes over the function's bytes, each cheap:
 *   1. decode the instructions covering the first 5 bytes: PATCH_LEN;
 *   2. sweep the whole function for anything that could land inside the
 *      covered bytes (offsets 1..PATCH_LEN-1), where only the jump's rel32
 *      or int3 padding would be left;
 *   3. relocate the covered instructions into the trampoline. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <capstone/capstone.h>

#include "arch/tramp_plan.h"

/* The displacement of a rel32 branch or operand whose next instruction is at
 * NEXT, to reach TARGET; false when TARGET is out of +-2 GiB. */
static bool rel32(uint64_t next, uint64_t target, int32_t *out)
{
	int64_t d = (int64_t)(target - next);
	if (d < INT32_MIN || d > INT32_MAX)
		return false;
	*out = (int32_t)d;
	return true;
}

static void put_rel32(uint8_t *p, int32_t d)
{
	memcpy(p, &d, 4);
}

static bool in_group(const cs_insn *insn, uint8_t g)
{
	for (int i = 0; i < insn->detail->groups_count; i++)
		if (insn->detail->groups[i] == g)
			return true;
	return false;
}

/* Why INSN cannot run from the trampoline, or NULL. */
static const char *cannot_relocate(const cs_insn *insn)
{
	switch (insn->id) {
	case X86_INS_SYSCALL:
	case X86_INS_SYSENTER:
		/* capstone files these under interrupts too: say what they are */
		return "a system call under the patched bytes";
	case X86_INS_JRCXZ:
	case X86_INS_JECXZ:
	case X86_INS_LOOP:
	case X86_INS_LOOPE:
	case X86_INS_LOOPNE:
		return "a counted loop branch under the patched bytes (no rel32 form)";
	case X86_INS_XBEGIN:
		/* its abort address is relative, and an abort inside the
		 * trampoline would resume there: never relocate a transaction */
		return "a transaction start (xbegin) under the patched bytes";
	default:
		break;
	}
	if (in_group(insn, CS_GRP_RET))
		return "a return under the patched bytes";
	if (in_group(insn, CS_GRP_IRET))
		return "an interrupt return under the patched bytes";
	if (in_group(insn, CS_GRP_INT))
		return "an interrupt or trap under the patched bytes (another tool's breakpoint?)";
	return NULL;
}

/* The target of a relative jmp/call/jcc, or false. */
static bool relative_target(const cs_insn *insn, uint64_t *target)
{
	const cs_x86 *x = &insn->detail->x86;
	if (!in_group(insn, CS_GRP_BRANCH_RELATIVE) || x->op_count != 1 ||
	    x->operands[0].type != X86_OP_IMM)
		return false;
	*target = (uint64_t)x->operands[0].imm;
	return true;
}

/* Pass 1: the number of bytes and instructions covering CODE's first 5. */
static const char *cover(csh cs, const uint8_t *code, size_t n, uint64_t addr, cs_insn *insn,
                         unsigned *len, unsigned *ninsn)
{
	const uint8_t *p = code;
	size_t left = n;
	uint64_t a = addr;
	*len = 0;
	*ninsn = 0;
	while (*len < MT_TRAMP_JMP_LEN) {
		if (!cs_disasm_iter(cs, &p, &left, &a, insn))
			/* an x86 instruction is at most 15 bytes: with fewer left,
			 * the function may end inside it */
			return left >= 15 ? "an instruction under the patched bytes does not decode"
			                  : "the function is shorter than the patch";
		*len += insn->size;
		(*ninsn)++;
	}
	if (*len > MT_TRAMP_MAX_PATCH)
		return "the instructions under the patched bytes span more than 16 bytes";
	return NULL;
}

/* Pass 2: does anything in CODE lead inside (ADDR, ADDR+LEN)?  A linear sweep:
 * bytes that do not decode are skipped one at a time, and data read as code
 * can only make us refuse, never accept wrongly what a real branch reaches.
 *
 * Jump tables: in PIC code (all of glibc) a switch reads 32-bit offsets from
 * a table that `lea table(%rip),%reg` finds, the table usually in .rodata,
 * out of our sight.  When the lea points inside CODE, the table is read here
 * for as long as its entries land inside the function.  A non-PIC
 * `jmp *table(,%reg,8)` whose table sits inside CODE is read likewise. */
static const char *branches_inside(csh cs, const uint8_t *code, size_t n, uint64_t addr,
                                   unsigned len, cs_insn *insn)
{
	uint64_t lo = addr + 1, hi = addr + len; /* [lo, hi): what must not be reached */
	uint64_t end = addr + n;
	size_t off = 0;

	while (off < n) {
		const uint8_t *p = code + off;
		size_t left = n - off;
		uint64_t a = addr + off;
		if (!cs_disasm_iter(cs, &p, &left, &a, insn)) {
			off++;
			continue;
		}
		off += insn->size;

		uint64_t t;
		if (relative_target(insn, &t) && t >= lo && t < hi)
			return "a branch in the function targets the inside of the patched bytes";

		const cs_x86 *x = &insn->detail->x86;
		for (int i = 0; i < x->op_count; i++) {
			const cs_x86_op *op = &x->operands[i];
			if (op->type != X86_OP_MEM)
				continue;
			if (op->mem.base == X86_REG_RIP) {
				uint64_t e = insn->address + insn->size + (uint64_t)op->mem.disp;
				if (e >= lo && e < hi)
					return "the function takes an address inside the patched bytes";
				if (insn->id != X86_INS_LEA || e < addr || e >= end)
					continue;
				for (uint64_t q = e; q + 4 <= end; q += 4) {
					int32_t ent;
					memcpy(&ent, code + (q - addr), 4);
					uint64_t dst = e + (uint64_t)(int64_t)ent;
					if (dst < addr || dst >= end)
						break;
					if (dst >= lo && dst < hi)
						return "a jump table in the function targets the inside of the patched bytes";
				}
			} else if (insn->id == X86_INS_JMP && op->mem.base == X86_REG_INVALID &&
			           op->mem.index != X86_REG_INVALID && op->mem.scale == 8) {
				uint64_t e = (uint64_t)op->mem.disp;
				for (uint64_t q = e; q >= addr && q + 8 <= end; q += 8) {
					uint64_t dst;
					memcpy(&dst, code + (q - addr), 8);
					if (dst < addr || dst >= end)
						break;
					if (dst >= lo && dst < hi)
						return "a jump table in the function targets the inside of the patched bytes";
				}
			}
		}
	}
	return NULL;
}

/* Pass 3: INSN, from the function, rewritten at TRAMP_ADDR + *POS.
 *
 * RIP-relative operand, "cmpb $0x0,0x140201(%rip)" at A (7 bytes):
 *   before  A     80 3d 01 02 14 00 00   reaches A+7+0x140201
 *   after   T     80 3d <d'> 00          d' = 0x140201 + (A - T)
 * Relative branches become their rel32 forms, "je +0xbf" at A (6 bytes,
 * or 74 xx in 2) reaching A+6+0xbf:
 *   after   T     0f 84 <d'>             d' = A+6+0xbf - (T+6)
 * jmp rel8/rel32 -> e9 <rel32>; call rel32 -> e8 <rel32> (the callee returns
 * into the trampoline, which goes on with the next relocated instruction). */
static int relocate(const cs_insn *insn, uint64_t tramp_addr, struct mt_tramp_plan *out,
                    unsigned *pos)
{
	const cs_x86 *x = &insn->detail->x86;
	uint8_t *dst = out->tramp + *pos;
	uint64_t at = tramp_addr + *pos;
	uint64_t target;
	int32_t d;

	const char *why = cannot_relocate(insn);
	if (why) {
		out->why = why;
		return -EINVAL;
	}

	if (relative_target(insn, &target)) {
		unsigned sz;
		if (insn->id == X86_INS_JMP) {
			dst[0] = 0xe9;
			sz = 5;
		} else if (insn->id == X86_INS_CALL) {
			dst[0] = 0xe8;
			sz = 5;
		} else if (in_group(insn, CS_GRP_JUMP)) {
			/* jcc rel8 is 0x70+cc; jcc rel32 is 0x0f 0x80+cc */
			uint8_t op0 = x->opcode[0], op1 = x->opcode[1], cc;
			if (op0 >= 0x70 && op0 <= 0x7f)
				cc = op0 & 0xf;
			else if (op0 == 0x0f && op1 >= 0x80 && op1 <= 0x8f)
				cc = op1 & 0xf;
			else {
				out->why = "an unknown conditional branch under the patched bytes";
				return -EINVAL;
			}
			dst[0] = 0x0f;
			dst[1] = (uint8_t)(0x80 | cc);
			sz = 6;
		} else {
			out->why = "an unknown relative branch under the patched bytes";
			return -EINVAL;
		}
		if (!rel32(at + sz, target, &d)) {
			out->why = "a branch under the patched bytes cannot reach its target from the trampoline";
			return -ERANGE;
		}
		put_rel32(dst + sz - 4, d);
		*pos += sz;
		return 0;
	}

	memcpy(dst, insn->bytes, insn->size);
	for (int i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];
		if (op->type != X86_OP_MEM || op->mem.base != X86_REG_RIP)
			continue;
		if (x->encoding.disp_size != 4) {
			out->why = "a RIP-relative operand without a 32-bit displacement";
			return -EINVAL;
		}
		uint64_t e = insn->address + insn->size + (uint64_t)op->mem.disp;
		if (!rel32(at + insn->size, e, &d)) {
			out->why = "a RIP-relative operand under the patched bytes is out of +-2 GiB of the trampoline";
			return -ERANGE;
		}
		put_rel32(dst + x->encoding.disp_offset, d);
	}
	*pos += insn->size;
	return 0;
}

int mt_tramp_plan_make(const uint8_t *code, size_t n, uint64_t addr, uint64_t jump_to,
                       uint64_t tramp_addr, struct mt_tramp_plan *out)
{
	csh cs;
	cs_insn *insn = NULL;
	int err = -EINVAL;
	int32_t d;

	memset(out, 0, sizeof *out);
	if (n < MT_TRAMP_JMP_LEN) {
		out->why = "the function is shorter than the patch";
		return -EINVAL;
	}
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		out->why = "capstone cannot open";
		return -ENOMEM;
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	insn = cs_malloc(cs);
	if (!insn) {
		out->why = "capstone cannot allocate";
		err = -ENOMEM;
		goto out;
	}

	out->why = cover(cs, code, n, addr, insn, &out->patch_len, &out->ninsn);
	if (out->why)
		goto out;
	out->why = branches_inside(cs, code, n, addr, out->patch_len, insn);
	if (out->why)
		goto out;

	/* The patch, "push %r12; push %rbp; push %rbx; mov %rdi,%rbx" at A:
	 *   before  A  41 54 55 53 48 89 fb
	 *   after   A  e9 <JUMP_TO-(A+5)> cc cc                             */
	err = -ERANGE;
	if (!rel32(addr + MT_TRAMP_JMP_LEN, jump_to, &d)) {
		out->why = "the trampoline is out of +-2 GiB of the function";
		goto out;
	}
	out->patch[0] = 0xe9;
	put_rel32(out->patch + 1, d);
	memset(out->patch + MT_TRAMP_JMP_LEN, 0xcc, out->patch_len - MT_TRAMP_JMP_LEN);

	unsigned pos = 0;

	/* the relocated instructions: at most 16 bytes of them, each growing at
	 * most from 2 to 6 bytes (jcc rel8), so they fit in MT_TRAMP_MAX */
	const uint8_t *p = code;
	size_t left = n;
	uint64_t a = addr;
	for (unsigned i = 0; i < out->ninsn; i++) {
		cs_disasm_iter(cs, &p, &left, &a, insn); /* decoded once already */
		err = relocate(insn, tramp_addr, out, &pos);
		if (err)
			goto out;
	}

	/* and back: jmp ADDR+PATCH_LEN */
	if (!rel32(tramp_addr + pos + 5, addr + out->patch_len, &d)) {
		out->why = "the function is out of +-2 GiB of the trampoline's end";
		err = -ERANGE;
		goto out;
	}
	out->tramp[pos] = 0xe9;
	put_rel32(out->tramp + pos + 1, d);
	out->tramp_len = pos + 5;
	out->ok = 1;
	err = 0;
out:
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	if (err && !out->why)
		out->why = "cannot plan the patch";
	return err;
}
