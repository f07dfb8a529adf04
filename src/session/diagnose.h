/* Why a process cannot be traced, told before and after trying.  Reads
 * /proc only; never ptraces.  Each function returns an enum mt_err and
 * writes one line "WHAT: WHAT TO DO" into MSG. */
#ifndef MT_DIAGNOSE_H
#define MT_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/errors.h"

/* Before attaching: gone, zombie, kernel thread, memtrace itself, already
 * traced, not x86_64.  MT_E_OK when nothing stands in the way. */
enum mt_err mt_diagnose_target(pid_t pid, char *msg, size_t len);
/* mt_target_attach failed with RC (-errno, as it returned it): say which
 * rule refused it.  The classifier of that one step, where
 * mt_err_from_errno() would not know the rules of ptrace. */
enum mt_err mt_diagnose_attach_error(pid_t pid, int rc, char *msg, size_t len);

/* For memtrace detach: as mt_diagnose_target, but a process a live
 * memtrace traces gets the advice that fits (that memtrace restores its
 * own hooks when it stops). */
enum mt_err mt_diagnose_detach(pid_t pid, char *msg, size_t len);
/* PID is a live memtrace other than this one (an agent's reader_pid). */
bool mt_diagnose_live_memtrace(pid_t pid);

#endif
