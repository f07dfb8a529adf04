/* Unit tests for src/engine/leftover.c: which bytes `memtrace detach` may write
 * back at an entry point.
 *
 * The file bytes are glibc 2.36's (Debian 12, libc.so.6):
 *   malloc  41 54 55 53 48 89 fb | 48 83 ec 10 ...   push r12; push rbp;
 *           push rbx; mov rdi,rbx: memtrace's patch covers 7 bytes
 *   free    48 85 ff 0f 84 bf 00 00 00 | 55 ...      test; je rel32: 9 bytes
 * and the patches are what tramp_plan.h writes there: e9 <rel32>, then
 * int3 up to the end of the last instruction covered. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_abi.h"
#include "arch/arch.h"
#include "engine/leftover.h"

#define F 0x7f3a1c098930ULL        /* malloc's address */
#define T 0x7f3a1c200000ULL        /* its trampoline */
#define AGENT 0x7f3a2c000000ULL    /* the agent's code */
#define AGENT_END (AGENT + 0x10000)

static const uint8_t malloc_file[16] = { 0x41, 0x54, 0x55, 0x53, 0x48, 0x89, 0xfb, 0x48,
					 0x83, 0xec, 0x10, 0x80, 0x3d, 0x46, 0x1b, 0x14 };
static const uint8_t free_file[16] = { 0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0x00, 0x00,
				       0x00, 0x55, 0x48, 0x8d, 0x77, 0xf0, 0x53, 0x48 };

/* FILE with memtrace's jump to T over its first LEN bytes. */
static void patched(const uint8_t *file, unsigned len, uint8_t *mem)
{
	memcpy(mem, file, 16);
	int32_t d = (int32_t)(T - (F + 5));
	mem[0] = 0xe9;
	memcpy(mem + 1, &d, 4);
	memset(mem + 5, 0xcc, len - 5);
}

static struct mt_leftover_rec record(const uint8_t *file, const uint8_t *mem, unsigned len)
{
	struct mt_leftover_rec r = { .patch_len = len };
	memcpy(r.orig, file, 16);
	memcpy(r.patch, mem, 16);
	return r;
}

START_TEST(test_clean)
{
	struct mt_leftover w = mt_leftover_classify(malloc_file, malloc_file, 16, NULL, false);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_CLEAN);
}
END_TEST

START_TEST(test_int3)
{
	uint8_t mem[16];
	memcpy(mem, malloc_file, 16);
	mem[0] = 0xcc;
	struct mt_leftover w = mt_leftover_classify(mem, malloc_file, 16, NULL, false);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_INT3);
	ck_assert_uint_eq(w.len, 1);
	/* at the very end of a mapping: only 3 bytes to compare */
	w = mt_leftover_classify(mem, malloc_file, 3, NULL, false);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_INT3);
}
END_TEST

START_TEST(test_int3_and_more_is_foreign)
{
	uint8_t mem[16];
	memcpy(mem, malloc_file, 16);
	mem[0] = 0xcc;
	mem[6] = 0x90;
	struct mt_leftover w = mt_leftover_classify(mem, malloc_file, 16, NULL, false);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
	ck_assert_ptr_nonnull(w.why);
}
END_TEST

START_TEST(test_jump_without_record)
{
	uint8_t mem[16];
	patched(malloc_file, 7, mem);
	struct mt_leftover w = mt_leftover_classify(mem, malloc_file, 16, NULL, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_JUMP);
	ck_assert_uint_eq(w.len, 7);
	patched(free_file, 9, mem);
	w = mt_leftover_classify(mem, free_file, 16, NULL, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_JUMP);
	ck_assert_uint_eq(w.len, 9);
}
END_TEST

START_TEST(test_jump_elsewhere_is_foreign)
{
	uint8_t mem[16];
	patched(malloc_file, 7, mem);
	struct mt_leftover w = mt_leftover_classify(mem, malloc_file, 16, NULL, false);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
}
END_TEST

START_TEST(test_jump_and_more_is_foreign)
{
	uint8_t mem[16];
	patched(malloc_file, 7, mem);
	mem[12] ^= 1;   /* past the jump's padding */
	struct mt_leftover w = mt_leftover_classify(mem, malloc_file, 16, NULL, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
}
END_TEST

START_TEST(test_jump_with_record)
{
	uint8_t mem[16];
	patched(malloc_file, 7, mem);
	struct mt_leftover_rec r = record(malloc_file, mem, 7);
	struct mt_leftover w = mt_leftover_classify(mem, malloc_file, 16, &r, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_JUMP);
	ck_assert_uint_eq(w.len, 7);
}
END_TEST

START_TEST(test_record_disagreeing_is_foreign)
{
	uint8_t mem[16];
	patched(malloc_file, 7, mem);
	/* the file replaced on disk: the record's original is not the file's */
	struct mt_leftover_rec r = record(malloc_file, mem, 7);
	uint8_t other[16];
	memcpy(other, malloc_file, 16);
	other[5] = 0x8b;
	struct mt_leftover w = mt_leftover_classify(mem, other, 16, &r, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
	/* memory holds another jump than the recorded one */
	r = record(malloc_file, mem, 7);
	r.patch[1] ^= 0x40;
	w = mt_leftover_classify(mem, malloc_file, 16, &r, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
	/* a record too short for what differs */
	r = record(malloc_file, mem, 5);
	w = mt_leftover_classify(mem, malloc_file, 16, &r, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
}
END_TEST

START_TEST(test_other_change_is_foreign)
{
	uint8_t mem[16];
	memcpy(mem, malloc_file, 16);
	mem[3] = 0x90;
	struct mt_leftover w = mt_leftover_classify(mem, malloc_file, 16, NULL, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
	w = mt_leftover_classify(mem, malloc_file, 0, NULL, true);
	ck_assert_int_eq(w.kind, MT_LEFTOVER_FOREIGN);
}
END_TEST

START_TEST(test_jump_target)
{
	uint8_t mem[16];
	patched(malloc_file, 7, mem);
	ck_assert_uint_eq(mt_leftover_jump_target(F, mem), T);
	const uint8_t back[5] = { 0xe9, 0xfb, 0xff, 0xff, 0xff };   /* jmp . */
	ck_assert_uint_eq(mt_leftover_jump_target(F, back), F);
	ck_assert_uint_eq(mt_leftover_jump_target(F, malloc_file), 0);
}
END_TEST

/* What inj_hooks.c writes at T for malloc. */
static void tramp(uint8_t *head, uint64_t hook, uint64_t stub, uint64_t addr)
{
	memset(head, 0xcc, 64);
	mt_arch_tramp_head(head, hook, stub);
	struct mt_agent_hook hk = { .orig = T + MT_AGENT_TRAMP_CODE_OFF, .addr = addr };
	if (hook)
		memcpy(head + MT_AGENT_TRAMP_HOOK_OFF, &hk, sizeof hk);
}

START_TEST(test_tramp_ok)
{
	uint8_t head[64];
	tramp(head, T + 32, AGENT + 0x400, F);
	ck_assert(mt_leftover_tramp_ok(F, T, head, AGENT, AGENT_END));
	/* ld.so's notification: no hook struct */
	tramp(head, 0, AGENT + 0x500, 0);
	ck_assert(mt_leftover_tramp_ok(F, T, head, AGENT, AGENT_END));
}
END_TEST

START_TEST(test_tramp_refused)
{
	uint8_t head[64];
	tramp(head, T + 32, AGENT_END, F);       /* stub outside the agent */
	ck_assert(!mt_leftover_tramp_ok(F, T, head, AGENT, AGENT_END));
	tramp(head, T + 32, AGENT + 0x400, F + 16); /* another function's */
	ck_assert(!mt_leftover_tramp_ok(F, T, head, AGENT, AGENT_END));
	tramp(head, T + 0x132, AGENT + 0x400, F);  /* hook not in this slot */
	ck_assert(!mt_leftover_tramp_ok(F, T, head, AGENT, AGENT_END));
	tramp(head, T + 32, AGENT + 0x400, F);
	head[11] = 0x24;                           /* not jmp *0(%rip) */
	ck_assert(!mt_leftover_tramp_ok(F, T, head, AGENT, AGENT_END));
	tramp(head, T + 32, AGENT + 0x400, F);
	head[30] = 0x90;                           /* not the int3 tail */
	ck_assert(!mt_leftover_tramp_ok(F, T, head, AGENT, AGENT_END));
}
END_TEST

static Suite *leftover_suite(void)
{
	Suite *s = suite_create("leftover");
	TCase *tc = tcase_create("classify");
	tcase_add_test(tc, test_clean);
	tcase_add_test(tc, test_int3);
	tcase_add_test(tc, test_int3_and_more_is_foreign);
	tcase_add_test(tc, test_jump_without_record);
	tcase_add_test(tc, test_jump_elsewhere_is_foreign);
	tcase_add_test(tc, test_jump_and_more_is_foreign);
	tcase_add_test(tc, test_jump_with_record);
	tcase_add_test(tc, test_record_disagreeing_is_foreign);
	tcase_add_test(tc, test_other_change_is_foreign);
	suite_add_tcase(s, tc);
	tc = tcase_create("trampolines");
	tcase_add_test(tc, test_jump_target);
	tcase_add_test(tc, test_tramp_ok);
	tcase_add_test(tc, test_tramp_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(leftover_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
