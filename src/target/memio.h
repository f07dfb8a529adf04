/* Reading and writing the target's memory without ptrace word-at-a-time
 * peeks: process_vm_readv for data, /proc/PID/mem for writes (it writes
 * through read-only code pages the way a debugger does, copying on write).
 */
#ifndef MT_MEMIO_H
#define MT_MEMIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 when all LEN bytes were read, else -errno (-EFAULT on a short read). */
int mt_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Writes through /proc/PID/mem (works on read-only code pages). 0 or -errno. */
int mt_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);

#endif
