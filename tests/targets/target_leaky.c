/* target_leaky: a heap with every kind of leak memcheck names, for
 * `memtrace leaks` (tests/e2e/test_leaks_memcheck.py, test_leaks_after.py).
 *
 *   target_leaky before     the leaks are made before "ready PID"
 *   target_leaky after      "ready PID", then they are made on "go"
 *   target_leaky valgrind   as before, under valgrind: where the live
 *                           process would wait for memtrace it asks memcheck
 *                           for a leak check (VALGRIND_DO_LEAK_CHECK), then
 *                           exits 0
 *
 * What it makes (every size is 24 + 16 * k, whose usable size under glibc is
 * the size asked for, so memtrace's bytes and memcheck's are comparable):
 *   leak_plain    PLAIN_N blocks of 40, each dropped: definitely lost
 *   leak_tree     a head of 56 whose children, 8 of 72, hang off it in a
 *                 sibling list; the head is dropped: the head definitely
 *                 lost (with 8 * 72 indirect), the children indirectly lost
 *   leak_cycles   CYCLES_N pairs of 88 pointing at each other, dropped:
 *                 memcheck calls one of each pair definitely lost and the
 *                 other indirectly lost
 *   keep_list     LIST_N nodes of 104 on a global list (g_list): reachable
 *   worker_hold   WORKER_N blocks of 120 that a worker thread holds only in
 *                 a local array while it waits: reachable
 * Every byte of a block that is not one of these pointers holds 0xa5, which
 * is no address, so no block points at another by chance.
 *
 * A dropped pointer must really be gone, or a conservative marker (memcheck,
 * memtrace) finds it and the block is not lost: each leak is made in a
 * noinline function whose locals die when it returns, and scrub_stack()
 * then overwrites the stack below the caller (the dead frames of the leak
 * functions, of malloc, of the fill loops), as memcheck's own tests do.
 * Nothing is kept in a global, in freed memory or in another block.
 *
 * Lines it prints (before "ready PID" in mode before, between "go" and
 * "done" in mode after, before the leak check in mode valgrind):
 *   leak function=F kind=K size=S blocks=N bytes=N indirect_bytes=N
 *       one per group of blocks F made of one kind (definitely_lost,
 *       indirectly_lost, reachable) and one size
 *   leaks definitely_blocks=N definitely_bytes=N indirectly_blocks=N
 *         indirectly_bytes=N possibly_blocks=0 possibly_bytes=0
 *       the totals memcheck and memtrace must report for these blocks
 * Then it waits for "exit": the worker frees its blocks and ends, the list
 * is freed (the lost blocks stay lost), exit 0.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

/* valgrind's client requests (Debian: package valgrind): optional, so the
 * target builds without them; only mode valgrind needs them. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

#define NOINLINE __attribute__((noinline))

#define PLAIN_N 10
#define PLAIN_SIZE 40
#define TREE_CHILDREN 8
#define CYCLES_N 4
#define LIST_N 16
#define WORKER_N 6
#define WORKER_SIZE 120
#define FILL 0xa5
#define SCRUB_BYTES 32768

struct tree_child {
	struct tree_child *next; /* sibling */
	unsigned char pad[64];
};

struct tree_head {
	struct tree_child *first;
	unsigned char pad[48];
};

struct cycle_half {
	struct cycle_half *peer;
	unsigned char pad[80];
};

struct list_node {
	struct list_node *next;
	unsigned char pad[96];
};

_Static_assert(sizeof(struct tree_child) == 72, "72-byte children");
_Static_assert(sizeof(struct tree_head) == 56, "56-byte head");
_Static_assert(sizeof(struct cycle_half) == 88, "88-byte cycle halves");
_Static_assert(sizeof(struct list_node) == 104, "104-byte list nodes");

/* The one root of the list: reachable blocks through a global. */
struct list_node *g_list;

/* The worker's state machine, under lock: main sets want_hold, the worker
 * allocates and sets held, main sets release, the worker frees and ends. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool want_hold, held, release;
static uint64_t worker_sum = CKSUM_INIT;

/* Every byte of the new block P of SIZE set to FILL: no stale pointer from
 * the allocator's reuse of the memory survives in it.  Each leak function
 * calls malloc itself, so that its blocks' allocation stack starts there. */
static void *fresh(void *p, size_t size)
{
	proto_checked(p, "malloc");
	memset(p, FILL, size);
	return p;
}

/* malloc(SIZE) called by the function NEW is written in, filled. */
#define NEW(size) fresh(malloc(size), (size))

NOINLINE static void leak_plain(void)
{
	for (int i = 0; i < PLAIN_N; i++) {
		void *volatile p = NEW(PLAIN_SIZE);

		p = NULL;
		(void)p;
	}
}

NOINLINE static void leak_tree(void)
{
	struct tree_head *volatile head = NEW(sizeof(struct tree_head));

	head->first = NULL;
	for (int i = 0; i < TREE_CHILDREN; i++) {
		struct tree_child *volatile c = NEW(sizeof(struct tree_child));

		c->next = head->first;
		head->first = c;
		c = NULL;
	}
	head = NULL;
}

NOINLINE static void leak_cycles(void)
{
	for (int i = 0; i < CYCLES_N; i++) {
		struct cycle_half *volatile half[2];

		/* one call site for both halves: whichever memcheck calls
		 * definitely lost, both have the same allocation stack */
		for (int k = 0; k < 2; k++)
			half[k] = NEW(sizeof(struct cycle_half));
		half[0]->peer = half[1];
		half[1]->peer = half[0];
		half[0] = NULL;
		half[1] = NULL;
	}
}

NOINLINE static void keep_list(void)
{
	for (int i = 0; i < LIST_N; i++) {
		struct list_node *n = NEW(sizeof(struct list_node));

		n->next = g_list;
		g_list = n;
	}
}

NOINLINE static void free_list(void)
{
	while (g_list) {
		struct list_node *n = g_list;

		g_list = n->next;
		free(n);
	}
}

/* Overwrite SCRUB_BYTES of stack below the caller's frame: the dead frames
 * of the leak functions (and of malloc and memset under them) held the
 * dropped pointers. */
NOINLINE static void scrub_stack(void)
{
	volatile unsigned char area[SCRUB_BYTES];

	for (size_t i = 0; i < sizeof(area); i++)
		area[i] = 0;
}

/* The worker's blocks live in this frame only, in a volatile array the
 * compiler must keep in memory, while the thread waits for release. */
NOINLINE static void worker_hold(void)
{
	void *volatile blocks[WORKER_N];

	for (int i = 0; i < WORKER_N; i++)
		blocks[i] = NEW(WORKER_SIZE);
	pthread_mutex_lock(&lock);
	held = true;
	pthread_cond_broadcast(&cond);
	while (!release)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < WORKER_N; i++) {
		block_fold(blocks[i], WORKER_SIZE, &worker_sum);
		free(blocks[i]);
	}
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!want_hold)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	worker_hold();
	return NULL;
}

/* Ask the worker for its blocks; return once it holds them. */
static void worker_start_holding(void)
{
	pthread_mutex_lock(&lock);
	want_hold = true;
	pthread_cond_broadcast(&cond);
	while (!held)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void worker_release(pthread_t t)
{
	pthread_mutex_lock(&lock);
	release = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (pthread_join(t, NULL) != 0)
		proto_die("pthread_join failed");
}

/* All the leaks and the held blocks; the stack scrubbed after. */
NOINLINE static void make_heap(void)
{
	leak_plain();
	leak_tree();
	leak_cycles();
	keep_list();
	worker_start_holding();
}

static void group(const char *function, const char *kind, long size, long blocks, long indirect)
{
	proto_line("leak function=%s kind=%s size=%ld blocks=%ld bytes=%ld indirect_bytes=%ld",
		   function, kind, size, blocks, size * blocks, indirect);
}

static void print_expectations(void)
{
	const long tree_ind = TREE_CHILDREN * (long)sizeof(struct tree_child);
	const long half = sizeof(struct cycle_half);

	group("leak_plain", "definitely_lost", PLAIN_SIZE, PLAIN_N, 0);
	group("leak_tree", "definitely_lost", sizeof(struct tree_head), 1, tree_ind);
	group("leak_tree", "indirectly_lost", sizeof(struct tree_child), TREE_CHILDREN, 0);
	group("leak_cycles", "definitely_lost", half, CYCLES_N, CYCLES_N * half);
	group("leak_cycles", "indirectly_lost", half, CYCLES_N, 0);
	group("keep_list", "reachable", sizeof(struct list_node), LIST_N, 0);
	group("worker_hold", "reachable", WORKER_SIZE, WORKER_N, 0);
	proto_line("leaks definitely_blocks=%d definitely_bytes=%ld indirectly_blocks=%d "
		   "indirectly_bytes=%ld possibly_blocks=0 possibly_bytes=0",
		   PLAIN_N + 1 + CYCLES_N,
		   PLAIN_N * PLAIN_SIZE + (long)sizeof(struct tree_head) + CYCLES_N * half,
		   TREE_CHILDREN + CYCLES_N, tree_ind + CYCLES_N * half);
}

static uint64_t list_checksum(void)
{
	uint64_t sum = CKSUM_INIT;

	for (struct list_node *n = g_list; n; n = n->next)
		block_fold(n->pad, sizeof(n->pad), &sum);
	return sum;
}

static void memcheck_leak_check(void)
{
#ifdef HAVE_MEMCHECK
	if (!RUNNING_ON_VALGRIND)
		proto_die("mode valgrind: not running under valgrind");
	VALGRIND_DO_LEAK_CHECK;
#else
	proto_die("mode valgrind: built without <valgrind/memcheck.h>");
#endif
}

static void wait_exit(void)
{
	char line[64];

	if (!proto_wait(line, sizeof(line)))
		proto_die("end of input while waiting for 'exit'");
	if (strcmp(line, "exit") != 0)
		proto_die("expected 'exit', got '%s'", line);
}

int main(int argc, char **argv)
{
	pthread_t t;
	const char *mode = argc == 2 ? argv[1] : "";

	if (strcmp(mode, "before") != 0 && strcmp(mode, "after") != 0 &&
	    strcmp(mode, "valgrind") != 0)
		proto_die("usage: target_leaky before|after|valgrind");
	if (pthread_create(&t, NULL, worker, NULL) != 0)
		proto_die("pthread_create failed");

	if (strcmp(mode, "after") == 0)
		proto_ready();
	make_heap();
	scrub_stack();
	print_expectations();
	if (strcmp(mode, "valgrind") == 0) {
		memcheck_leak_check();
	} else if (strcmp(mode, "before") == 0) {
		proto_line("ready %d", (int)getpid());
		wait_exit();
	} else {
		proto_done(list_checksum(), NULL);
		wait_exit();
	}
	worker_release(t);
	free_list();
	return 0;
}
