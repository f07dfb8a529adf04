/* Unit tests for src/arch/x86_64/insn_plan.c: the plan for the instruction
 * an entry breakpoint displaces, and the out-of-line slot code.
 *
 * The prologues are real glibc 2.36 bytes (Debian 12, libc.so.6, file
 * addresses):
 *   malloc  0x98930  41 54                 push %r12
 *           0x9893b  80 3d 46 1b 14 00 00  cmpb $0x0,0x141b46(%rip)  # 0x1da488
 *   free    0x98ef0  48 85 ff              test %rdi,%rdi
 * Every slot is checked byte for byte: the slot is what a thread executes
 * in the target, so "about right" is wrong. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/insn_plan.h"

/* Where libc.so.6 might be loaded; a slot page lands near it. */
#define LIBC_BASE 0x7f3a1c000000ULL

static void plan(const uint8_t *code, size_t n, uint64_t addr, struct mt_insn_plan *p)
{
	ck_assert_int_eq(mt_insn_plan_make(code, n, addr, p), 0);
	ck_assert_uint_eq(p->addr, addr);
}

/* BUF (a whole slot) starts with WANT[0..N) and is int3 filler after. */
static void assert_slot(const uint8_t *buf, const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < MT_SLOT_SIZE; i++) {
		uint8_t w = i < n ? want[i] : 0xcc;
		if (buf[i] != w)
			ck_abort_msg("slot byte %zu: got %02x, want %02x", i, buf[i], w);
	}
}

START_TEST(test_push_r12_ool)
{
	static const uint8_t code[] = { 0x41, 0x54, 0x55, 0x53 }; /* push %r12; push %rbp; ... */
	struct mt_insn_plan p;
	plan(code, sizeof code, 0x98930, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL);
	ck_assert_uint_eq(p.len, 2);
	ck_assert_int_eq(p.disp_offset, -1);
	ck_assert_mem_eq(p.bytes, code, 2);
	ck_assert_ptr_null(p.why);
	ck_assert_msg(strstr(p.text, "push") && strstr(p.text, "%r12"), "text '%s'", p.text);

	/* Not RIP-relative: the slot is the same wherever it sits. */
	static const uint8_t want[] = {
		0x41, 0x54,                               /* push %r12      */
		0xff, 0x25, 0x00, 0x00, 0x00, 0x00,       /* jmp *0(%rip)   */
		0x32, 0x89, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, /* .quad 0x98932 */
	};
	uint8_t buf[MT_SLOT_SIZE];
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x7f0000000000, buf), (int)sizeof want);
	assert_slot(buf, want, sizeof want);
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x1000, buf), (int)sizeof want);
	assert_slot(buf, want, sizeof want);

	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 0), 0x98930);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 2), 0x98932);
	/* Inside the instruction or the jump: not a boundary. */
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 1), 0);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 5), 0);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 16), 0);
}
END_TEST

START_TEST(test_test_rdi_ool)
{
	static const uint8_t code[] = { 0x48, 0x85, 0xff, 0x74, 0x22 }; /* test; je */
	const uint64_t a = LIBC_BASE + 0x98ef0;
	struct mt_insn_plan p;
	plan(code, sizeof code, a, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL);
	ck_assert_uint_eq(p.len, 3);
	ck_assert_int_eq(p.disp_offset, -1);

	static const uint8_t want[] = {
		0x48, 0x85, 0xff,
		0xff, 0x25, 0x00, 0x00, 0x00, 0x00,
		0xf3, 0x8e, 0x09, 0x1c, 0x3a, 0x7f, 0x00, 0x00, /* free + 3 */
	};
	uint8_t buf[MT_SLOT_SIZE];
	ck_assert_int_eq(mt_insn_plan_slot(&p, LIBC_BASE + 0x200000, buf), (int)sizeof want);
	assert_slot(buf, want, sizeof want);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 3), a + 3);
}
END_TEST

/* cmpb $0x0,0x141b46(%rip) at malloc+11 reads the byte at 0x...1da488.  In
 * a slot at S the displacement becomes disp + A - S, so that S + 7 + disp'
 * is still that byte:
 *   at A:       80 3d 46 1b 14 00 00
 *   slot above: 80 3d 81 a4 ee ff 00   (S = base + 0x2f0000)
 *   slot below: 80 3d 81 a4 2d 00 00   (S = base - 0x100000)      */
static const uint8_t cmpb[] = { 0x80, 0x3d, 0x46, 0x1b, 0x14, 0x00, 0x00 };
static const uint64_t cmpb_addr = LIBC_BASE + 0x9893b;
static const uint64_t cmpb_mem = LIBC_BASE + 0x1da488;

static int32_t slot_disp(const uint8_t *buf)
{
	int32_t d;
	memcpy(&d, buf + 2, 4);
	return d;
}

START_TEST(test_rip_relative_redisplaced)
{
	struct mt_insn_plan p;
	plan(cmpb, sizeof cmpb, cmpb_addr, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL);
	ck_assert_uint_eq(p.len, 7);
	ck_assert_int_eq(p.disp_offset, 2);
	ck_assert_mem_eq(p.bytes, cmpb, sizeof cmpb);
	ck_assert_msg(strstr(p.text, "cmpb") && strstr(p.text, "0x141b46(%rip)"), "text '%s'",
		      p.text);

	uint8_t buf[MT_SLOT_SIZE];
	const uint64_t above = LIBC_BASE + 0x2f0000;
	static const uint8_t want_above[] = {
		0x80, 0x3d, 0x81, 0xa4, 0xee, 0xff, 0x00,
		0xff, 0x25, 0x00, 0x00, 0x00, 0x00,
		0x42, 0x89, 0x09, 0x1c, 0x3a, 0x7f, 0x00, 0x00, /* malloc + 18 */
	};
	ck_assert_int_eq(mt_insn_plan_slot(&p, above, buf), (int)sizeof want_above);
	assert_slot(buf, want_above, sizeof want_above);
	ck_assert_uint_eq(above + 7 + (uint64_t)(int64_t)slot_disp(buf), cmpb_mem);

	const uint64_t below = LIBC_BASE - 0x100000;
	static const uint8_t want_below[] = {
		0x80, 0x3d, 0x81, 0xa4, 0x2d, 0x00, 0x00,
		0xff, 0x25, 0x00, 0x00, 0x00, 0x00,
		0x42, 0x89, 0x09, 0x1c, 0x3a, 0x7f, 0x00, 0x00,
	};
	ck_assert_int_eq(mt_insn_plan_slot(&p, below, buf), (int)sizeof want_below);
	assert_slot(buf, want_below, sizeof want_below);
	ck_assert_uint_eq(below + 7 + (uint64_t)(int64_t)slot_disp(buf), cmpb_mem);

	/* A slot at the instruction itself keeps the original bytes. */
	ck_assert_int_eq(mt_insn_plan_slot(&p, cmpb_addr, buf), 21);
	ck_assert_mem_eq(buf, cmpb, sizeof cmpb);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 0), cmpb_addr);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 7), cmpb_addr + 7);
}
END_TEST

START_TEST(test_rip_relative_out_of_reach)
{
	struct mt_insn_plan p;
	plan(cmpb, sizeof cmpb, cmpb_addr, &p);
	uint8_t buf[MT_SLOT_SIZE];
	const uint64_t disp = 0x141b46;

	/* The farthest slots that still reach: disp' == INT32_MIN, INT32_MAX. */
	const uint64_t hi = cmpb_addr + disp + 0x80000000ULL;
	ck_assert_int_eq(mt_insn_plan_slot(&p, hi, buf), 21);
	ck_assert_int_eq(slot_disp(buf), INT32_MIN);
	const uint64_t lo = cmpb_addr + disp - 0x7fffffffULL;
	ck_assert_int_eq(mt_insn_plan_slot(&p, lo, buf), 21);
	ck_assert_int_eq(slot_disp(buf), INT32_MAX);

	/* One byte farther, or gigabytes away, does not. */
	ck_assert_int_eq(mt_insn_plan_slot(&p, hi + 1, buf), -ERANGE);
	ck_assert_int_eq(mt_insn_plan_slot(&p, lo - 1, buf), -ERANGE);
	ck_assert_int_eq(mt_insn_plan_slot(&p, cmpb_addr + (3ULL << 30), buf), -ERANGE);
	ck_assert_int_eq(mt_insn_plan_slot(&p, cmpb_addr - (3ULL << 30), buf), -ERANGE);
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x10000, buf), -ERANGE);
}
END_TEST

/* jmp *disp(%rip) and mov disp(%rip): memory operands are re-displaced too. */
START_TEST(test_rip_relative_other)
{
	/* jmp *0x200(%rip) at 0x401000 (a PLT-style entry) */
	static const uint8_t jmpm[] = { 0xff, 0x25, 0x00, 0x02, 0x00, 0x00 };
	struct mt_insn_plan p;
	plan(jmpm, sizeof jmpm, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL);
	ck_assert_int_eq(p.disp_offset, 2);
	uint8_t buf[MT_SLOT_SIZE];
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x400000, buf), 6 + 14);
	static const uint8_t want[] = {
		0xff, 0x25, 0x00, 0x12, 0x00, 0x00,       /* 0x200 + 0x1000 */
		0xff, 0x25, 0x00, 0x00, 0x00, 0x00,
		0x06, 0x10, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	assert_slot(buf, want, sizeof want);

	/* mov 0x10(%rip),%rax: REX.W 8b 05, displacement at offset 3 */
	static const uint8_t mov[] = { 0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00 };
	plan(mov, sizeof mov, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL);
	ck_assert_int_eq(p.disp_offset, 3);
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x401100, buf), 7 + 14);
	int32_t d;
	memcpy(&d, buf + 3, 4);
	ck_assert_int_eq(d, 0x10 - 0x100);
}
END_TEST

START_TEST(test_jmp_call_emulated)
{
	struct mt_insn_plan p;
	uint8_t buf[MT_SLOT_SIZE];

	/* jmp rel32 forward and backward, jmp rel8 */
	static const uint8_t jmp_fwd[] = { 0xe9, 0xfb, 0x0f, 0x00, 0x00 };
	plan(jmp_fwd, sizeof jmp_fwd, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_EMU_JMP);
	ck_assert_uint_eq(p.len, 5);
	ck_assert_uint_eq(p.target, 0x402000);
	/* Emulated: there is no slot for it. */
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x400000, buf), -EINVAL);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 0), 0);

	static const uint8_t jmp_back[] = { 0xe9, 0x00, 0xf0, 0xff, 0xff };
	plan(jmp_back, sizeof jmp_back, 0x7f0000010000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_EMU_JMP);
	ck_assert_uint_eq(p.target, 0x7f0000010000 + 5 - 0x1000);

	static const uint8_t jmp8[] = { 0xeb, 0xfe };  /* jmp . */
	plan(jmp8, sizeof jmp8, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_EMU_JMP);
	ck_assert_uint_eq(p.len, 2);
	ck_assert_uint_eq(p.target, 0x401000);

	/* call rel32 */
	static const uint8_t call[] = { 0xe8, 0x10, 0x00, 0x00, 0x00 };
	plan(call, sizeof call, 0x7f3a1c098930, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_EMU_CALL);
	ck_assert_uint_eq(p.len, 5);
	ck_assert_uint_eq(p.target, 0x7f3a1c098945);
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x7f3a1c200000, buf), -EINVAL);

	static const uint8_t call_back[] = { 0xe8, 0xf0, 0xff, 0xff, 0xff };
	plan(call_back, sizeof call_back, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_EMU_CALL);
	ck_assert_uint_eq(p.target, 0x401000 + 5 - 0x10);
}
END_TEST

/* Slot for a jcc at A with target T (either encoding):
 *   +0   7X 0e                 jcc +14 (to +16)
 *   +2   ff 25 00 00 00 00     jmp *0(%rip)   not taken
 *   +8   <A + len>
 *   +16  ff 25 00 00 00 00     jmp *0(%rip)   taken
 *   +22  <T>                                             */
static void want_jcc(uint8_t *w, unsigned cc, uint64_t next, uint64_t target)
{
	w[0] = (uint8_t)(0x70 | cc);
	w[1] = 0x0e;
	static const uint8_t jmp[] = { 0xff, 0x25, 0x00, 0x00, 0x00, 0x00 };
	memcpy(w + 2, jmp, 6);
	for (int i = 0; i < 8; i++)
		w[8 + i] = (uint8_t)(next >> (8 * i));
	memcpy(w + 16, jmp, 6);
	for (int i = 0; i < 8; i++)
		w[22 + i] = (uint8_t)(target >> (8 * i));
}

START_TEST(test_jcc_short)
{
	static const uint8_t je[] = { 0x74, 0x05 };  /* je +5 */
	const uint64_t a = 0x7f3a1c098f10;
	struct mt_insn_plan p;
	plan(je, sizeof je, a, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL_JCC);
	ck_assert_uint_eq(p.len, 2);
	ck_assert_uint_eq(p.cc, 0x4);
	ck_assert_uint_eq(p.target, a + 7);

	uint8_t buf[MT_SLOT_SIZE];
	static const uint8_t want[] = {
		0x74, 0x0e,
		0xff, 0x25, 0x00, 0x00, 0x00, 0x00,
		0x12, 0x8f, 0x09, 0x1c, 0x3a, 0x7f, 0x00, 0x00, /* a + 2 */
		0xff, 0x25, 0x00, 0x00, 0x00, 0x00,
		0x17, 0x8f, 0x09, 0x1c, 0x3a, 0x7f, 0x00, 0x00, /* a + 7 */
	};
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x7f3a1c300000, buf), (int)sizeof want);
	assert_slot(buf, want, sizeof want);
	/* Absolute jumps only: anywhere in the address space will do. */
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x1000, buf), (int)sizeof want);
	assert_slot(buf, want, sizeof want);

	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 0), a);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 2), a + 2);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 16), a + 7);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 1), 0);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 8), 0);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 22), 0);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 30), 0);
}
END_TEST

START_TEST(test_jcc_near)
{
	struct mt_insn_plan p;
	uint8_t buf[MT_SLOT_SIZE], want[30];

	/* je rel32 forward */
	static const uint8_t je[] = { 0x0f, 0x84, 0x00, 0x01, 0x00, 0x00 };
	plan(je, sizeof je, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL_JCC);
	ck_assert_uint_eq(p.len, 6);
	ck_assert_uint_eq(p.cc, 0x4);
	ck_assert_uint_eq(p.target, 0x401106);
	want_jcc(want, 0x4, 0x401006, 0x401106);
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x7f0000000000, buf), 30);
	assert_slot(buf, want, sizeof want);

	/* jne rel32 backward */
	static const uint8_t jne[] = { 0x0f, 0x85, 0x00, 0xff, 0xff, 0xff };
	const uint64_t a = 0x7f3a1c099130;
	plan(jne, sizeof jne, a, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_OOL_JCC);
	ck_assert_uint_eq(p.cc, 0x5);
	ck_assert_uint_eq(p.target, a + 6 - 0x100);
	want_jcc(want, 0x5, a + 6, a + 6 - 0x100);
	ck_assert_int_eq(mt_insn_plan_slot(&p, a + 0x100000, buf), 30);
	assert_slot(buf, want, sizeof want);
	ck_assert_uint_eq(buf[0], 0x75);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 0), a);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 2), a + 6);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 16), a + 6 - 0x100);
}
END_TEST

/* Every condition, both encodings: the slot's short jcc keeps the nibble. */
START_TEST(test_jcc_every_condition)
{
	for (unsigned cc = 0; cc < 16; cc++) {
		struct mt_insn_plan p;
		uint8_t buf[MT_SLOT_SIZE], want[30];
		const uint8_t short_form[] = { (uint8_t)(0x70 | cc), 0x10 };
		plan(short_form, sizeof short_form, 0x500000, &p);
		ck_assert_int_eq(p.kind, MT_PLAN_OOL_JCC);
		ck_assert_uint_eq(p.cc, cc);
		ck_assert_uint_eq(p.target, 0x500012);
		want_jcc(want, cc, 0x500002, 0x500012);
		ck_assert_int_eq(mt_insn_plan_slot(&p, 0x600000, buf), 30);
		assert_slot(buf, want, sizeof want);

		const uint8_t near_form[] = { 0x0f, (uint8_t)(0x80 | cc), 0x10, 0, 0, 0 };
		plan(near_form, sizeof near_form, 0x500000, &p);
		ck_assert_int_eq(p.kind, MT_PLAN_OOL_JCC);
		ck_assert_uint_eq(p.cc, cc);
		ck_assert_uint_eq(p.target, 0x500016);
		want_jcc(want, cc, 0x500006, 0x500016);
		ck_assert_int_eq(mt_insn_plan_slot(&p, 0x600000, buf), 30);
		assert_slot(buf, want, sizeof want);
	}
}
END_TEST

static void assert_unsupported(const uint8_t *code, size_t n, unsigned len)
{
	struct mt_insn_plan p;
	uint8_t buf[MT_SLOT_SIZE];
	plan(code, n, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_UNSUPPORTED);
	ck_assert_uint_eq(p.len, len);
	ck_assert_ptr_nonnull(p.why);
	ck_assert_uint_gt(strlen(p.why), 0);
	ck_assert_int_eq(mt_insn_plan_slot(&p, 0x400000, buf), -EINVAL);
	ck_assert_uint_eq(mt_insn_plan_slot_pc_to_orig(&p, 0), 0);
}

START_TEST(test_unsupported)
{
	static const uint8_t ret[] = { 0xc3 };
	static const uint8_t ret_imm[] = { 0xc2, 0x08, 0x00 };
	static const uint8_t int3[] = { 0xcc };
	static const uint8_t int80[] = { 0xcd, 0x80 };
	static const uint8_t syscall[] = { 0x0f, 0x05 };
	static const uint8_t jrcxz[] = { 0xe3, 0x10 };
	static const uint8_t jecxz[] = { 0x67, 0xe3, 0x10 };
	static const uint8_t loop[] = { 0xe2, 0xfe };
	static const uint8_t xbegin[] = { 0xc7, 0xf8, 0x00, 0x01, 0x00, 0x00 };

	assert_unsupported(ret_imm, sizeof ret_imm, 3);
	assert_unsupported(int3, sizeof int3, 1);
	assert_unsupported(int80, sizeof int80, 2);
	assert_unsupported(syscall, sizeof syscall, 2);
	assert_unsupported(jrcxz, sizeof jrcxz, 2);
	assert_unsupported(jecxz, sizeof jecxz, 3);
	assert_unsupported(loop, sizeof loop, 2);
	/* xbegin's rel32 fallback would be wrong in a slot. */
	assert_unsupported(xbegin, sizeof xbegin, 6);

	/* A lone ret is emulated (EMU_RET); ret $imm is not. */
	struct mt_insn_plan p;
	plan(ret, sizeof ret, 0x401000, &p);
	ck_assert_int_eq(p.kind, MT_PLAN_EMU_RET);
	ck_assert_uint_eq(p.len, 1);
	plan(ret_imm, sizeof ret_imm, 0x401000, &p);
	ck_assert_msg(strstr(p.why, "return"), "why '%s'", p.why);
	plan(jrcxz, sizeof jrcxz, 0x401000, &p);
	ck_assert_msg(strstr(p.why, "loop"), "why '%s'", p.why);
}
END_TEST

START_TEST(test_does_not_decode)
{
	struct mt_insn_plan p;
	static const uint8_t push_es[] = { 0x06 };          /* invalid in 64-bit mode */
	static const uint8_t bad_ff[] = { 0xff, 0xff };     /* ff /7 is undefined */
	static const uint8_t cut_call[] = { 0xe8, 0x00, 0x00 }; /* rel32 cut short */
	static const uint8_t cut_cmpb[] = { 0x80, 0x3d, 0x46, 0x1b };

	ck_assert_int_eq(mt_insn_plan_make(push_es, sizeof push_es, 0x401000, &p), -EINVAL);
	ck_assert_int_eq(mt_insn_plan_make(bad_ff, sizeof bad_ff, 0x401000, &p), -EINVAL);
	ck_assert_int_eq(mt_insn_plan_make(cut_call, sizeof cut_call, 0x401000, &p), -EINVAL);
	ck_assert_int_eq(mt_insn_plan_make(cut_cmpb, sizeof cut_cmpb, 0x401000, &p), -EINVAL);
	ck_assert_int_eq(mt_insn_plan_make(push_es, 0, 0x401000, &p), -EINVAL);
}
END_TEST

static Suite *insn_plan_suite(void)
{
	Suite *s = suite_create("insn_plan");
	TCase *tc = tcase_create("ool");
	tcase_add_test(tc, test_push_r12_ool);
	tcase_add_test(tc, test_test_rdi_ool);
	tcase_add_test(tc, test_rip_relative_redisplaced);
	tcase_add_test(tc, test_rip_relative_out_of_reach);
	tcase_add_test(tc, test_rip_relative_other);
	suite_add_tcase(s, tc);
	tc = tcase_create("branches");
	tcase_add_test(tc, test_jmp_call_emulated);
	tcase_add_test(tc, test_jcc_short);
	tcase_add_test(tc, test_jcc_near);
	tcase_add_test(tc, test_jcc_every_condition);
	suite_add_tcase(s, tc);
	tc = tcase_create("refused");
	tcase_add_test(tc, test_unsupported);
	tcase_add_test(tc, test_does_not_decode);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(insn_plan_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
