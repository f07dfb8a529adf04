/* memtrace: the command line.  Parses, sets up signals, hands over to the
 * session, and turns results into exit statuses (errors.h). */
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_detach.h"
#include "cli/cmd_diff.h"
#include "cli/cmd_report.h"
#include "cli/cmd_top.h"
#include "config.h"
#include "util/errors.h"
#include "session/session.h"

int main(int argc, char **argv)
{
	struct mt_options o;
	char err[512];
	if (mt_cli_parse(argc, argv, &o, err, sizeof err) < 0) {
		fprintf(stderr, "memtrace: error: %s\n", err);
		return mt_err_exit_status(MT_E_USAGE);
	}
	switch (o.cmd) {
	case MT_CMD_HELP:
		fputs(mt_cli_usage(o.help_for), stdout);
		return 0;
	case MT_CMD_VERSION:
		printf("memtrace %s\n", MT_VERSION);
		return 0;
	case MT_CMD_DIFF:
		signal(SIGPIPE, SIG_IGN);
		return mt_cmd_diff(&o);
	case MT_CMD_REPORT:
		signal(SIGPIPE, SIG_IGN);
		return mt_cmd_report(&o);
	case MT_CMD_DETACH:
		signal(SIGPIPE, SIG_IGN);
		return mt_cmd_detach(&o);
	default:
		break;
	}

	/* Ctrl-C, SIGTERM and SIGHUP end tracing cleanly: they are read from a
	 * signalfd by the tracing loop, never handled asynchronously. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0) {
		perror("memtrace: error: signalfd");
		return mt_err_exit_status(MT_E_INTERNAL);
	}
	/* A closed pipe on stdout must not kill memtrace before it detaches. */
	signal(SIGPIPE, SIG_IGN);

	int rc = o.cmd == MT_CMD_TOP ? mt_cmd_top(&o, sigfd, mt_cli_parse)
				     : mt_session_main(&o, sigfd, mt_cli_parse);
	close(sigfd);
	return rc;
}
