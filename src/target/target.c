/* Target control: the one file that calls ptrace(2).  See target.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target/procfs.h"
#include "target/target.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#define KCMP_VM 1

enum task_state {
	T_RUNNING,
	T_STOPPED,     /* in a ptrace-stop: registers and memory may be used */
	T_LISTENING,   /* in group-stop after PTRACE_LISTEN */
};

enum task_kind {
	K_UNKNOWN,       /* first stop seen, not yet known what it is */
	K_THREAD,        /* a thread of the target */
	K_SHARED_CHILD,  /* a child sharing the target's memory (vfork, posix_spawn) */
	K_FORK_CHILD,    /* a child with its own copy: cleaned and released */
	K_COPY,          /* a frozen copy made by mt_target_clone_copy(): held
	                    stopped, never resumed, never detached alive */
};

struct task {
	pid_t tid;
	enum task_state state;
	enum task_kind kind;
	bool first_stop_pending; /* auto-attached: its first stop is still to come */
	bool group_stopped;      /* the user stopped it (SIGSTOP & co) */
	int event;               /* PTRACE_EVENT_* that created it, 0 if unknown */
	int pending_sig;         /* kept while stopping all, delivered on resume */
	/* Its stop is inside a system call that has not returned: a
	 * clone/fork/vfork/exec/exit event or a syscall-stop.  Its registers
	 * are not the user's yet (rax is -ENOSYS, orig_rax the call), so a
	 * syscall is injected only after the call returns (inject()). */
	bool mid_syscall;
	struct task *next;
};

#define NBUCKETS 1024

/* A wait status taken by target.c for its own purposes (a thread
 * interrupted to run a syscall) that the caller must still get: the next
 * mt_target_next_stop() handles it as if it had just arrived. */
struct deferred {
	pid_t tid;
	int status;
};

#define NDEFERRED 8

struct mt_target {
	pid_t pid;
	struct task *buckets[NBUCKETS];
	struct deferred deferred[NDEFERRED];
	int ndeferred;
	int ntasks;
	int nthreads, max_threads;
	int seize_retries;       /* EPERM from exiting threads while attaching */
	bool stopping;
	int chld_fd;            /* signalfd for SIGCHLD */
};

static const long seize_options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
				  PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC |
				  PTRACE_O_TRACESYSGOOD;

/* ---- the task table ---------------------------------------------------- */

static struct task *find_task(const struct mt_target *t, pid_t tid)
{
	for (struct task *k = t->buckets[(unsigned)tid % NBUCKETS]; k; k = k->next)
		if (k->tid == tid)
			return k;
	return NULL;
}

static struct task *add_task(struct mt_target *t, pid_t tid)
{
	struct task *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	k->tid = tid;
	k->state = T_RUNNING;
	unsigned b = (unsigned)tid % NBUCKETS;
	k->next = t->buckets[b];
	t->buckets[b] = k;
	t->ntasks++;
	return k;
}

static void set_kind(struct mt_target *t, struct task *k, enum task_kind kind)
{
	if (k->kind == K_THREAD)
		t->nthreads--;
	k->kind = kind;
	if (kind == K_THREAD && ++t->nthreads > t->max_threads)
		t->max_threads = t->nthreads;
}

static void remove_task(struct mt_target *t, pid_t tid)
{
	struct task **pp = &t->buckets[(unsigned)tid % NBUCKETS];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->tid == tid) {
			struct task *k = *pp;
			*pp = k->next;
			set_kind(t, k, K_UNKNOWN);
			free(k);
			t->ntasks--;
			return;
		}
	}
}

#define FOR_EACH_TASK(t, k)                                                  \
	for (unsigned b_ = 0; b_ < NBUCKETS; b_++)                           \
		for (struct task *k = (t)->buckets[b_], *n_ = k ? k->next : NULL; k; \
		     k = n_, n_ = k ? k->next : NULL)

/* ---- small /proc readers ----------------------------------------------- */

/* A field of /proc/TID/status ("Tgid:", "TracerPid:"), or -1. */
static pid_t read_status_pid(pid_t tid, const char *field)
{
	unsigned long v;
	return mt_procfs_status_number(tid, field, 0, &v) && v <= INT_MAX ? (pid_t)v : -1;
}

static pid_t read_tgid(pid_t tid)
{
	return read_status_pid(tid, "Tgid:");
}

/* ---- resuming ---------------------------------------------------------- */

static void do_resume(struct mt_target *t, struct task *k, int sig)
{
	if (k->state != T_STOPPED || k->kind == K_COPY)
		return;
	if (t->stopping) {
		if (sig)
			k->pending_sig = sig;
		return;
	}
	if (k->group_stopped) {
		/* Stays stopped; a signal is kept until it runs again. */
		if (sig)
			k->pending_sig = sig;
		sig = 0;
	} else {
		if (!sig)
			sig = k->pending_sig; /* kept during an injection or a single-step */
		k->pending_sig = 0;
	}
	long req = k->group_stopped ? PTRACE_LISTEN : PTRACE_CONT;
	if (ptrace(req, k->tid, 0L, (long)(k->group_stopped ? 0 : sig)) == 0) {
		k->state = k->group_stopped ? T_LISTENING : T_RUNNING;
	} else {
		/* ESRCH: the task is gone (SIGKILL, exit); its death arrives through
		 * waitpid later.  Treat it as running until then. */
		k->state = T_RUNNING;
	}
}

int mt_target_resume(struct mt_target *t, pid_t tid, int sig)
{
	struct task *k = find_task(t, tid);
	if (!k)
		return -ESRCH;
	do_resume(t, k, sig);
	return 0;
}

/* ---- classification of new tasks -------------------------------------- */

/* A task's first stop has arrived.  Returns true with *stop filled when the
 * caller must act (a forked child to clean). */
static bool classify(struct mt_target *t, struct task *k, struct mt_stop *stop)
{
	pid_t tgid = read_tgid(k->tid);
	if (tgid < 0)
		return false; /* already gone; its exit is reported later */
	if (tgid == t->pid) {
		set_kind(t, k, K_THREAD);
	} else {
		long same = syscall(SYS_kcmp, (long)t->pid, (long)k->tid, (long)KCMP_VM, 0L, 0L);
		if (same == 0)
			set_kind(t, k, K_SHARED_CHILD);
		else if (same > 0)
			set_kind(t, k, K_FORK_CHILD);
		else if (k->event == PTRACE_EVENT_FORK)
			set_kind(t, k, K_FORK_CHILD);
		else if (k->event == PTRACE_EVENT_VFORK || k->event == PTRACE_EVENT_CLONE)
			set_kind(t, k, K_SHARED_CHILD);
		else
			return false; /* wait for the parent's event to tell */
	}
	if (k->kind == K_FORK_CHILD) {
		stop->kind = MT_STOP_FORK_CHILD;
		stop->tid = k->tid;
		return true;
	}
	do_resume(t, k, 0);
	return false;
}

void mt_target_release_child(struct mt_target *t, pid_t child)
{
	struct task *k = find_task(t, child);
	if (!k)
		return;
	ptrace(PTRACE_DETACH, child, 0L, (long)k->pending_sig);
	remove_task(t, child);
}

/* ---- stops ------------------------------------------------------------- */

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* A stop inside a system call: its events (the call goes on when the
 * task resumes) and syscall-stops.  PTRACE_EVENT_STOP (our interrupt, a
 * group-stop) and signal-delivery-stops are at a point where the user's
 * registers are whole, with rax = -ERESTART* when a blocking call was
 * interrupted (mt_arch_regs_for_resume). */
static bool is_mid_syscall(int sig, int event)
{
	switch (event) {
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_VFORK_DONE:
	case PTRACE_EVENT_EXEC:
	case PTRACE_EVENT_EXIT:
		return true;
	case 0:
		return sig == (SIGTRAP | 0x80);
	default:
		return false;
	}
}

/* Handle one waitpid result.  true when *stop must go to the caller. */
static bool handle_status(struct mt_target *t, pid_t tid, int status, struct mt_stop *stop)
{
	struct task *k = find_task(t, tid);
	memset(stop, 0, sizeof *stop);
	stop->tid = tid;

	if (k && k->kind == K_COPY) {
		/* The frozen copy never runs: an exit (someone killed it) or a
		 * stop is nothing for the caller; its reads simply fail. */
		if (WIFEXITED(status) || WIFSIGNALED(status))
			remove_task(t, tid);
		else if (WIFSTOPPED(status))
			k->state = T_STOPPED;
		return false;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		if (!k)
			return false;
		bool shared = k->kind == K_SHARED_CHILD;
		remove_task(t, tid);
		if (tid == t->pid) {
			stop->kind = MT_STOP_PROCESS_EXIT;
			stop->status = status;
		} else {
			stop->kind = MT_STOP_TASK_EXIT;
			stop->shared_child = shared;
		}
		return true;
	}
	if (!WIFSTOPPED(status))
		return false;

	if (!k) {
		/* A new task's first stop can arrive before its parent's event. */
		k = add_task(t, tid);
		if (!k)
			return false;
		k->first_stop_pending = true;
	}
	k->state = T_STOPPED;
	int sig = WSTOPSIG(status);
	int event = (unsigned)status >> 16;
	k->mid_syscall = is_mid_syscall(sig, event);

	if (k->first_stop_pending) {
		/* Auto-attached tasks of a seized tracee start with PTRACE_EVENT_STOP:
		 * with SIGTRAP, or with the stop signal when the thread was born
		 * while the group is stopping (a user's SIGSTOP): it must then stay
		 * stopped with the others (PTRACE_LISTEN), not run out of the stop.
		 * Testcase: tests/e2e/test_signals.py (threads created during a
		 * SIGUSR1 storm, SIGSTOP sent meanwhile). */
		k->first_stop_pending = false;
		if (event == PTRACE_EVENT_STOP && is_stop_signal(sig))
			k->group_stopped = true;
		return classify(t, k, stop);
	}

	switch (event) {
	case PTRACE_EVENT_STOP:
		if (is_stop_signal(sig)) {
			/* A group-stop, or a notification (a new signal, our
			 * PTRACE_INTERRUPT) while the group is still stopped: the
			 * kernel reports the stop signal as long as the group stays
			 * stopped (do_jobctl_trap).  PTRACE_CONT here would let the
			 * thread run out of the user's SIGSTOP; PTRACE_LISTEN keeps it.
			 * Testcase: tests/e2e/test_signals.py (SIGSTOP while traced). */
			k->group_stopped = true;
			do_resume(t, k, 0); /* PTRACE_LISTEN, or stay stopped */
			return false;
		}
		/* SIGTRAP: our PTRACE_INTERRUPT, or the wake-up after SIGCONT. */
		k->group_stopped = false;
		do_resume(t, k, 0);
		return false;

	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK: {
		unsigned long msg = 0;
		bool report = false;
		ptrace(PTRACE_GETEVENTMSG, tid, 0L, &msg);
		pid_t child = (pid_t)msg;
		struct task *c = find_task(t, child);
		/* Its first stop may have come, been handled (a forked child
		 * released, a short-lived thread ended) and gone already: add it
		 * only while it is still ours. */
		if (!c && read_status_pid(child, "TracerPid:") == getpid()) {
			c = add_task(t, child);
			if (c) {
				c->first_stop_pending = true;
				c->event = event;
			}
		} else if (c) {
			c->event = event;
			if (c->state == T_STOPPED && c->kind == K_UNKNOWN)
				report = classify(t, c, stop);
		}
		do_resume(t, k, 0);
		return report;
	}

	case PTRACE_EVENT_EXEC:
		stop->kind = MT_STOP_EXEC;
		stop->shared_child = k->kind == K_SHARED_CHILD;
		if (!stop->shared_child) {
			/* Every other thread of the old image is gone; the exec'ing
			 * one now has the leader's tid. */
			FOR_EACH_TASK(t, o)
				if (o->kind == K_THREAD && o->tid != tid)
					remove_task(t, o->tid);
			set_kind(t, k, K_THREAD);
		}
		return true;

	case 0:
		if (sig == SIGTRAP) {
			if (ptrace(PTRACE_GETREGS, tid, 0L, &stop->regs) < 0) {
				k->state = T_RUNNING; /* vanished */
				return false;
			}
			stop->kind = MT_STOP_TRAP;
			return true;
		}
		if (sig == (SIGTRAP | 0x80)) {
			do_resume(t, k, 0); /* a stray syscall-stop */
			return false;
		}
		/* Signal-delivery-stop: the target's own signal, passed on unchanged. */
		do_resume(t, k, sig);
		return false;

	default:
		do_resume(t, k, 0);
		return false;
	}
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int mt_target_next_stop(struct mt_target *t, struct mt_stop *stop, int timeout_ms, int extra_fd)
{
	long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
	while (t->ndeferred > 0) {
		struct deferred d = t->deferred[0];
		memmove(t->deferred, t->deferred + 1, --t->ndeferred * sizeof d);
		if (handle_status(t, d.tid, d.status, stop))
			return 0;
	}
	for (;;) {
		int status;
		pid_t tid = waitpid(-1, &status, __WALL | WNOHANG);
		if (tid > 0) {
			if (handle_status(t, tid, status, stop))
				return 0;
			if (t->stopping)
				goto none; /* let the caller see whether all are stopped now */
			continue;
		}
		if (tid < 0 && errno == EINTR)
			continue;
		if (tid < 0 && errno == ECHILD) {
			/* Nothing left to wait for: the target is gone. */
			memset(stop, 0, sizeof *stop);
			stop->kind = MT_STOP_PROCESS_EXIT;
			stop->tid = t->pid;
			stop->status = 0;
			return 0;
		}
		int wait_ms = -1;
		if (deadline >= 0) {
			long left = deadline - now_ms();
			if (left <= 0)
				goto none;
			wait_ms = (int)left;
		}
		struct pollfd pfd[2] = {
			{ .fd = t->chld_fd, .events = POLLIN },
			{ .fd = extra_fd, .events = POLLIN },
		};
		int r = poll(pfd, extra_fd >= 0 ? 2 : 1, wait_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(t->chld_fd, &si, sizeof si) == sizeof si)
				;
		}
		if (r > 0 && extra_fd >= 0 && (pfd[1].revents & POLLIN))
			goto none;
	}
none:
	memset(stop, 0, sizeof *stop);
	stop->kind = MT_STOP_NONE;
	return 0;
}

/* ---- registers --------------------------------------------------------- */

int mt_target_get_regs(struct mt_target *t, pid_t tid, mt_regs *regs)
{
	(void)t;
	return ptrace(PTRACE_GETREGS, tid, 0L, regs) < 0 ? -errno : 0;
}

int mt_target_set_regs(struct mt_target *t, pid_t tid, const mt_regs *regs)
{
	(void)t;
	return ptrace(PTRACE_SETREGS, tid, 0L, regs) < 0 ? -errno : 0;
}

/* ---- stopping and detaching ------------------------------------------- */

void mt_target_stop_all(struct mt_target *t)
{
	t->stopping = true;
	FOR_EACH_TASK(t, k)
		if (k->state != T_STOPPED && !k->first_stop_pending)
			ptrace(PTRACE_INTERRUPT, k->tid, 0L, 0L);
}

bool mt_target_all_stopped(const struct mt_target *t)
{
	FOR_EACH_TASK(t, k)
		if (k->state != T_STOPPED) {
			return false;
		}
	return true;
}

void mt_target_resume_all(struct mt_target *t)
{
	t->stopping = false;
	FOR_EACH_TASK(t, k) {
		int sig = k->pending_sig;
		k->pending_sig = 0;
		do_resume(t, k, sig);
	}
}

void mt_target_detach_all(struct mt_target *t)
{
	FOR_EACH_TASK(t, k) {
		if (k->kind == K_COPY) {
			/* Detached, the copy would run the target's code. */
			mt_target_kill_copy(t, k->tid);
			continue;
		}
		if (k->state == T_STOPPED || k->state == T_LISTENING) {
			/* A task in group-stop stays stopped after PTRACE_DETACH, as
			 * the user asked; the others run on. */
			ptrace(PTRACE_DETACH, k->tid, 0L, (long)k->pending_sig);
		}
		remove_task(t, k->tid);
	}
}

int mt_target_collect_pending(struct mt_target *t, pid_t tid, struct mt_stop *stop)
{
	struct task *k = find_task(t, tid);
	memset(stop, 0, sizeof *stop);
	stop->kind = MT_STOP_NONE;
	if (!k || k->state != T_STOPPED || k->group_stopped)
		return -ESRCH;
	if (ptrace(PTRACE_CONT, tid, 0L, 0L) < 0)
		return -errno;
	k->state = T_RUNNING;
	/* The pending SIGTRAP is dequeued as soon as it runs: its stop comes at
	 * once.  Should nothing be pending, stop it again. */
	for (int i = 0; i < 200; i++) {
		int status;
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
		if (r == tid)
			return handle_status(t, tid, status, stop) ? 0 : 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	ptrace(PTRACE_INTERRUPT, tid, 0L, 0L);
	return 0;
}

void mt_target_for_each_task(struct mt_target *t, mt_task_fn fn, void *ctx)
{
	FOR_EACH_TASK(t, k)
		if (k->state == T_STOPPED && k->kind != K_COPY)
			fn(ctx, k->tid);
}

pid_t mt_target_any_stopped_thread(const struct mt_target *t)
{
	FOR_EACH_TASK(t, k)
		if (k->state == T_STOPPED && k->kind == K_THREAD && !k->group_stopped)
			return k->tid;
	return 0;
}

/* ---- syscall injection ------------------------------------------------- */

/* Keep STATUS of TID for the next mt_target_next_stop() (one injection
 * defers one status at most; a full queue drops the oldest). */
static void defer_status(struct mt_target *t, pid_t tid, int status)
{
	if (t->ndeferred == NDEFERRED) {
		memmove(t->deferred, t->deferred + 1, --t->ndeferred * sizeof t->deferred[0]);
	}
	t->deferred[t->ndeferred++] = (struct deferred){ tid, status };
}

/* Run the task until its next syscall-stop, keeping any signal that
 * arrives meanwhile for later delivery.  A clone/fork/vfork event stop on
 * the way (the injected syscall made a child) is passed over; with CHILD
 * non-NULL, the new child's pid is kept there.  0, or -errno. */
static int run_to_syscall_stop(struct mt_target *t, struct task *k, pid_t *child)
{
	int sig = 0;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, k->tid, 0L, (long)sig) < 0)
			return -errno;
		sig = 0;
		int status;
		pid_t r;
		do
			r = waitpid(k->tid, &status, __WALL);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			k->state = T_RUNNING;
			defer_status(t, k->tid, status); /* the caller learns it is gone */
			return -ESRCH;
		}
		if (!WIFSTOPPED(status))
			continue;
		int s = WSTOPSIG(status);
		int event = (unsigned)status >> 16;
		if (s == (SIGTRAP | 0x80))
			return 0;
		if (event == 0 && s != SIGTRAP)
			k->pending_sig = s; /* deliver it when the task resumes for real */
		if (child && (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK ||
			      event == PTRACE_EVENT_VFORK)) {
			unsigned long msg = 0;
			if (ptrace(PTRACE_GETEVENTMSG, k->tid, 0L, &msg) == 0)
				*child = (pid_t)msg;
		}
	}
}

static int inject(struct mt_target *t, struct task *k, uint64_t syscall_pc, long nr,
		  const uint64_t args[6], long *ret, pid_t *child)
{
	pid_t tid = k->tid;
	if (k->state != T_STOPPED)
		return -ESRCH;
	if (k->mid_syscall) {
		/* Stopped inside a call (a thread being created at its
		 * PTRACE_EVENT_CLONE stop, while memtrace stops every thread):
		 * its registers there are the kernel's (rax -ENOSYS, orig_rax
		 * the call), and restoring them after our syscall would run
		 * the call again (a second thread on the first one's stack).
		 * Let the call return first; its syscall-exit-stop holds the
		 * user's registers with the call's result.
		 * Testcase: tests/e2e/test_attach_spawning.py (detach while
		 * the target creates threads). */
		int err = run_to_syscall_stop(t, k, NULL);
		if (err < 0)
			return err;
		k->mid_syscall = false;
	}
	mt_regs saved, regs;
	if (ptrace(PTRACE_GETREGS, tid, 0L, &saved) < 0)
		return -errno;
	regs = saved;
	mt_arch_setup_syscall(&regs, syscall_pc, nr, args);
	if (ptrace(PTRACE_SETREGS, tid, 0L, &regs) < 0)
		return -errno;
	int err = run_to_syscall_stop(t, k, NULL);     /* syscall entry */
	if (err == 0)
		err = run_to_syscall_stop(t, k, child); /* syscall exit */
	if (err < 0)
		return err;
	if (ptrace(PTRACE_GETREGS, tid, 0L, &regs) < 0)
		return -errno;
	*ret = mt_regs_syscall_result(&regs);
	mt_arch_regs_for_resume(&saved);
	if (ptrace(PTRACE_SETREGS, tid, 0L, &saved) < 0)
		return -errno;
	k->state = T_STOPPED;
	return 0;
}

int mt_target_inject_syscall(struct mt_target *t, pid_t tid, uint64_t syscall_pc,
			     long nr, const uint64_t args[6], long *ret)
{
	struct task *k = find_task(t, tid);
	if (!k || k->kind == K_COPY)
		return -ESRCH;
	return inject(t, k, syscall_pc, nr, args, ret, NULL);
}

/* Wait (at most TIMEOUT_MS) for a wait status of TID alone.  0 and
 * *STATUS, -ETIMEDOUT, or -errno. */
static int wait_task(struct mt_target *t, pid_t tid, int *status, long timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL | WNOHANG);
		if (r == tid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		/* SIGCHLD wakes us; mt_target_next_stop() never misses a status
		 * for the signals drained here, it asks waitpid first.  Two
		 * SIGCHLDs may merge into one already drained: ask again every
		 * millisecond, a thread of the target may be waiting. */
		struct pollfd pfd = { .fd = t->chld_fd, .events = POLLIN };
		if (poll(&pfd, 1, left > 1 ? 1 : (int)left) > 0) {
			struct signalfd_siginfo si;
			while (read(t->chld_fd, &si, sizeof si) == sizeof si)
				;
		}
	}
}

/* The copy's first stop, then PTRACE_O_EXITKILL on it: from here on a dead
 * memtrace takes the copy with it instead of letting it run the target's
 * code.  (Before it, for the few microseconds since the clone, a memtrace
 * killed would leave the copy untraced: the options are inherited from
 * the cloning thread, and setting EXITKILL there would kill the target
 * with memtrace.) */
static int hold_copy(struct mt_target *t, pid_t copy)
{
	int status;
	int err = wait_task(t, copy, &status, 5000);
	if (err == 0 && !WIFSTOPPED(status))
		err = -ESRCH; /* killed at birth */
	if (err == 0 &&
	    ptrace(PTRACE_SETOPTIONS, copy, 0L, seize_options | PTRACE_O_EXITKILL) < 0)
		err = -errno;
	struct task *k = add_task(t, copy);
	if (!k) {
		kill(copy, SIGKILL);
		return -ENOMEM;
	}
	k->kind = K_COPY;
	k->state = err == 0 ? T_STOPPED : T_RUNNING;
	if (err < 0)
		mt_target_kill_copy(t, copy);
	return err;
}

int mt_target_clone_copy(struct mt_target *t, pid_t tid, uint64_t syscall_pc,
			 uint64_t flags, pid_t *copy, long *ret)
{
	/* A copy sharing the memory, the signal handlers or the parent, or
	 * with an exit signal, is no frozen copy the target never sees. */
	if (flags & (CLONE_VM | CLONE_THREAD | CLONE_VFORK | CLONE_SIGHAND | CLONE_PARENT |
		     CLONE_PTRACE | CSIGNAL))
		return -EINVAL;
	struct task *k = find_task(t, tid);
	if (!k || k->kind != K_THREAD)
		return -ESRCH;
	const uint64_t args[6] = { flags, 0, 0, 0, 0, 0 };
	pid_t child = 0;
	*copy = 0;
	int err = inject(t, k, syscall_pc, SYS_clone, args, ret, &child);
	if (child > 0 && err == 0 && *ret == child) {
		err = hold_copy(t, child);
		if (err == 0)
			*copy = child;
	} else if (child > 0) {
		/* A child without its syscall's result: never keep it. */
		kill(child, SIGKILL);
		int status;
		wait_task(t, child, &status, 5000);
		if (err == 0)
			err = -EIO;
	}
	return err;
}

void mt_target_kill_copy(struct mt_target *t, pid_t copy)
{
	struct task *k = find_task(t, copy);
	if (!k || k->kind != K_COPY)
		return; /* gone already: someone killed it and its exit came */
	kill(copy, SIGKILL);
	int status;
	for (;;) {
		int err = wait_task(t, copy, &status, 5000);
		if (err < 0 || WIFEXITED(status) || WIFSIGNALED(status))
			break;
	}
	remove_task(t, copy);
}

/* A thread to run a syscall for memtrace: a stopped one, else a running
 * one.  Never one in group-stop: it would have to leave the user's
 * SIGSTOP, and PTRACE_LISTEN works from a group-stop only. */
static struct task *pick_thread(struct mt_target *t)
{
	struct task *best = NULL, *inside = NULL;
	FOR_EACH_TASK(t, k) {
		if (k->kind != K_THREAD || k->group_stopped)
			continue;
		if (k->state == T_STOPPED && !k->mid_syscall)
			return k;
		if (k->state == T_STOPPED)
			inside = k;   /* usable once its call returns (inject) */
		else if (k->state == T_RUNNING)
			best = k;
	}
	return best ? best : inside;
}

/* Stop running thread K for a moment.  *DEFER: its stop is not our
 * interrupt's (a signal, a breakpoint): the caller must get it later.
 * 0, or -errno: -EAGAIN it entered a group-stop (deferred: left there),
 * -ETIMEDOUT it did not stop within 1 s (e.g. in an uninterruptible sleep;
 * its interrupt stop comes later and is resumed), -ESRCH it ended. */
static int interrupt_one(struct mt_target *t, struct task *k, int *status, bool *defer)
{
	if (ptrace(PTRACE_INTERRUPT, k->tid, 0L, 0L) < 0)
		return -errno;
	int err = wait_task(t, k->tid, status, 1000);
	if (err < 0)
		return err;
	if (!WIFSTOPPED(*status)) {
		defer_status(t, k->tid, *status); /* it ended */
		return -ESRCH;
	}
	k->state = T_STOPPED;
	int event = (unsigned)*status >> 16, sig = WSTOPSIG(*status);
	k->mid_syscall = is_mid_syscall(sig, event);
	if (event == PTRACE_EVENT_STOP && is_stop_signal(sig)) {
		defer_status(t, k->tid, *status);
		return -EAGAIN;
	}
	*defer = !(event == PTRACE_EVENT_STOP && sig == SIGTRAP);
	return 0;
}

int mt_target_inject_syscall_any(struct mt_target *t, uint64_t syscall_pc, long nr,
				 const uint64_t args[6], long *ret)
{
	struct task *k = pick_thread(t);
	if (!k)
		return -EAGAIN;
	if (k->state == T_STOPPED)
		return inject(t, k, syscall_pc, nr, args, ret, NULL);
	int status;
	bool defer = false;
	int err = interrupt_one(t, k, &status, &defer);
	if (err < 0)
		return err;
	/* Deferred before the injection: an exit during it queues behind. */
	if (defer)
		defer_status(t, k->tid, status); /* it stays stopped for that stop */
	err = inject(t, k, syscall_pc, nr, args, ret, NULL);
	if (!defer && err != -ESRCH)
		do_resume(t, k, 0);
	return err;
}

int mt_target_seccomp_filter(struct mt_target *t, pid_t tid, unsigned index,
			     struct sock_filter **prog)
{
	(void)t;
	*prog = NULL;
	long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (long)index, NULL);
	if (n < 0)
		return -errno;
	if (n == 0 || n > BPF_MAXINSNS)
		return -EINVAL;
	struct sock_filter *p = calloc((size_t)n, sizeof *p);
	if (!p)
		return -ENOMEM;
	long m = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (long)index, p);
	if (m != n) {
		int err = m < 0 ? -errno : -EINVAL;
		free(p);
		return err;
	}
	*prog = p;
	return (int)n;
}

int mt_target_singlestep(struct mt_target *t, pid_t tid)
{
	struct task *k = find_task(t, tid);
	if (!k || k->state != T_STOPPED)
		return -ESRCH;
	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, tid, 0L, 0L) < 0)
			return -errno;
		int status;
		pid_t r;
		do
			r = waitpid(tid, &status, __WALL);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			k->state = T_RUNNING;
			return -ESRCH;
		}
		if (!WIFSTOPPED(status))
			continue;
		int s = WSTOPSIG(status);
		if (s == SIGTRAP && ((unsigned)status >> 16) == 0)
			return 0;
		if (((unsigned)status >> 16) == 0)
			k->pending_sig = s; /* delivered on the next real resume */
	}
}

/* ---- attach and spawn -------------------------------------------------- */

static struct mt_target *target_new(pid_t pid)
{
	struct mt_target *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->pid = pid;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	t->chld_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (t->chld_fd < 0) {
		free(t);
		return NULL;
	}
	return t;
}

void mt_target_free(struct mt_target *t)
{
	if (!t)
		return;
	FOR_EACH_TASK(t, k) {
		if (k->kind == K_COPY)
			mt_target_kill_copy(t, k->tid); /* never left stopped, holding memory */
		else
			remove_task(t, k->tid);
	}
	close(t->chld_fd);
	free(t);
}

/* Seize every thread listed in /proc/PID/task that is not seized yet.
 * Returns how many were new, or -errno when the leader cannot be seized. */
/* A thread created by one already seized is ours from birth
 * (PTRACE_O_TRACECLONE): PTRACE_SEIZE on it fails with EPERM before its
 * parent's clone event is handled.  It is taken as ours, its first stop
 * still to come.  true when TID is such a thread.
 * Testcase: tests/e2e/test_attach_spawning.py (attach while threads
 * are created without pause). */
static bool adopt_new_thread(struct mt_target *t, pid_t tid)
{
	if (read_status_pid(tid, "TracerPid:") != getpid())
		return false;
	struct task *k = add_task(t, tid);
	if (!k)
		return false;
	k->first_stop_pending = true;
	return true;
}

/* How many times a thread that refuses PTRACE_SEIZE with EPERM is looked
 * at again before the attach fails on it: an exiting thread of a process
 * creating threads without pause disappears within a round or two. */
#define SEIZE_RETRIES 1000

static int seize_new_threads(struct mt_target *t, struct mt_attach_diag *diag)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)t->pid);
	DIR *d = opendir(path);
	if (!d)
		return -ESRCH;
	int added = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		if (tid <= 0 || find_task(t, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, 0L, seize_options) < 0) {
			int e = errno;
			if (e == ESRCH && tid != t->pid)
				continue; /* the thread ended meanwhile */
			if (e == EPERM && tid != t->pid && adopt_new_thread(t, tid)) {
				added++;
				continue;
			}
			if (e == EPERM && tid != t->pid && t->seize_retries < SEIZE_RETRIES) {
				/* An exiting thread (the kernel refuses to attach to
				 * one) leaves /proc/PID/task in a moment: look again. */
				t->seize_retries++;
				added++;
				continue;
			}
			closedir(d);
			diag->err = e;
			diag->tid = tid;
			return -e;
		}
		struct task *k = add_task(t, tid);
		if (!k) {
			closedir(d);
			return -ENOMEM;
		}
		set_kind(t, k, K_THREAD);
		ptrace(PTRACE_INTERRUPT, tid, 0L, 0L);
		added++;
	}
	closedir(d);
	return added;
}

int mt_target_attach(pid_t pid, struct mt_target **out, struct mt_attach_diag *diag)
{
	memset(diag, 0, sizeof *diag);
	struct mt_target *t = target_new(pid);
	if (!t)
		return -ENOMEM;
	t->stopping = true;
	/* Threads created while we seize are followed through PTRACE_O_TRACECLONE
	 * by their (already seized) creator; the loop catches the ones created
	 * by threads not yet seized. */
	int n;
	do {
		n = seize_new_threads(t, diag);
		if (n < 0) {
			mt_target_detach_all(t);
			mt_target_free(t);
			return n;
		}
	} while (n > 0);

	long deadline = now_ms() + 20000;
	while (!mt_target_all_stopped(t)) {
		struct mt_stop st;
		long left = deadline - now_ms();
		if (left <= 0)
			break;
		int err = mt_target_next_stop(t, &st, (int)left, -1);
		if (err < 0)
			break;
		if (st.kind == MT_STOP_PROCESS_EXIT) {
			mt_target_detach_all(t);
			mt_target_free(t);
			return -ESRCH;
		}
		if (st.kind == MT_STOP_TRAP) {
			/* The target's own SIGTRAP: keep it for delivery. */
			struct task *k = find_task(t, st.tid);
			if (k)
				k->pending_sig = SIGTRAP;
		}
		if (st.kind == MT_STOP_FORK_CHILD)
			mt_target_release_child(t, st.tid); /* no breakpoints yet */
	}
	*out = t;
	return 0;
}

int mt_target_spawn(char *const argv[], struct mt_target **out)
{
	pid_t child = fork();
	if (child < 0)
		return -errno;
	if (child == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		raise(SIGSTOP); /* wait to be seized */
		execvp(argv[0], argv);
		fprintf(stderr, "memtrace: error: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	if (waitpid(child, &status, WUNTRACED) < 0 || !WIFSTOPPED(status))
		return -ECHILD;
	struct mt_target *t = target_new(child);
	if (!t)
		return -ENOMEM;
	if (ptrace(PTRACE_SEIZE, child, 0L, seize_options) < 0) {
		int e = errno;
		kill(child, SIGKILL);
		mt_target_free(t);
		return -e;
	}
	struct task *k = add_task(t, child);
	set_kind(t, k, K_THREAD);
	kill(child, SIGCONT);
	/* Run it to its exec. */
	for (;;) {
		struct mt_stop st;
		if (mt_target_next_stop(t, &st, 30000, -1) < 0 || st.kind == MT_STOP_NONE ||
		    st.kind == MT_STOP_PROCESS_EXIT) {
			kill(child, SIGKILL);
			waitpid(child, &status, __WALL);
			mt_target_free(t);
			return -ECHILD;
		}
		if (st.kind == MT_STOP_EXEC)
			break;
		if (st.kind == MT_STOP_TRAP)
			mt_target_resume(t, st.tid, SIGTRAP);
	}
	*out = t;
	return 0;
}

pid_t mt_target_pid(const struct mt_target *t)
{
	return t->pid;
}

int mt_target_thread_count(const struct mt_target *t)
{
	return t->nthreads;
}

int mt_target_max_threads(const struct mt_target *t)
{
	return t->max_threads;
}
