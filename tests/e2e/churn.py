"""Helpers for the tests on tests/targets/target_churn.c (many threads of
random-size malloc/free in passes, until "stop"), on top of harness.py."""

import shutil
import subprocess
import time

import harness


def status(t):
    """(passes completed by the target's slowest thread now, that thread's id)."""
    t.send('status')
    m = t.expect_line(r'^status passes=\d+ min_passes=(\d+) slowest=(\d+)$',
                      "the answer to 'status'")
    return int(m.group(1)), int(m.group(2))


def min_passes(t):
    """The passes completed by the target's slowest thread, now."""
    return status(t)[0]


def thread_report(pid, tid):
    """What thread TID of PID is doing: its state, wait channel, system call
    and, where gdb is installed, its stack."""
    out = []
    for name in ('stat', 'wchan', 'syscall'):
        try:
            with open(f'/proc/{pid}/task/{tid}/{name}') as f:
                out.append(f'{name}: {f.read().strip()}')
        except OSError as e:
            out.append(f'{name}: {e}')
    gdb = shutil.which('gdb')
    if gdb:
        try:
            r = subprocess.run([gdb, '-batch', '-nx', '-p', str(tid), '-ex', 'bt 12'],
                               capture_output=True, text=True, timeout=60)
            out.append(r.stdout.strip())
        except (OSError, subprocess.TimeoutExpired) as e:
            out.append(f'gdb: {e}')
    return '\n'.join(out)


def wait_min_passes(t, at_least):
    """Until every thread completed AT_LEAST passes: asks again each time the
    target says some passes ended (its "passes N" lines).  Fails after
    harness.TIMEOUT, naming the slowest thread and what it is doing: the
    other threads' "passes N" lines alone would never end the wait."""
    deadline = time.monotonic() + harness.TIMEOUT
    while True:
        now, slowest = status(t)
        if now >= at_least:
            return now
        if time.monotonic() > deadline:
            raise harness.Fail(
                f'thread {slowest} of the target stayed at {now} passes for '
                f'{harness.TIMEOUT:.0f} s ({at_least} wanted) while others went on:\n'
                + thread_report(t.pid, slowest))
        t.expect_line(r'^passes \d+$', f'more passes (every thread at {at_least} wanted, '
                      f'the slowest at {now})')


def untraced_checksum(h, threads, calls):
    """The checksum of one untraced pass per thread."""
    result = h.run_untraced('target_churn', [str(threads), str(calls), '1'])
    if not result.checksum:
        h.broken(f'untraced target_churn printed no checksum: {result.done}')
    return result.checksum


def start_running(h, threads, calls, pause_us=0):
    """target_churn THREADS CALLS 0 [PAUSE_US], told to go (its threads
    exist before "ready")."""
    args = [str(threads), str(calls), '0'] + ([str(pause_us)] if pause_us else [])
    t = h.start_target('target_churn', args)
    return t


def stop_and_check(h, t, want_checksum, what):
    """Stop the target's passes; it must exit 0 with WANT_CHECKSUM, every
    pass of every thread alike.  Returns its Result."""
    t.send('stop')
    result = t.collect()
    t.send('exit')
    t.wait_exit(0)
    h.check(result.info.get('bad_passes') == '0',
            f'{what}: {result.info.get("bad_passes")} passes gave another checksum than '
            'their thread\'s first')
    h.check(result.checksum == want_checksum,
            f'{what}: checksum {result.checksum}, untraced {want_checksum}')
    harness.log(f'{what}: {result.info.get("passes")} passes, checksum {result.checksum} '
                f'(untraced {want_checksum})')
    return result
