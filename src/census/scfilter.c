/* See scfilter.h.  The instruction set is what seccomp_check_filter()
 * (kernel/seccomp.c) accepts: loads of aligned words of struct
 * seccomp_data, the scratch memory, ALU, forward jumps, TAX/TXA, RET. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "census/scfilter.h"

#define MEMWORDS 16 /* BPF_MEMWORDS */

struct vm {
	uint32_t a, x, mem[MEMWORDS];
};

/* A load of the call's data: an aligned word inside struct seccomp_data. */
static int load_abs(const struct seccomp_data *d, uint32_t k, uint32_t *out)
{
	if (k % 4 || k > sizeof *d - 4)
		return -EINVAL;
	memcpy(out, (const char *)d + k, 4);
	return 0;
}

/* ALU op on A.  -EDOM: division by zero (the filter returns 0). */
static int alu(struct vm *m, uint16_t code, uint32_t k)
{
	uint32_t v = BPF_SRC(code) == BPF_X ? m->x : k;
	switch (BPF_OP(code)) {
	case BPF_ADD: m->a += v; return 0;
	case BPF_SUB: m->a -= v; return 0;
	case BPF_MUL: m->a *= v; return 0;
	case BPF_DIV: if (!v) return -EDOM; m->a /= v; return 0;
	case BPF_MOD: if (!v) return -EDOM; m->a %= v; return 0;
	case BPF_OR: m->a |= v; return 0;
	case BPF_AND: m->a &= v; return 0;
	case BPF_XOR: m->a ^= v; return 0;
	case BPF_LSH: m->a = v < 32 ? m->a << v : 0; return 0;
	case BPF_RSH: m->a = v < 32 ? m->a >> v : 0; return 0;
	case BPF_NEG: m->a = -m->a; return 0;
	default: return -EINVAL;
	}
}

static int jump_taken(const struct vm *m, uint16_t code, uint32_t k)
{
	uint32_t v = BPF_SRC(code) == BPF_X ? m->x : k;
	switch (BPF_OP(code)) {
	case BPF_JEQ: return m->a == v;
	case BPF_JGT: return m->a > v;
	case BPF_JGE: return m->a >= v;
	case BPF_JSET: return (m->a & v) != 0;
	default: return -EINVAL;
	}
}

/* One non-jump, non-return instruction. */
static int step(struct vm *m, const struct sock_filter *f, const struct seccomp_data *d)
{
	switch (f->code) {
	case BPF_LD | BPF_W | BPF_ABS: return load_abs(d, f->k, &m->a);
	case BPF_LD | BPF_W | BPF_LEN: m->a = sizeof *d; return 0;
	case BPF_LDX | BPF_W | BPF_LEN: m->x = sizeof *d; return 0;
	case BPF_LD | BPF_IMM: m->a = f->k; return 0;
	case BPF_LDX | BPF_IMM: m->x = f->k; return 0;
	case BPF_MISC | BPF_TAX: m->x = m->a; return 0;
	case BPF_MISC | BPF_TXA: m->a = m->x; return 0;
	}
	if (f->k >= MEMWORDS && (f->code == (BPF_LD | BPF_MEM) || f->code == (BPF_LDX | BPF_MEM) ||
				 f->code == BPF_ST || f->code == BPF_STX))
		return -EINVAL;
	switch (f->code) {
	case BPF_LD | BPF_MEM: m->a = m->mem[f->k]; return 0;
	case BPF_LDX | BPF_MEM: m->x = m->mem[f->k]; return 0;
	case BPF_ST: m->mem[f->k] = m->a; return 0;
	case BPF_STX: m->mem[f->k] = m->x; return 0;
	}
	if (BPF_CLASS(f->code) == BPF_ALU)
		return alu(m, f->code, f->k);
	return -EINVAL;
}

int mt_scfilter_run(const struct sock_filter *prog, size_t n, const struct seccomp_data *d,
		    uint32_t *ret)
{
	struct vm m = { 0 };
	/* Every jump goes forward: at most N steps. */
	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &prog[pc];
		if (f->code == (BPF_RET | BPF_K) || f->code == (BPF_RET | BPF_A)) {
			*ret = f->code == (BPF_RET | BPF_K) ? f->k : m.a;
			return 0;
		}
		if (f->code == (BPF_JMP | BPF_JA)) {
			pc += f->k;
			continue;
		}
		if (BPF_CLASS(f->code) == BPF_JMP) {
			int taken = jump_taken(&m, f->code, f->k);
			if (taken < 0)
				return taken;
			pc += taken ? f->jt : f->jf;
			continue;
		}
		int err = step(&m, f, d);
		if (err == -EDOM) {
			*ret = 0; /* the kernel's BPF returns 0: SECCOMP_RET_KILL_THREAD */
			return 0;
		}
		if (err < 0)
			return err;
	}
	return -EINVAL; /* fell off the end, or jumped past it */
}

static int32_t precedence(uint32_t ret)
{
	return (int32_t)(ret & SECCOMP_RET_ACTION_FULL);
}

uint32_t mt_scfilter_combine(uint32_t a, uint32_t b)
{
	return precedence(b) < precedence(a) ? b : a;
}

bool mt_scfilter_allows(uint32_t ret)
{
	uint32_t action = ret & SECCOMP_RET_ACTION_FULL;
	return action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG;
}

const char *mt_scfilter_describe(uint32_t ret, char *buf, size_t len)
{
	uint32_t data = ret & SECCOMP_RET_DATA;
	switch (ret & SECCOMP_RET_ACTION_FULL) {
	case SECCOMP_RET_KILL_PROCESS: snprintf(buf, len, "kill the process"); break;
	case SECCOMP_RET_KILL_THREAD: snprintf(buf, len, "kill the thread"); break;
	case SECCOMP_RET_TRAP: snprintf(buf, len, "send it SIGSYS"); break;
	case SECCOMP_RET_ERRNO: snprintf(buf, len, "fail it with errno %u", data); break;
	case SECCOMP_RET_USER_NOTIF: snprintf(buf, len, "ask a user-space supervisor"); break;
	case SECCOMP_RET_TRACE: snprintf(buf, len, "ask a seccomp tracer"); break;
	case SECCOMP_RET_LOG: snprintf(buf, len, "log and allow it"); break;
	case SECCOMP_RET_ALLOW: snprintf(buf, len, "allow it"); break;
	default: snprintf(buf, len, "an unknown action 0x%08x (killing)", ret); break;
	}
	return buf;
}
