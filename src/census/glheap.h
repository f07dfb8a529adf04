/* glibc malloc's heap, read from a process image without debug symbols.
 *
 * Two steps.  mt_glheap_find() learns where glibc keeps its state in one
 * process (main_arena, mp_, the layout of this glibc release, how each
 * thread's tcache is found) from the libc module itself, checks what it
 * found against each other, and may cache it per libc build-id.
 * mt_glheap_walk() then walks every arena, heap and mmapped chunk and
 * reports each chunk as live or free (tcache, fastbin, unsorted/small/
 * large bin, top).  Both only read through struct mt_memsrc: pure, and the
 * fuzzer runs the walker over generated images.
 *
 * The heap is untrusted input: every chunk is validated (alignment,
 * bounds, size, the next chunk's bits), every list walk is bounded, and a
 * region that does not validate is skipped with a warning naming its
 * address; the walk then says it is incomplete.  Where the layout is not
 * understood, find refuses (never guesses and misclassifies).
 */
#ifndef MT_GLHEAP_H
#define MT_GLHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/maps.h"
#include "census/memsrc.h"

struct mt_glheap;

/* What a thread contributes to finding its tcache: its thread pointer
 * (x86_64: fs_base). */
struct mt_glheap_thread {
	int tid;
	uint64_t tp;
};

/* Learn glibc malloc's state in the process whose memory SRC reads and
 * whose mappings MAPS lists (the libc module: the mapped libc.so.6 or
 * libc-2.NN.so).  THREADS: every thread's pointer, to find its tcache
 * (without them only the tcaches at the start of the brk heap and of each
 * arena are found).  CACHE_DIR: where what was learned is
 * kept per libc build-id (NULL: no cache).  0 and *OUT; or
 *   -ENOENT   the process does not use glibc's malloc (WHY says what it
 *             uses, when known),
 *   -ENOTSUP  glibc's malloc whose layout is not understood (WHY: one line
 *             saying what did not check out),
 *   -ENOMEM.
 */
int mt_glheap_find(const struct mt_memsrc *src, const struct mt_maps *maps,
		   const struct mt_glheap_thread *threads, size_t nthreads,
		   const char *cache_dir, struct mt_glheap **out, char *why, size_t whylen);
void mt_glheap_destroy(struct mt_glheap *h);

/* "2.36" */
const char *mt_glheap_version(const struct mt_glheap *h);

/* The allocator's own state in libc's data, which a leak check must not
 * take for roots (its bins point at chunk headers, which are the last
 * word of the block before): main_arena and mp_, as [lo, hi) pairs.
 * Returns how many ranges it wrote (at most 2). */
size_t mt_glheap_own_state(const struct mt_glheap *h, uint64_t lo[2], uint64_t hi[2]);

/* Is the process, with every thread stopped, at a point where no thread is
 * half-way through changing the heap?  True when every arena's lock is
 * free and every tcache's counts agree with its lists.  False with WHY
 * (e.g. "arena 0x7f12...: locked") otherwise: resume the threads a moment
 * and ask again. */
bool mt_glheap_quiescent(const struct mt_glheap *h, const struct mt_memsrc *src, char *why,
			 size_t whylen);

enum mt_chunk_kind {
	MT_CHUNK_LIVE,
	MT_CHUNK_TCACHE,
	MT_CHUNK_FASTBIN,
	MT_CHUNK_UNSORTED,
	MT_CHUNK_SMALLBIN,
	MT_CHUNK_LARGEBIN,
	MT_CHUNK_TOP,
	MT_CHUNK__KINDS
};

/* One chunk as the walk reports it. */
struct mt_glheap_chunk {
	uint64_t chunk;      /* the chunk header's address */
	uint64_t addr;       /* the user pointer malloc returned: chunk + 16 */
	uint64_t size;       /* chunk size, header included (what mallinfo counts) */
	uint64_t usable;     /* malloc_usable_size() of the block */
	uint64_t word0;      /* the block's first 8 bytes (0 when usable < 8) */
	enum mt_chunk_kind kind;
	bool mmapped;        /* a chunk of its own mapping */
	unsigned arena;      /* index of its arena (0: main), or ~0u for mmapped */
};

struct mt_glheap_cb {
	/* Each chunk, live or free, once (but for the tcache_perthread_struct
	 * chunks: malloc's own, counted in overhead_bytes).  Non-zero stops
	 * the walk (returned). */
	int (*chunk)(void *ctx, const struct mt_glheap_chunk *c);
	/* A warning (one line, naming the address); the walk goes on. */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
};

struct mt_glheap_stats {
	unsigned arenas, heaps;        /* arenas; their heaps (main: 1, the brk heap) */
	uint64_t mapped_bytes;         /* sum of system_mem, plus mmapped chunks */
	uint64_t mmapped_chunks, mmapped_bytes;
	uint64_t live_blocks, live_bytes;      /* chunk sizes */
	uint64_t free_blocks[MT_CHUNK__KINDS], free_bytes[MT_CHUNK__KINDS];
	uint64_t overhead_bytes;       /* mapped but not chunks: heap_info,
	                                  malloc_state of non-main arenas, padding,
	                                  fenceposts, the tcache_perthread_structs.
	                                  mallinfo2's uordblks + hblkhd ==
	                                  live_bytes + free_bytes[TCACHE] + this */
	bool complete;                 /* false: something was skipped (warned) */
};

/* Walk the heap of the image SRC reads (which must be a consistent view:
 * a frozen copy, or a process stopped at a quiescent point), with MAPS its
 * mappings (to find mmapped chunks).  0, or a callback's non-zero value,
 * or -errno when the walk could not start. */
int mt_glheap_walk(const struct mt_glheap *h, const struct mt_memsrc *src,
		   const struct mt_maps *maps, const struct mt_glheap_cb *cb,
		   struct mt_glheap_stats *st);

#endif
