/* /proc/PID/status, the one reader of that file: every field memtrace
 * needs from it, parsed in one pass.  A real excerpt (tabs after the
 * colons):
 *
 *   Name:	node
 *   State:	S (sleeping)
 *   Tgid:	31337
 *   PPid:	1
 *   TracerPid:	0
 *   Uid:	1000	1000	1000	1000
 *   VmRSS:	   83412 kB
 *   RssAnon:	   71236 kB
 *   Threads:	11
 *   NSpid:	31337	7
 *   NoNewPrivs:	0
 *   Seccomp:	2
 *
 * Reads /proc only; the parser is pure. */
#ifndef MT_PROCFS_H
#define MT_PROCFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A field without its line (an older kernel, a zombie's missing memory
 * lines) or whose line does not parse is -1; NAME is "" and STATE 0. */
struct mt_procfs_status {
	char name[64];          /* Name: the command (comm), as the kernel escapes it */
	char state;             /* State: its letter (R, S, D, T, t, Z, X, ...) */
	int64_t tgid;           /* Tgid: the process a thread belongs to */
	int64_t ppid;           /* PPid */
	int64_t tracer_pid;     /* TracerPid: 0 when not traced */
	int64_t uid;            /* Uid: the real uid (the first of four) */
	int64_t euid;           /* Uid: the effective uid (the second) */
	int64_t threads;        /* Threads */
	int64_t nspid;          /* NSpid: the last one, the pid in the process's
	                         * own pid namespace (no line before Linux 4.1) */
	int64_t seccomp;        /* Seccomp: 0 none, 1 strict, 2 filter */
	int64_t no_new_privs;   /* NoNewPrivs */
	int64_t vm_rss;         /* VmRSS, in bytes: every resident page */
	int64_t rss_anon;       /* RssAnon, in bytes: anonymous pages (heap,
	                         * mmap'd memory, stacks); no line before 4.5 */
};

/* Parses TEXT, the whole file's contents, into *ST.  Lines it does not
 * know are skipped. */
void mt_procfs_status_parse(const char *text, struct mt_procfs_status *st);

/* Reads and parses /proc/PID/status: 0, or -errno when it cannot be read
 * (-ENOENT: no such process). */
int mt_procfs_status(pid_t pid, struct mt_procfs_status *st);

/* The process's resident memory, in bytes. */
struct mt_procfs_rss {
	uint64_t rss;      /* VmRSS: every resident page */
	uint64_t anon;     /* RssAnon: anonymous pages (heap, mmap'd memory,
	                    * stacks); 0 without the line (before Linux 4.5) */
	bool has_anon;
};

/* Both, from mt_procfs_status().  False when /proc/PID/status or its VmRSS
 * line cannot be read (the process is gone, or a zombie). */
bool mt_procfs_rss(pid_t pid, struct mt_procfs_rss *out);

#endif
