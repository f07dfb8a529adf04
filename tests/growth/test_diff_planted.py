#!/usr/bin/env python3
"""diff shows exactly the planted growth (issue 4).

grow_steps keeps K blocks of known sizes at planted_grow on every "step"
(and churns elsewhere).  One `memtrace attach` session traces it from
before its first allocation; snapshot A is taken after S0 steps, snapshot
B after N more, both from that session, so every block is seen:
`memtrace diff A B --json` must show planted_grow "changed" by exactly
N*K blocks and N*step bytes, everything else "same".

  test_diff_planted.py socket   A and B by `memtrace snapshot PID -o FILE`
                                while the attach runs (answered by the
                                session over its socket)
  test_diff_planted.py record   A and B copied from `attach --record FILE
                                --snapshot-every 0.2` once FILE was
                                replaced three times after the step was
                                confirmed (so its state is after the step)

Both also check: the reverse diff (B A) shrinks by as much and sorts
planted_grow last; the table names planted_grow first; the snapshot files
start with the documented header.
"""
import os
import shutil
import sys
import tempfile

import growthcheck
import harness
from growthcheck import Fail, log

S0 = 2        # steps before A: planted_grow is in both snapshots
N = 5         # steps between A and B
EVERY = 0.2


def copy_fresh(record, dest):
    """Copy RECORD to DEST once it was replaced three times from now: the
    last replacement's state was taken after now (one snapshot at a time)."""
    seen = growthcheck.wait_rewritten(record, 3, EVERY, timeout=30)
    with open(record, 'rb') as f:
        st = os.fstat(f.fileno())
        data = f.read()
    if (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size) in seen[:3]:
        raise harness.Broken('copy_fresh read an old version')
    with open(dest, 'wb') as f:
        f.write(data)


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('socket', 'record'):
        h.broken('usage: test_diff_planted.py socket|record')
    how = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix='mt-growth-')
    try:
        run(h, how, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, how, tmp):
    a, b = os.path.join(tmp, 'a.mtsnap'), os.path.join(tmp, 'b.mtsnap')
    record = os.path.join(tmp, 'record.mtsnap')
    t = growthcheck.start_steps(h)
    args = ['attach', str(t.pid), '--interval', '60']
    if how == 'record':
        args += ['--record', record, '--snapshot-every', str(EVERY)]
    m = h.start_memtrace(args)
    m.wait_tracing()
    growthcheck.go(t)
    fa = growthcheck.step(t, S0)
    if how == 'socket':
        run_a = growthcheck.run_mt(h, ['snapshot', t.pid, '-o', a])
        if not growthcheck.check_ok(h, run_a) or not os.path.isfile(a):
            m.dump()
            raise Fail(f'`memtrace snapshot {t.pid} -o A` while attach runs: no snapshot')
    else:
        copy_fresh(record, a)
    fb = growthcheck.step(t, N)
    if how == 'socket':
        run_b = growthcheck.run_mt(h, ['snapshot', t.pid, '-o', b])
        if not growthcheck.check_ok(h, run_b) or not os.path.isfile(b):
            m.dump()
            raise Fail(f'`memtrace snapshot {t.pid} -o B` while attach runs: no snapshot')
    else:
        copy_fresh(record, b)
    h.check(m.running(), 'memtrace attach ended while snapshots were taken')
    rc = growthcheck.sigint(m)
    if not h.check(rc == 0, f'memtrace attach exited {rc} after SIGINT, expected 0'):
        m.dump()
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)

    k = t.result.info.get('k')
    step_bytes = t.result.info.get('planted_step_bytes')
    if k is None or step_bytes is None:
        h.broken(f'grow_steps printed no info line: {t.result.info}')
    h.check(fb['planted_blocks'] - fa['planted_blocks'] == N * int(k)
            and fb['planted_bytes'] - fa['planted_bytes'] == N * int(step_bytes),
            'grow_steps did not plant what it says')
    log(f'planted: A {fa["planted_blocks"]} blocks {fa["planted_bytes"]} bytes, '
        f'B {fb["planted_blocks"]} blocks {fb["planted_bytes"]} bytes')

    for path in (a, b):
        with open(path, 'rb') as f:
            growthcheck.check_header(h, f.read(), os.path.basename(path))

    report = growthcheck.diff_json(h, a, b)
    growthcheck.check_steps_diff(h, report, fa, fb, t.exe, 'diff A B')
    sites = report['sites']
    h.check(sites[:1] and sites[0].get('function') == 'planted_grow',
            f'diff A B: first row {sites[0].get("function") if sites else None!r}, '
            'expected planted_grow (largest growth)')
    for side in ('a', 'b'):
        meta = report[side]
        h.check(isinstance(meta, dict) and meta.get('pid') == t.pid,
                f'diff A B: "{side}" meta pid {meta.get("pid") if isinstance(meta, dict) else meta!r}'
                f', expected {t.pid}')

    back = growthcheck.diff_json(h, b, a)
    growthcheck.check_steps_diff(h, back, fb, fa, t.exe, 'diff B A')
    rows = [s for s in back['sites'] if not growthcheck.empty_row(s)]
    h.check(rows and rows[-1].get('function') == 'planted_grow',
            f'diff B A: last row holding something {rows[-1].get("function") if rows else None!r}'
            ', expected planted_grow (largest shrink)')

    table = growthcheck.run_mt(h, ['diff', a, b])
    if growthcheck.check_ok(h, table, '`memtrace diff A B` (table)'):
        lines = table.out.splitlines()
        at = [i for i, line in enumerate(lines) if 'planted_grow' in line]
        base = [i for i, line in enumerate(lines) if 'base_hold' in line]
        h.check(at, 'the diff table has no row for planted_grow')
        if at and base:
            h.check(at[0] < base[0], 'the diff table lists base_hold before planted_grow')
        if at:
            h.check('changed' in lines[at[0]],
                    f'the diff table\'s planted_grow row does not say changed: {lines[at[0]]!r}')
        if h.failures:
            table.show()

    if how == 'record':
        # The record written at the end holds B's state: the target was
        # idle since.
        if h.check(os.path.isfile(record), f'no {record} after attach --record ended'):
            last = growthcheck.diff_json(h, b, record)
            growthcheck.check_steps_diff(h, last, fb, fb, t.exe, 'diff B RECORD')
        left = [n for n in os.listdir(os.path.dirname(record)) if '.tmp' in n]
        h.check(not left, f'temporary files left beside the record: {left}')


growthcheck.main(test)
