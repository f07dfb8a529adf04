/* Symbolized stacks for reports, built once per stack and kept (a stack's
 * names survive its library being unloaded).  Strings are owned here. */
#ifndef MT_FRAMECACHE_H
#define MT_FRAMECACHE_H

#include <stdint.h>

#include "report/report.h"
#include "symbols/symbolize.h"

struct mt_framecache;

struct mt_framecache *mt_framecache_new(struct mt_symbolizer *sym);
void mt_framecache_destroy(struct mt_framecache *fc);
/* The frames of stack ID (PCS[0..N), innermost first; PCS[0] is the
 * allocator's entry, the others return addresses), inline frames expanded.
 * Returns the count; *FRAMES stays valid until destroy. */
int mt_framecache_stack(struct mt_framecache *fc, uint32_t id, const uint64_t *pcs, int n,
			const struct mt_report_frame **frames);

/* Forget every stack and caller that holds a JIT frame ("[jit]") without a
 * name: they are named again when next asked for, after a perf map came
 * (a JVM asked for one at the end).  Frames handed out before are freed:
 * call it only while no report holds them. */
void mt_framecache_forget_unnamed_jit(struct mt_framecache *fc);

/* The frames at return address CALLER (a row keyed by its caller alone:
 * --depth 1), inline frames expanded, innermost first; built once.
 * Returns the count (0 when none); *FRAMES stays valid until destroy. */
int mt_framecache_caller(struct mt_framecache *fc, uint64_t caller,
			 const struct mt_report_frame **frames);

#endif
