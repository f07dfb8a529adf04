/* memtrace report: a report (report.h) from snapshot files, for the HTML
 * page.  Pure: the snapshots are read by the caller. */
#ifndef MT_REPORT_SNAP_H
#define MT_REPORT_SNAP_H

#include <stddef.h>

#include "report/report.h"
#include "snapshot/snapshot.h"

/* Fill R from SNAPS[0..N) (N >= 1), taken in any order: the header and
 * the rows are the latest snapshot's (by time taken), one row per stack,
 * largest first; the census is the latest one any snapshot holds.  Each
 * row's series is its live bytes over time, by Unix time, summed over the
 * stacks of each snapshot that match it as diff matches them (diff.h: a
 * frame is its module's build-id, or file name, and offset): the growth
 * series a snapshot of attach --record carries, else one point per
 * snapshot at its time; where snapshots overlap in time, the newest one's
 * points are used (see points() in report_snap.c).  Each row's trend,
 * rate and score are attach's verdict on that series (model/series.h).
 * *FRAMES gets the array the rows' stacks point into: free() it after
 * mt_report_free(R).  The strings point into the snapshots, which must
 * outlive R.  0, or -ENOMEM. */
int mt_report_from_snapshots(struct mt_snapshot *const *snaps, size_t n, struct mt_report *r,
			     struct mt_report_frame **frames);

#endif
