/* Drives src/census/heapfreeze.c without the census command, for
 * tests/e2e/test_freeze.py and bench/ figures.
 *
 *   mt_freezeprobe PID
 *
 * Attaches to PID (every thread stopped), takes a frozen copy, resumes the
 * threads and prints
 *
 *   frozen paused_ms=F copy_ms=F tries=N
 *
 * (or "error: WHY" and exit status 1, after detaching).  Then, while the
 * target runs and its stops are handled, one line per command on stdin:
 *
 *   read HEX    -> "value copy=0xV live=0xV" (8 bytes at HEX in the copy and
 *                  in the target; "value copy=-ERRNO" when the copy fails)
 *   walk        -> "walk err=E live_blocks=N live_bytes=N complete=0|1
 *                  warnings=N walk_ms=F": mt_glheap_walk() over the copy
 *   bench       -> "bench bytes=N read_ms=F resident_bytes=N resident_ms=F":
 *                  every private writable mapping of the copy read in 4 MiB
 *                  windows, its residency asked
 *   release     -> "released kill_ms=F reap_ms=F" (mt_freeze_kill(): the
 *                  copy killed and collected, threads running; then
 *                  mt_freeze_release(): the wait4() in the target, one
 *                  thread interrupted for it), detaches, exit status 0
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "census/heapfreeze.h"
#include "target/memio.h"
#include "target/target.h"

#define WINDOW (4u << 20)

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void do_read(struct mt_freeze *f, pid_t pid, const char *arg)
{
	uint64_t addr = strtoull(arg, NULL, 16), copy = 0, live = 0;
	int err = mt_memsrc_read(mt_freeze_memsrc(f), addr, &copy, sizeof copy);
	int lerr = mt_mem_read(pid, addr, &live, sizeof live);
	if (err < 0)
		printf("value copy=%d live=0x%" PRIx64 "\n", err, lerr < 0 ? 0 : live);
	else
		printf("value copy=0x%" PRIx64 " live=0x%" PRIx64 "\n", copy, live);
}

static void do_bench(struct mt_freeze *f)
{
	static char buf[WINDOW];
	const struct mt_memsrc *src = mt_freeze_memsrc(f);
	const struct mt_maps *maps = mt_freeze_maps(f);
	uint64_t bytes = 0, resident = 0;
	double r0 = now_ms();
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (!m->r || !m->w || !m->p)
			continue;
		for (uint64_t a = m->start; a < m->end; a += WINDOW) {
			size_t len = m->end - a < WINDOW ? m->end - a : WINDOW;
			if (mt_memsrc_read(src, a, buf, len) == 0)
				bytes += len;
		}
	}
	double r1 = now_ms();
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		uint64_t n = 0;
		if (m->r && m->w && m->p && src->resident(src->ctx, m->start, m->end, &n) == 0)
			resident += n;
	}
	printf("bench bytes=%" PRIu64 " read_ms=%.1f resident_bytes=%" PRIu64
	       " resident_ms=%.1f\n", bytes, r1 - r0, resident, now_ms() - r1);
}

static int count_chunk(void *ctx, const struct mt_glheap_chunk *c)
{
	(void)ctx;
	(void)c;
	return 0;
}

static void count_warning(void *ctx, const char *msg)
{
	(void)msg;
	++*(int *)ctx;
}

static void do_walk(struct mt_freeze *f)
{
	int warnings = 0;
	struct mt_glheap_cb cb = { count_chunk, count_warning, &warnings };
	struct mt_glheap_stats st;
	memset(&st, 0, sizeof st);
	double w0 = now_ms();
	int err = mt_glheap_walk(mt_freeze_glheap(f), mt_freeze_memsrc(f), mt_freeze_maps(f),
				 &cb, &st);
	printf("walk err=%d live_blocks=%" PRIu64 " live_bytes=%" PRIu64 " complete=%d "
	       "warnings=%d walk_ms=%.1f\n", err, st.live_blocks, st.live_bytes,
	       (int)st.complete, warnings, now_ms() - w0);
}

/* The target's stops while it runs (no hooks: its own signals and traps). */
static int handle(struct mt_target *t, const struct mt_stop *st)
{
	if (st->kind == MT_STOP_TRAP)
		mt_target_resume(t, st->tid, SIGTRAP);
	else if (st->kind == MT_STOP_FORK_CHILD ||
		 (st->kind == MT_STOP_EXEC && st->shared_child))
		mt_target_release_child(t, st->tid);
	else if (st->kind == MT_STOP_PROCESS_EXIT || st->kind == MT_STOP_EXEC)
		return -1;
	return 0;
}

static int serve(struct mt_target *t, struct mt_freeze *f, pid_t pid)
{
	char line[128];
	for (;;) {
		struct mt_stop st;
		if (mt_target_next_stop(t, &st, -1, 0) < 0)
			return 1;
		if (st.kind != MT_STOP_NONE) {
			if (handle(t, &st) < 0) {
				printf("target ended\n");
				return 1;
			}
			continue;
		}
		if (!fgets(line, sizeof line, stdin))
			strcpy(line, "release");
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "read ", 5) == 0) {
			do_read(f, pid, line + 5);
		} else if (strcmp(line, "walk") == 0) {
			do_walk(f);
		} else if (strcmp(line, "bench") == 0) {
			do_bench(f);
		} else if (strcmp(line, "release") == 0) {
			double r0 = now_ms();
			mt_freeze_kill(f, t);
			double r1 = now_ms();
			mt_freeze_release(f, t);
			printf("released kill_ms=%.3f reap_ms=%.3f\n", r1 - r0, now_ms() - r1);
			return 0;
		}
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mt_freezeprobe PID\n");
		return 2;
	}
	setvbuf(stdin, NULL, _IONBF, 0); /* poll() on fd 0 must see every line */
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t pid = (pid_t)atoi(argv[1]);
	struct mt_target *t;
	struct mt_attach_diag diag;
	int err = mt_target_attach(pid, &t, &diag);
	if (err < 0) {
		printf("error: cannot attach to %d: %s\n", (int)pid, strerror(-err));
		return 1;
	}
	struct mt_freeze *f;
	char why[256];
	double t0 = now_ms();
	err = mt_freeze_take(t, NULL, &f, why, sizeof why);
	if (err < 0) {
		mt_target_detach_all(t);
		mt_target_free(t);
		printf("error: %s (%.0f ms)\n", why, now_ms() - t0);
		return 1;
	}
	struct mt_freeze_stats s;
	mt_freeze_stats(f, &s);
	mt_target_resume_all(t);
	printf("frozen paused_ms=%.3f copy_ms=%.3f tries=%d\n", s.paused_ms, s.copy_ms,
	       s.tries);
	int rc = serve(t, f, pid);
	mt_target_detach_all(t);
	mt_target_free(t);
	return rc;
}
