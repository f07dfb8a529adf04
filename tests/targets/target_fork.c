/* target_fork: child processes created while memtrace traces the parent.
 *
 *   target_fork [fork]   fork() 5 children; each mallocs and frees blocks,
 *                        then exits with a status derived from its checksum
 *   target_fork spawn    posix_spawn() /bin/true 5 times (glibc spawns with
 *                        clone(CLONE_VM | CLONE_VFORK): the child runs in
 *                        the parent's memory, breakpoints included, until
 *                        it execs)
 *   target_fork vfork    vfork() + execve(/bin/true) 5 times
 *
 * A forked child inherits a copy of the parent's memory, so it inherits
 * any int3 memtrace wrote into the allocator: unless memtrace removes them
 * from the child, the child's first malloc kills it with SIGTRAP.  The
 * parent checks every child's end against its own prediction (children_ok)
 * and prints it on the done line, which must equal the untraced run's.  The children's allocations are another
 * process's: they must not appear in the parent's report.
 */
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define CHILDREN 5

extern char **environ;

static struct site_expect e_before = { .function = "parent_before" };
static struct site_expect e_after = { .function = "parent_after" };
static struct site_expect e_child = { .function = "child_work" }; /* stays all zero */

static uint64_t sum = CKSUM_INIT;

NOINLINE static void parent_before(void)
{
	uint64_t rng = 0x5eed0005;

	for (int i = 0; i < 20; i++) {
		void *p = malloc(64);
		if (!p)
			proto_die("malloc returned NULL");
		exp_alloc(&e_before, 64);
		block_fill(p, 64, &rng);
		block_fold(p, 64, &sum);
		if (i < 10) {
			proto_hold(p);
		} else {
			free(p);
			exp_free(&e_before, 64);
		}
	}
}

NOINLINE static void parent_after(void)
{
	uint64_t rng = 0x5eed0006;

	for (int i = 0; i < 30; i++) {
		void *p = malloc(128);
		if (!p)
			proto_die("malloc returned NULL");
		exp_alloc(&e_after, 128);
		block_fill(p, 128, &rng);
		block_fold(p, 128, &sum);
		proto_hold(p);
	}
}

/* Runs only in the children: the parent never calls it, so memtrace must
 * report nothing for it.  The untraced run's done line tells the status
 * each child must exit with. */
NOINLINE static uint64_t child_work(int n)
{
	uint64_t rng = 0x5eed0100 + (uint64_t)n;
	uint64_t h = CKSUM_INIT;

	for (int i = 0; i < 100; i++) {
		size_t size = 1 + prng_next(&rng) % 300;
		void *p = malloc(size);
		if (!p)
			_exit(97);
		block_fill(p, size, &rng);
		block_fold(p, size, &h);
		free(p);
	}
	return h;
}

/* child_work's checksum computed in a stack buffer, without allocating:
 * the parent's own prediction of each child's exit status. */
static uint64_t child_checksum(int n)
{
	unsigned char buf[300];
	uint64_t rng = 0x5eed0100 + (uint64_t)n;
	uint64_t h = CKSUM_INIT;

	for (int i = 0; i < 100; i++) {
		size_t size = 1 + prng_next(&rng) % 300;
		block_fill(buf, size, &rng);
		block_fold(buf, size, &h);
	}
	return h;
}

static int status_of(uint64_t h)
{
	return 1 + (int)(h % 120);
}

static void describe(char *buf, size_t len, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited:%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal:%d", WTERMSIG(status));
	else
		snprintf(buf, len, "status:%#x", status);
}

static void append(char *line, size_t len, const char *word)
{
	size_t used = strlen(line);

	snprintf(line + used, len - used, "%s%s", used ? "," : "", word);
}

/* Returns true when every child exited normally with the status its
 * checksum gives. */
static bool run_forks(char *ends, size_t len)
{
	bool ok = true;

	for (int n = 0; n < CHILDREN; n++) {
		int status;
		char word[32];
		pid_t pid = fork();

		if (pid < 0)
			proto_die("fork failed");
		if (pid == 0)
			_exit(status_of(child_work(n)));
		if (waitpid(pid, &status, 0) != pid)
			proto_die("waitpid failed");
		describe(word, sizeof(word), status);
		append(ends, len, word);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != status_of(child_checksum(n)))
			ok = false;
	}
	return ok;
}

/* Returns true when every child exited 0, as /bin/true does. */
static bool run_spawns(char *ends, size_t len, bool use_vfork)
{
	char *const argv[] = { "true", NULL };
	bool ok = true;

	for (int n = 0; n < CHILDREN; n++) {
		int status;
		char word[32];
		pid_t pid;

		if (use_vfork) {
			pid = vfork();
			if (pid == 0) {
				execve("/bin/true", argv, environ);
				_exit(127);
			}
			if (pid < 0)
				proto_die("vfork failed");
		} else {
			int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
			if (rc != 0)
				proto_die("posix_spawn: %s", strerror(rc));
		}
		if (waitpid(pid, &status, 0) != pid)
			proto_die("waitpid failed");
		describe(word, sizeof(word), status);
		append(ends, len, word);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = false;
	}
	return ok;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "fork";
	char ends[512] = "";
	char extra[600];
	char line[64];
	bool ok;

	if (strcmp(mode, "fork") && strcmp(mode, "spawn") && strcmp(mode, "vfork"))
		proto_die("usage: target_fork [fork|spawn|vfork]");

	proto_ready();

	parent_before();
	if (strcmp(mode, "fork") == 0)
		ok = run_forks(ends, sizeof(ends));
	else
		ok = run_spawns(ends, sizeof(ends), strcmp(mode, "vfork") == 0);
	parent_after();

	proto_expect(&e_before);
	proto_expect(&e_after);
	proto_expect(&e_child);
	proto_expect_unknown_frees(0);
	snprintf(extra, sizeof(extra), "mode=%s children=%s children_ok=%s", mode, ends,
		 ok ? "yes" : "no");
	proto_done(sum, extra);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	proto_free_held();
	return 0;
}
