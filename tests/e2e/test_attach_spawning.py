#!/usr/bin/env python3
"""memtrace attaches to and detaches from a process that creates threads
without pause (target_spawner), 20 times in a row: every attach must
succeed and every detach leave the target whole.

Two races live here.  A thread created by one already seized is traced
from birth: seizing it again fails (EPERM), which once made memtrace give
up with "already traced by memtrace".  And a thread stopped at its
PTRACE_EVENT_CLONE stop is inside clone(): a syscall injected into it
there (the census copy's reaping at detach) once restored the kernel's
registers and ran clone() a second time, a second thread on the first's
stack, which crashed the target.  target_spawner checks each thread's stack
and return value and dies on any mismatch, so a crash, a lost "done" line
or an exit status other than 0 fails the test."""
import harness

CYCLES = 20


def test(h):
    t = h.start_target('target_spawner')
    t.send('go')
    t.expect_line(r'^spawning$', "'spawning'")
    for cycle in range(1, CYCLES + 1):
        m = h.start_memtrace(['histo', str(t.pid), '--json', '--duration', '0.2'])
        report = m.finish()
        h.check(report['end_reason'] == 'duration',
                f'cycle {cycle}: end_reason {report["end_reason"]!r}, expected duration')
        h.check(t.popen.poll() is None,
                f'cycle {cycle}: the target died (status {t.popen.poll()}) when memtrace '
                'detached')
        if h.failures:
            return
        h.check_released(t.pid)
    t.send('stop')
    result = t.collect()
    threads = int(dict(w.split('=', 1) for w in result.done.split())['threads'])
    h.check(threads > 0, 'the target created no thread')
    t.send('exit')
    t.wait_exit(0)
    harness.log(f'{CYCLES} attaches and detaches while {threads} threads were created')


harness.main(test)
