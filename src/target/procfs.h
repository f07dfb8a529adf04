/* Numbers from /proc/PID/status, the one reader of that file for the
 * places that need a field of it.  A real excerpt:
 *
 *   TracerPid:	0
 *   Uid:	1000	1000	1000	1000
 *   VmRSS:	   83412 kB
 *   RssAnon:	   71236 kB
 *
 * Reads /proc only. */
#ifndef MT_PROCFS_H
#define MT_PROCFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Field IDX (0-based) of the line "KEY ..." (KEY with its colon, as
 * "Uid:") of /proc/PID/status, as a number in *V.  False when the file,
 * the line or the field is missing. */
bool mt_procfs_status_number(pid_t pid, const char *key, int idx, unsigned long *v);

/* The process's resident memory, in bytes. */
struct mt_procfs_rss {
	uint64_t rss;      /* VmRSS: every resident page */
	uint64_t anon;     /* RssAnon: anonymous pages (heap, mmap'd memory,
	                    * stacks); 0 without the line (before Linux 4.5) */
	bool has_anon;
};

/* Reads both in one pass.  False when /proc/PID/status or its VmRSS line
 * cannot be read (the process is gone, or a zombie). */
bool mt_procfs_rss(pid_t pid, struct mt_procfs_rss *out);

#endif
