#!/usr/bin/env python3
"""histo on target_exec, which executes a new program while traced.

    test_exec.py                      the main thread execs
    test_exec.py --exec-from-thread   a second thread execs while a third
                                      one sleeps (the kernel kills the
                                      others; the exec'ing thread takes
                                      over the PID)

memtrace must say `memtrace: pid PID executed a new program; tracing
stopped`, end by itself with status 0 and end_reason "target_exec", and
report what the old program did exactly; the new program must run
untraced (it prints its TracerPid) and exit 0."""
import sys

import harness

ARGS = sys.argv[1:]


def test(h):
    t = h.start_target('target_exec', ARGS)
    m = h.attach(t)
    t.send('go')
    result = t.collect()
    t.send('exec')
    report = m.finish()
    h.check(m.saw(f'memtrace: pid {t.pid} executed a new program; tracing stopped'),
            f"no 'memtrace: pid {t.pid} executed a new program; tracing stopped' line")
    h.check_report(report, result, t, end_reason='target_exec')
    h.check_tracing_line(m, report)
    ok = t.expect_line(r'^exec-ok tracerpid=(-?\d+) ', "the new program's 'exec-ok' line")
    h.check(ok.group(1) == '0', f'the new program is still traced: TracerPid {ok.group(1)}')
    t.wait_exit(0)

    untraced = h.run_untraced('target_exec', ARGS, finish='exec')
    h.check(result.done == untraced.done,
            f'done line traced:   {result.done}\n      done line untraced: {untraced.done}')


harness.main(test)
