/* leaky: a small multi-threaded program whose allocation sites behave in
 * known ways, to try memtrace on (tools/setup traces it for a demo).
 *
 *   site            thread   what stays live
 *   leak_record     leaker   64 bytes every 10 ms, never freed: a leak
 *   cache_insert    cache    the 512 newest 256-byte entries (128 KiB),
 *                            older ones freed: live bytes stop growing
 *   churn_buffer    churn    nothing: each 4 KiB buffer is freed at once
 *   grow_log        churn    one buffer grown by realloc up to 1 MiB,
 *                            then freed and started again
 *
 * usage: leaky [SECONDS]
 * Runs until killed, or for SECONDS and then exits after freeing everything
 * but the leaked records (so `memtrace run -- leaky 2` shows only the leak).
 *
 * Built with -O0 -fno-optimize-sibling-calls and noinline functions so every
 * site above is a real call from the function of that name.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

enum {
	RECORD_SIZE = 64,
	CACHE_ENTRIES = 512,
	CACHE_ENTRY_SIZE = 256,
	CHURN_SIZE = 4096,
	LOG_STEP = 1024,
	LOG_MAX = 1 << 20,
};

static atomic_bool stopping;

/* Only the newest record is reachable: every earlier one is lost. */
static void *volatile last_record;

static char *cache[CACHE_ENTRIES];
static unsigned cache_next;

static char *log_buf;
static size_t log_len;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static NOINLINE void leak_record(unsigned n)
{
	char *r = malloc(RECORD_SIZE);
	if (r)
		snprintf(r, RECORD_SIZE, "record %u", n);
	last_record = r;
}

static NOINLINE void cache_insert(unsigned n)
{
	char *e = malloc(CACHE_ENTRY_SIZE);
	if (!e)
		return;
	snprintf(e, CACHE_ENTRY_SIZE, "entry %u", n);
	free(cache[cache_next]);
	cache[cache_next] = e;
	cache_next = (cache_next + 1) % CACHE_ENTRIES;
}

static NOINLINE void churn_buffer(void)
{
	char *b = malloc(CHURN_SIZE);
	if (b)
		memset(b, 0xa5, CHURN_SIZE);
	free(b);
}

static NOINLINE void grow_log(void)
{
	if (log_len >= LOG_MAX) {
		free(log_buf);
		log_buf = NULL;
		log_len = 0;
	}
	char *p = realloc(log_buf, log_len + LOG_STEP);
	if (!p)
		return;
	memset(p + log_len, '.', LOG_STEP);
	log_buf = p;
	log_len += LOG_STEP;
}

static void *leaker(void *arg)
{
	for (unsigned n = 0; !atomic_load(&stopping); n++) {
		leak_record(n);
		sleep_ms(10);
	}
	return arg;
}

static void *cacher(void *arg)
{
	for (unsigned n = 0; !atomic_load(&stopping); n++) {
		cache_insert(n);
		sleep_ms(1);
	}
	for (unsigned i = 0; i < CACHE_ENTRIES; i++)
		free(cache[i]);
	return arg;
}

static void *churner(void *arg)
{
	while (!atomic_load(&stopping)) {
		churn_buffer();
		grow_log();
		sleep_ms(1);
	}
	free(log_buf);
	return arg;
}

int main(int argc, char **argv)
{
	double seconds = 0;
	if (argc > 2 || (argc == 2 && (seconds = atof(argv[1])) <= 0)) {
		fprintf(stderr, "usage: %s [SECONDS]\n", argv[0]);
		return 2;
	}
	printf("leaky: pid %d\n", (int)getpid());
	fflush(stdout);

	void *(*const bodies[])(void *) = { leaker, cacher, churner };
	pthread_t threads[sizeof bodies / sizeof bodies[0]];
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		if (pthread_create(&threads[i], NULL, bodies[i], NULL) != 0) {
			fprintf(stderr, "leaky: cannot start a thread\n");
			return 1;
		}
	}
	if (seconds == 0) {
		for (;;)
			pause();
	}
	sleep_ms((long)(seconds * 1000));
	atomic_store(&stopping, true);
	for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
