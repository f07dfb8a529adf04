#!/usr/bin/env python3
"""Exact by default at full speed: target_threads --threads 2 --seconds 10
(two threads of malloc, realloc and free of 16 B - 4 KiB, as fast as they
go, for 10 s: tens of millions of calls, far more than memtrace's consumer
could account one by one) under memtrace's defaults (the agent accounts
the calls itself, agent/ltab.h).  Every function's allocs, frees and bytes
are the target's own counts, exactly; 0 lost events; events are the
threads' calls and, beyond them, only the allocator's frees of its own and
the main thread's few.  The target's checksum is not compared with an
untraced run: a run of fixed length makes as many calls as it has time
for.

E2E_EXACT_SECONDS overrides the 10 s."""
import os

import harness

SECONDS = os.environ.get('E2E_EXACT_SECONDS', '10')
MAIN_SLACK = 100


def test(h):
    t = h.start_target('target_threads', ['--threads', '2', '--seconds', SECONDS])
    m = h.attach(t, [])
    t.send('go')
    result = t.collect()
    report = m.stop()
    h.check(m.saw(f'memtrace: detached from pid {t.pid}') is not None,
            f"no 'memtrace: detached from pid {t.pid}' line on memtrace's stderr")
    h.check_report(report, result, t)
    h.check_hooks(t.pid, report)
    h.check_released(t.pid)
    calls = int(result.info.get('calls', '0'))
    h.check(calls >= 1_000_000, f'the target made only {calls} allocator calls in '
            f'{SECONDS} s')
    h.check(report['lost_events'] == 0, f'lost_events {report["lost_events"]}')
    own = report.get('unknown_frees_by_allocator', 0)
    h.check(calls <= report['events'] <= calls + own + MAIN_SLACK,
            f'report counts {report["events"]} events, the threads made {calls} calls, '
            f'the allocator {own} frees of its own (and the main thread at most '
            f'{MAIN_SLACK})')
    harness.log(f'{calls} calls in {SECONDS} s, {report["events"]} events, '
                f'{report["lost_events"]} lost')
    t.send('exit')
    t.wait_exit(0)


harness.main(test)
