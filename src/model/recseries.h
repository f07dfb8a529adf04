/* attach --record's growth series: every site's live bytes at every
 * snapshot written, on one time axis shared by all sites, so that each
 * snapshot file carries the history of its sites (snapshot.proto,
 * series_t).  Pure.
 *
 * Bounded: at most MT_RECSERIES_MAX_POINTS points, evenly spread over the
 * whole recording.  The points are every STRIDE-th sample (the first one
 * included), then the newest sample; when full, the stride doubles and
 * every other point goes.  Each site holds MT_RECSERIES_MAX_POINTS * 8 bytes
 * (2 KiB) from its first sample on; a site that did not exist yet at a
 * point reads 0 live bytes there, which it had. */
#ifndef MT_RECSERIES_H
#define MT_RECSERIES_H

#include <stddef.h>
#include <stdint.h>

#include "model/tracker.h"

#define MT_RECSERIES_MAX_POINTS 256u

struct mt_recseries;

/* NULL when out of memory. */
struct mt_recseries *mt_recseries_new(void);
void mt_recseries_destroy(struct mt_recseries *r);

/* A point at T seconds since tracing began (taken as the previous point's
 * when earlier): the live bytes (the estimates when sampling, as
 * mt_tracker_site_counts gives them) of every site of TRACKER that
 * allocated.  0; -ENOMEM when a site's row could not be allocated (that
 * site then reads 0 at this point and is tried again at the next). */
int mt_recseries_sample(struct mt_recseries *r, const struct mt_tracker *tracker, double t);

/* The points' times, oldest first, into *T (valid until the next sample);
 * returns how many. */
size_t mt_recseries_times(const struct mt_recseries *r, const double **t);

/* Site ID's (mt_sites id) live bytes at each point (mt_recseries_times
 * values); NULL when the site was never sampled: it read 0 throughout. */
const uint64_t *mt_recseries_site(const struct mt_recseries *r, uint32_t id);

#endif
