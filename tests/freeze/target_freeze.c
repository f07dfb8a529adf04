/* A target for tests/e2e/test_freeze.py: one heap word to watch, a SIGCHLD
 * handler that counts, and on demand a thread that holds main_arena's lock
 * for as long as the test wants.
 *
 *   target_freeze [MIB [SECCOMP]]
 *
 * MIB: MiB of 64-byte blocks allocated first.  SECCOMP: a seccomp filter
 * installed first, on clone(2) without CLONE_VM (a fork): "kill" kills the
 * process, "allow" allows it (and refuses one with CLONE_NEWUSER, as
 * docker's default profile does).
 *
 * Prints "ready PID" and "word addr=0xADDR value=0xVALUE" (ADDR: a malloc'd
 * word), then answers one line per command on stdin:
 *
 *   set HEX   the word becomes HEX                     -> "ok value=0xHEX"
 *   check     what the target sees of children          -> "check sigchld=N
 *             nohang=R wall=R" (R: waitpid(-1, ..., WNOHANG) and with
 *             __WALL added: a pid, 0, or -errno)
 *   lock      a thread calls malloc_stats(), which holds main_arena's
 *             mutex while it writes to stderr: stderr is a full pipe, so
 *             it blocks there                          -> "locked tid=TID"
 *   unlock    the pipe is drained, malloc_stats() ends  -> "unlocked"
 *   exit      exit status 0
 *
 * After "lock" the main thread must not call malloc (main_arena is held):
 * it answers with write(2) from stack buffers only. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld_calls;
static int pipe_fd[2] = { -1, -1 };
static pthread_t locker;
static volatile pid_t locker_tid;

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_calls++;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (write(1, buf, (size_t)n) != n)
		_exit(3);
}

static void *hold_lock(void *arg)
{
	(void)arg;
	locker_tid = (pid_t)syscall(SYS_gettid);
	malloc_stats(); /* blocks writing "Arena 0:" to the full pipe, lock held */
	return NULL;
}

/* Is the locker blocked in write(2)?  /proc/self/task/TID/syscall starts
 * with the number of the syscall it sleeps in. */
static int locker_in_write(void)
{
	char path[64], buf[64] = "";
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)locker_tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 && atoi(buf) == SYS_write;
}

static void lock_arena(void)
{
	if (pipe(pipe_fd) < 0)
		_exit(3);
	fcntl(pipe_fd[1], F_SETFL, O_NONBLOCK);
	char junk[4096];
	memset(junk, 'x', sizeof junk);
	while (write(pipe_fd[1], junk, sizeof junk) > 0)
		;
	fcntl(pipe_fd[1], F_SETFL, 0);
	dup2(pipe_fd[1], 2);
	if (pthread_create(&locker, NULL, hold_lock, NULL) != 0)
		_exit(3);
	while (!locker_tid || !locker_in_write())
		usleep(1000);
	say("locked tid=%d\n", (int)locker_tid);
}

static void unlock_arena(void)
{
	fcntl(pipe_fd[0], F_SETFL, O_NONBLOCK);
	char junk[4096];
	for (;;) {
		while (read(pipe_fd[0], junk, sizeof junk) > 0)
			;
		if (pthread_tryjoin_np(locker, NULL) == 0)
			break;
		usleep(1000);
	}
	say("unlocked\n");
}

static void install_filter(const char *mode)
{
	int kill = strcmp(mode, "kill") == 0;
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_VM, 2, 0),
		BPF_STMT(BPF_RET | BPF_K, kill ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = { sizeof prog / sizeof prog[0], prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) {
		perror("seccomp");
		exit(2);
	}
}

static long wait_result(int flags)
{
	pid_t r = waitpid(-1, NULL, flags);
	return r < 0 ? -errno : r;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 0;
	if (argc > 2)
		install_filter(argv[2]);
	struct sigaction sa = { .sa_handler = on_sigchld };
	sigaction(SIGCHLD, &sa, NULL);
	for (long i = 0; i < mib * (1024 * 1024 / 64); i++) {
		volatile char *p = malloc(48); /* a 64-byte chunk */
		if (!p)
			return 2;
		p[0] = (char)i;
	}
	volatile uint64_t *word = malloc(sizeof *word);
	*word = 0x1111;
	say("ready %d\nword addr=%p value=0x%llx\n", (int)getpid(), (void *)word,
	    (unsigned long long)*word);
	char line[128];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(0, line + len, 1);
		if (n <= 0)
			return 0;
		if (line[len] != '\n' && len < sizeof line - 2) {
			len++;
			continue;
		}
		line[len] = 0;
		len = 0;
		if (strncmp(line, "set ", 4) == 0) {
			*word = strtoull(line + 4, NULL, 16);
			say("ok value=0x%llx\n", (unsigned long long)*word);
		} else if (strcmp(line, "check") == 0) {
			long nohang = wait_result(WNOHANG);
			long wall = wait_result(WNOHANG | __WALL);
			say("check sigchld=%d nohang=%ld wall=%ld\n", (int)sigchld_calls, nohang,
			    wall);
		} else if (strcmp(line, "lock") == 0) {
			lock_arena();
		} else if (strcmp(line, "unlock") == 0) {
			unlock_arena();
		} else if (strcmp(line, "exit") == 0) {
			return 0;
		}
	}
}
