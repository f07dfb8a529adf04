/* Target control: the one file that calls ptrace(2).
 *
 * Every task (thread, or a child sharing the target's memory) is seized
 * with PTRACE_SEIZE and followed through clone/fork/vfork/exec.  The caller
 * runs one loop: take the next stop, dispatch it, resume.  Stops the caller
 * does not need to see are handled here:
 *
 *   signal-delivery-stop  -> resumed with the same signal (the target's own
 *                            SIGSEGV/SIGPROF/SIGUSR... reach it unchanged)
 *   group-stop            -> PTRACE_LISTEN (a user's SIGSTOP stops it as
 *                            without memtrace; SIGCONT resumes it)
 *   a new thread's first stop, a parent's clone/fork/vfork event stop
 *                         -> resumed
 *
 *          +---------+  stop reported    +---------+
 *          | RUNNING | ----------------> | STOPPED |---- regs/memory may be used
 *          +---------+ <---------------- +---------+
 *              ^   mt_target_resume()         | group-stop
 *              |                              v
 *              |     SIGCONT / INTERRUPT  +-----------+
 *              +------------------------- | LISTENING |
 *                                         +-----------+
 *
 * While "stopping all" (attach, detach) nothing is resumed: signals are kept
 * for delivery at detach and traps are handed to the caller to park.
 */
#ifndef MT_TARGET_H
#define MT_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/arch.h"

struct sock_filter;

struct mt_target;

enum mt_stop_kind {
	MT_STOP_NONE,          /* timed out, or the extra fd became readable */
	MT_STOP_TRAP,          /* SIGTRAP: maybe a breakpoint; regs are filled.
	                          Not ours -> mt_target_resume(t, tid, SIGTRAP) */
	MT_STOP_FORK_CHILD,    /* a child with its own memory copy, stopped
	                          before it ran: clean it, then
	                          mt_target_release_child() */
	MT_STOP_EXEC,          /* a task exec'd: tid is the task now; for the
	                          target process all other threads are gone */
	MT_STOP_TASK_EXIT,     /* a traced task ended (its state may be dropped) */
	MT_STOP_PROCESS_EXIT,  /* the target process is gone; status is set */
};

struct mt_stop {
	enum mt_stop_kind kind;
	pid_t tid;
	bool shared_child;     /* EXEC/TASK_EXIT of a vfork-style child, not of the target */
	int status;            /* PROCESS_EXIT: waitpid status */
	mt_regs regs;          /* TRAP */
};

struct mt_attach_diag {
	int err;               /* errno of the failed PTRACE_SEIZE */
	pid_t tid;
};

/* Seize every thread of PID and stop them all.  0, or -errno (with *diag). */
int mt_target_attach(pid_t pid, struct mt_target **out, struct mt_attach_diag *diag);
/* Fork and exec ARGV stopped at its exec (the new image, before ld.so ran);
 * the child is seized.  0 or -errno. */
int mt_target_spawn(char *const argv[], struct mt_target **out);
void mt_target_free(struct mt_target *t);

pid_t mt_target_pid(const struct mt_target *t);
int mt_target_thread_count(const struct mt_target *t);
int mt_target_max_threads(const struct mt_target *t);

/* Wait for the next stop the caller must handle, for at most TIMEOUT_MS
 * (-1: forever); also returns MT_STOP_NONE when EXTRA_FD (-1: none) becomes
 * readable.  0, or -errno. */
int mt_target_next_stop(struct mt_target *t, struct mt_stop *stop, int timeout_ms, int extra_fd);

int mt_target_get_regs(struct mt_target *t, pid_t tid, mt_regs *regs);
int mt_target_set_regs(struct mt_target *t, pid_t tid, const mt_regs *regs);
/* Resume a stopped task, delivering SIG (0: none).  A task that vanished
 * (ESRCH) is not an error: its exit is reported later.  While stopping all,
 * the task is only marked for resumption at detach. */
int mt_target_resume(struct mt_target *t, pid_t tid, int sig);
void mt_target_release_child(struct mt_target *t, pid_t child);

/* Begin stopping every task (PTRACE_INTERRUPT); keep calling
 * mt_target_next_stop() until mt_target_all_stopped().  Then tasks stay
 * stopped until mt_target_resume_all() or mt_target_detach_all(). */
void mt_target_stop_all(struct mt_target *t);
bool mt_target_all_stopped(const struct mt_target *t);
void mt_target_resume_all(struct mt_target *t);
/* Detach every task, delivering the signals kept for them. */
void mt_target_detach_all(struct mt_target *t);

/* While stopping all: let stopped task TID take a stop the kernel still
 * holds for it.  A thread that executed an int3 just as our
 * PTRACE_INTERRUPT arrived reports the interrupt first and keeps the
 * SIGTRAP pending: detached like that, it would die of it.  Continues TID
 * and returns its next stop in *STOP (MT_STOP_NONE if it did not come
 * within a moment: then it is interrupted again).  0 or -errno. */
int mt_target_collect_pending(struct mt_target *t, pid_t tid, struct mt_stop *stop);

/* Call FN for each stopped task (e.g. to inspect PCs before detaching). */
typedef void (*mt_task_fn)(void *ctx, pid_t tid);
void mt_target_for_each_task(struct mt_target *t, mt_task_fn fn, void *ctx);

/* Make stopped task TID run the syscall NR(ARGS) and return its result in
 * *ret (raw, -errno style).  The task's registers are restored afterwards
 * (see mt_arch_regs_for_resume).  SYSCALL_PC: the address of a syscall
 * instruction in the target's code.  0, or -errno. */
int mt_target_inject_syscall(struct mt_target *t, pid_t tid, uint64_t syscall_pc,
			     long nr, const uint64_t args[6], long *ret);

/* Any thread of T runs syscall NR(ARGS) (raw result in *RET): a stopped
 * one if there is one, else one running thread is interrupted for the
 * moment of the syscall and resumed.  A stop it took meanwhile that is not
 * our interrupt (a signal, a breakpoint) is kept and handed out by the
 * next mt_target_next_stop().  Threads in group-stop (a user's SIGSTOP)
 * are never used.  0, or -errno (-EAGAIN: no thread could be used now). */
int mt_target_inject_syscall_any(struct mt_target *t, uint64_t syscall_pc, long nr,
				 const uint64_t args[6], long *ret);

/* Make stopped thread TID run clone(FLAGS, 0, 0, 0, 0): FLAGS without
 * CLONE_VM/CLONE_THREAD/CLONE_VFORK and with exit signal 0, so the child
 * is a copy-on-write copy of the target's memory that the kernel reports
 * as a clone event.  The copy is held: seized by the clone event, stopped
 * before its first instruction, given PTRACE_O_EXITKILL, never resumed,
 * never reported as a thread or a fork child, killed (not detached) by
 * mt_target_detach_all().  0 with *COPY > 0 and *RET its pid; 0 with
 * *COPY = 0 and *RET the clone's -errno; or -errno (-EINVAL: FLAGS share
 * memory, handlers or the parent, or name an exit signal; else the thread
 * could not be made to run it). */
int mt_target_clone_copy(struct mt_target *t, pid_t tid, uint64_t syscall_pc,
			 uint64_t flags, pid_t *copy, long *ret);
/* SIGKILL the copy and collect its exit as its tracer.  It is then a
 * zombie child of the target (its real parent), whom only a wait4() in
 * the target reaps: mt_target_inject_syscall_any(wait4(COPY, ...)). */
void mt_target_kill_copy(struct mt_target *t, pid_t copy);

/* The classic BPF program of the INDEX-th seccomp filter of stopped task
 * TID (0: the newest), malloc'd in *PROG: its instruction count, or -errno
 * (-ENOENT: no such filter; -EACCES: memtrace lacks CAP_SYS_ADMIN or runs
 * under seccomp itself; -EMEDIUMTYPE, -EINVAL: not a readable program). */
int mt_target_seccomp_filter(struct mt_target *t, pid_t tid, unsigned index,
			     struct sock_filter **prog);

/* Execute one instruction of stopped task TID (which stays stopped).  Only
 * for a single-threaded moment such as ld.so's start-up. 0 or -errno. */
int mt_target_singlestep(struct mt_target *t, pid_t tid);

/* A stopped task of the target proper (not a vfork child), or 0. */
pid_t mt_target_any_stopped_thread(const struct mt_target *t);

#endif
