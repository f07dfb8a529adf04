/* tracer: hold a process under ptrace so memtrace finds it already traced.
 *
 *     tracer PID
 *
 * PTRACE_SEIZEs PID (which, unlike PTRACE_ATTACH, does not stop it), prints
 * "traced" on stdout and then blocks reading stdin.  When stdin is closed or
 * a line arrives it exits; the kernel detaches a tracee when its tracer
 * exits, so the target is left running and untraced.
 *
 * Exit status: 0 after a clean release, 1 if the seize failed (the message
 * on stderr says why; test_errors.py then skips the case).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>

int main(int argc, char **argv)
{
	char line[64];
	char *end;
	long pid;

	if (argc != 2) {
		fprintf(stderr, "usage: tracer PID\n");
		return 2;
	}
	errno = 0;
	pid = strtol(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || pid <= 0) {
		fprintf(stderr, "tracer: bad pid '%s'\n", argv[1]);
		return 2;
	}
	if (ptrace(PTRACE_SEIZE, (pid_t)pid, NULL, NULL) != 0) {
		fprintf(stderr, "tracer: PTRACE_SEIZE %ld: %s\n", pid,
			strerror(errno));
		return 1;
	}
	printf("traced\n");
	fflush(stdout);
	/* A seized tracee keeps running; it only stops if it gets a signal,
	 * and the tests send it none while we hold it. */
	if (!fgets(line, sizeof line, stdin) && ferror(stdin))
		return 1;
	return 0;
}
