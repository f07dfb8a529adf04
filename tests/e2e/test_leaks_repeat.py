#!/usr/bin/env python3
"""memtrace leaks, 20 times in a row, on a busy multi-threaded target: it
keeps running unharmed.

target_churn (tests/targets/target_churn.c) runs 4 threads of random-size
malloc, calloc, realloc and free in passes until "stop"; every pass of a
thread makes the same calls and must give the same checksum, and the
checksum of the first passes is that of an untraced run.  While it runs,
`memtrace leaks PID --json` 20 times: each run exits 0 with a complete
report of the target, finds nothing lost (every block the threads hold is
in their slot tables, on their stacks, or in a register), leaves no thread
traced or stopped and no copy of the target behind; the target is still
alive after each.  After the 20 runs every thread completes more passes,
and on "stop" the target exits 0 with no bad pass and the untraced
checksum.
"""
import churn
import harness
import leaks

RUNS = 20
THREADS = 4
CALLS = 20000


def test(h):
    want = churn.untraced_checksum(h, THREADS, CALLS)
    t = churn.start_running(h, THREADS, CALLS)
    t.send('go')
    churn.wait_min_passes(t, 1)
    for run in range(1, RUNS + 1):
        r = leaks.run(h, t.pid)
        for kind in ('definitely_lost', 'indirectly_lost'):
            h.check(r[kind]['blocks'] == 0, f'run {run}: {kind} {r[kind]}: the target holds '
                    'every block it made')
        h.check(t.running(), f'run {run}: the target died (status {t.popen.poll()})')
        if h.failures:
            return
        h.check_released(t.pid)
        leaks.check_no_child(h, t.pid, f'run {run}')
        harness.log(f'run {run}: paused {r["paused_ms"]} ms, took {r["took_ms"]} ms, '
                    f'{r["reachable"]["blocks"]} blocks reachable')
    before = churn.min_passes(t)
    churn.wait_min_passes(t, before + 1)
    churn.stop_and_check(h, t, want, f'after {RUNS} leak checks')


harness.main(test)
