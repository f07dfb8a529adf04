/* A progress line on stderr for the steps that can take seconds in a big
 * process: reading its modules' symbols at attach (a JVM maps hundreds),
 * naming the report's sites (the debug info of every module a stack
 * passes through is loaded then) and walking the heap for the census.
 *
 *   memtrace: reading modules: 112/480
 *   memtrace: census: walking the heap: 1,234,567 chunks
 *   memtrace: naming sites: 812/4,096
 *
 * Shown only on a terminal with a table report (mt_progress_wanted): never
 * in a pipe or a file, never with --json or another format a program
 * reads.  The line has no color, so NO_COLOR changes nothing; TERM=dumb,
 * which cannot erase a line, gets none.  It is drawn at a step's first
 * update, then at most every MT_PROGRESS_INTERVAL_S, and erased when the
 * step ends or before any other message (mt_say, mt_fail call
 * mt_progress_erase_shown), so it never mixes with what stays on screen.
 *
 * A NULL struct mt_progress is a progress that shows nothing: callers
 * need not check.  The clock is the caller's (NOW, mt_clock_s()), so that
 * the unit test decides what time it is. */
#ifndef MT_PROGRESS_H
#define MT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_PROGRESS_INTERVAL_S 0.1

struct mt_progress;

/* Whether a progress line may be shown: STDERR_TTY (isatty of stderr), a
 * table report (TABLE_FORMAT), and TERM (getenv's, may be NULL) not
 * "dumb". */
bool mt_progress_wanted(bool stderr_tty, bool table_format, const char *term);

/* The line for WHAT at DONE of TOTAL (TOTAL 0: unknown, the count alone)
 * UNIT (may be NULL or ""), numbers with thousands separators, cut to
 * WIDTH - 1 columns (a full last column would wrap on some terminals;
 * WIDTH <= 0: uncut) and to LEN - 1 bytes.  Returns its length. */
size_t mt_progress_format(char *buf, size_t len, const char *what, uint64_t done, uint64_t total,
			  const char *unit, int width);

/* Writes to FD (stderr: 2), lines cut to WIDTH columns (0: not cut).
 * NULL when out of memory (a progress that shows nothing). */
struct mt_progress *mt_progress_new(int fd, int width);
/* Erases the line if it is shown. */
void mt_progress_destroy(struct mt_progress *p);

/* A step's state at NOW: drawn when the step (WHAT) is new or at least
 * MT_PROGRESS_INTERVAL_S went by since the last draw.  Returns whether it
 * drew. */
bool mt_progress_update(struct mt_progress *p, double now, const char *what, uint64_t done,
			uint64_t total, const char *unit);
/* The step is over: the line is erased, the next update draws at once. */
void mt_progress_end(struct mt_progress *p);

/* Erase whichever line is on screen now (none: nothing written). */
void mt_progress_erase_shown(void);

#endif
