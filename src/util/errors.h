/* memtrace error codes and exit statuses.
 *
 * Library-style modules never print: they return a negative mt_err and the
 * command layer (main.c) chooses the message and the exit status.  One
 * X-macro list produces the enum, the exit statuses and the default texts;
 * man/memtrace.1 (EXIT STATUS) repeats the statuses and a test checks it.
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

#endif
