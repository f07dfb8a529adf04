/* attach's memory of each report row across intervals: its time series
 * (series.h, bounded) and the counters it had at the last interval, keyed
 * by the row's group key (mt_report_row_key).  Pure. */
#ifndef MT_HISTORY_H
#define MT_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "model/series.h"

struct mt_history;

struct mt_history_row {
	struct mt_series *series;
	uint64_t prev_live_bytes, prev_live_blocks, prev_allocs, prev_frees;
};

struct mt_history *mt_history_new(void);
void mt_history_destroy(struct mt_history *h);
/* The row for KEY, created (all zero, an empty series) on first sight;
 * NULL when out of memory. */
struct mt_history_row *mt_history_get(struct mt_history *h, const char *key);
size_t mt_history_count(const struct mt_history *h);
/* Bytes held: rows, keys and series. */
size_t mt_history_memory(const struct mt_history *h);

#endif
