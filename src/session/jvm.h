/* Java frames (--jvm-perfmap): a HotSpot JVM writes the names of its
 * JIT-compiled code to /tmp/perf-PID.map when asked with `jcmd PID
 * Compiler.perfmap` (JDK 17 and later); the symbolizer reads that file
 * (symbolize.h).  This module tells a JVM (libjvm.so mapped) and runs jcmd
 * as the JVM's user, bounded in time, never while memtrace holds the
 * JVM's threads stopped (jcmd's attach goes through a SIGQUIT the JVM must
 * take itself).  Never prints: each answer is a line for the report's
 * header. */
#ifndef MT_JVM_H
#define MT_JVM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* How long jcmd may take (a JVM of its own, slow to start on a loaded
 * machine; the target is not stopped meanwhile). */
#define MT_JVM_JCMD_TIMEOUT_S 30.0

enum mt_jvm_ask {
	MT_JVM_ASK_OK,           /* the JVM wrote its perf map */
	MT_JVM_ASK_NO_JCMD,      /* no jcmd beside the JVM nor on PATH */
	MT_JVM_ASK_NOT_ALLOWED,  /* the JVM refuses attach, or jcmd may not run as its user */
	MT_JVM_ASK_FAILED,       /* jcmd failed, timed out, or no map was written */
};

enum mt_jvm_kind {
	MT_JVM_NONE,             /* no libjvm.so mapped */
	MT_JVM_HOTSPOT,          /* a libjvm.so that holds HotSpot's gHotSpotVMStructs */
	MT_JVM_OTHER,            /* another libjvm.so (OpenJ9's): not asked, its
	                          * attach is not HotSpot's (a SIGQUIT there dumps) */
};

/* Whether PID maps a libjvm.so (from /proc/PID/maps), and whose: its file
 * is searched for HotSpot's symbol name, as the process sees the file. */
enum mt_jvm_kind mt_jvm_kind(pid_t pid);

/* Runs `jcmd PID Compiler.perfmap` as PID's user, at most
 * MT_JVM_JCMD_TIMEOUT_S (killed then), or until SIGFD (a signalfd, -1 for
 * none) is readable (a signal for memtrace: it is left there to be read).
 * WHY: one line saying what failed ("" on success). */
enum mt_jvm_ask mt_jvm_ask_perfmap(pid_t pid, int sigfd, char *why, size_t len);

/* Whether PID's perf map (/proc/PID/root/tmp/perf-NSPID.map) exists. */
bool mt_jvm_perfmap_exists(pid_t pid);

#endif
