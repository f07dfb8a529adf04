#!/usr/bin/env python3
"""memtrace attach PID --verbose --duration 1 on a 50-thread target says
how long it kept the threads stopped:

    memtrace: threads were stopped X ms to attach and hook
    memtrace: threads were stopped X ms to detach

Both lines must appear once, each with a number (no threshold: timing
belongs in bench/run.py).  With the inject engine, the agent must read
thread ids from the thread pointer (`thread ids at %fs:0x...`), not with
a gettid() system call per allocator call: a 4 KiB probe past a thread
pointer near the end of its stack's mapping once failed, and every call
then made a system call (the 2-thread bench ran 8x slower).  The target (target_churn 50 CALLS 0 PAUSE_US:
50 threads allocating in short passes with a pause between them) runs
during the attach, is released afterwards, and ends with the checksum of
an untraced run."""
import re

import churn
import harness

THREADS = 50
CALLS = 2000
PAUSE_US = 1000
STOP_RE = re.compile(r'^memtrace: threads were stopped (\d+(?:\.\d+)?) ms to (attach and hook|detach)$')


def test(h):
    untraced = churn.untraced_checksum(h, THREADS, CALLS)
    t = churn.start_running(h, THREADS, CALLS, PAUSE_US)
    t.send('go')
    t.expect_line(r'^passes \d+$', "the target's first passes")
    m = h.start_memtrace(['attach', str(t.pid), '--verbose', '--duration', '1'])
    tr = m.wait_tracing()
    h.check(int(tr.group(3)) == THREADS + 1,
            f'tracing line says {tr.group(3)} threads, the target has {THREADS + 1}')
    rc = m.wait(what='end after --duration 1')
    if not h.check(rc == 0, f'memtrace attach exited {rc}, expected 0'):
        m.dump()
    errors = [line for line in m.err.lines if line.startswith('memtrace: error')]
    h.check(not errors, f'memtrace printed errors: {errors}')
    times = {}
    for line in m.err.lines:
        s = STOP_RE.match(line)
        if s:
            times.setdefault(s.group(2), []).append(float(s.group(1)))
    for what in ('attach and hook', 'detach'):
        h.check(len(times.get(what, [])) == 1,
                f"'threads were stopped X ms to {what}': {len(times.get(what, []))} such "
                f'lines, expected 1')
    if tr.group(6) == 'inject':
        agent = [line for line in m.err.lines
                 if line.startswith('memtrace: agent:') and 'events dropped' in line]
        h.check(len(agent) == 1 and re.search(r'thread ids at %fs:0x[0-9a-f]+', agent[0]),
                f"the agent line should say 'thread ids at %fs:0x...': {agent}")
    if h.failures:
        m.dump()
    harness.log(f'engine {tr.group(6)}, {THREADS + 1} threads: stopped '
                + ', '.join(f'{v[0]:.1f} ms to {k}' for k, v in times.items()))
    h.check_released(t.pid)
    churn.wait_min_passes(t, churn.min_passes(t) + 1)
    churn.stop_and_check(h, t, untraced, 'the 50-thread target')


harness.main(test)
