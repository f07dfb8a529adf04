#!/usr/bin/env python3
"""Snapshots are written atomically (issue 4): `memtrace attach PID --record
FILE --snapshot-every 0.2` on grow_sites (which allocates and frees all the
time).  While FILE is being rewritten, the test reads it over and over: at
every moment it is absent (before the first write) or a whole valid
snapshot -- the documented header, a complete zstd frame, and `memtrace
diff FILE FILE` exits 0.

  test_atomic.py end    memtrace ends by its --duration: FILE is there and
                        valid, and no FILE.tmp-* is left in the directory
  test_atomic.py kill   memtrace is killed (SIGKILL) while recording: FILE
                        is still absent or valid, never half-written
"""
import os
import shutil
import signal
import sys
import tempfile
import time

import growthcheck
import harness
from growthcheck import Fail, log

EVERY = 0.2
DURATION = 5.0
KILL_AFTER = 3.0


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('end', 'kill'):
        h.broken('usage: test_atomic.py end|kill')
    tmp = tempfile.mkdtemp(prefix='mt-growth-')
    try:
        run(h, sys.argv[1], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_whole(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def check_valid(h, data, what):
    ok = growthcheck.check_header(h, data, what)
    whole = growthcheck.zstd_ok(data[12:])
    if whole is not None:
        ok &= h.check(whole, f'{what}: the zstd frame after the header is not complete')
    return ok


def run(h, mode, tmp):
    record = os.path.join(tmp, 'rec.mtsnap')
    t = h.start_target('grow_sites')
    args = ['attach', str(t.pid), '--interval', '60', '--record', record,
            '--snapshot-every', str(EVERY)]
    if mode == 'end':
        args += ['--duration', str(DURATION)]
    m = h.start_memtrace(args)
    m.wait_tracing()
    t.send('go')
    t.expect_line(r'^info ', "grow_sites' info line")

    harness.wait_until(lambda: os.path.exists(record) or not m.running(),
                       f'the first {record}', timeout=30)
    start = time.monotonic()
    versions, reads, diffs, bad = set(), 0, 0, 0
    deadline = start + (DURATION + 60 if mode == 'end' else KILL_AFTER)
    while m.running() and time.monotonic() < deadline:
        data = read_whole(record)
        if data is not None:
            reads += 1
            if not check_valid(h, data, f'{record} read {reads}'):
                bad += 1
                with open(os.path.join(tmp, 'bad.bin'), 'wb') as f:
                    f.write(data)
                break
        if growthcheck.file_id(record) is not None:
            versions.add(growthcheck.file_id(record))
            r = growthcheck.run_mt(h, ['diff', record, record])
            diffs += 1
            if r.rc != 0 and os.path.exists(record):
                h.check(False, f'`memtrace diff FILE FILE` exited {r.rc} while FILE was '
                        f'rewritten (check {diffs})')
                r.show()
                bad += 1
                break
    log(f'{reads} reads, {diffs} diffs, {len(versions)} versions of the record seen in '
        f'{time.monotonic() - start:.1f} s')

    if mode == 'end':
        rc = m.wait(timeout=DURATION + 60, what='end after its --duration')
        if not h.check(rc == 0, f'memtrace attach --record exited {rc}, expected 0'):
            m.dump()
        h.check(len(versions) >= 5,
                f'only {len(versions)} versions of the record in {DURATION} s at '
                f'--snapshot-every {EVERY}')
        data = read_whole(record)
        if h.check(data is not None, f'no {record} after attach --record ended'):
            check_valid(h, data, 'the record after the end')
            r = growthcheck.run_mt(h, ['diff', record, record])
            growthcheck.check_ok(h, r, '`memtrace diff FILE FILE` after the end')
        left = sorted(n for n in os.listdir(tmp) if n != os.path.basename(record))
        h.check(not left, f'files left beside the record: {left}')
        h.check_released(t.pid)
        t.send('exit')
        t.expect_line(r'^bye ', "grow_sites' bye line")
        t.wait_exit(0)
    else:
        h.check(m.running(), 'memtrace ended before it was killed')
        h.check(len(versions) >= 3,
                f'only {len(versions)} versions of the record in {KILL_AFTER} s at '
                f'--snapshot-every {EVERY}')
        os.kill(m.pid, signal.SIGKILL)
        m.wait(what='die of SIGKILL')
        # Its breakpoints are still in the target, which would trap.
        t.kill()
        data = read_whole(record)
        if data is not None:
            check_valid(h, data, 'the record after SIGKILL')
            r = growthcheck.run_mt(h, ['diff', record, record])
            growthcheck.check_ok(h, r, '`memtrace diff FILE FILE` after SIGKILL')
        left = sorted(n for n in os.listdir(tmp) if n != os.path.basename(record))
        log(f'left after SIGKILL: {left or "nothing"} (a temporary may stay; FILE is whole)')
    if bad:
        raise Fail(f'{bad} invalid reads of the record')


growthcheck.main(test)
