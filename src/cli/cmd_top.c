/* memtrace top PID: the checks a live view needs, memtrace's own messages
 * kept off the screen while it is drawn (and shown once the terminal is
 * given back), then the session feeding the view.  See cmd_top.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/cmd_top.h"
#include "cli/top_curses.h"
#include "session/session.h"
#include "util/msg.h"

/* stderr into a memory file while the screen is curses': a warning
 * written across the rows would garble them.  The old stderr, or -1 when
 * it could not be held (the lines then go to the terminal as they come). */
static int hold_stderr(int *memfd)
{
	*memfd = memfd_create("memtrace-top-stderr", MFD_CLOEXEC);
	int saved = *memfd >= 0 ? dup(STDERR_FILENO) : -1;
	if (saved < 0 || dup2(*memfd, STDERR_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		if (*memfd >= 0)
			close(*memfd);
		*memfd = -1;
		return -1;
	}
	return saved;
}

/* stderr back, and what was said meanwhile written to it. */
static void release_stderr(int saved, int memfd)
{
	if (saved < 0)
		return;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char buf[4096];
	ssize_t n;
	if (lseek(memfd, 0, SEEK_SET) == 0)
		while ((n = read(memfd, buf, sizeof buf)) > 0)
			if (write(STDERR_FILENO, buf, (size_t)n) != n)
				break;
	close(memfd);
}

int mt_cmd_top(const struct mt_options *o, int sigfd, mt_options_parse_fn parse)
{
	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
		return mt_fail(MT_E_USAGE,
			       "memtrace top needs a terminal (stdin and stdout): "
			       "'memtrace attach %d' prints its reports to a pipe or a file",
			       (int)o->pid);
	char err[256];
	if (mt_top_ui_check(err, sizeof err) < 0)
		return mt_fail(MT_E_USAGE,
			       "%s: set TERM to your terminal's type (xterm-256color, "
			       "screen, ...), or use 'memtrace attach %d'",
			       err, (int)o->pid);
	struct mt_top_ui *ui = mt_top_ui_new(!getenv("NO_COLOR"), err, sizeof err);
	if (!ui)
		return mt_fail(MT_E_INTERNAL, "%s", err);
	/* Ctrl-Z would stop memtrace with its hooks in: a breakpoint engine's
	 * target would then stall at its next allocation. */
	signal(SIGTSTP, SIG_IGN);
	int memfd;
	int saved = hold_stderr(&memfd);
	int rc = mt_session_top(o, sigfd, parse, mt_top_ui_view(ui));
	mt_top_ui_destroy(ui);
	release_stderr(saved, memfd);
	return rc;
}
