/* Making a stopped target act for memtrace: system calls run by one of its
 * stopped threads (through a syscall instruction already in its code), and
 * room in its address space near given code.  Shared by the engines; talks
 * to the target only through target.h and memio.h. */
#ifndef MT_REMOTE_H
#define MT_REMOTE_H

#include <stdint.h>
#include <sys/types.h>

#include "target/maps.h"
#include "target/target.h"

#define MT_REMOTE_PAGE 4096ULL

/* The address of some syscall instruction in the target's executable
 * mappings, or 0. */
uint64_t mt_remote_syscall_insn(pid_t pid, const struct mt_maps *maps);

/* The start of a free, page-aligned hole of LEN bytes (with a guard page
 * on each side) within REACH bytes of NEAR, or 0. */
uint64_t mt_remote_find_hole(const struct mt_maps *maps, uint64_t near, uint64_t len,
			     uint64_t reach);

/* Any stopped thread of T runs syscall NR(ARGS): its raw result (-errno
 * style) in *RET.  0, or -errno when it could not be made to run it. */
int mt_remote_syscall(struct mt_target *t, uint64_t syscall_pc, long nr, const uint64_t args[6],
		      long *ret);

/* mmap in the target: the address, or 0 on failure (with -errno in *ERR
 * when ERR is not NULL). MAP_FIXED_NOREPLACE is checked: a kernel that took
 * ADDR as a hint and mapped elsewhere is a failure. */
uint64_t mt_remote_mmap(struct mt_target *t, uint64_t syscall_pc, uint64_t addr, uint64_t len,
			int prot, int flags, int fd, int *err);

#endif
