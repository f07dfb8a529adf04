/* x86_64 instruction planning with capstone.  See insn_plan.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <capstone/capstone.h>

#include "arch/insn_plan.h"

/* jmp *0(%rip); .quad TARGET  -- 14 bytes, reaches anywhere. */
#define ABS_JMP_LEN 14
static void put_abs_jmp(uint8_t *p, uint64_t target)
{
	p[0] = 0xff;
	p[1] = 0x25;
	memset(p + 2, 0, 4);
	memcpy(p + 6, &target, 8);
}

static const char *unsupported_reason(const cs_insn *insn)
{
	const cs_detail *d = insn->detail;
	if (insn->id == X86_INS_SYSCALL || insn->id == X86_INS_SYSENTER)
		return "the entry is a system call"; /* capstone files these under interrupts too */
	for (int i = 0; i < d->groups_count; i++) {
		switch (d->groups[i]) {
		case CS_GRP_RET: return "the entry is a return";
		case CS_GRP_INT: return "the entry is an interrupt or trap";
		case CS_GRP_IRET: return "the entry is an interrupt return";
		default: break;
		}
	}
	switch (insn->id) {
	case X86_INS_JRCXZ:
	case X86_INS_JECXZ:
	case X86_INS_LOOP:
	case X86_INS_LOOPE:
	case X86_INS_LOOPNE:
		return "the entry is a counted loop branch (no 32-bit form to relocate)";
	default:
		return NULL;
	}
}

static bool in_group(const cs_insn *insn, uint8_t g)
{
	for (int i = 0; i < insn->detail->groups_count; i++)
		if (insn->detail->groups[i] == g)
			return true;
	return false;
}

int mt_insn_plan_make(const uint8_t *code, size_t n, uint64_t addr, struct mt_insn_plan *out)
{
	csh cs;
	cs_insn *insn = NULL;
	int err = -EINVAL;

	memset(out, 0, sizeof *out);
	out->addr = addr;
	out->disp_offset = -1;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	cs_option(cs, CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT);
	if (cs_disasm(cs, code, n, addr, 1, &insn) != 1)
		goto out;

	const cs_x86 *x = &insn->detail->x86;
	out->len = insn->size;
	memcpy(out->bytes, insn->bytes, insn->size);
	snprintf(out->text, sizeof out->text, "%s %s", insn->mnemonic, insn->op_str);
	err = 0;

	if (insn->id == X86_INS_RET && x->op_count == 0) {
		out->kind = MT_PLAN_EMU_RET; /* a lone ret: pop the return address */
		goto out;
	}
	const char *why = unsupported_reason(insn);
	if (why) {
		out->kind = MT_PLAN_UNSUPPORTED;
		out->why = why;
		goto out;
	}

	bool relative = in_group(insn, CS_GRP_BRANCH_RELATIVE);
	if (relative && x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
		out->target = (uint64_t)x->operands[0].imm;
		if (insn->id == X86_INS_JMP) {
			out->kind = MT_PLAN_EMU_JMP;
		} else if (insn->id == X86_INS_CALL) {
			out->kind = MT_PLAN_EMU_CALL;
		} else if (in_group(insn, CS_GRP_JUMP)) {
			/* jcc rel8 is 0x70+cc; jcc rel32 is 0x0f 0x80+cc. */
			uint8_t op0 = x->opcode[0], op1 = x->opcode[1];
			if (op0 >= 0x70 && op0 <= 0x7f)
				out->cc = op0 & 0xf;
			else if (op0 == 0x0f && op1 >= 0x80 && op1 <= 0x8f)
				out->cc = op1 & 0xf;
			else {
				out->kind = MT_PLAN_UNSUPPORTED;
				out->why = "unknown conditional branch encoding";
				goto out;
			}
			out->kind = MT_PLAN_OOL_JCC;
		} else {
			out->kind = MT_PLAN_UNSUPPORTED;
			out->why = "unknown relative branch";
		}
		goto out;
	}

	out->kind = MT_PLAN_OOL;
	for (int i = 0; i < x->op_count; i++) {
		if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP) {
			if (x->encoding.disp_size != 4) {
				out->kind = MT_PLAN_UNSUPPORTED;
				out->why = "RIP-relative operand without a 32-bit displacement";
				goto out;
			}
			out->disp_offset = x->encoding.disp_offset;
		}
	}
out:
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	return err;
}

int mt_insn_plan_slot(const struct mt_insn_plan *p, uint64_t slot_addr, uint8_t *buf)
{
	memset(buf, 0xCC, MT_SLOT_SIZE);
	uint64_t next = p->addr + p->len;

	if (p->kind == MT_PLAN_OOL_JCC) {
		/* Slot for "jne T" at A (either encoding):
		 *   +0   75 0e             jne +14        (to +16)
		 *   +2   ff 25 00000000    jmp *0(%rip)   not taken: back to A+len
		 *   +8   <A+len>
		 *   +16  ff 25 00000000    jmp *0(%rip)   taken: to T
		 *   +22  <T>                                                   */
		buf[0] = (uint8_t)(0x70 | p->cc);
		buf[1] = ABS_JMP_LEN;
		put_abs_jmp(buf + 2, next);
		put_abs_jmp(buf + 2 + ABS_JMP_LEN, p->target);
		return 2 + 2 * ABS_JMP_LEN;
	}
	if (p->kind != MT_PLAN_OOL)
		return -EINVAL;

	/* Slot for "cmpb $0x0,0x141b46(%rip)" at A:
	 *   +0   80 3d <disp'> 00     cmpb $0x0,disp'(%rip)  disp' = disp + A - slot
	 *   +7   ff 25 00000000 <A+7> jmp back                                   */
	memcpy(buf, p->bytes, p->len);
	if (p->disp_offset >= 0) {
		int32_t disp;
		memcpy(&disp, p->bytes + p->disp_offset, 4);
		int64_t nd = (int64_t)disp + (int64_t)(p->addr - slot_addr);
		if (nd < INT32_MIN || nd > INT32_MAX)
			return -ERANGE;
		int32_t nd32 = (int32_t)nd;
		memcpy(buf + p->disp_offset, &nd32, 4);
	}
	put_abs_jmp(buf + p->len, next);
	return (int)p->len + ABS_JMP_LEN;
}

uint64_t mt_insn_plan_slot_pc_to_orig(const struct mt_insn_plan *p, unsigned offset)
{
	if (p->kind == MT_PLAN_OOL) {
		if (offset == 0)
			return p->addr;
		if (offset == p->len)
			return p->addr + p->len;
	} else if (p->kind == MT_PLAN_OOL_JCC) {
		if (offset == 0)
			return p->addr;
		if (offset == 2)
			return p->addr + p->len;
		if (offset == 2 + ABS_JMP_LEN)
			return p->target;
	}
	return 0;
}
