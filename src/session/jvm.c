#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session/jvm.h"
#include "target/procfs.h"
#include "util/clock.h"

#define OUTPUT_MAX 4096

#define LIBJVM "/libjvm.so"
#define LIBJVM_MAX_SIZE (512u << 20)

/* Whether the file FD holds HotSpot's exported gHotSpotVMStructs (every
 * HotSpot libjvm.so has it, for its serviceability agent). */
static bool holds_hotspot(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > LIBJVM_MAX_SIZE)
		return false;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return false;
	static const char name[] = "gHotSpotVMStructs";
	bool found = memmem(p, (size_t)st.st_size, name, sizeof name - 1) != NULL;
	munmap(p, (size_t)st.st_size);
	return found;
}

/* The libjvm.so of the maps LINE ("START-END ... PATH"), opened as the
 * process sees it: through map_files (a file replaced since), else its
 * root. */
static int open_libjvm(pid_t pid, const char *line)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "/proc/%d/map_files/%.*s", (int)pid, (int)strcspn(line, " "), line);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	const char *path = strchr(line, '/');
	if (fd < 0 && path) {
		snprintf(p, sizeof p, "/proc/%d/root%s", (int)pid, path);
		fd = open(p, O_RDONLY | O_CLOEXEC);
	}
	return fd;
}

enum mt_jvm_kind mt_jvm_kind(pid_t pid)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return MT_JVM_NONE;
	enum mt_jvm_kind kind = MT_JVM_NONE;
	while (kind == MT_JVM_NONE && fgets(line, sizeof line, f)) {
		size_t n = strcspn(line, "\n");
		line[n] = '\0';
		if (n > 10 && strcmp(line + n - 10, " (deleted)") == 0)
			line[n -= 10] = '\0';
		if (n < sizeof LIBJVM - 1 || strcmp(line + n - (sizeof LIBJVM - 1), LIBJVM) != 0)
			continue;
		int fd = open_libjvm(pid, line);
		kind = fd >= 0 && holds_hotspot(fd) ? MT_JVM_HOTSPOT : MT_JVM_OTHER;
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
	return kind;
}

static void perfmap_path(pid_t pid, char *buf, size_t len)
{
	struct mt_procfs_status st;
	long ns = mt_procfs_status(pid, &st) == 0 && st.nspid > 0 && st.nspid <= INT_MAX
			  ? (long)st.nspid : (long)pid;
	snprintf(buf, len, "/proc/%d/root/tmp/perf-%ld.map", (int)pid, ns);
}

bool mt_jvm_perfmap_exists(pid_t pid)
{
	char path[96];
	struct stat st;
	perfmap_path(pid, path, sizeof path);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* DIR/jcmd into BUF when it is executable. */
static bool jcmd_in(const char *dir, size_t dirlen, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%.*s/jcmd", (int)dirlen, dir) >= len)
		return false;
	return access(buf, X_OK) == 0;
}

/* jcmd of the JVM's own JDK (beside its java, or bin/ above its
 * lib/server/libjvm.so), else the first on PATH. */
static bool find_jcmd(pid_t pid, char *buf, size_t len)
{
	char link[64], exe[PATH_MAX];
	snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(link, exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash && jcmd_in(exe, (size_t)(slash - exe), buf, len))
			return true;
	}
	char maps[64], line[4096];
	snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(maps, "re");
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *p = strstr(line, "/lib/server/libjvm.so");
		char *path = strchr(line, '/');
		if (p && path && strcmp(p, "/lib/server/libjvm.so") == 0) {
			char dir[PATH_MAX];
			snprintf(dir, sizeof dir, "%.*s/bin", (int)(p - path), path);
			if (jcmd_in(dir, strlen(dir), buf, len)) {
				fclose(f);
				return true;
			}
		}
	}
	if (f)
		fclose(f);
	const char *env = getenv("PATH");
	for (const char *d = env; d && *d;) {
		size_t l = strcspn(d, ":");
		if (l && d[0] == '/' && jcmd_in(d, l, buf, len))
			return true;
		d += l + (d[l] == ':');
	}
	return false;
}

/* The child: jcmd as OWNER (the JVM's effective user and group: its
 * attach listener answers only them, or root). */
static void exec_jcmd(const char *jcmd, pid_t pid, const struct stat *owner, int out)
{
	setpgid(0, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	if (geteuid() == 0 && owner->st_uid != 0 &&
	    (setgroups(0, NULL) < 0 || setgid(owner->st_gid) < 0 || setuid(owner->st_uid) < 0)) {
		dprintf(2, "cannot become uid %u: %s\n", (unsigned)owner->st_uid, strerror(errno));
		_exit(125);
	}
	char arg[24];
	snprintf(arg, sizeof arg, "%d", (int)pid);
	execl(jcmd, "jcmd", arg, "Compiler.perfmap", (char *)NULL);
	dprintf(2, "cannot run %s: %s\n", jcmd, strerror(errno));
	_exit(127);
}

/* Reads the child's output into OUT until it closes, the deadline, or
 * SIGFD is readable: 0, -ETIMEDOUT or -EINTR. */
static int collect(int fd, int sigfd, double deadline, char *out, size_t cap)
{
	size_t got = 0;
	for (;;) {
		double left = deadline - mt_clock_s();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
		int r = poll(p, sigfd >= 0 ? 2 : 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (sigfd >= 0 && (p[1].revents & POLLIN))
			return -EINTR;
		if (!p[0].revents)
			continue;
		char tmp[512];
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		size_t k = (size_t)n < cap - 1 - got ? (size_t)n : cap - 1 - got;
		memcpy(out + got, tmp, k);
		got += k;
		out[got] = '\0';
	}
}

/* The line of OUT that says what went wrong: the first naming an
 * exception or an error, else the last non-empty one. */
static bool line_has(const char *l, size_t n, const char *word)
{
	size_t k = strlen(word);
	for (size_t i = 0; i + k <= n; i++)
		if (strncmp(l + i, word, k) == 0)
			return true;
	return false;
}

static void reason(const char *out, char *buf, size_t len)
{
	const char *pick = NULL, *last = NULL;
	for (size_t at = 0; out[at];) {
		const char *l = out + at;
		size_t n = strcspn(l, "\n");
		if (n && !pick && (line_has(l, n, "Exception") || line_has(l, n, "rror")))
			pick = l;
		if (n)
			last = l;
		at += n + (l[n] == '\n');
	}
	const char *l = pick ? pick : last;
	if (!l) {
		snprintf(buf, len, "no output");
		return;
	}
	snprintf(buf, len, "%.*s", (int)(strcspn(l, "\n") < 150 ? strcspn(l, "\n") : 150), l);
}

static enum mt_jvm_ask classify(const char *out, int status, char *why, size_t len)
{
	char line[160];
	reason(out, line, sizeof line);
	bool refused = strstr(out, "AttachNotSupported") || strstr(out, "Permission denied") ||
		       strstr(out, "cannot become uid") || strstr(out, "Operation not permitted");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !strstr(out, "Exception"))
		return MT_JVM_ASK_OK;
	if (WIFSIGNALED(status))
		snprintf(why, len, "jcmd Compiler.perfmap killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, len, "jcmd Compiler.perfmap failed (status %d): %s",
			 WEXITSTATUS(status), line);
	return refused ? MT_JVM_ASK_NOT_ALLOWED : MT_JVM_ASK_FAILED;
}

enum mt_jvm_ask mt_jvm_ask_perfmap(pid_t pid, int sigfd, char *why, size_t len)
{
	why[0] = '\0';
	char jcmd[PATH_MAX], proc[64];
	if (!find_jcmd(pid, jcmd, sizeof jcmd)) {
		snprintf(why, len, "no jcmd (neither in the JVM's JDK nor on PATH)");
		return MT_JVM_ASK_NO_JCMD;
	}
	struct stat owner;
	snprintf(proc, sizeof proc, "/proc/%d", (int)pid);
	int fds[2];
	if (stat(proc, &owner) < 0 || pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(why, len, "jcmd not run: %s", strerror(errno));
		return MT_JVM_ASK_FAILED;
	}
	pid_t child = fork();
	if (child == 0)
		exec_jcmd(jcmd, pid, &owner, fds[1]);
	close(fds[1]);
	if (child < 0) {
		close(fds[0]);
		snprintf(why, len, "jcmd not run: %s", strerror(errno));
		return MT_JVM_ASK_FAILED;
	}
	char *out = calloc(1, OUTPUT_MAX);
	int err = out ? collect(fds[0], sigfd, mt_clock_s() + MT_JVM_JCMD_TIMEOUT_S, out,
				OUTPUT_MAX) : -ENOMEM;
	close(fds[0]);
	if (err < 0) {
		kill(-child, SIGKILL);   /* jcmd and whatever it started */
		kill(child, SIGKILL);    /* in case it had no group of its own yet */
	}
	int status = 0;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	enum mt_jvm_ask r = MT_JVM_ASK_FAILED;
	if (err == -ETIMEDOUT)
		snprintf(why, len, "jcmd Compiler.perfmap gave no answer in %.0f s (killed)",
			 MT_JVM_JCMD_TIMEOUT_S);
	else if (err == -EINTR)
		snprintf(why, len, "jcmd Compiler.perfmap interrupted by a signal (killed)");
	else if (err < 0)
		snprintf(why, len, "jcmd Compiler.perfmap: %s", strerror(-err));
	else
		r = classify(out, status, why, len);
	free(out);
	if (r == MT_JVM_ASK_OK && !mt_jvm_perfmap_exists(pid)) {
		snprintf(why, len, "jcmd Compiler.perfmap wrote no /tmp/perf-%d.map", (int)pid);
		r = MT_JVM_ASK_FAILED;
	}
	return r;
}
