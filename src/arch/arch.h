/* The architecture's registers, system calls and instruction bytes: the one
 * place that picks the folder of the machine memtrace is built for.  Every
 * other file includes "arch/arch.h" and never names x86_64. */
#ifndef MT_ARCH_SWITCH_H
#define MT_ARCH_SWITCH_H

#if defined(__x86_64__)
#include "arch/x86_64/arch.h"
#else
#error "memtrace has no arch/ folder for this machine yet"
#endif

#endif
