#!/usr/bin/env python3
"""Tracing ends while 8 threads are in the middle of their allocator storm
(target_threads, 262144 calls: several seconds under the breakpoint
engine), by each way it can end:

    test_detach_busy.py sigint | sigterm | sighup | duration

memtrace must end with status 0 and print its report; every hooked byte is
the ELF file's again, every thread is released and running (none left at a
hook, in memtrace's page, or returning into its trap), and the target
finishes its own work with the checksum it prints untraced.  The signal is
sent once the 8 workers exist (the storm lasts seconds traced), --duration
1 ends it by itself; the test checks the target was still working at that point
(memtrace saw fewer events than the storm makes).  The storm allocates
faster than memtrace accounts: the inject engine's agent drops what finds
its ring full (the default), so the report may count lost events, and as
many inconsistencies at most (a dropped free whose address was allocated
again); the breakpoint engine loses none.  memtrace runs with --verbose,
whose counts must be the report's: printed after the final drain of the
rings, not before."""
import os
import signal
import sys

import harness

# Several seconds of storm under either engine: the in-process engine runs
# it at nearly full speed.
CALLS = 262144 if harness.test_engine() == 'breakpoint' else 1 << 26
SIGNALS = {'sigint': signal.SIGINT, 'sigterm': signal.SIGTERM, 'sighup': signal.SIGHUP}


def test(h):
    how = sys.argv[1] if len(sys.argv) == 2 else None
    if how not in (*SIGNALS, 'duration'):
        h.broken('usage: test_detach_busy.py sigint|sigterm|sighup|duration')
    args = [str(CALLS)]
    t = h.start_target('target_threads', args)
    duration = '1' if how == 'duration' else '0'
    m = h.start_memtrace(['histo', str(t.pid), '--json', '--verbose', '--duration', duration])
    m.wait_tracing()
    t.send('go')
    # The storm is under way once the 8 workers exist (an event, not a sleep).
    harness.wait_until(lambda: len(harness.thread_ids(t.pid)) >= 9,
                       "target_threads' 8 workers to start")
    if how in SIGNALS:
        os.kill(m.pid, SIGNALS[how])
    report = m.finish()
    h.check(m.saw(f'memtrace: detached from pid {t.pid}') is not None,
            f"no 'memtrace: detached from pid {t.pid}' line on memtrace's stderr")
    want_end = 'duration' if how == 'duration' else 'signal'
    h.check(report['end_reason'] == want_end,
            f'end_reason {report["end_reason"]!r}, expected {want_end!r}')
    h.check_engine_line(m, report)
    lost, bad = report['lost_events'], report['inconsistencies']
    if harness.test_engine() == 'breakpoint':
        h.check(lost == 0, f'lost_events {lost}')
    h.check(0 <= bad <= lost, f'{bad} inconsistencies, {lost} lost events '
            '(at most as many expected)')
    h.check_hooks(t.pid, report)
    h.check_released(t.pid)
    # The target goes on untraced and must finish exactly as without memtrace.
    result = t.collect()
    calls = int(result.info.get('calls', '0'))
    h.check(0 < report['events'] < calls,
            f'memtrace saw {report["events"]} of the storm\'s {calls} calls: tracing did not '
            'end in the middle of it, so the test proves nothing')
    t.send('exit')
    t.wait_exit(0)
    untraced = h.run_untraced('target_threads', args)
    h.check(result.done == untraced.done,
            f'done line after the detach: {result.done}\n      done line untraced: {untraced.done}')
    harness.log(f'detach by {how} after {report["events"]} of {calls} calls, '
                f'{report["in_flight"]} in flight; done {result.done}')


harness.main(test)
