#!/usr/bin/env python3
"""100 attach/detach cycles on a running 8-thread allocator storm.

target_churn 8 CALLS 0 (8 threads of random 16 B - 4 KiB malloc, calloc,
realloc and free, pass after pass) runs; then CYCLES times

    memtrace histo PID --duration 0.2 --json      (--engine MT_TEST_ENGINE)

must exit 0 with a report that traced events of the storm (events > 0,
end_reason duration; lost_events 0 with the breakpoint engine, and with
inject no more inconsistencies than lost events: its agent drops what
finds its ring full) and leave every thread untraced and running.  After the cycles, while the target still runs:

  - the first 16 code bytes of malloc, free, calloc and realloc in the
    target's C library, read from /proc/PID/mem at the addresses its
    dynamic symbols and /proc/PID/maps give, are the library file's;
  - every thread completes one more whole pass;

then, told to stop, the target exits 0, every pass of every thread gave
the same checksum, and the checksum is that of an untraced run.

E2E_CYCLES (default 100) and E2E_CYCLES_CALLS (calls per pass) override."""
import os

import churn
import harness

THREADS = 8
CYCLES = int(os.environ.get('E2E_CYCLES', '0')) or 100
CALLS = int(os.environ.get('E2E_CYCLES_CALLS', '0')) or 20000


def test(h):
    untraced = churn.untraced_checksum(h, THREADS, CALLS)
    t = churn.start_running(h, THREADS, CALLS)
    t.send('go')
    t.expect_line(r'^passes \d+$', "the target's first passes")   # the storm runs

    engines = set()
    events = []
    report = None
    for i in range(CYCLES):
        m = h.start_memtrace(['histo', str(t.pid), '--duration', '0.2', '--json'])
        tr = m.wait_tracing()
        engines.add(tr.group(6))
        try:
            report = m.finish()
        except harness.Fail as e:
            m.dump()
            raise harness.Fail(f'cycle {i + 1} of {CYCLES}: {e}') from None
        h.check_engine(report['engine'], f'cycle {i + 1}: the report')
        events.append(report['events'])
        ok = h.check(report['end_reason'] == 'duration',
                     f'cycle {i + 1}: end_reason {report["end_reason"]!r}, expected duration')
        ok &= h.check(report['events'] > 0,
                      f'cycle {i + 1}: {report["events"]} events traced in 0.2 s of the storm')
        # the storm outruns memtrace: the agent drops and counts (the
        # default); an inconsistency needs a dropped free
        lost, bad = report['lost_events'], report['inconsistencies']
        if report['engine'] == 'breakpoint':
            ok &= h.check(lost == 0, f'cycle {i + 1}: lost_events {lost}')
        ok &= h.check(0 <= bad <= lost, f'cycle {i + 1}: {bad} inconsistencies, '
                      f'{lost} lost events (at most as many expected)')
        h.check_released(t.pid)
        if not ok or h.failures:
            m.dump()
            h.fail(f'stopping after cycle {i + 1} of {CYCLES}')
    harness.log(f'{CYCLES} cycles, engine {", ".join(sorted(engines))}: events per cycle '
                f'min {min(events)}, max {max(events)}, total {sum(events)}')

    # Nothing left in the allocator's code, checked while the storm runs.
    checked = h.check_entry_bytes(t.pid)
    harness.log(f'{checked} allocator entries hold the C library file\'s bytes')
    h.check_hooks(t.pid, report)
    seen = churn.min_passes(t)
    churn.wait_min_passes(t, seen + 1)
    churn.stop_and_check(h, t, untraced, f'target after {CYCLES} cycles')


harness.main(test)
