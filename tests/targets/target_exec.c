/* target_exec: the traced process executes a new program.
 *
 *   target_exec                    after "go": allocate, print expectations
 *                                  and "done"; on "exec" re-execute itself
 *                                  with --after-exec (on "exit": exit 0)
 *   target_exec --exec-from-thread the same, but the exec is made by a
 *                                  second thread while a third one sleeps:
 *                                  the kernel kills the other threads and
 *                                  the exec'ing thread takes over the PID
 *   target_exec --after-exec       the new program: waits until nobody
 *                                  traces it (TracerPid 0 in
 *                                  /proc/self/status, at most 60 s),
 *                                  allocates a little, prints
 *                                  "exec-ok tracerpid=N" and exits 0
 *
 * memtrace must notice the exec, say so, stop tracing and exit 0 with
 * end_reason "target_exec"; the new program must run untraced.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

static struct site_expect e_exec_work = { .function = "exec_work" };

static void *held[64];
static size_t held_n;
static char self_path[4096];

NOINLINE static uint64_t exec_work(void)
{
	uint64_t rng = 0x5eed0007;
	uint64_t h = CKSUM_INIT;

	for (int i = 0; i < 15; i++) {
		size_t size = i < 10 ? 100 : 50;
		void *p = malloc(size);
		if (!p)
			proto_die("malloc returned NULL");
		exp_alloc(&e_exec_work, size);
		block_fill(p, size, &rng);
		block_fold(p, size, &h);
		if (i < 10) {
			held[held_n++] = p;
		} else {
			free(p);
			exp_free(&e_exec_work, size);
		}
	}
	return h;
}

static long tracer_pid(void)
{
	char line[256];
	long pid = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %ld", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

NOINLINE static int after_exec(void)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	long tracer = tracer_pid();
	uint64_t rng = 0x5eed0008;
	uint64_t h = CKSUM_INIT;

	for (int i = 0; i < 6000 && tracer != 0; i++) {
		nanosleep(&tick, NULL);
		tracer = tracer_pid();
	}
	for (int i = 0; i < 100; i++) {
		void *p = malloc(64);
		if (!p)
			proto_die("malloc returned NULL");
		block_fill(p, 64, &rng);
		block_fold(p, 64, &h);
		free(p);
	}
	proto_line("exec-ok tracerpid=%ld checksum=%016llx", tracer, (unsigned long long)h);
	return 0;
}

static void exec_self(void)
{
	execl(self_path, "target_exec", "--after-exec", (char *)NULL);
	proto_die("execl %s failed", self_path);
}

static void *exec_thread(void *arg)
{
	exec_self();
	return arg;
}

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;

static void *sleeper(void *arg)
{
	pthread_mutex_lock(&sleep_lock);
	for (;;) /* until the exec kills it */
		pthread_cond_wait(&sleep_cond, &sleep_lock);
	return arg;
}

int main(int argc, char **argv)
{
	bool from_thread = false;
	pthread_t t_sleep, t_exec;
	char line[64];
	uint64_t h;
	ssize_t n;

	if (argc > 1 && strcmp(argv[1], "--after-exec") == 0)
		return after_exec();
	if (argc > 1 && strcmp(argv[1], "--exec-from-thread") == 0)
		from_thread = true;
	else if (argc > 1)
		proto_die("usage: target_exec [--exec-from-thread | --after-exec]");

	n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		proto_die("readlink /proc/self/exe failed");
	self_path[n] = '\0';

	proto_ready();

	if (from_thread && pthread_create(&t_sleep, NULL, sleeper, NULL) != 0)
		proto_die("pthread_create failed");
	h = exec_work();
	proto_expect(&e_exec_work);
	proto_expect_unknown_frees(0);
	proto_done(h, from_thread ? "mode=thread" : "mode=main");

	if (!proto_wait(line, sizeof(line)))
		proto_die("end of input");
	if (strcmp(line, "exec") == 0) {
		if (!from_thread)
			exec_self();
		if (pthread_create(&t_exec, NULL, exec_thread, NULL) != 0)
			proto_die("pthread_create failed");
		pthread_join(t_exec, NULL);
		proto_die("the exec thread returned");
	}
	if (strcmp(line, "exit") != 0)
		proto_die("expected 'exec' or 'exit', got '%s'", line);
	for (size_t i = 0; i < held_n; i++)
		free(held[i]);
	return 0;
}
