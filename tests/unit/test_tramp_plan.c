/* Unit tests for src/arch/x86_64/tramp_plan.c: the 5-byte jump patch of an
 * allocator entry and its trampoline.
 *
 * The functions are real glibc 2.36 bytes (Debian 12, libc.so.6, file
 * offsets = file addresses), whole when the symbol is small (free,
 * posix_memalign, memalign, valloc: the branch sweep sees every branch),
 * their first 64 bytes otherwise (malloc, calloc, realloc: a size the
 * engine uses when it does not know the function's).  libc is placed at
 * LIBC_BASE, the trampoline page just past its data.
 * Every patch and trampoline is checked byte for byte: they are what a
 * thread executes in the target. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/tramp_plan.h"

#define LIBC_BASE 0x7f3a1c000000ULL
#define TRAMP (LIBC_BASE + 0x1f0000)

/* free: 257 bytes at 0x98ef0
 *   48 85 ff              test %rdi,%rdi
 *   0f 84 bf 00 00 00     je free+0xc8           */
static const uint8_t free_code[] = {
	0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0x00, 0x00, 0x00, 0x55, 0x48, 0x8d,
	0x77, 0xf0, 0x53, 0x48, 0x83, 0xec, 0x18, 0x48, 0x8b, 0x1d, 0xd6, 0x9e,
	0x13, 0x00, 0x48, 0x8b, 0x47, 0xf8, 0x64, 0x8b, 0x2b, 0xa8, 0x02, 0x75,
	0x5b, 0x48, 0x8b, 0x15, 0x5c, 0x9e, 0x13, 0x00, 0x64, 0x48, 0x83, 0x3a,
	0x00, 0x0f, 0x84, 0x99, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x3d, 0x32, 0xad,
	0x13, 0x00, 0xa8, 0x04, 0x74, 0x26, 0x48, 0x8b, 0x15, 0x37, 0xa4, 0x13,
	0x00, 0x48, 0x8d, 0x04, 0x95, 0x00, 0x00, 0x00, 0x00, 0x48, 0xf7, 0xd8,
	0x48, 0x85, 0xd2, 0x48, 0xc7, 0xc2, 0x00, 0x00, 0x00, 0xfc, 0x48, 0x0f,
	0x44, 0xc2, 0x48, 0x21, 0xf0, 0x48, 0x8b, 0x38, 0x31, 0xd2, 0xe8, 0xc1,
	0xd1, 0xff, 0xff, 0x64, 0x89, 0x2b, 0x48, 0x83, 0xc4, 0x18, 0x5b, 0x5d,
	0xc3, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x8b, 0x15, 0x12, 0xa4,
	0x13, 0x00, 0x85, 0xd2, 0x75, 0x26, 0x48, 0x39, 0x05, 0xcf, 0xa3, 0x13,
	0x00, 0x73, 0x1d, 0x48, 0x3d, 0x00, 0x00, 0x00, 0x02, 0x77, 0x15, 0x48,
	0x83, 0xe0, 0xf8, 0x48, 0x89, 0x05, 0xba, 0xa3, 0x13, 0x00, 0x48, 0x01,
	0xc0, 0x48, 0x89, 0x05, 0xa0, 0xa3, 0x13, 0x00, 0x48, 0x89, 0xf7, 0xe8,
	0x08, 0xba, 0xff, 0xff, 0x64, 0x89, 0x2b, 0x48, 0x83, 0xc4, 0x18, 0x5b,
	0x5d, 0xc3, 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3, 0x0f, 0x1f, 0x80,
	0x00, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x15, 0xb9, 0x9d, 0x13, 0x00, 0x48,
	0x89, 0x3c, 0x24, 0x64, 0x80, 0x3a, 0x00, 0x0f, 0x85, 0x52, 0xff, 0xff,
	0xff, 0x48, 0x89, 0x74, 0x24, 0x08, 0xe8, 0x31, 0xf2, 0xff, 0xff, 0x48,
	0x8b, 0x3c, 0x24, 0x48, 0x8b, 0x74, 0x24, 0x08, 0x48, 0x8b, 0x47, 0xf8,
	0xe9, 0x36, 0xff, 0xff, 0xff,
};
/* memalign: 52 bytes at 0x99610
 *   80 3d 71 0e 14 00 00  cmpb $0x0,0x140e71(%rip)  # __malloc_initialized
 *   74 07                 je memalign+0x10       */
static const uint8_t memalign_code[] = {
	0x80, 0x3d, 0x71, 0x0e, 0x14, 0x00, 0x00, 0x74, 0x07, 0xe9, 0x32, 0xf6,
	0xff, 0xff, 0x66, 0x90, 0x48, 0x83, 0xec, 0x18, 0x48, 0x89, 0x74, 0x24,
	0x08, 0x48, 0x89, 0x3c, 0x24, 0xe8, 0xbe, 0xbc, 0xff, 0xff, 0x48, 0x8b,
	0x74, 0x24, 0x08, 0x48, 0x8b, 0x3c, 0x24, 0x48, 0x83, 0xc4, 0x18, 0xe9,
	0x0c, 0xf6, 0xff, 0xff,
};
/* valloc: 47 bytes at 0x99650; at +0x2d, `eb de` jumps back to +0xd
 *   80 3d 31 0e 14 00 00  cmpb $0x0,0x140e31(%rip)  # __malloc_initialized
 *   53                    push %rbx              */
static const uint8_t valloc_code[] = {
	0x80, 0x3d, 0x31, 0x0e, 0x14, 0x00, 0x00, 0x53, 0x48, 0x89, 0xfb, 0x74,
	0x1b, 0x48, 0x8b, 0x05, 0x34, 0x98, 0x13, 0x00, 0x48, 0x89, 0xde, 0x5b,
	0x48, 0x8b, 0x78, 0x18, 0xe9, 0xdf, 0xf5, 0xff, 0xff, 0x0f, 0x1f, 0x80,
	0x00, 0x00, 0x00, 0x00, 0xe8, 0x73, 0xbc, 0xff, 0xff, 0xeb, 0xde,
};
/* posix_memalign: 119 bytes at 0x9a280
 *   80 3d 01 02 14 00 00  cmpb $0x0,0x140201(%rip)  # __malloc_initialized
 *   41 54                 push %r12              */
static const uint8_t posix_memalign_code[] = {
	0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, 0x41, 0x54, 0x49, 0x89, 0xd4,
	0x55, 0x48, 0x89, 0xfd, 0x53, 0x48, 0x89, 0xf3, 0x74, 0x5a, 0x48, 0x89,
	0xda, 0x48, 0xc1, 0xea, 0x03, 0x48, 0x8d, 0x42, 0xff, 0x48, 0x21, 0xd0,
	0x48, 0x89, 0xda, 0x83, 0xe2, 0x07, 0x48, 0x09, 0xd0, 0x75, 0x31, 0x48,
	0x85, 0xdb, 0x74, 0x2c, 0x4c, 0x89, 0xe6, 0x48, 0x89, 0xdf, 0xe8, 0x91,
	0xe9, 0xff, 0xff, 0x48, 0x89, 0xc2, 0xb8, 0x0c, 0x00, 0x00, 0x00, 0x48,
	0x85, 0xd2, 0x74, 0x06, 0x48, 0x89, 0x55, 0x00, 0x31, 0xc0, 0x5b, 0x5d,
	0x41, 0x5c, 0xc3, 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x5b, 0xb8, 0x16, 0x00, 0x00, 0x00, 0x5d, 0x41, 0x5c, 0xc3, 0x66, 0x0f,
	0x1f, 0x44, 0x00, 0x00, 0xe8, 0xfb, 0xaf, 0xff, 0xff, 0xeb, 0x9f,
};
/* malloc: the first 64 bytes at 0x98930
 *   41 54                 push %r12
 *   55                    push %rbp
 *   53                    push %rbx
 *   48 89 fb              mov %rdi,%rbx
 *   48 83 ec 10           sub $0x10,%rsp         */
static const uint8_t malloc_code[] = {
	0x41, 0x54, 0x55, 0x53, 0x48, 0x89, 0xfb, 0x48, 0x83, 0xec, 0x10, 0x80,
	0x3d, 0x46, 0x1b, 0x14, 0x00, 0x00, 0x0f, 0x84, 0xf8, 0x01, 0x00, 0x00,
	0x48, 0x85, 0xdb, 0x0f, 0x88, 0xfd, 0x01, 0x00, 0x00, 0x48, 0x8d, 0x43,
	0x17, 0x31, 0xed, 0x48, 0x83, 0xf8, 0x1f, 0x76, 0x0c, 0x48, 0x83, 0xe0,
	0xf0, 0x48, 0x8d, 0x68, 0xef, 0x48, 0xc1, 0xed, 0x04, 0x4c, 0x8b, 0x25,
	0x08, 0xa4, 0x13, 0x00,
};
/* calloc: the first 64 bytes at 0x996e0
 *   41 55                 push %r13
 *   48 89 f8              mov %rdi,%rax
 *   41 54                 push %r12              */
static const uint8_t calloc_code[] = {
	0x41, 0x55, 0x48, 0x89, 0xf8, 0x41, 0x54, 0x55, 0x53, 0x48, 0x83, 0xec,
	0x18, 0x48, 0xf7, 0xe6, 0x48, 0x89, 0xc3, 0x0f, 0x90, 0xc0, 0x48, 0x85,
	0xdb, 0x0f, 0x88, 0xd9, 0x02, 0x00, 0x00, 0x0f, 0xb6, 0xc0, 0x48, 0x85,
	0xc0, 0x0f, 0x85, 0xcd, 0x02, 0x00, 0x00, 0x80, 0x3d, 0x76, 0x0d, 0x14,
	0x00, 0x00, 0x0f, 0x84, 0x48, 0x02, 0x00, 0x00, 0x48, 0x8b, 0x05, 0x59,
	0x96, 0x13, 0x00, 0x64,
};
/* realloc: the first 64 bytes at 0x99130
 *   41 57                 push %r15
 *   41 56                 push %r14
 *   41 55                 push %r13
 *   41 54                 push %r12              */
static const uint8_t realloc_code[] = {
	0x41, 0x57, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54, 0x55, 0x48, 0x89, 0xf5,
	0x53, 0x48, 0x89, 0xfb, 0x48, 0x83, 0xec, 0x28, 0x80, 0x3d, 0x3d, 0x13,
	0x14, 0x00, 0x00, 0x0f, 0x84, 0x57, 0x01, 0x00, 0x00, 0x48, 0x85, 0xed,
	0x75, 0x22, 0x48, 0x85, 0xdb, 0x0f, 0x85, 0xc1, 0x01, 0x00, 0x00, 0x48,
	0x83, 0xc4, 0x28, 0x48, 0x89, 0xef, 0x5b, 0x5d, 0x41, 0x5c, 0x41, 0x5d,
	0x41, 0x5e, 0x41, 0x5f,
};

static void plan_ok(const uint8_t *code, size_t n, uint64_t addr, struct mt_tramp_plan *p)
{
	int r = mt_tramp_plan_make(code, n, addr, TRAMP, TRAMP + 5, p);
	ck_assert_msg(r == 0 && p->ok, "plan: %d, %s", r, p->why ? p->why : "(no reason)");
	ck_assert_ptr_null(p->why);
}

static void assert_bytes(const char *what, const uint8_t *got, unsigned got_len,
                         const uint8_t *want, unsigned want_len)
{
	ck_assert_msg(got_len == want_len, "%s: %u bytes, want %u", what, got_len, want_len);
	for (unsigned i = 0; i < want_len; i++)
		if (got[i] != want[i])
			ck_abort_msg("%s byte %u: got %02x, want %02x", what, i, got[i], want[i]);
}

static void assert_refused(const uint8_t *code, size_t n, uint64_t addr, uint64_t jump_to,
                           uint64_t tramp, int err, const char *why_part)
{
	struct mt_tramp_plan p;
	int r = mt_tramp_plan_make(code, n, addr, jump_to, tramp, &p);
	ck_assert_int_eq(r, err);
	ck_assert_int_eq(p.ok, 0);
	ck_assert_ptr_nonnull(p.why);
	ck_assert_msg(strstr(p.why, why_part), "why '%s', want '%s'", p.why, why_part);
}

/* The patch jumps to TRAMP; the relocated code is placed at TRAMP + 5, so
 * the displacements below are those from TRAMP + 5. */

START_TEST(test_malloc)
{
	const uint64_t a = LIBC_BASE + 0x98930;
	struct mt_tramp_plan p;
	plan_ok(malloc_code, sizeof malloc_code, a, &p);
	ck_assert_uint_eq(p.patch_len, 7);
	ck_assert_uint_eq(p.ninsn, 4);
	/* before  41 54 55 53 48 89 fb
	 * after   e9 <TRAMP-(A+5)> cc cc */
	static const uint8_t patch[] = { 0xe9, 0xcb, 0x76, 0x15, 0x00, 0xcc, 0xcc };
	assert_bytes("patch", p.patch, p.patch_len, patch, sizeof patch);
	static const uint8_t tramp[] = {
		0x41, 0x54, 0x55, 0x53,             /* +5   push r12, rbp, rbx */
		0x48, 0x89, 0xfb,                   /* +9   mov %rdi,%rbx      */
		0xe9, 0x26, 0x89, 0xea, 0xff,       /* +12  jmp A+7            */
	};
	assert_bytes("tramp", p.tramp, p.tramp_len, tramp, sizeof tramp);
}
END_TEST

START_TEST(test_free_je_rewritten)
{
	/* The je is inside the first 5 bytes: it becomes a rel32 je from the
	 * trampoline to its absolute target, free+0xc8 (the `ret` for NULL). */
	const uint64_t a = LIBC_BASE + 0x98ef0;
	struct mt_tramp_plan p;
	plan_ok(free_code, sizeof free_code, a, &p);
	ck_assert_uint_eq(p.patch_len, 9);
	ck_assert_uint_eq(p.ninsn, 2);
	static const uint8_t patch[] = { 0xe9, 0x0b, 0x71, 0x15, 0x00, 0xcc, 0xcc, 0xcc, 0xcc };
	assert_bytes("patch", p.patch, p.patch_len, patch, sizeof patch);
	static const uint8_t tramp[] = {
		0x48, 0x85, 0xff,                   /* +5   test %rdi,%rdi          */
		0x0f, 0x84, 0xaa, 0x8f, 0xea, 0xff, /* +8   je A+0xc8 (from +14)   */
		0xe9, 0xe6, 0x8e, 0xea, 0xff,       /* +14  jmp A+9                 */
	};
	assert_bytes("tramp", p.tramp, p.tramp_len, tramp, sizeof tramp);
	int32_t d;
	memcpy(&d, p.tramp + 5, 4);
	ck_assert_uint_eq(TRAMP + 14 + (uint64_t)(int64_t)d, a + 0xc8);
}
END_TEST

START_TEST(test_calloc_exactly_five)
{
	const uint64_t a = LIBC_BASE + 0x996e0;
	struct mt_tramp_plan p;
	plan_ok(calloc_code, sizeof calloc_code, a, &p);
	ck_assert_uint_eq(p.patch_len, 5); /* push %r13; mov %rdi,%rax: no padding */
	ck_assert_uint_eq(p.ninsn, 2);
	static const uint8_t patch[] = { 0xe9, 0x1b, 0x69, 0x15, 0x00 };
	assert_bytes("patch", p.patch, p.patch_len, patch, sizeof patch);
	static const uint8_t tramp[] = {
		0x41, 0x55,                         /* +5   push %r13      */
		0x48, 0x89, 0xf8,                   /* +7   mov %rdi,%rax  */
		0xe9, 0xd6, 0x96, 0xea, 0xff,       /* +10  jmp A+5        */
	};
	assert_bytes("tramp", p.tramp, p.tramp_len, tramp, sizeof tramp);
}
END_TEST

START_TEST(test_realloc)
{
	const uint64_t a = LIBC_BASE + 0x99130;
	struct mt_tramp_plan p;
	plan_ok(realloc_code, sizeof realloc_code, a, &p);
	ck_assert_uint_eq(p.patch_len, 6);
	ck_assert_uint_eq(p.ninsn, 3);
	static const uint8_t patch[] = { 0xe9, 0xcb, 0x6e, 0x15, 0x00, 0xcc };
	assert_bytes("patch", p.patch, p.patch_len, patch, sizeof patch);
	static const uint8_t tramp[] = {
		0x41, 0x57, 0x41, 0x56, 0x41, 0x55, /* +5   push r15, r14, r13 */
		0xe9, 0x26, 0x91, 0xea, 0xff,       /* +11  jmp A+6            */
	};
	assert_bytes("tramp", p.tramp, p.tramp_len, tramp, sizeof tramp);
}
END_TEST

/* cmpb $0x0,disp(%rip) at A reaches __malloc_initialized (file 0x1da488);
 * from TRAMP+5 it must still: disp' = 0x1da488 - 0x1f000c = -0x15b84. */
static void check_cmpb(const uint8_t *code, size_t n, uint64_t off, const uint8_t *patch,
                       const uint8_t back[4])
{
	const uint64_t a = LIBC_BASE + off;
	struct mt_tramp_plan p;
	plan_ok(code, n, a, &p);
	ck_assert_uint_eq(p.patch_len, 7);
	ck_assert_uint_eq(p.ninsn, 1);
	assert_bytes("patch", p.patch, p.patch_len, patch, 7);
	const uint8_t tramp[] = {
		0x80, 0x3d, 0x7c, 0xa4, 0xfe, 0xff, 0x00, /* +5   cmpb $0x0,-0x15b84(%rip) */
		0xe9, back[0], back[1], back[2], back[3], /* +12  jmp A+7                  */
	};
	assert_bytes("tramp", p.tramp, p.tramp_len, tramp, sizeof tramp);
	int32_t d;
	memcpy(&d, p.tramp + 2, 4);
	ck_assert_uint_eq(TRAMP + 12 + (uint64_t)(int64_t)d, LIBC_BASE + 0x1da488);
}

START_TEST(test_posix_memalign_rip_relative)
{
	static const uint8_t patch[] = { 0xe9, 0x7b, 0x5d, 0x15, 0x00, 0xcc, 0xcc };
	static const uint8_t back[] = { 0x76, 0xa2, 0xea, 0xff };
	check_cmpb(posix_memalign_code, sizeof posix_memalign_code, 0x9a280, patch, back);
}
END_TEST

START_TEST(test_memalign_rip_relative)
{
	/* the je at +7 and the jmp at +9 are past the patch: untouched */
	static const uint8_t patch[] = { 0xe9, 0xeb, 0x69, 0x15, 0x00, 0xcc, 0xcc };
	static const uint8_t back[] = { 0x06, 0x96, 0xea, 0xff };
	check_cmpb(memalign_code, sizeof memalign_code, 0x99610, patch, back);
}
END_TEST

START_TEST(test_valloc_rip_relative)
{
	/* `jmp +0xd` at +0x2d jumps back, but past the patch: accepted */
	static const uint8_t patch[] = { 0xe9, 0xab, 0x69, 0x15, 0x00, 0xcc, 0xcc };
	static const uint8_t back[] = { 0x46, 0x96, 0xea, 0xff };
	check_cmpb(valloc_code, sizeof valloc_code, 0x99650, patch, back);
}
END_TEST

/* A loop whose head is the second instruction:
 *   +0   48 31 c0      xor %rax,%rax
 *   +3   48 ff c0      inc %rax        <- the loop's head, inside the patch
 *   +6   48 83 f8 0a   cmp $0xa,%rax
 *   +10  75 f7         jne +3
 *   +12  c3            ret                                          */
START_TEST(test_loop_into_patch_refused)
{
	static const uint8_t code[] = {
		0x48, 0x31, 0xc0, 0x48, 0xff, 0xc0, 0x48, 0x83, 0xf8, 0x0a, 0x75, 0xf7, 0xc3,
	};
	assert_refused(code, sizeof code, 0x401000, 0x402000, 0x402005, -EINVAL, "branch");

	/* The same loop, jne +6, has its head past the patch: accepted. */
	uint8_t ok_code[sizeof code];
	memcpy(ok_code, code, sizeof code);
	ok_code[11] = 0xfa;
	struct mt_tramp_plan p;
	ck_assert_int_eq(mt_tramp_plan_make(ok_code, sizeof ok_code, 0x401000, 0x402000, 0x402005, &p), 0);
	ck_assert_uint_eq(p.patch_len, 6);
	static const uint8_t tramp[] = {
		0x48, 0x31, 0xc0, 0x48, 0xff, 0xc0, /* xor; inc         */
		0xe9, 0xf6, 0xef, 0xff, 0xff,       /* jmp 0x401006     */
	};
	assert_bytes("tramp", p.tramp, p.tramp_len, tramp, sizeof tramp);

	/* A jump to the entry itself (offset 0) is no harm: accepted. */
	ok_code[11] = 0xf4;
	ck_assert_int_eq(mt_tramp_plan_make(ok_code, sizeof ok_code, 0x401000, 0x402000, 0x402005, &p), 0);
}
END_TEST

/* A forward jcc rel32 from far in the function into the patch's last byte. */
START_TEST(test_far_branch_into_patch_refused)
{
	uint8_t code[200];
	memset(code, 0x90, sizeof code);               /* nop */
	static const uint8_t head[] = { 0x55, 0x48, 0x89, 0xe5 }; /* push %rbp; mov %rsp,%rbp */
	memcpy(code, head, sizeof head);               /* the patch covers 0..4: nop at +4 */
	/* +150: 0f 85 <4 - 156>  jne +4 */
	int32_t d = 4 - 156;
	code[150] = 0x0f;
	code[151] = 0x85;
	memcpy(code + 152, &d, 4);
	assert_refused(code, sizeof code, 0x401000, 0x402000, 0x402005, -EINVAL, "branch");
	/* jne +5, the first byte past the patch: accepted */
	d = 5 - 156;
	memcpy(code + 152, &d, 4);
	struct mt_tramp_plan p;
	ck_assert_int_eq(mt_tramp_plan_make(code, sizeof code, 0x401000, 0x402000, 0x402005, &p), 0);
	ck_assert_uint_eq(p.patch_len, 5);
}
END_TEST

/* Addresses inside the patch, taken, or in a jump table we can see. */
START_TEST(test_address_and_table_into_patch_refused)
{
	/*   +0   48 89 f8              mov %rdi,%rax
	 *   +3   48 8d 0d <-10>        lea +0(%rip),%rcx  -> +0 is fine
	 *   +10  c3                    ret                                */
	uint8_t code[64];
	memset(code, 0xcc, sizeof code);
	static const uint8_t body[] = { 0x48, 0x89, 0xf8, 0x48, 0x8d, 0x0d, 0xf6, 0xff, 0xff, 0xff, 0xc3 };
	memcpy(code, body, sizeof body);
	struct mt_tramp_plan p;
	ck_assert_int_eq(mt_tramp_plan_make(code, sizeof code, 0x401000, 0x402000, 0x402005, &p), 0);
	/* lea +2(%rip): an address inside the patch is taken */
	code[6] = 0xf8;
	assert_refused(code, sizeof code, 0x401000, 0x402000, 0x402005, -EINVAL, "address");

	/* lea table(%rip),%rcx with the table at +16: 32-bit offsets from the
	 * table, the second one to +3 (inside the patch, 3 - 16 = -13). */
	int32_t d = 16 - 10;
	memcpy(code + 6, &d, 4);
	int32_t ents[] = { 10 - 16, 3 - 16 };
	memcpy(code + 16, ents, sizeof ents);
	assert_refused(code, sizeof code, 0x401000, 0x402000, 0x402005, -EINVAL, "jump table");
	ents[1] = 10 - 16;
	memcpy(code + 16, ents, sizeof ents);
	ck_assert_int_eq(mt_tramp_plan_make(code, sizeof code, 0x401000, 0x402000, 0x402005, &p), 0);
}
END_TEST

START_TEST(test_out_of_range_refused)
{
	const uint64_t a = LIBC_BASE + 0x9a280;
	const uint8_t *c = posix_memalign_code;
	size_t n = sizeof posix_memalign_code;
	/* the trampoline 3 GiB away from the function */
	assert_refused(c, n, a, a + 0xc0000000ULL, a + 0xc0001000ULL, -ERANGE, "trampoline");
	assert_refused(c, n, a, a - 0xc0000000ULL, a - 0xc0001000ULL, -ERANGE, "trampoline");
	/* the relocated code 3 GiB away from the function */
	assert_refused(c, n, a, TRAMP, TRAMP + 0xc0000000ULL, -ERANGE, "out of +-2 GiB");
	/* the trampoline within reach of the function, 2 GiB - 1 MiB below it,
	 * but __malloc_initialized, 1.25 MiB above it, is then out of reach */
	const uint64_t t = a - 0x7ff00000ULL;
	assert_refused(c, n, a, t, t + 5, -ERANGE, "RIP-relative");
	/* malloc's pushes need no reach but the way back */
	struct mt_tramp_plan p;
	ck_assert_int_eq(mt_tramp_plan_make(malloc_code, sizeof malloc_code, LIBC_BASE + 0x98930,
	                                    LIBC_BASE + 0x98930 - 0x7ff00000ULL,
	                                    LIBC_BASE + 0x98930 - 0x7fe00000ULL, &p), 0);
	/* free's je to +0xc8 from a trampoline just under 2 GiB below free */
	const uint64_t fa = LIBC_BASE + 0x98ef0;
	assert_refused(free_code, sizeof free_code, fa, fa - 0x7ffffff0ULL, fa - 0x7ffffff0ULL + 5,
	               -ERANGE, "branch");
}
END_TEST

START_TEST(test_too_short_refused)
{
	static const uint8_t tiny[] = { 0x31, 0xc0, 0xc3 }; /* xor %eax,%eax; ret */
	assert_refused(tiny, sizeof tiny, 0x401000, 0x402000, 0x402005, -EINVAL, "shorter");
	assert_refused(malloc_code, 4, LIBC_BASE + 0x98930, TRAMP, TRAMP + 5, -EINVAL, "shorter");
	/* 6 bytes known, the patch would need 7 (push; push; push; mov = 7) */
	assert_refused(malloc_code, 6, LIBC_BASE + 0x98930, TRAMP, TRAMP + 5, -EINVAL, "shorter");
	assert_refused(malloc_code, 0, LIBC_BASE + 0x98930, TRAMP, TRAMP + 5, -EINVAL, "shorter");
}
END_TEST

/* Instructions that cannot run from the trampoline, under the patch. */
START_TEST(test_unrelocatable_refused)
{
	static const struct {
		uint8_t code[8];
		size_t len;
		const char *why;
	} cases[] = {
		{ { 0xc3 }, 1, "return" },                                   /* ret             */
		{ { 0x31, 0xc0, 0xc2, 0x08, 0x00 }, 5, "return" },           /* xor; ret $8     */
		{ { 0xcc }, 1, "interrupt" },                                /* int3            */
		{ { 0x48, 0x89, 0xf8, 0x0f, 0x05 }, 5, "system call" },      /* mov; syscall    */
		{ { 0x31, 0xc0, 0xe3, 0x10 }, 4, "loop" },                   /* xor; jrcxz      */
		{ { 0x31, 0xc0, 0xe2, 0x10 }, 4, "loop" },                   /* xor; loop       */
		{ { 0xc7, 0xf8, 0x10, 0x00, 0x00, 0x00 }, 6, "xbegin" },     /* xbegin +0x16    */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t code[64];
		memset(code, 0x90, sizeof code); /* nops after the case's bytes */
		memcpy(code, cases[i].code, cases[i].len);
		assert_refused(code, sizeof code, 0x401000, 0x402000, 0x402005, -EINVAL, cases[i].why);
	}
}
END_TEST

/* jmp rel8 and call rel32 under the patch become rel32 from the trampoline. */
START_TEST(test_jmp_call_rewritten)
{
	/*   +0   eb 10             jmp +0x12
	 *   +2   e8 00 01 00 00    call +0x107          patch: 0..6 */
	uint8_t code[64];
	memset(code, 0x90, sizeof code);
	static const uint8_t head[] = { 0xeb, 0x10, 0xe8, 0x00, 0x01, 0x00, 0x00 };
	memcpy(code, head, sizeof head);
	struct mt_tramp_plan p;
	ck_assert_int_eq(mt_tramp_plan_make(code, sizeof code, 0x401000, 0x402000, 0x402005, &p), 0);
	ck_assert_uint_eq(p.patch_len, 7);
	ck_assert_uint_eq(p.ninsn, 2);
	static const uint8_t tramp[] = {
		0xe9, 0x08, 0xf0, 0xff, 0xff,       /* +5   jmp 0x401012          */
		0xe8, 0xf8, 0xf0, 0xff, 0xff,       /* +10  call 0x401107         */
		0xe9, 0xf3, 0xef, 0xff, 0xff,       /* +15  jmp 0x401007          */
	};
	assert_bytes("tramp", p.tramp, p.tramp_len, tramp, sizeof tramp);
	static const uint8_t patch[] = { 0xe9, 0xfb, 0x0f, 0x00, 0x00, 0xcc, 0xcc };
	assert_bytes("patch", p.patch, p.patch_len, patch, sizeof patch);
}
END_TEST

static Suite *tramp_plan_suite(void)
{
	Suite *s = suite_create("tramp_plan");
	TCase *tc = tcase_create("glibc");
	tcase_add_test(tc, test_malloc);
	tcase_add_test(tc, test_free_je_rewritten);
	tcase_add_test(tc, test_calloc_exactly_five);
	tcase_add_test(tc, test_realloc);
	tcase_add_test(tc, test_posix_memalign_rip_relative);
	tcase_add_test(tc, test_memalign_rip_relative);
	tcase_add_test(tc, test_valloc_rip_relative);
	suite_add_tcase(s, tc);
	tc = tcase_create("refused");
	tcase_add_test(tc, test_loop_into_patch_refused);
	tcase_add_test(tc, test_far_branch_into_patch_refused);
	tcase_add_test(tc, test_address_and_table_into_patch_refused);
	tcase_add_test(tc, test_out_of_range_refused);
	tcase_add_test(tc, test_too_short_refused);
	tcase_add_test(tc, test_unrelocatable_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("rewrites");
	tcase_add_test(tc, test_jmp_call_rewritten);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tramp_plan_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
