/* The dynamic linker's notification point, for `memtrace run`: ld.so calls
 * _dl_debug_state() with r_debug.r_state = RT_ADD before it maps a
 * program's libraries and again with RT_CONSISTENT once they are all
 * mapped, before any of them is relocated or initialised.  A breakpoint
 * there lets memtrace hook the allocator before the first allocation. */
#ifndef MT_RTLD_H
#define MT_RTLD_H

#include <stdint.h>
#include <sys/types.h>

/* The runtime address of _dl_debug_state in PID's dynamic linker; 0 when
 * the program has none (static), or -errno. */
int mt_rtld_debug_state_addr(pid_t pid, uint64_t *addr);

#endif
