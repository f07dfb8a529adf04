/* Stack capture.  One pread copies a window of the thread's stack from the
 * stack pointer up; the unwinder reads from it, and only frames above the
 * window cost another read.  See stackcap.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/stackcap.h"
#include "symbols/unwind.h"

/* Enough for 32 ordinary frames; deeper or larger frames are read on demand. */
#define WINDOW (16 * 1024)

struct mt_stackcap {
	struct mt_symbolizer *sym;
	struct mt_stacks *stacks;
	int depth;
	size_t window_len;  /* what one capture copies: sized by the depth */
	int memfd;
	uint64_t base;      /* the window's start in the target */
	size_t len;         /* bytes valid in the window */
	uint64_t lost;      /* stacks unwound but not kept */
	unsigned char window[WINDOW];
	uint64_t pcs[MT_STACKS_MAX_PCS];
};

struct mt_stackcap *mt_stackcap_new(pid_t pid, struct mt_symbolizer *sym,
				    struct mt_stacks *stacks, int depth)
{
	struct mt_stackcap *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	c->memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->memfd < 0) {
		free(c);
		return NULL;
	}
	c->sym = sym;
	c->stacks = stacks;
	c->depth = depth < 1 ? 1 : (depth > MT_STACKS_MAX_DEPTH ? MT_STACKS_MAX_DEPTH : depth);
	/* About 512 bytes a frame: --depth 1 copies 1 KiB, not the whole window. */
	c->window_len = 512 + (size_t)c->depth * 512;
	if (c->window_len > WINDOW)
		c->window_len = WINDOW;
	return c;
}

void mt_stackcap_destroy(struct mt_stackcap *c)
{
	if (!c)
		return;
	close(c->memfd);
	free(c);
}

static int read_mem(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct mt_stackcap *c = ctx;
	if (addr >= c->base && addr - c->base <= c->len && len <= c->len - (addr - c->base)) {
		memcpy(buf, c->window + (addr - c->base), len);
		return 0;
	}
	ssize_t n = pread(c->memfd, buf, len, (off_t)addr);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

uint32_t mt_stackcap_capture(void *ctx, pid_t tid, const mt_regs *regs)
{
	struct mt_stackcap *c = ctx;
	c->base = mt_regs_sp(regs);
	/* A read that runs off the top of the stack mapping stops there. */
	ssize_t n = pread(c->memfd, c->window, c->window_len, (off_t)c->base);
	c->len = n > 0 ? (size_t)n : 0;
	int got = mt_unwind(c->sym, tid, regs, read_mem, c, c->pcs, 1 + c->depth);
	uint32_t id = got >= 1 ? mt_stacks_intern(c->stacks, c->pcs, got) : 0;
	if (!id)
		c->lost++;
	return id;
}

uint64_t mt_stackcap_lost(const struct mt_stackcap *c)
{
	return c ? c->lost : 0;
}
