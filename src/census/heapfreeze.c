/* A frozen copy-on-write copy of a live target.  See heapfreeze.h.
 *
 * The steps of mt_freeze_take(), with every thread of T stopped:
 *
 *   maps, thread pointers -> mt_glheap_find() on the live process
 *   quiescent?  no -> resume all ~1 ms, stop all, ask again (bounded)
 *   yes -> one thread runs clone(CLONE_FILES|CLONE_FS, exit signal 0)
 *
 * The clone is fork(2) without glibc's fork(): no atfork handlers run, and
 * the copy never executes an instruction (target.c holds it).  CLONE_FILES
 * shares the fd table instead of copying it, so that while the copy lives
 * it holds no extra reference to the target's pipes and sockets (a reader
 * of a pipe the target closes still sees EOF).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "census/heapfreeze.h"
#include "target/memio.h"
#include "target/procfs.h"
#include "util/clock.h"
#include "target/remote.h"
#include "census/scfilter.h"

/* How long memtrace waits for a quiescent point, how long of that the
 * threads may stay stopped in all, and how long they run between two
 * checks: at least RUN_MOMENT_MS and RUN_SHARE times as long as the last
 * check and stop took, so that they run most of the wait (with 50 busy
 * threads a stop and a check take tens of ms: at 1 ms of running between
 * them the target stood still for the whole second before the census
 * gave up), at most RUN_MAX_MS. */
#define QUIESCE_MAX_MS 1000.0
#define QUIESCE_MAX_PAUSED_MS 150.0
#define QUIESCE_MAX_TRIES 1000
#define RUN_MOMENT_MS 1.0
#define RUN_SHARE 4.0
#define RUN_MAX_MS 100.0
/* Stopping every thread again after a moment of running. */
#define RESTOP_MAX_MS 5000.0

#define MT_ERESTARTNOINTR 513

struct mt_freeze {
	pid_t target;
	pid_t copy;              /* 0 once killed */
	pid_t reap;              /* the killed copy's zombie, until reaped */
	int mem_fd;              /* /proc/COPY/mem */
	int pagemap_fd;          /* /proc/COPY/pagemap, or -1 */
	uint64_t syscall_pc;
	struct mt_maps maps;     /* the copy's */
	struct mt_glheap *heap;
	struct mt_memsrc src;
	struct mt_freeze_stats st;
};

/* ---- the memory sources ------------------------------------------------ */

static int live_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return mt_mem_read(*(pid_t *)ctx, addr, buf, len);
}

/* pread(2) on /proc/COPY/mem, not process_vm_readv(2): the latter pins
 * the pages it reads (FOLL_PIN), and a pinned anonymous page shared
 * copy-on-write with the target is first unshared (copied) by the kernel
 * (since Linux 5.19, gup_must_unshare()): reading a 1 GiB heap that way
 * made the copy allocate 1 GiB more.  /proc/PID/mem takes plain references
 * and copies nothing. */
static int copy_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct mt_freeze *f = ctx;
	if (!f->copy || f->mem_fd < 0)
		return -ESRCH;
	if (addr > INT64_MAX || len > INT64_MAX - addr)
		return -EFAULT;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(f->mem_fd, (char *)buf + done, len - done,
				  (off_t)(addr + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EIO ? -EFAULT : -errno; /* EIO: not mapped */
		if (n == 0)
			return -ESRCH; /* its memory is gone: the copy died */
		done += (size_t)n;
	}
	return 0;
}

/* /proc/PID/pagemap: one 64-bit entry per page, bit 63 "present in RAM"
 * (bit 62, swapped, is not resident).  Right after the clone the copy's
 * page tables hold the very pages the target had. */
static int copy_resident(void *ctx, uint64_t lo, uint64_t hi, uint64_t *bytes)
{
	struct mt_freeze *f = ctx;
	const uint64_t pg = 4096;
	if (!f->copy || f->pagemap_fd < 0)
		return -ESRCH;
	if (lo % pg || hi % pg || hi < lo)
		return -EINVAL;
	uint64_t ent[4096];
	uint64_t n = 0;
	for (uint64_t p = lo / pg; p < hi / pg;) {
		uint64_t want = hi / pg - p < 4096 ? hi / pg - p : 4096;
		ssize_t r = pread(f->pagemap_fd, ent, want * 8, (off_t)(p * 8));
		if (r < 0)
			return -errno;
		if (r == 0 || r % 8)
			return -EIO;
		for (ssize_t i = 0; i < r / 8; i++)
			n += ent[i] >> 63;
		p += (uint64_t)r / 8;
	}
	*bytes = n * pg;
	return 0;
}

/* ---- threads ----------------------------------------------------------- */

struct threads {
	struct mt_target *t;
	struct mt_glheap_thread *v;
	size_t n, cap;
	int err;
};

static void add_thread(void *ctx, pid_t tid)
{
	struct threads *th = ctx;
	mt_regs regs;
	if (th->err || mt_target_get_regs(th->t, tid, &regs) < 0)
		return; /* vanished: its exit comes later */
	if (th->n == th->cap) {
		size_t cap = th->cap ? th->cap * 2 : 16;
		void *v = realloc(th->v, cap * sizeof *th->v);
		if (!v) {
			th->err = -ENOMEM;
			return;
		}
		th->v = v;
		th->cap = cap;
	}
	th->v[th->n++] = (struct mt_glheap_thread){ tid, mt_regs_tp(&regs) };
}

static int cmp_thread(const void *a, const void *b)
{
	const struct mt_glheap_thread *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* The stopped tasks of T and their thread pointers, sorted by tid (a
 * vfork child sharing the memory is among them: its thread pointer is its
 * parent thread's, harmless). */
static int read_threads(struct mt_target *t, struct threads *th)
{
	th->t = t;
	th->n = 0;
	th->err = 0;
	mt_target_for_each_task(t, add_thread, th);
	if (th->err)
		return th->err;
	qsort(th->v, th->n, sizeof *th->v, cmp_thread);
	return th->n ? 0 : -ESRCH;
}

static bool same_threads(const struct threads *a, const struct threads *b)
{
	return a->n == b->n && memcmp(a->v, b->v, a->n * sizeof *a->v) == 0;
}

/* ---- running a moment, stopping again --------------------------------- */

/* One stop while memtrace waits for quiescence.  The census comes before
 * any hook is planted (heapfreeze.h), so a SIGTRAP is the target's own and
 * a forked child has nothing to clean.  -ESRCH when the target exited or
 * exec'd. */
static int handle_stop(struct mt_target *t, const struct mt_stop *st)
{
	switch (st->kind) {
	case MT_STOP_TRAP:
		mt_target_resume(t, st->tid, SIGTRAP);
		return 0;
	case MT_STOP_FORK_CHILD:
		mt_target_release_child(t, st->tid);
		return 0;
	case MT_STOP_EXEC:
		if (st->shared_child) {
			mt_target_release_child(t, st->tid);
			return 0;
		}
		return -ESRCH;
	case MT_STOP_PROCESS_EXIT:
		return -ESRCH;
	default:
		return 0;
	}
}

/* Let every thread run about RUN_MS, then stop them all again. */
static int run_a_moment(struct mt_target *t, double run_ms, char *why, size_t whylen)
{
	mt_target_resume_all(t);
	double until = 1e3 * mt_clock_s() + run_ms;
	int err = 0;
	for (double left; !err && (left = until - 1e3 * mt_clock_s()) > 0;) {
		struct mt_stop st;
		err = mt_target_next_stop(t, &st, (int)left + 1, -1);
		if (!err)
			err = handle_stop(t, &st);
	}
	mt_target_stop_all(t);
	double deadline = 1e3 * mt_clock_s() + RESTOP_MAX_MS;
	while (!err && !mt_target_all_stopped(t) && 1e3 * mt_clock_s() < deadline) {
		struct mt_stop st;
		err = mt_target_next_stop(t, &st, 100, -1);
		if (!err)
			err = handle_stop(t, &st);
	}
	if (err == -ESRCH) {
		snprintf(why, whylen, "the target exited or executed a new program "
			 "while memtrace waited for a quiescent heap");
		return err;
	}
	if (!err && !mt_target_all_stopped(t)) {
		snprintf(why, whylen, "some threads of the target did not stop again "
			 "within %.0f s", RESTOP_MAX_MS / 1000);
		return -ETIMEDOUT;
	}
	if (err)
		snprintf(why, whylen, "waiting for the target's threads: %s", strerror(-err));
	return err;
}

/* ---- finding the heap, waiting for quiescence ------------------------- */

struct take {
	struct mt_target *t;
	pid_t pid;
	struct mt_memsrc live;
	struct mt_maps maps;       /* the target's, for find */
	struct threads threads;
	struct mt_glheap *heap;
	const char *cache_dir;
};

static int find_heap(struct take *k, char *why, size_t whylen)
{
	mt_glheap_destroy(k->heap);
	k->heap = NULL;
	mt_maps_free(&k->maps);
	int err = mt_maps_read(k->pid, &k->maps);
	if (err < 0) {
		snprintf(why, whylen, "cannot read /proc/%d/maps: %s", (int)k->pid,
			 strerror(-err));
		return err;
	}
	return mt_glheap_find(&k->live, &k->maps, k->threads.v, k->threads.n, k->cache_dir,
			      &k->heap, why, whylen);
}

/* Ask until the heap is quiescent; new threads (a tcache not yet known)
 * mean finding the heap again.  0, or -errno with WHY.  ST->ran_ms adds
 * up the moments the threads ran. */
static int wait_quiescent(struct take *k, struct mt_freeze_stats *st, double t_start,
			  char *why, size_t whylen)
{
	double t0 = 1e3 * mt_clock_s(), stopped_at = t0;
	char busy[160] = "";
	for (;;) {
		st->tries++;
		if (mt_glheap_quiescent(k->heap, &k->live, busy, sizeof busy))
			return 0;
		double now = 1e3 * mt_clock_s();
		double paused = now - t_start - st->ran_ms;
		if (now - t0 >= QUIESCE_MAX_MS || paused >= QUIESCE_MAX_PAUSED_MS ||
		    st->tries >= QUIESCE_MAX_TRIES) {
			snprintf(why, whylen, "a thread stayed inside the allocator at each "
				 "of %d checks over %.2f s (threads stopped %.0f ms of it; "
				 "last: %s)", st->tries, (now - t0) / 1000, paused, busy);
			return -EBUSY;
		}
		double run_ms = RUN_SHARE * (now - stopped_at);
		run_ms = run_ms < RUN_MOMENT_MS ? RUN_MOMENT_MS
			 : run_ms > RUN_MAX_MS ? RUN_MAX_MS : run_ms;
		double run_from = 1e3 * mt_clock_s();
		int err = run_a_moment(k->t, run_ms, why, whylen);
		stopped_at = 1e3 * mt_clock_s();
		/* The moment asked for: the stop after it counts as paused. */
		st->ran_ms += stopped_at - run_from < run_ms ? stopped_at - run_from : run_ms;
		if (err < 0)
			return err;
		struct threads cur = { 0 };
		err = read_threads(k->t, &cur);
		if (err == 0 && !same_threads(&cur, &k->threads)) {
			free(k->threads.v);
			k->threads = cur;
			cur.v = NULL;
			err = find_heap(k, why, whylen);
		} else if (err < 0) {
			snprintf(why, whylen, "cannot read the target's threads: %s",
				 strerror(-err));
		}
		free(cur.v);
		if (err < 0)
			return err;
	}
}

/* ---- the clone ---------------------------------------------------------- */

static const char *clone_error(int err)
{
	switch (err) {
	case ENOMEM:
		return "ENOMEM: the kernel would not commit memory for a copy of the "
		       "target (vm.overcommit_memory=2 and too little commit left?)";
	case EAGAIN:
		return "EAGAIN: a process limit was reached (RLIMIT_NPROC, a cgroup's "
		       "pids.max or kernel.threads-max)";
	case EPERM:
	case EACCES:
	case ENOSYS:
		return "a security policy (seccomp filter, LSM) forbids clone(2) in the "
		       "target";
	default:
		return strerror(err);
	}
}

/* The action of every seccomp filter of thread TID on the clone(2) it is
 * to run, combined as the kernel does.  0 and *ACTION, or -errno. */
static int filters_action(struct mt_target *t, pid_t tid, const struct seccomp_data *d,
			  uint32_t *action)
{
	*action = SECCOMP_RET_ALLOW;
	for (unsigned i = 0;; i++) {
		struct sock_filter *prog;
		int n = mt_target_seccomp_filter(t, tid, i, &prog);
		if (n == -ENOENT && i > 0)
			return 0;
		if (n < 0)
			return n;
		uint32_t ret;
		int err = mt_scfilter_run(prog, (size_t)n, d, &ret);
		free(prog);
		if (err < 0)
			return err;
		*action = mt_scfilter_combine(*action, ret);
		if (i >= 1024)
			return -E2BIG; /* the kernel caps a chain far below this */
	}
}

/* Would the clone(2) run?  Seccomp: 0 none, 1 strict (only read, write,
 * exit, sigreturn: a clone kills), 2 filters, which memtrace runs on the
 * very call (a filter may kill the process for it: docker's default
 * profile allows a clone without namespace flags, a systemd
 * SystemCallFilter= may not).  0, or -EPERM with WHY. */
static int check_seccomp(struct mt_target *t, pid_t tid, uint64_t syscall_pc, uint64_t flags,
			 char *why, size_t whylen)
{
	struct mt_procfs_status st;
	int64_t mode = mt_procfs_status(tid, &st) == 0 ? st.seccomp : -1;
	if (mode <= 0)
		return 0;
	if (mode == 1) {
		snprintf(why, whylen, "the target runs in seccomp strict mode: a clone(2) "
			 "would kill it");
		return -EPERM;
	}
	struct seccomp_data d = {
		.nr = SYS_clone,
		.arch = MT_ARCH_AUDIT,
		.instruction_pointer = syscall_pc + MT_SYSCALL_INSN_LEN,
		.args = { flags },
	};
	uint32_t action;
	int err = filters_action(t, tid, &d, &action);
	if (err < 0) {
		snprintf(why, whylen, "the target's seccomp filter cannot be checked (%s): "
			 "a clone(2) might kill it", strerror(-err));
		return -EPERM;
	}
	if (mt_scfilter_allows(action))
		return 0;
	char what[64];
	snprintf(why, whylen, "the target's seccomp filter would %s for a clone(2)",
		 mt_scfilter_describe(action, what, sizeof what));
	return -EPERM;
}

static int do_clone(struct mt_target *t, struct mt_freeze *f, char *why, size_t whylen)
{
	const uint64_t flags = CLONE_FILES | CLONE_FS; /* exit signal 0 */
	pid_t tid = mt_target_any_stopped_thread(t);
	if (!tid) {
		snprintf(why, whylen, "no stopped thread of the target to run clone(2)");
		return -ESRCH;
	}
	int err = check_seccomp(t, tid, f->syscall_pc, flags, why, whylen);
	if (err < 0)
		return err;
	double c0 = 1e3 * mt_clock_s();
	long ret = 0;
	pid_t copy = 0;
	/* A signal or a ptrace trap pending for the thread makes the kernel
	 * cancel a fork with -ERESTARTNOINTR (fork is atomic with signals):
	 * try again, a few times. */
	for (int i = 0; i < 5; i++) {
		err = mt_target_clone_copy(t, tid, f->syscall_pc, flags, &copy, &ret);
		if (err < 0 || copy || ret != -MT_ERESTARTNOINTR)
			break;
	}
	f->st.copy_ms = 1e3 * mt_clock_s() - c0;
	if (err < 0) {
		snprintf(why, whylen, "thread %d could not run clone(2): %s", (int)tid,
			 strerror(-err));
		return err;
	}
	if (!copy) {
		int e = ret < 0 && ret > -4096 ? (int)-ret : EIO;
		snprintf(why, whylen, "clone(2) in the target failed: %s", clone_error(e));
		return -e;
	}
	f->copy = copy;
	return 0;
}

/* ---- take and release -------------------------------------------------- */

static int open_copy(struct mt_freeze *f, char *why, size_t whylen)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)f->copy);
	f->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC); /* -1: residency unknown */
	snprintf(path, sizeof path, "/proc/%d/mem", (int)f->copy);
	f->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = f->mem_fd < 0 ? -errno : mt_maps_read(f->copy, &f->maps);
	if (err < 0)
		snprintf(why, whylen, "cannot read the copy's memory or maps: %s",
			 strerror(-err));
	f->src = (struct mt_memsrc){ copy_read, copy_resident, f };
	return err;
}

static int prepare(struct take *k, struct mt_freeze *f, char *why, size_t whylen)
{
	int err = read_threads(k->t, &k->threads);
	if (err < 0) {
		snprintf(why, whylen, "cannot read the target's threads: %s", strerror(-err));
		return err;
	}
	err = find_heap(k, why, whylen);
	if (err < 0)
		return err;
	f->syscall_pc = mt_remote_syscall_insn(k->pid, &k->maps);
	if (!f->syscall_pc) {
		snprintf(why, whylen, "no syscall instruction found in the target's code");
		return -ENOENT;
	}
	return 0;
}

int mt_freeze_take(struct mt_target *t, const char *cache_dir, struct mt_freeze **out,
		   char *why, size_t whylen)
{
	struct mt_freeze *f = calloc(1, sizeof *f);
	if (!f) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	f->pagemap_fd = -1;
	f->mem_fd = -1;
	struct take k = { .t = t, .pid = mt_target_pid(t), .cache_dir = cache_dir };
	f->target = k.pid;
	k.live = (struct mt_memsrc){ live_read, NULL, &k.pid };
	/* The threads are stopped for all of it: finding the heap counts. */
	double t0 = 1e3 * mt_clock_s();
	int err = prepare(&k, f, why, whylen);
	if (err == 0)
		err = wait_quiescent(&k, &f->st, t0, why, whylen);
	if (err == 0)
		err = do_clone(t, f, why, whylen);
	f->st.paused_ms = 1e3 * mt_clock_s() - t0 - f->st.ran_ms;
	if (err == 0)
		err = open_copy(f, why, whylen);
	free(k.threads.v);
	mt_maps_free(&k.maps);
	if (err < 0) {
		mt_glheap_destroy(k.heap);
		mt_freeze_release(f, t);
		return err;
	}
	f->heap = k.heap;
	*out = f;
	return 0;
}

const struct mt_memsrc *mt_freeze_memsrc(const struct mt_freeze *f)
{
	return &f->src;
}

const struct mt_maps *mt_freeze_maps(const struct mt_freeze *f)
{
	return &f->maps;
}

const struct mt_glheap *mt_freeze_glheap(const struct mt_freeze *f)
{
	return f->heap;
}

void mt_freeze_stats(const struct mt_freeze *f, struct mt_freeze_stats *st)
{
	*st = f->st;
}

void mt_freeze_kill(struct mt_freeze *f, struct mt_target *t)
{
	if (!f->copy)
		return;
	mt_target_kill_copy(t, f->copy);
	if (f->pagemap_fd >= 0)
		close(f->pagemap_fd);
	if (f->mem_fd >= 0)
		close(f->mem_fd);
	f->pagemap_fd = f->mem_fd = -1;
	f->reap = f->copy;
	f->copy = 0;
}

/* The copy's zombie is the target's child (exit signal 0: no SIGCHLD, and
 * a wait() without __WALL/__WCLONE never sees it): a thread of the target
 * reaps it, by its pid only, never blocking (WNOHANG).  A zombie that is no
 * longer the target's child (the target reaped it with __WALL) is left. */
static void reap(struct mt_freeze *f, struct mt_target *t)
{
	struct mt_procfs_status st;
	if (!f->reap || mt_procfs_status(f->reap, &st) < 0 || st.ppid != f->target ||
	    !f->syscall_pc)
		return;
	const uint64_t args[6] = { (uint64_t)f->reap, 0, (uint64_t)(__WALL | WNOHANG), 0, 0, 0 };
	long ret;
	if (mt_target_inject_syscall_any(t, f->syscall_pc, SYS_wait4, args, &ret) == 0 &&
	    ret == f->reap)
		f->reap = 0;
}

void mt_freeze_release(struct mt_freeze *f, struct mt_target *t)
{
	if (!f)
		return;
	mt_freeze_kill(f, t);
	reap(f, t);
	mt_glheap_destroy(f->heap);
	mt_maps_free(&f->maps);
	free(f);
}
