#!/usr/bin/env python3
"""histo on target_signals: SIGUSR1 (tgkill, each acknowledged) and SIGALRM
(ITIMER_REAL every 2 ms) storms while the main thread allocates; every
signal must reach its handler (the counts on the done line equal the
untraced run's) and the allocation counts stay exact.

During the storm the test also stops the traced target with SIGSTOP: every
thread must reach a stopped state ('T', or 't' under ptrace) and stay there
without running, then SIGCONT must let it run again and finish."""
import os
import signal
import time

import harness

STILL_S = 0.5           # how long a stopped target is watched
STILL_MAX_NS = 50e6     # CPU time it may use meanwhile (polling noise)


def all_stopped(pid):
    states = harness.thread_states(pid)
    return states and all(c in 'tT' for c in states.values())


def stop_and_continue(h, t, m):
    t.expect_line(r'^storm$', "'storm'")
    os.kill(t.pid, signal.SIGSTOP)
    sent = harness.run_time_ns(t.pid)
    try:
        harness.wait_until(lambda: all_stopped(t.pid),
                           'every thread of the target to stop after SIGSTOP')
    except harness.Fail as e:
        h.fail(f'{e}: thread states {harness.thread_states(t.pid)}, '
               f'{(harness.run_time_ns(t.pid) - sent) / 1e6:.0f} ms of CPU used since SIGSTOP')
    before = harness.run_time_ns(t.pid)
    end = time.monotonic() + STILL_S
    while time.monotonic() < end:
        states = harness.thread_states(t.pid)
        if not all(c in 'tT' for c in states.values()):
            h.check(False, f'a thread ran again while the target was stopped: {states}')
            break
        time.sleep(0.01)
    ran = harness.run_time_ns(t.pid) - before
    h.check(ran < STILL_MAX_NS,
            f'the stopped target used {ran / 1e6:.1f} ms of CPU in {STILL_S} s')
    h.check(m.running(), 'memtrace ended while the target was stopped')
    os.kill(t.pid, signal.SIGCONT)
    harness.wait_until(lambda: harness.run_time_ns(t.pid) > before + ran + 20e6,
                       'the target to run again after SIGCONT')
    t.send('finish')


def storm_untraced(t):
    t.expect_line(r'^storm$', "'storm'")
    t.send('finish')


def check(h, report, result):
    words = dict(w.split('=', 1) for w in result.done.split()[1:])
    h.check(words.get('usr1') == '2000' and words.get('alrm') == '100'
            and words.get('lost') == '0',
            f'signals handled while traced: {result.done}; expected usr1=2000 alrm=100 lost=0')
    h.check(report['threads'] == 3,
            f'report says at most {report["threads"]} threads at once, expected 3')


# spin_alloc allocates as fast as it can until the storm ends, faster than
# memtrace accounts: exact counts need --lossless (test_threads.py --drop
# covers the default, which drops and counts).
harness.main(lambda h: h.scenario(
    'target_signals',
    memtrace_args=['--lossless'],
    during=lambda t, m: stop_and_continue(h, t, m),
    during_untraced=storm_untraced,
    report_check=lambda r, res: check(h, r, res)))
