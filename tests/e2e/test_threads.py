#!/usr/bin/env python3
"""histo on target_threads: 8 threads making over 1,000,000 allocator calls
at once (malloc, realloc and free of 16 B - 4 KiB, per-thread seeded PRNG),
with blocks kept at a known site; exact totals per site.

    test_threads.py           the threads start after "go" (after attach)
    test_threads.py --early   the 8 threads exist before "ready" and wait on
                              a barrier: memtrace attaches to 9 threads
                              (262144 calls, to keep the suite short)
    test_threads.py --drop    as the first, with --depth 1

The threads allocate as fast as they can, faster than memtrace's consumer
accounts.  The first two run memtrace's defaults, where the agent accounts
the calls itself (ltab.h) and every total must be exact.  --drop runs
--depth 1, where every call goes through the rings and the agent drops
what finds its ring full: nothing may be counted that did not happen (a
function's allocs and frees at most the expectation), and every call must
be either counted or reported lost (events + lost_events at least the
threads' calls).  Without drops, events are the calls: at least the
threads', and beyond them only the allocator's frees of its own and the
main thread's few.

E2E_THREADS_CALLS=N sets the number of calls (e.g. smaller for a quick
run)."""
import os
import sys

import harness

EARLY = '--early' in sys.argv[1:]
DROP = '--drop' in sys.argv[1:]
CALLS = int(os.environ.get('E2E_THREADS_CALLS', '0')) or (262144 if EARLY else 0)


# Allocator calls beyond the workers' own and the allocator's frees, at
# most: the main thread's (12 here, with either engine: its thread
# creations and joins).  free(NULL) is no event with either engine (the
# workers make about 76).  Counting a realloc twice would add about 1 in
# 10 calls.
MAIN_SLACK = 100


def check(h, report, result):
    calls = int(result.info.get('calls', '0'))
    if not CALLS:
        h.check(calls >= 1_000_000, f'the target made only {calls} allocator calls')
    if DROP:
        seen = report['events'] + report['lost_events']
        h.check(seen >= calls,
                f'report counts {report["events"]} events and {report["lost_events"]} lost, '
                f'the threads alone made {calls} calls')
    else:
        # Events are calls, with either engine (a realloc is one, though
        # the agent sends two records for it).  Beyond the workers' own
        # calls: glibc's frees of each exiting thread's cached chunks
        # (reported as unknown frees by the allocator itself) and a few
        # more (MAIN_SLACK).
        own = report.get('unknown_frees_by_allocator', 0)
        harness.log(f'events {report["events"]} = workers {calls} + allocator {own} + '
                    f'{report["events"] - calls - own} more')
        h.check(calls <= report['events'] <= calls + own + MAIN_SLACK,
                f'report counts {report["events"]} events, the threads made {calls} calls, '
                f'the allocator {own} frees of its own (and the main thread at most '
                f'{MAIN_SLACK})')
    h.check(report['threads'] == 9,
            f'report says at most {report["threads"]} threads at once, expected 9 '
            f'(the main thread and 8 workers that wait for each other)')


def test(h):
    args = (['--early'] if EARLY else []) + ([str(CALLS)] if CALLS else [])
    h.scenario('target_threads', args, memtrace_args=['--depth', '1'] if DROP else [],
               report_check=lambda r, res: check(h, r, res), lossy=DROP)


harness.main(test)
