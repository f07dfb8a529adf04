/* target_prefork: a pre-fork server stand-in (issue 16).  The parent takes
 * commands on stdin; the workers it forks allocate without a pause and
 * check every block they free, as a server's workers serve requests.
 *
 * Parent commands (one per line), each answered by one line:
 *   alloc N        parent_alloc() makes N blocks of 48 bytes, kept
 *                  -> "parent allocs=TOTAL"
 *   fork           a worker -> "forked PID"; the worker then prints
 *                  "worker PID started" once its first pass is done (it
 *                  starts only after the parent's line)
 *   tell PID WORD  WORD to that worker (below); the worker answers
 *   reap PID       wait for it -> "reaped PID status=S" (its exit status,
 *                  or -SIGNAL)
 *   exit           kill the workers left, reap them, exit 0
 * Worker words:
 *   status         -> "worker PID passes=N bad=B"
 *   burst N        worker_burst() makes N blocks of 80 bytes, kept (at
 *                  most 100000 in all)
 *                  -> "worker PID burst=TOTAL"
 *   stop           frees its blocks (checking each) and exits: 0 when
 *                  every block held what was written into it, else 1
 *                  -> "worker PID stopped passes=N bad=B"
 * A worker's pass is 2000 random mallocs and frees over 256 slots of 16
 * bytes to 4 KiB; each block is filled with a pattern of its slot and
 * size, checked when it is freed (bad counts mismatches).  A worker dies
 * with its parent (PR_SET_PDEATHSIG).  Workers write their lines with one
 * write(2) each, so lines never mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define MAX_WORKERS 16
#define SLOTS 256
#define OPS_PER_PASS 2000
#define MAX_BURST 100000

static struct { pid_t pid; int fd; } workers[MAX_WORKERS];
static int nworkers;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof line - 1)
		_exit(97);
	line[n++] = '\n';
	if (write(1, line, (size_t)n) != n)
		_exit(97);
}

/* ---- the worker -------------------------------------------------------- */

static void *slot_ptr[SLOTS];
static size_t slot_size[SLOTS];
static void *burst_blocks[MAX_BURST];   /* static: a burst makes N blocks, no more */
static long long burst_n;
static long long passes, bad;

static uint8_t tag_of(int slot, size_t size)
{
	return (uint8_t)(slot * 31 + size * 7 + 1);
}

static void check_free(int i)
{
	const uint8_t *p = slot_ptr[i];
	uint8_t tag = tag_of(i, slot_size[i]);
	size_t n = slot_size[i] < 32 ? slot_size[i] : 32;
	for (size_t k = 0; k < n; k++)
		bad += p[k] != tag || p[slot_size[i] - 1 - k] != tag;
	free(slot_ptr[i]);
	slot_ptr[i] = NULL;
}

NOINLINE static void worker_storm(uint64_t *rng)
{
	for (int op = 0; op < OPS_PER_PASS; op++) {
		uint64_t r = prng_next(rng);
		int i = (int)(r % SLOTS);
		if (slot_ptr[i]) {
			check_free(i);
			continue;
		}
		size_t size = 16 + (size_t)((r >> 16) % 4081);
		uint8_t *p = malloc(size);
		if (!p) {
			bad++;
			continue;
		}
		memset(p, tag_of(i, size), size);
		slot_ptr[i] = p;
		slot_size[i] = size;
	}
}

NOINLINE static void worker_burst(long long n)
{
	for (long long k = 0; k < n && burst_n < MAX_BURST; k++) {
		void *p = malloc(80);
		if (!p)
			_exit(96);
		memset(p, 0x5a, 80);
		burst_blocks[burst_n++] = p;
	}
}

static void worker_stop(void)
{
	for (int i = 0; i < SLOTS; i++)
		if (slot_ptr[i])
			check_free(i);
	for (long long k = 0; k < burst_n; k++) {
		const uint8_t *p = burst_blocks[k];
		bad += p[0] != 0x5a || p[79] != 0x5a;
		free(burst_blocks[k]);
	}
	say("worker %d stopped passes=%lld bad=%lld", (int)getpid(), passes, bad);
	_exit(bad ? 1 : 0);
}

/* One command from the pipe, if a whole line is there. */
static void worker_command(int fd, char *buf, size_t *len, size_t cap)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);
	if (n == 0)
		_exit(95);   /* the parent closed the pipe: it is gone */
	if (n < 0)
		return;
	*len += (size_t)n;
	char *nl;
	while ((nl = memchr(buf, '\n', *len))) {
		*nl = '\0';
		long long k;
		if (strcmp(buf, "status") == 0) {
			say("worker %d passes=%lld bad=%lld", (int)getpid(), passes, bad);
		} else if (sscanf(buf, "burst %lld", &k) == 1 && k > 0) {
			worker_burst(k);
			say("worker %d burst=%lld", (int)getpid(), burst_n);
		} else if (strcmp(buf, "stop") == 0) {
			worker_stop();
		} else {
			say("worker %d error: unknown word %s", (int)getpid(), buf);
			_exit(94);
		}
		size_t used = (size_t)(nl - buf) + 1;
		memmove(buf, nl + 1, *len - used);
		*len -= used;
	}
}

static void worker_main(int fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(93);
	/* The parent says "forked PID" first, then lets the worker go: the
	 * worker's lines always come after that one. */
	char go[3];
	if (read(fd, go, sizeof go) != sizeof go || memcmp(go, "go\n", 3) != 0)
		_exit(92);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	uint64_t rng = 0x5eed0000 + (uint64_t)getpid();
	char buf[256];
	size_t len = 0;
	for (;;) {
		worker_storm(&rng);
		if (passes++ == 0)
			say("worker %d started", (int)getpid());
		worker_command(fd, buf, &len, sizeof buf);
	}
}

/* ---- the parent -------------------------------------------------------- */

static long long parent_total;

NOINLINE static void parent_alloc(long long n)
{
	for (long long k = 0; k < n; k++) {
		void *p = proto_checked(malloc(48), "malloc");
		memset(p, 0x11, 48);
		proto_hold(p);
	}
	parent_total += n;
}

static int worker_fd(pid_t pid)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i].pid == pid)
			return workers[i].fd;
	return -1;
}

static void do_fork(void)
{
	int p[2];
	if (nworkers == MAX_WORKERS || pipe(p) < 0)
		proto_die("cannot make another worker");
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		proto_die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[1]);
		for (int i = 0; i < nworkers; i++)
			close(workers[i].fd);
		worker_main(p[0]);
	}
	close(p[0]);
	workers[nworkers].pid = pid;
	workers[nworkers].fd = p[1];
	nworkers++;
	say("forked %d", (int)pid);
	if (write(p[1], "go\n", 3) != 3)
		proto_die("cannot start worker %d", (int)pid);
}

static void do_reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		proto_die("waitpid %d: %s", (int)pid, strerror(errno));
	for (int i = 0; i < nworkers; i++)
		if (workers[i].pid == pid) {
			close(workers[i].fd);
			workers[i] = workers[--nworkers];
			break;
		}
	say("reaped %d status=%d", (int)pid, WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	say("ready %d", (int)getpid());
	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = '\0';
		long long n;
		int pid;
		char word[64];
		if (sscanf(line, "alloc %lld", &n) == 1 && n > 0) {
			parent_alloc(n);
			say("parent allocs=%lld", parent_total);
		} else if (strcmp(line, "fork") == 0) {
			do_fork();
		} else if (sscanf(line, "tell %d %63[^\n]", &pid, word) == 2) {
			int fd = worker_fd(pid);
			size_t len = strlen(word);
			word[len++] = '\n';
			if (fd < 0 || write(fd, word, len) != (ssize_t)len)
				proto_die("cannot tell worker %d", pid);
		} else if (sscanf(line, "reap %d", &pid) == 1) {
			do_reap(pid);
		} else if (strcmp(line, "exit") == 0) {
			break;
		} else {
			proto_die("unknown command: %s", line);
		}
	}
	while (nworkers) {
		kill(workers[0].pid, SIGKILL);
		do_reap(workers[0].pid);
	}
	proto_free_held();
	return 0;
}
