/* Walks the glibc heap of a running process and checks it against what
 * the process said it holds: tests/unit/glheap_releases.sh runs it on
 * tests/unit/glheap_target.c under other glibc releases' loaders.
 *
 * usage: glheap_probe PID FILE
 *   FILE: the target's output: "tp HEX" per thread, "live|tcache|fast ADDR"
 *   per block, "inuse N" (mallinfo's uordblks + hblkhd).
 * Prints the release and the figures; exit 0 when every block has the
 * kind the target said and the bytes reconcile, 1 otherwise, 2 on usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "census/glheap.h"
#include "target/maps.h"

static pid_t pid;

static int rd(void *ctx, uint64_t a, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)a, len };
	(void)ctx;
	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

struct blk {
	uint64_t addr;
	int kind;
	bool seen;
};

static struct blk blks[1000];
static size_t nblk;
static unsigned bad, warnings;

static int on_chunk(void *ctx, const struct mt_glheap_chunk *c)
{
	(void)ctx;
	for (size_t i = 0; i < nblk; i++)
		if (blks[i].addr == c->addr) {
			blks[i].seen = true;
			if ((int)c->kind != blks[i].kind) {
				printf("block 0x%llx: kind %d, the target says %d\n",
				       (unsigned long long)c->addr, c->kind, blks[i].kind);
				bad++;
			}
		}
	return 0;
}

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	printf("warning: %s\n", msg);
	warnings++;
}

int main(int argc, char **argv)
{
	struct mt_glheap_thread th[16];
	size_t nth = 0;
	unsigned long long inuse = 0, v;
	char line[256], word[16], why[256] = "";
	if (argc != 3)
		return 2;
	pid = atoi(argv[1]);
	FILE *f = fopen(argv[2], "r");
	if (!f)
		return 2;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%15s %llx", word, &v) != 2)
			continue;
		if (!strcmp(word, "tp") && nth < 16)
			th[nth++] = (struct mt_glheap_thread){ 0, v };
		else if (!strcmp(word, "inuse"))
			sscanf(line, "inuse %llu", &inuse);
		else if (nblk < 1000)
			blks[nblk++] = (struct blk){ v, !strcmp(word, "live") ? MT_CHUNK_LIVE :
						 !strcmp(word, "tcache") ? MT_CHUNK_TCACHE :
						 MT_CHUNK_FASTBIN, false };
	}
	fclose(f);
	struct mt_maps maps;
	struct mt_memsrc src = { .read = rd };
	struct mt_glheap *h;
	if (mt_maps_read(pid, &maps) < 0)
		return 2;
	int rc = mt_glheap_find(&src, &maps, th, nth, NULL, &h, why, sizeof why);
	if (rc) {
		printf("find: %d %s\n", rc, why);
		return 1;
	}
	struct mt_glheap_cb cb = { on_chunk, on_warn, NULL };
	struct mt_glheap_stats st;
	if (mt_glheap_walk(h, &src, &maps, &cb, &st) != 0)
		return 1;
	for (size_t i = 0; i < nblk; i++)
		if (!blks[i].seen) {
			printf("block 0x%llx: not reported\n", (unsigned long long)blks[i].addr);
			bad++;
		}
	unsigned long long ours = st.live_bytes + st.free_bytes[MT_CHUNK_TCACHE] + st.overhead_bytes;
	printf("glibc %s: %u arenas, %llu live blocks, %llu tcache, %llu fastbin, in use %llu,"
	       " mallinfo %llu, %zu blocks checked, complete %d\n", mt_glheap_version(h), st.arenas,
	       (unsigned long long)st.live_blocks,
	       (unsigned long long)st.free_blocks[MT_CHUNK_TCACHE],
	       (unsigned long long)st.free_blocks[MT_CHUNK_FASTBIN], ours, inuse, nblk, st.complete);
	if (ours != inuse || !st.complete || warnings || st.arenas < 2)
		bad++;
	mt_glheap_destroy(h);
	mt_maps_free(&maps);
	return bad ? 1 : 0;
}
