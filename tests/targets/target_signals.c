/* target_signals: signal storms while the main thread allocates.
 *
 * After "go" the target starts two threads and prints "storm":
 *   - a sender thread tgkill()s SIGUSR1 to the main thread USR1_N times,
 *     each time waiting until the handler has counted it, so exactly
 *     USR1_N are handled unless some are lost (it gives up on one after
 *     30 s and the count comes out short);
 *   - a reader thread waits for the "finish" stdin line (the harness sends
 *     it after its SIGSTOP/SIGCONT check).
 * and arms ITIMER_REAL every 2 ms; the SIGALRM handler counts up to ALRM_N
 * and disarms the timer when it gets there (later ones, already pending,
 * are ignored).  SIGALRM is blocked in the other threads, so it always
 * interrupts the allocating thread.
 *
 * The main thread does a fixed amount of work (storm_fixed, storm_keep:
 * checksummed) and then allocates and frees in spin_alloc until the sender
 * is done, ALRM_N alarms were handled and "finish" came; spin_alloc's count
 * depends on timing, so it is counted but kept out of the checksum.  The
 * done line carries the handled counts: they must equal the untraced run's.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define USR1_N 2000
#define ALRM_N 100
#define FIXED_N 20000
#define KEEP_EVERY 100

static struct site_expect e_fixed = { .function = "storm_fixed" };
static struct site_expect e_keep = { .function = "storm_keep" };
static struct site_expect e_spin = { .function = "spin_alloc" };

static atomic_long usr1_handled;
static atomic_long alrm_handled;
static atomic_int sender_done;
static atomic_int finish_seen;
static long usr1_lost;
static pid_t main_tid;

static void *held[FIXED_N / KEEP_EVERY];
static size_t held_n;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr1_handled, 1);
}

static void on_alrm(int sig)
{
	(void)sig;
	if (atomic_load(&alrm_handled) >= ALRM_N)
		return; /* was pending when the timer was disarmed */
	if (atomic_fetch_add(&alrm_handled, 1) + 1 == ALRM_N) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL); /* async-signal-safe */
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sender(void *arg)
{
	struct timespec pause = { 0, 20 * 1000 };

	for (long i = 0; i < USR1_N; i++) {
		double deadline = now_s() + 30.0;

		syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
		while (atomic_load(&usr1_handled) <= i) {
			if (now_s() > deadline) {
				usr1_lost++;
				break;
			}
			nanosleep(&pause, NULL);
		}
	}
	atomic_store(&sender_done, 1);
	return arg;
}

static void *reader(void *arg)
{
	char line[64];

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "finish") != 0)
		proto_die("expected 'finish'");
	atomic_store(&finish_seen, 1);
	return arg;
}

NOINLINE static void storm_keep(uint64_t *rng, uint64_t *h)
{
	void *p = malloc(256);

	if (!p)
		proto_die("malloc returned NULL");
	exp_alloc(&e_keep, 256);
	block_fill(p, 256, rng);
	block_fold(p, 256, h);
	held[held_n++] = p;
}

NOINLINE static void storm_fixed(uint64_t *rng, uint64_t *h)
{
	for (int i = 0; i < FIXED_N; i++) {
		size_t size = 16 + prng_next(rng) % 2048;
		void *p = malloc(size);
		if (!p)
			proto_die("malloc returned NULL");
		exp_alloc(&e_fixed, size);
		block_fill(p, size, rng);
		block_fold(p, size, h);
		free(p);
		exp_free(&e_fixed, size);
		if (i % KEEP_EVERY == 0)
			storm_keep(rng, h);
	}
}

NOINLINE static void spin_alloc(void)
{
	void *p = malloc(40);

	if (!p)
		proto_die("malloc returned NULL");
	exp_alloc(&e_spin, 40);
	((volatile char *)p)[0] = 1;
	free(p);
	exp_free(&e_spin, 40);
}

int main(void)
{
	struct sigaction sa;
	struct itimerval every = { { 0, 2000 }, { 0, 2000 } };
	sigset_t block, old;
	pthread_t t_send, t_read;
	uint64_t rng = 0x5eed0009;
	uint64_t h = CKSUM_INIT;
	char extra[128];
	char line[64];

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_alrm;
	sigaction(SIGALRM, &sa, NULL);
	main_tid = (pid_t)syscall(SYS_gettid);

	proto_ready();

	/* The threads inherit this mask: SIGALRM goes to the main thread. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (pthread_create(&t_read, NULL, reader, NULL) != 0 ||
	    pthread_create(&t_send, NULL, sender, NULL) != 0)
		proto_die("pthread_create failed");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	setitimer(ITIMER_REAL, &every, NULL);
	proto_line("storm");

	storm_fixed(&rng, &h);
	while (!atomic_load(&sender_done) || atomic_load(&alrm_handled) < ALRM_N ||
	       !atomic_load(&finish_seen))
		spin_alloc();
	pthread_join(t_send, NULL);
	pthread_join(t_read, NULL);

	proto_expect(&e_fixed);
	proto_expect(&e_keep);
	proto_expect(&e_spin);
	snprintf(extra, sizeof(extra), "usr1=%ld alrm=%ld lost=%ld",
		 atomic_load(&usr1_handled), atomic_load(&alrm_handled), usr1_lost);
	proto_done(h, extra);

	if (!proto_wait(line, sizeof(line)) || strcmp(line, "exit") != 0)
		proto_die("expected 'exit'");
	for (size_t i = 0; i < held_n; i++)
		free(held[i]);
	return 0;
}
