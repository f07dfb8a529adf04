/* target_leakroots: blocks held only where a leak checker can easily miss
 * a pointer (issue 19, "careful about false leaks"), each next to a control
 * block handled the same way but whose pointer is really gone, for
 * `memtrace leaks` (tests/e2e/test_leaks_roots.py).  x86_64 glibc only.
 *
 *   merged   a pointer kept only in an anonymous mapping the kernel merged
 *            with the mapping of a glibc mmapped chunk (malloc of 300 KiB):
 *            the target places its rw page right after the chunk's mapping
 *            with MAP_FIXED_NOREPLACE and checks in /proc/self/maps that
 *            chunk and page are one mapping.  Control: a pointer stored
 *            there, then overwritten.
 *   register a pointer only in r12 of a thread blocked in read(2), the
 *            syscall made by inline asm so that no C variable holds it
 *            (the kernel keeps r12 across the call).  Control: a pointer
 *            loaded into r13 and cleared before the syscall.
 *   altstack a thread whose alternate signal stack is a malloc'd block it
 *            forgot (only the kernel knows it); its SIGUSR1 handler runs
 *            on it, keeps a block in a local and blocks in read(2): the
 *            stack block and the local's block are in use.  Control: a
 *            block the handler allocates and drops.
 *   mangled  a pointer kept only mangled as glibc's PTR_MANGLE does (xor
 *            the pointer guard at %fs:0x30, rotate left 17) in a global.
 *            Control: mangled with a guard that is not the process's.
 *   tls      a pointer only in a __thread variable of a worker blocked in
 *            read(2).  Control: a __thread variable set, then cleared.
 * Every kept and control block has a size of its own, 24 + 16 * k (usable
 * size = size asked for); the 300 KiB chunk is kept in a global.  Blocks
 * hold 0xa5 but for the pointers above, so none points at another by
 * chance; a pointer to hide in memory is kept xor'ed with HIDE_KEY (a
 * non-canonical address, and no pointer once demangled either).  Every
 * leak is made in a noinline function, and the stack below it is scrubbed
 * after (as target_leaky.c does).
 *
 * Lines it prints, then "ready PID" once every worker is blocked in read:
 *   merged mapping=LO-HI chunk=LO-HI page=LO-HI
 *       the one mapping (from /proc/self/maps) holding chunk and page
 *   worker name=register|altstack|tls tid=TID
 *       each worker, once blocked in read(2)
 *   leak function=F kind=K size=S blocks=N bytes=N indirect_bytes=0
 *       one per group (target_leaky.c's format; leaks.Leaky reads it)
 *   leaks definitely_blocks=N definitely_bytes=N indirectly_blocks=0 ...
 * Then on "exit": wakes the workers (the register worker checks r12 still
 * holds its block, the handler returns and its thread takes its stack
 * back from the kernel), joins them, checks every kept block's bytes,
 * frees what it kept, exits 0; anything wrong exits 98 (proto_die).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define FILL 0xa5
#define SCRUB_BYTES 32768
#define ALT_SCRUB_BYTES 16384 /* within the 64 KiB alternate stack */
#define HIDE_KEY 0xa5a5a5a5a5a5a5a5ull

/* the sizes, one per role (24 + 16 * k) */
#define MERGED_KEEP 3016
#define MERGED_DROP 3032
#define REG_KEEP 3048
#define REG_DROP 3064
#define ALT_STACK_SIZE 65560
#define ALT_KEEP 3080
#define ALT_DROP 3096
#define MANGLED_KEEP 3112
#define MANGLED_DROP 3128
#define TLS_KEEP 3144
#define TLS_DROP 3160
#define BIG_SIZE (300 * 1024) /* over the mmap threshold: its own mapping */

#define N_WORKERS 3

/* merged */
static void *g_big;	  /* the mmapped chunk, reachable */
static uintptr_t *g_page; /* the page merged after its mapping */
#define PAGE_KEEP_SLOT 5
#define PAGE_DROP_SLOT 9
/* register */
static uintptr_t g_reg_keep_h, g_reg_drop_h; /* hidden, for the worker */
/* mangled */
static uintptr_t g_mangled_keep, g_mangled_drop;
/* tls */
static __thread void *t_keep;
static __thread void *t_drop;

/* the workers' wake-up pipe: nothing is written to it before "exit" */
static int g_wake[2];
static sem_t g_started;
static pid_t g_tids[N_WORKERS];
static const char *const worker_names[N_WORKERS] = { "register", "altstack", "tls" };

static uintptr_t hide(const void *p)
{
	return (uintptr_t)p ^ HIDE_KEY;
}

static void *unhide(uintptr_t h)
{
	return (void *)(h ^ HIDE_KEY);
}

/* A new block of SIZE, every byte FILL, returned hidden. */
NOINLINE static uintptr_t new_hidden(size_t size)
{
	void *p = proto_checked(malloc(size), "malloc");

	memset(p, FILL, size);
	return hide(p);
}

static void check_block(const void *p, size_t size, const char *what)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < size; i++)
		if (b[i] != FILL)
			proto_die("%s: byte %zu of its block is %#x, not %#x", what, i, b[i], FILL);
}

/* Overwrite N bytes of stack right below the caller's frame (the top of
 * AREA: the stack grows down). */
NOINLINE static void scrub(size_t n)
{
	volatile unsigned char area[SCRUB_BYTES];

	for (size_t i = n < sizeof(area) ? sizeof(area) - n : 0; i < sizeof(area); i++)
		area[i] = 0;
}

/* ---- merged: a page merged with a mmapped chunk's mapping -------------- */

static uintptr_t page_size(void)
{
	return (uintptr_t)sysconf(_SC_PAGESIZE);
}

/* The mapping of /proc/self/maps that contains ADDR: true, in *LO, *HI. */
static bool mapping_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	if (!f)
		proto_die("cannot open /proc/self/maps");
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", lo, hi) == 2 && addr >= *lo && addr < *hi)
			found = true;
	fclose(f);
	return found;
}

/* malloc(BIG_SIZE) mapped right below a page the target holds (a hole
 * made for it, with a PROT_NONE page on top), then that page made
 * anonymous rw with MAP_FIXED_NOREPLACE: the kernel merges both. */
NOINLINE static void make_merged(void)
{
	uintptr_t pg = page_size();
	uintptr_t est = (BIG_SIZE + 24 + pg - 1) / pg * pg; /* the chunk's size */
	char *hole = mmap(NULL, est + pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (hole == MAP_FAILED)
		proto_die("mmap of the hole: %s", strerror(errno));
	if (munmap(hole, est) != 0)
		proto_die("munmap of the hole: %s", strerror(errno));
	g_big = proto_checked(malloc(BIG_SIZE), "malloc of the big block");
	memset(g_big, FILL, BIG_SIZE);
	size_t head = ((size_t *)g_big)[-1];
	uintptr_t base = (uintptr_t)g_big - 16, end = base + (head & ~(size_t)7);

	if (!(head & 2))
		proto_die("malloc(%d) is no mmapped chunk (size field %#zx)", BIG_SIZE, head);
	if (end != (uintptr_t)hole + est)
		proto_die("the mmapped chunk %#lx-%#lx is not below the page at %#lx", base, end,
			  (uintptr_t)hole + est);
	if (munmap((void *)end, pg) != 0)
		proto_die("munmap of the guard page: %s", strerror(errno));
	void *page = mmap((void *)end, pg, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (page != (void *)end)
		proto_die("mmap MAP_FIXED_NOREPLACE at %#lx: %s", end,
			  page == MAP_FAILED ? strerror(errno) : "elsewhere");
	g_page = page;
	memset(g_page, FILL, pg);

	uintptr_t lo, hi;
	if (!mapping_of(base, &lo, &hi) || hi < end + pg)
		proto_die("the chunk %#lx-%#lx and the page after it are not one mapping", base,
			  end);
	proto_line("merged mapping=%lx-%lx chunk=%lx-%lx page=%lx-%lx", lo, hi, base, end, end,
		   end + pg);
}

NOINLINE static void merged_store(void)
{
	g_page[PAGE_KEEP_SLOT] = (uintptr_t)unhide(new_hidden(MERGED_KEEP));
	g_page[PAGE_DROP_SLOT] = (uintptr_t)unhide(new_hidden(MERGED_DROP));
	g_page[PAGE_DROP_SLOT] = 0;
}

static void merged_end(void)
{
	void *p = (void *)g_page[PAGE_KEEP_SLOT];

	check_block(p, MERGED_KEEP, "merged");
	free(p);
	munmap(g_page, page_size());
	free(g_big);
}

/* ---- mangled: PTR_MANGLE in a global ------------------------------------ */

static uintptr_t pointer_guard(void)
{
	uintptr_t g;

	__asm__("mov %%fs:0x30, %0" : "=r"(g));
	return g;
}

static uintptr_t rol17(uintptr_t v)
{
	return v << 17 | v >> 47;
}

static uintptr_t ror17(uintptr_t v)
{
	return v >> 17 | v << 47;
}

NOINLINE static void mangled_store(void)
{
	uintptr_t guard = pointer_guard();

	g_mangled_keep = rol17((uintptr_t)unhide(new_hidden(MANGLED_KEEP)) ^ guard);
	/* another guard (bit 44 flipped): this one demangles to no block */
	g_mangled_drop = rol17((uintptr_t)unhide(new_hidden(MANGLED_DROP)) ^ guard ^ 1ull << 44);
}

static void mangled_end(void)
{
	void *p = (void *)(ror17(g_mangled_keep) ^ pointer_guard());

	check_block(p, MANGLED_KEEP, "mangled");
	free(p);
}

/* ---- the workers --------------------------------------------------------- */

static void started(int k)
{
	g_tids[k] = (pid_t)syscall(SYS_gettid);
	if (sem_post(&g_started) != 0)
		_exit(98);
}

/* read(2) of one byte of the wake-up pipe, again after EINTR. */
static void wait_wake(void)
{
	char c;

	while (read(g_wake[0], &c, 1) < 0)
		if (errno != EINTR)
			_exit(98);
}

/* register: the kept block's pointer only in r12, loaded and unhidden in
 * the asm that makes the read syscall (restarted on -EINTR without leaving
 * it), and read back from r12 after; the control's only in r13, cleared
 * before the syscall. */
static void *register_worker(void *arg)
{
	(void)arg;
	uintptr_t keep = g_reg_keep_h, drop = g_reg_drop_h, key = HIDE_KEY, back;
	long ret;
	char c;

	started(0);
	__asm__ volatile("mov %[keep], %%r12\n\t"
			 "xor %[key], %%r12\n\t"
			 "mov %[drop], %%r13\n\t"
			 "xor %[key], %%r13\n\t"
			 "xor %%r13d, %%r13d\n"
			 "1:\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "cmp $-4, %%rax\n\t"
			 "je 1b\n\t"
			 "mov %%r12, %[back]\n\t"
			 "xor %%r12d, %%r12d"
			 : "=&a"(ret), [back] "=&r"(back)
			 : [keep] "r"(keep), [drop] "r"(drop), [key] "r"(key), [nr] "i"(SYS_read),
			   "D"((long)g_wake[0]), "S"(&c), "d"(1L)
			 : "rcx", "r11", "r12", "r13", "memory", "cc");
	if (ret != 1)
		proto_die("register worker: read returned %ld", ret);
	if (back != (uintptr_t)unhide(g_reg_keep_h))
		proto_die("register worker: r12 is %#lx after the syscall, not %p", back,
			  unhide(g_reg_keep_h));
	check_block((void *)back, REG_KEEP, "register");
	free((void *)back);
	return NULL;
}

/* The handler allocates the control and drops it. */
NOINLINE static void alt_drop(void)
{
	void *volatile p = unhide(new_hidden(ALT_DROP));

	p = NULL;
	(void)p;
}

/* SIGUSR1, on the forgotten alternate stack: a block held in this frame
 * while the thread waits in read(2) until "exit". */
static void alt_handler(int sig)
{
	(void)sig;
	void *volatile keep = unhide(new_hidden(ALT_KEEP));

	alt_drop();
	scrub(ALT_SCRUB_BYTES);
	started(1);
	wait_wake();
	check_block(keep, ALT_KEEP, "altstack handler");
	free(keep);
}

NOINLINE static void alt_install(void)
{
	stack_t ss = { 0 };

	ss.ss_sp = unhide(new_hidden(ALT_STACK_SIZE));
	ss.ss_size = ALT_STACK_SIZE;
	if (sigaltstack(&ss, NULL) != 0)
		proto_die("sigaltstack: %s", strerror(errno));
	memset(&ss, 0, sizeof(ss));
}

static void *altstack_worker(void *arg)
{
	(void)arg;
	struct sigaction sa = { 0 };
	stack_t off = { 0 }, old;

	sa.sa_handler = alt_handler;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		proto_die("sigaction: %s", strerror(errno));
	alt_install();
	scrub(SCRUB_BYTES);
	if (raise(SIGUSR1) != 0) /* the handler returns after "exit" */
		proto_die("raise: %s", strerror(errno));
	/* the stack back from the kernel, the only one who knew it */
	off.ss_flags = SS_DISABLE;
	if (sigaltstack(&off, &old) != 0 || old.ss_size != ALT_STACK_SIZE)
		proto_die("sigaltstack: the alternate stack is not the one set");
	free(old.ss_sp);
	return NULL;
}

NOINLINE static void tls_store(void)
{
	t_keep = unhide(new_hidden(TLS_KEEP));
	t_drop = unhide(new_hidden(TLS_DROP));
	t_drop = NULL;
}

static void *tls_worker(void *arg)
{
	(void)arg;

	tls_store();
	scrub(SCRUB_BYTES);
	started(2);
	wait_wake();
	check_block(t_keep, TLS_KEEP, "tls");
	free(t_keep);
	t_keep = NULL;
	return NULL;
}

/* Worker K is in read(2): /proc says it sleeps in syscall 0 (read). */
static bool in_read(int k)
{
	char path[64], buf[128];
	FILE *f;
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)g_tids[k]);
	f = fopen(path, "r");
	if (f) {
		yes = fgets(buf, sizeof(buf), f) && strncmp(buf, "0 ", 2) == 0;
		fclose(f);
	}
	return yes;
}

static void wait_blocked(void)
{
	const struct timespec tick = { 0, 1000000 };

	for (int k = 0; k < N_WORKERS; k++)
		while (sem_wait(&g_started) != 0)
			if (errno != EINTR)
				proto_die("sem_wait: %s", strerror(errno));
	for (int k = 0; k < N_WORKERS; k++) {
		while (!in_read(k))
			nanosleep(&tick, NULL);
		proto_line("worker name=%s tid=%d", worker_names[k], (int)g_tids[k]);
	}
}

/* ---- main ---------------------------------------------------------------- */

static void group(const char *function, const char *kind, long size)
{
	proto_line("leak function=%s kind=%s size=%ld blocks=1 bytes=%ld indirect_bytes=0",
		   function, kind, size, size);
}

static void print_expectations(void)
{
	static const int drops[] = { MERGED_DROP, REG_DROP, ALT_DROP, MANGLED_DROP, TLS_DROP };
	long bytes = 0;

	group("merged", "reachable", MERGED_KEEP);
	group("merged", "definitely_lost", MERGED_DROP);
	group("register", "reachable", REG_KEEP);
	group("register", "definitely_lost", REG_DROP);
	group("altstack", "reachable", ALT_STACK_SIZE);
	group("altstack", "reachable", ALT_KEEP);
	group("altstack", "definitely_lost", ALT_DROP);
	group("mangled", "reachable", MANGLED_KEEP);
	group("mangled", "definitely_lost", MANGLED_DROP);
	group("tls", "reachable", TLS_KEEP);
	group("tls", "definitely_lost", TLS_DROP);
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++)
		bytes += drops[i];
	proto_line("leaks definitely_blocks=%zu definitely_bytes=%ld indirectly_blocks=0 "
		   "indirectly_bytes=0 possibly_blocks=0 possibly_bytes=0",
		   sizeof(drops) / sizeof(drops[0]), bytes);
}

NOINLINE static void make_main(void)
{
	make_merged();
	merged_store();
	mangled_store();
	g_reg_keep_h = new_hidden(REG_KEEP);
	g_reg_drop_h = new_hidden(REG_DROP);
}

static void wait_exit(void)
{
	char line[64];

	if (!proto_wait(line, sizeof(line)))
		proto_die("end of input while waiting for 'exit'");
	if (strcmp(line, "exit") != 0)
		proto_die("expected 'exit', got '%s'", line);
}

int main(void)
{
	static void *(*const workers[N_WORKERS])(void *) = { register_worker, altstack_worker,
							     tls_worker };
	pthread_t t[N_WORKERS];

	if (pipe(g_wake) != 0 || sem_init(&g_started, 0, 0) != 0)
		proto_die("pipe or sem_init failed");
	make_main();
	scrub(SCRUB_BYTES);
	for (int k = 0; k < N_WORKERS; k++)
		if (pthread_create(&t[k], NULL, workers[k], NULL) != 0)
			proto_die("pthread_create failed");
	wait_blocked();
	print_expectations();
	proto_line("ready %d", (int)getpid());
	wait_exit();

	static const char wake[N_WORKERS] = { 'w', 'w', 'w' };
	if (write(g_wake[1], wake, sizeof(wake)) != (ssize_t)sizeof(wake))
		proto_die("write to the wake-up pipe failed");
	for (int k = 0; k < N_WORKERS; k++)
		if (pthread_join(t[k], NULL) != 0)
			proto_die("pthread_join failed");
	merged_end();
	mangled_end();
	return 0;
}
