#!/usr/bin/env python3
"""histo on target_threads: 8 threads making over 1,000,000 allocator calls
at once (malloc, realloc and free of 16 B - 4 KiB, per-thread seeded PRNG),
with blocks kept at a known site; exact totals per site.

E2E_THREADS_CALLS=N scales the number of calls down for a quick run."""
import os

import harness

CALLS = int(os.environ.get('E2E_THREADS_CALLS', '0'))


def check(h, report, result):
    calls = int(result.info.get('calls', '0'))
    if not CALLS:
        h.check(calls >= 1_000_000, f'the target made only {calls} allocator calls')
    h.check(report['events'] >= calls,
            f'report counts {report["events"]} events, the threads alone made {calls} calls')
    h.check(report['threads'] == 9,
            f'report says at most {report["threads"]} threads at once, expected 9 '
            f'(the main thread and 8 workers that wait for each other)')


def test(h):
    args = [str(CALLS)] if CALLS else []
    h.scenario('target_threads', args, report_check=lambda r, res: check(h, r, res))


harness.main(test)
