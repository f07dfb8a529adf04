/* See remote.h. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arch/arch.h"
#include "target/memio.h"
#include "target/remote.h"

uint64_t mt_remote_syscall_insn(pid_t pid, const struct mt_maps *maps)
{
	static const unsigned char insn[] = MT_SYSCALL_INSN;
	static unsigned char buf[65536];
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (!m->x || !m->r)
			continue;
		for (uint64_t a = m->start; a < m->end; a += sizeof buf - 1) {
			size_t len = m->end - a < sizeof buf ? m->end - a : sizeof buf;
			if (mt_mem_read(pid, a, buf, len) < 0)
				break;
			for (size_t j = 0; j + MT_SYSCALL_INSN_LEN <= len; j++)
				if (memcmp(buf + j, insn, MT_SYSCALL_INSN_LEN) == 0)
					return a + j;
		}
	}
	return 0;
}

uint64_t mt_remote_find_hole(const struct mt_maps *maps, uint64_t near, uint64_t len,
			     uint64_t reach)
{
	const uint64_t pg = MT_REMOTE_PAGE;
	len = (len + pg - 1) & ~(pg - 1);
	uint64_t best = 0, best_dist = UINT64_MAX;
	uint64_t prev_end = 0x10000; /* stay clear of the low guard area */
	for (size_t i = 0; i <= maps->n; i++) {
		uint64_t start = i < maps->n ? maps->v[i].start : 0x7ffffffff000ULL;
		if (start >= prev_end + len + 2 * pg) {
			/* Keep a guard page on each side. */
			uint64_t lo = prev_end + pg;
			uint64_t hi = start - len - pg;
			uint64_t cand = near < lo ? lo : (near > hi ? hi : near & ~(pg - 1));
			uint64_t dist = cand > near ? cand - near : near - cand;
			if (dist < best_dist) {
				best = cand;
				best_dist = dist;
			}
		}
		if (i < maps->n && maps->v[i].end > prev_end)
			prev_end = maps->v[i].end;
	}
	return best_dist < reach ? best : 0;
}

int mt_remote_syscall(struct mt_target *t, uint64_t syscall_pc, long nr, const uint64_t args[6],
		      long *ret)
{
	pid_t tid = mt_target_any_stopped_thread(t);
	if (!tid || !syscall_pc)
		return -ESRCH;
	return mt_target_inject_syscall(t, tid, syscall_pc, nr, args, ret);
}

uint64_t mt_remote_mmap(struct mt_target *t, uint64_t syscall_pc, uint64_t addr, uint64_t len,
			int prot, int flags, int fd, int *err)
{
	uint64_t args[6] = { addr, len, (uint64_t)prot, (uint64_t)flags, (uint64_t)(int64_t)fd, 0 };
	long ret;
	int e = mt_remote_syscall(t, syscall_pc, SYS_mmap, args, &ret);
	if (e == 0 && ret < 0 && ret > -4096)
		e = (int)ret;
	if (e == 0 && (flags & MAP_FIXED_NOREPLACE) && (uint64_t)ret != addr)
		e = -EEXIST; /* an old kernel took it as a hint */
	if (err)
		*err = e;
	return e ? 0 : (uint64_t)ret;
}
