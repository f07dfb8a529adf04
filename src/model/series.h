/* One site's time series of live bytes and blocks, sampled by `attach` at
 * every interval, and the verdict on it: is this site growing?
 *
 * A leak is a series whose LOW POINTS keep rising.  Churn (blocks allocated
 * and freed again) makes the highs noisy, so the series keeps, for every
 * point, the minimum and the maximum of live bytes over the samples it holds,
 * and the verdict looks at the minima.
 *
 * Memory is bounded: at most MT_SERIES_MAX_POINTS points whatever the number
 * of samples.  When full, the older half is downsampled by merging
 * neighbouring points into buckets; a bucket keeps its time span, the MIN and
 * MAX of live bytes, its last value and its sample count.  A full series holds
 * sizeof(struct mt_series) + MT_SERIES_MAX_POINTS * 56 bytes, 14,360 bytes on
 * x86_64 (mt_series_memory; details at the top of series.c), and never more.
 *
 * Pure: no I/O, no clock; the caller passes the time of every sample.
 */
#ifndef MT_SERIES_H
#define MT_SERIES_H

#include <stddef.h>
#include <stdint.h>

#define MT_SERIES_MAX_POINTS 256

struct mt_series;

/* NULL when out of memory. */
struct mt_series *mt_series_new(void);
void mt_series_destroy(struct mt_series *s);

/* A sample at T seconds since attach.  T should not decrease; a T before the
 * previous sample's is taken as the previous sample's.  Never fails: when
 * memory runs out the series downsamples early instead of growing. */
void mt_series_add(struct mt_series *s, double t, uint64_t live_bytes, uint64_t live_blocks);

/* Samples added so far (not points kept). */
uint64_t mt_series_samples(const struct mt_series *s);

enum mt_trend {
	MT_TREND_FLAT,         /* little change */
	MT_TREND_GROWING,      /* its low points keep rising, into the later part */
	MT_TREND_PLATEAU,      /* its low points rose, then stayed flat in the later half */
	MT_TREND_FLUCTUATING,  /* large swings, no trend in the low points */
	MT_TREND_SHRINKING,    /* low points and level falling */
};

/* "flat" "growing" "plateau" "fluctuating" "shrinking"; "?" for others. */
const char *mt_trend_name(enum mt_trend t);

struct mt_trend_info {
	enum mt_trend trend;
	/* Slope of the low points (growth that is not churn), robust to outliers.
	 * For a plateau, the slope of its later half (how fast it grows now). */
	double rate_bytes_per_min;
	/* Evidence for growth: rank sites by it, highest first.  > 0 only for
	 * `growing` (higher for a more monotone, longer, cleaner rise of the
	 * lows), 0 for flat, plateau and fluctuating, < 0 for shrinking.  Sites
	 * with equal scores are best ordered by rate. */
	double score;
};

/* The verdict on the series so far (algorithm at the top of series.c).
 * Fewer than 4 samples: flat unless live bytes changed by at least half and
 * by at least 1 MiB. */
void mt_series_trend(const struct mt_series *s, struct mt_trend_info *out);

/* A sparkline of live bytes (UTF-8 block characters U+2581..U+2588, 3 bytes
 * and one column each), WIDTH cells over the series' time span, scaled from
 * its lowest to its highest value; a series with fewer points than WIDTH gets
 * one cell per point.  A cell shows the live bytes at the end of its time
 * slice.  Always NUL-terminated when LEN > 0; only whole cells are written. */
void mt_series_sparkline(const struct mt_series *s, int width, char *buf, size_t len);

/* The points kept, oldest first: for each, the time of its last sample
 * (seconds since attach) into T and its live bytes then into BYTES, at most
 * MAX of them.  Returns how many points the series holds (at most
 * MT_SERIES_MAX_POINTS). */
size_t mt_series_points(const struct mt_series *s, double *t, uint64_t *bytes, size_t max);

/* Bytes the series holds (struct and points); constant once it is full. */
size_t mt_series_memory(const struct mt_series *s);

#endif
