/* The agent's system calls and atomics for the machine memtrace is built
 * for (freestanding: no libc in the agent). */
#ifndef MT_AGENT_SYS_SWITCH_H
#define MT_AGENT_SYS_SWITCH_H

#if defined(__x86_64__)
#include "arch/x86_64/agent_sys.h"
#else
#error "memtrace has no arch/ folder for this machine yet"
#endif

#endif
