/* Unit tests for src/census/scfilter.c: seccomp filters (classic BPF) run on one
 * system call, as the kernel would run them. */
#include <check.h>
#include <errno.h>
#include <linux/audit.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>

#include "census/scfilter.h"

#define N(prog) (sizeof(prog) / sizeof(prog)[0])
#define ARG0_LO offsetof(struct seccomp_data, args[0])

static struct seccomp_data call(int nr, uint64_t arg0)
{
	return (struct seccomp_data){ .nr = nr, .arch = AUDIT_ARCH_X86_64,
				      .instruction_pointer = 0x7f0000001002, .args = { arg0 } };
}

/* The common shape: check the architecture, then the number. */
static const struct sock_filter no_clone[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

START_TEST(test_number_and_arch)
{
	uint32_t ret = 1;
	struct seccomp_data d = call(SYS_clone, 0);
	ck_assert_int_eq(mt_scfilter_run(no_clone, N(no_clone), &d, &ret), 0);
	ck_assert_uint_eq(ret, SECCOMP_RET_ERRNO | EPERM);
	ck_assert(!mt_scfilter_allows(ret));
	d = call(SYS_read, 0);
	ck_assert_int_eq(mt_scfilter_run(no_clone, N(no_clone), &d, &ret), 0);
	ck_assert_uint_eq(ret, SECCOMP_RET_ALLOW);
	ck_assert(mt_scfilter_allows(ret));
	d.arch = AUDIT_ARCH_I386;
	ck_assert_int_eq(mt_scfilter_run(no_clone, N(no_clone), &d, &ret), 0);
	ck_assert_uint_eq(ret, SECCOMP_RET_KILL_PROCESS);
}
END_TEST

/* Like docker's default profile: clone allowed without namespace flags. */
START_TEST(test_argument_flags)
{
	static const struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER | CLONE_NEWNS, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	uint32_t ret;
	struct seccomp_data d = call(SYS_clone, CLONE_FILES | CLONE_FS);
	ck_assert_int_eq(mt_scfilter_run(prog, N(prog), &d, &ret), 0);
	ck_assert_uint_eq(ret, SECCOMP_RET_ALLOW);
	d = call(SYS_clone, CLONE_FILES | CLONE_NEWUSER);
	ck_assert_int_eq(mt_scfilter_run(prog, N(prog), &d, &ret), 0);
	ck_assert_uint_eq(ret, SECCOMP_RET_ERRNO | EPERM);
}
END_TEST

/* Scratch memory, X, ALU, JGT/JGE with X, RET A: ((nr + 5) * 2) >> 1. */
START_TEST(test_memory_alu_ret_a)
{
	static const struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_STMT(BPF_ST, 3),
		BPF_STMT(BPF_LDX | BPF_IMM, 5),
		BPF_STMT(BPF_LD | BPF_MEM, 3),
		BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 1),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_X, 0, 1, 0),   /* A >= X: always */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_THREAD),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	uint32_t ret;
	struct seccomp_data d = call(56, 0);
	ck_assert_int_eq(mt_scfilter_run(prog, N(prog), &d, &ret), 0);
	ck_assert_uint_eq(ret, 61);
}
END_TEST

/* Division by a zero X makes the kernel's filter return 0: kill. */
START_TEST(test_division_by_zero)
{
	static const struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 7),
		BPF_STMT(BPF_LDX | BPF_IMM, 0),
		BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	uint32_t ret = 1;
	struct seccomp_data d = call(SYS_clone, 0);
	ck_assert_int_eq(mt_scfilter_run(prog, N(prog), &d, &ret), 0);
	ck_assert_uint_eq(ret, SECCOMP_RET_KILL_THREAD);
	ck_assert(!mt_scfilter_allows(ret));
}
END_TEST

/* Programs the kernel would not have loaded, or that leave the bounds. */
START_TEST(test_invalid_programs)
{
	static const struct sock_filter unaligned[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	static const struct sock_filter past_data[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, sizeof(struct seccomp_data)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	static const struct sock_filter past_end[] = {
		BPF_STMT(BPF_JMP | BPF_JA, 5),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	static const struct sock_filter no_ret[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 1),
	};
	static const struct sock_filter bad_mem[] = {
		BPF_STMT(BPF_ST, 16),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	static const struct sock_filter bad_code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	uint32_t ret;
	struct seccomp_data d = call(SYS_clone, 0);
	ck_assert_int_eq(mt_scfilter_run(unaligned, N(unaligned), &d, &ret), -EINVAL);
	ck_assert_int_eq(mt_scfilter_run(past_data, N(past_data), &d, &ret), -EINVAL);
	ck_assert_int_eq(mt_scfilter_run(past_end, N(past_end), &d, &ret), -EINVAL);
	ck_assert_int_eq(mt_scfilter_run(no_ret, N(no_ret), &d, &ret), -EINVAL);
	ck_assert_int_eq(mt_scfilter_run(bad_mem, N(bad_mem), &d, &ret), -EINVAL);
	ck_assert_int_eq(mt_scfilter_run(bad_code, N(bad_code), &d, &ret), -EINVAL);
	ck_assert_int_eq(mt_scfilter_run(no_ret, 0, &d, &ret), -EINVAL);
}
END_TEST

START_TEST(test_combine_and_describe)
{
	uint32_t errno_eperm = SECCOMP_RET_ERRNO | EPERM;
	ck_assert_uint_eq(mt_scfilter_combine(SECCOMP_RET_ALLOW, errno_eperm), errno_eperm);
	ck_assert_uint_eq(mt_scfilter_combine(errno_eperm, SECCOMP_RET_KILL_PROCESS),
			  SECCOMP_RET_KILL_PROCESS);
	ck_assert_uint_eq(mt_scfilter_combine(SECCOMP_RET_KILL_THREAD, SECCOMP_RET_KILL_PROCESS),
			  SECCOMP_RET_KILL_PROCESS);
	ck_assert_uint_eq(mt_scfilter_combine(SECCOMP_RET_LOG, SECCOMP_RET_ALLOW),
			  SECCOMP_RET_LOG);
	ck_assert(mt_scfilter_allows(SECCOMP_RET_LOG));
	ck_assert(!mt_scfilter_allows(SECCOMP_RET_TRACE));
	char buf[64];
	ck_assert_str_eq(mt_scfilter_describe(SECCOMP_RET_ERRNO | 13, buf, sizeof buf),
			 "fail it with errno 13");
	ck_assert_str_eq(mt_scfilter_describe(SECCOMP_RET_KILL_PROCESS, buf, sizeof buf),
			 "kill the process");
}
END_TEST

static Suite *scfilter_suite(void)
{
	Suite *s = suite_create("scfilter");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_number_and_arch);
	tcase_add_test(tc, test_argument_flags);
	tcase_add_test(tc, test_memory_alu_ret_a);
	tcase_add_test(tc, test_division_by_zero);
	tcase_add_test(tc, test_invalid_programs);
	tcase_add_test(tc, test_combine_and_describe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scfilter_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
