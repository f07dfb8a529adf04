#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

static bool run_mode;

void exp_add(struct site_expect *dst, const struct site_expect *src)
{
	dst->live_blocks += src->live_blocks;
	dst->live_bytes += src->live_bytes;
	dst->allocs += src->allocs;
	dst->frees += src->frees;
}

void proto_set_run_mode(bool on)
{
	run_mode = on;
}

bool proto_run_mode(void)
{
	return run_mode;
}

void proto_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(98);
}

void proto_line(const char *fmt, ...)
{
	va_list ap;

	/* One line at a time: another thread's line never lands inside it
	 * ("passes 23900status passes=..." once hid a test's answer). */
	flockfile(stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar_unlocked('\n');
	fflush_unlocked(stdout);
	funlockfile(stdout);
}

bool proto_wait(char *buf, size_t len)
{
	size_t n;

	if (run_mode)
		return false;
	if (!fgets(buf, (int)len, stdin))
		return false;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return true;
}

void proto_ready(void)
{
	char line[64];

	/* The first read below creates stdin's buffer, and this printf
	 * stdout's: both before anyone attaches. */
	proto_line("ready %d", (int)getpid());
	if (run_mode)
		return;
	if (!proto_wait(line, sizeof(line)))
		proto_die("end of input while waiting for 'go'");
	if (strcmp(line, "go") != 0)
		proto_die("expected 'go', got '%s'", line);
}

void proto_expect(const struct site_expect *s)
{
	proto_line("expect function=%s live_blocks=%lld live_bytes=%lld allocs=%lld frees=%lld",
		   s->function, s->live_blocks, s->live_bytes, s->allocs, s->frees);
}

void proto_expect_unknown_frees(long long n)
{
	proto_line("expect unknown_frees=%lld", n);
}

void proto_done(uint64_t checksum, const char *extra)
{
	proto_line("done checksum=%016llx%s%s", (unsigned long long)checksum,
		   extra && *extra ? " " : "", extra ? extra : "");
}

uint64_t prng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void cksum_add(uint64_t *h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		*h ^= (v >> (8 * i)) & 0xff;
		*h *= 0x100000001b3ULL;
	}
}

/* Byte loops rather than memcpy: the block may be smaller than a word. */
static void put_bytes(unsigned char *dst, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_bytes(const unsigned char *src, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)src[i] << (8 * i);
	return v;
}

void block_fill(void *p, size_t size, uint64_t *rng)
{
	unsigned char *b = p;
	size_t head = size < 8 ? size : 8;

	put_bytes(b, prng_next(rng), head);
	if (size > 8) {
		size_t tail = size - 8 < 8 ? size - 8 : 8;
		put_bytes(b + size - tail, prng_next(rng), tail);
	}
}

void block_fold(const void *p, size_t size, uint64_t *h)
{
	const unsigned char *b = p;
	size_t head = size < 8 ? size : 8;

	cksum_add(h, get_bytes(b, head) ^ size);
	if (size > 8) {
		size_t tail = size - 8 < 8 ? size - 8 : 8;
		cksum_add(h, get_bytes(b + size - tail, tail));
	}
}

static void *held[1024];
static size_t held_n;

void proto_hold(void *p)
{
	if (held_n == sizeof(held) / sizeof(held[0]))
		proto_die("held[] is full");
	held[held_n++] = p;
}

void proto_free_held(void)
{
	for (size_t i = 0; i < held_n; i++)
		free(held[i]);
	held_n = 0;
}

void *proto_checked(void *p, const char *what)
{
	if (!p)
		proto_die("%s returned NULL", what);
	return p;
}
