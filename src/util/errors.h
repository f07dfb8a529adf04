/* memtrace error codes and exit statuses.
 *
 * Three integer spaces, one per return type; an int never holds two of them
 * (errno values 1..15 and the codes below 1..15 would be confused):
 *
 * 1. -errno, in an int.  A module function that fails for an operating
 *    system reason returns 0 (or a count) on success and -errno on failure,
 *    or answers with a bool or a NULL pointer.  It does not decide what the
 *    failure means to the user:
 *        int mt_maps_read(pid_t pid, struct mt_maps *out);    0 or -errno
 *
 * 2. enum mt_err, by value, declared as such.  A function that must say
 *    which memtrace error it met (a classifier) returns MT_E_OK (0) or a
 *    code below, never negated; values go through out-parameters.  An
 *    -errno it gets from a module function becomes an enum mt_err through
 *    mt_err_from_errno(), or a classifier of one step that takes the -errno
 *    as it came (mt_diagnose_attach_error for PTRACE_SEIZE):
 *        enum mt_err mt_discover_allocators(pid_t pid, struct mt_alloc_set *out);
 *        if ((err = mt_maps_read(pid, &maps)) < 0)
 *                return mt_err_from_errno(err);
 *
 * 3. exit statuses, in an int.  Made only by the command layer: cli/, and
 *    session/ which answers for a command (its steps return the status
 *    main() returns, or send it to a ctl client): mt_fail() (msg.h) prints
 *    the error line and returns mt_err_exit_status(e):
 *        return mt_fail(MT_E_NO_PROCESS, "no process with PID %d: ...", pid);
 *
 * tests/errors/check_err_spaces.py fails on a negated MT_E_ code, a cast
 * into enum mt_err, or an exit status made outside cli/, session/ and
 * util/; the compiler (-Wsign-compare) on an enum mt_err compared with a
 * negated code.
 *
 * Library-style modules never print.  One X-macro list produces the enum,
 * the exit statuses and the default texts; man/memtrace.1 (EXIT STATUS)
 * repeats the statuses and a test checks it.
 */
#ifndef MT_ERRORS_H
#define MT_ERRORS_H

/*        name              exit  default message */
#define MT_ERROR_LIST(X)                                                       \
	X(OK,               0, "success")                                      \
	X(INTERNAL,         1, "internal error")                               \
	X(USAGE,            2, "bad command line")                             \
	X(NO_PROCESS,       3, "no such process")                              \
	X(PERMISSION,       4, "permission denied")                            \
	X(ALREADY_TRACED,   5, "process is already traced")                    \
	X(NOT_TRACEABLE,    6, "process cannot be traced")                     \
	X(NO_ALLOCATOR,     7, "no allocator found in the process")            \
	X(UNSUPPORTED_ARCH, 8, "unsupported architecture")                     \
	X(TARGET_LOST,      9, "target vanished while attaching")              \
	X(IO,              10, "input/output error")                           \
	X(BAD_SNAPSHOT,    11, "not a valid snapshot")                         \
	X(SNAPSHOT_VERSION, 12, "snapshot written by a newer memtrace")        \
	X(DIFFERENT_PROGRAMS, 13, "snapshots of different programs")           \
	X(NOT_RESTORED,    14, "patched code left in place")                  \
	X(CENSUS_UNAVAILABLE, 15, "no census of this process's heap")

enum mt_err {
#define MT_X(name, code, msg) MT_E_##name,
	MT_ERROR_LIST(MT_X)
#undef MT_X
	MT_E__COUNT
};

int mt_err_exit_status(enum mt_err e);
const char *mt_err_default_message(enum mt_err e);
/* ERR, an -errno a module function returned about a process known to have
 * existed (/proc, ptrace, process_vm_readv, a file of it), as the memtrace
 * error it means: -ESRCH, -ENOENT -> MT_E_TARGET_LOST; -EPERM, -EACCES ->
 * MT_E_PERMISSION; -ENOMEM -> MT_E_INTERNAL; any other -errno -> MT_E_IO.
 * 0 -> MT_E_OK.  A positive ERR is a mixed-up space (a bare errno or an
 * exit status): MT_E_INTERNAL. */
enum mt_err mt_err_from_errno(int err);

#endif
