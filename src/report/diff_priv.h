/* What diff.c (the join) and diff_print.c (its printers) share: reading
 * a snapshot defensively, and the helpers both need.  Private to them. */
#ifndef MT_DIFF_PRIV_H
#define MT_DIFF_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "report/diff.h"

static inline const char *S(const char *s)
{
	return s ? s : "";
}

static inline const char *base_name(const char *path)
{
	const char *p = strrchr(S(path), '/');
	return p ? p + 1 : S(path);
}

/* ---- reading a snapshot defensively --------------------------------------
 * The decoder validates every index; snapshots built in memory (tests, the
 * session) get the same tolerance here: a bad index reads as "nothing". */

static inline const struct mt_snap_stack *stack_of(const struct mt_snapshot *s, uint32_t stack)
{
	return stack < s->nstacks ? &s->stacks[stack] : NULL;
}

static inline const struct mt_snap_frame *frame_at(const struct mt_snapshot *s,
					    const struct mt_snap_stack *st, uint32_t i)
{
	if (!st || i >= st->nframes || !st->frames || st->frames[i] >= s->nframes)
		return NULL;
	return &s->frames[st->frames[i]];
}

static inline const struct mt_snap_frame *site_frame(const struct mt_snapshot *s, uint32_t stack)
{
	const struct mt_snap_stack *st = stack_of(s, stack);
	if (!st || !st->nframes)
		return NULL;
	return frame_at(s, st, st->site_frame < st->nframes ? st->site_frame : 0);
}

static inline const struct mt_snap_module *module_of(const struct mt_snapshot *s, uint32_t module)
{
	return module >= 1 && module <= s->nmodules ? &s->modules[module - 1] : NULL;
}

static inline bool empty_row(const struct mt_diff_row *r)
{
	return !r->blocks_a && !r->blocks_b && !r->bytes_a && !r->bytes_b;
}

static inline bool census_usable(const struct mt_snapshot *s)
{
	return s->census && s->census->available;
}

static inline const struct mt_snap_module *exe_module(const struct mt_snapshot *s)
{
	return module_of(s, s->exe_module);
}

static inline const char *exe_path(const struct mt_snapshot *s)
{
	if (S(s->exe)[0])
		return s->exe;
	const struct mt_snap_module *m = exe_module(s);
	return m ? S(m->path) : "";
}

static inline void hex_id(char *buf, size_t len, const struct mt_snap_module *m)
{
	size_t n = 0;
	buf[0] = 0;
	uint32_t l = m && m->build_id_len < 64 ? m->build_id_len : m ? 64 : 0;
	for (uint32_t i = 0; i < l && n + 3 <= len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%02x", m->build_id[i]);
}

#endif
