/* The hints under a report (hints.h says which and why): gathering what
 * they need from the session, and asking dpkg which package holds a
 * module. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report/hints.h"
#include "util/msg.h"
#include "session/session_priv.h"
#include "symbols/pyframes.h"

#define DPKG_QUERY "/usr/bin/dpkg-query"
/* dpkg-query -S reads its whole database: a second when idle, more under
 * load; but never wait long for it. */
#define DPKG_TIMEOUT_MS 10000
/* Rows looked at for a module without symbols when --top shows all. */
#define SYMBOL_ROWS 20
/* Modules a missing-symbols hint is printed for, at most: on a machine
 * without libc6-dbg, libc's static functions are unnamed too, and the
 * program's own module must not be hidden behind libc's hint. */
#define SYMBOL_HINTS 3

void mt_session_hints_note_fanout(struct session *s, const struct mt_report *r)
{
	s->fanout_function[0] = '\0';
	s->fanout_callers = 0;
	struct mt_fanout_row *rows = r->nsites ? calloc(r->nsites, sizeof *rows) : NULL;
	if (!rows)
		return;
	for (size_t i = 0; i < r->nsites; i++) {
		const struct mt_report_site *rs = &r->sites[i];
		int k = rs->site_frame;
		if (!rs->frames || k < 0 || k >= rs->nframes)
			continue;
		/* a Python frame is the code that allocates, never a wrapper
		 * (--wrapper takes native functions) */
		if (strcmp(rs->frames[k].module, MT_PY_MODULE) == 0)
			continue;
		rows[i].function = rs->frames[k].function;
		/* The caller's return address; an inlined caller shares the
		 * site's pc, so look past the frames at that pc. */
		for (int j = k + 1; j < rs->nframes; j++) {
			if (rs->frames[j].address != rs->frames[k].address || j == rs->nframes - 1) {
				rows[i].caller = rs->frames[j].address;
				break;
			}
		}
	}
	size_t callers = 0;
	long i = mt_hint_fanout(rows, r->nsites, MT_HINT_FANOUT_MIN, &callers);
	if (i >= 0) {
		snprintf(s->fanout_function, sizeof s->fanout_function, "%s", rows[i].function);
		s->fanout_callers = callers;
	}
	free(rows);
}

/* Whether the target sees our file system: dpkg's answer is about ours.
 * A target that is gone (run, after it exited) is taken to have. */
static bool same_root(pid_t pid)
{
	char path[64];
	struct stat ours, theirs;
	snprintf(path, sizeof path, "/proc/%d/root", (int)pid);
	if (stat("/", &ours) != 0 || stat(path, &theirs) != 0)
		return true;
	return ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

/* Whether child PID exited with status 0 within MS milliseconds; killed
 * (ours to end) and reaped when not. */
static bool exited_ok(pid_t pid, int ms)
{
	int st = 0;
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (r < 0 && errno != EINTR)
			return false;
		if (waited >= ms)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return false;
}

/* dpkg-query -S PATH's answer into OUT (SIZE bytes, its first line is
 * what matters): its length, 0 when dpkg-query is missing, fails, or
 * takes more than DPKG_TIMEOUT_MS. */
static size_t dpkg_query(const char *path, char *out, size_t size)
{
	int fds[2];
	if (access(DPKG_QUERY, X_OK) != 0 || pipe2(fds, O_CLOEXEC) < 0)
		return 0;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(fds[1], STDOUT_FILENO);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execl(DPKG_QUERY, "dpkg-query", "-S", "--", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	bool eof = false;
	struct pollfd p = { .fd = fds[0], .events = POLLIN };
	while (pid > 0 && n + 1 < size && poll(&p, 1, DPKG_TIMEOUT_MS) > 0) {
		ssize_t k = read(fds[0], out + n, size - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			eof = k == 0;
			break;
		}
		n += (size_t)k;
	}
	close(fds[0]);
	out[n] = '\0';
	/* A full buffer holds the first line: the rest does not matter. */
	bool ok = pid > 0 && exited_ok(pid, eof ? DPKG_TIMEOUT_MS : 0);
	return ok || (pid > 0 && n + 1 == size && memchr(out, '\n', n)) ? n : 0;
}

/* The package holding MODULE, into PKG: Debian 12 still lists many files
 * under /lib that merged-/usr systems map from /usr/lib, and back. */
static bool package_of(pid_t pid, const char *module, char *pkg, size_t size)
{
	if (!same_root(pid))
		return false;
	char out[1024], alt[4096];
	size_t n = dpkg_query(module, out, sizeof out);
	if (n && mt_hint_dpkg_package(out, n, pkg, size))
		return true;
	if (strncmp(module, "/usr/", 5) == 0)
		snprintf(alt, sizeof alt, "%s", module + 4);
	else
		snprintf(alt, sizeof alt, "/usr%s", module);
	n = dpkg_query(alt, out, sizeof out);
	return n && mt_hint_dpkg_package(out, n, pkg, size);
}

static void hint_symbols(struct session *s, const struct mt_report *r, int top)
{
	size_t rows = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	if (top <= 0 && rows > SYMBOL_ROWS)
		rows = SYMBOL_ROWS;
	const char *hinted[SYMBOL_HINTS];
	int nhinted = 0;
	for (size_t i = 0; i < rows && nhinted < SYMBOL_HINTS; i++) {
		const struct mt_report_site *rs = &r->sites[i];
		if (rs->module[0] != '/' ||
		    (rs->function[0] && !mt_hint_is_fde_name(rs->function, rs->module)))
			continue;
		bool again = false;
		for (int k = 0; k < nhinted && !again; k++)
			again = strcmp(hinted[k], rs->module) == 0;
		if (again)
			continue;
		hinted[nhinted++] = rs->module;
		uint8_t id[64];
		int n = s->sym && rs->address ? mt_symbolizer_build_id(s->sym, rs->address - 1, id,
								      sizeof id) : 0;
		char pkg[256] = "";
		if (!package_of(s->pid, rs->module, pkg, sizeof pkg))
			pkg[0] = '\0';
		char line[1200];
		mt_hint_no_symbols(line, sizeof line, rs->module, id, n > 0 ? (size_t)n : 0, pkg,
				   mt_symbolizer_can_download());
		mt_say("hint: %s", line);
		s->hinted_symbols = true;
	}
}

static void hint_fanout(struct session *s, const struct mt_report *r, int top)
{
	if (!s->fanout_function[0])
		return;
	size_t rows = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	for (size_t i = 0; i < rows; i++) {
		if (strcmp(r->sites[i].function, s->fanout_function) != 0)
			continue;
		char line[700];
		mt_hint_fanout_line(line, sizeof line, s->fanout_function, s->fanout_callers);
		mt_say("hint: %s", line);
		s->hinted_fanout = true;
		return;
	}
}

void mt_session_hints_print(struct session *s, const struct mt_report *r, int top)
{
	/* Under the report, also when stdout is a pipe or a file. */
	fflush(stdout);
	if (!s->hinted_fanout)
		hint_fanout(s, r, top);
	if (!s->hinted_symbols)
		hint_symbols(s, r, top);
}
