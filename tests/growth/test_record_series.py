#!/usr/bin/env python3
"""One `attach --record` file carries each site's growth over time.

grow_steps plants K blocks at planted_grow on every "step".  One
`memtrace attach --record FILE --snapshot-every 0.2` session traces it from
before its first allocation; after each of three rounds of steps the test
waits until FILE was replaced three times (so the last one was taken after
the round), then ends the session with SIGINT (FILE gets a last snapshot).
`memtrace report FILE -o report.html` over that one file must then give:

  - planted_grow a series of many points (not one), times in order, at
    most 256;
  - at every point exactly what grow_steps held after some number of
    steps (n * planted_step_bytes), never falling, holding each round's
    figure somewhere, ending at what it held at the end;
  - base_hold (allocated once at "go", never freed) exactly its bytes
    at every point from its first nonzero one;
  - planted_grow a verdict on that rise (attach's, model/series.c).

`memtrace diff FILE FILE` still reads the file (it ignores the series).
"""
import json
import os
import re
import shutil
import tempfile

import growthcheck
import harness
from growthcheck import Fail, log

ROUNDS = 3
STEPS = 2
EVERY = 0.2


def page_data(html):
    m = re.search(r'<script type="application/json" id="memtrace-data">(.*?)</script>', html,
                  re.S)
    if not m:
        raise Fail('report: no memtrace-data element')
    return json.loads(m.group(1))


def rows_of(data, function):
    return [s for s in data['sites'] if s['function'] == function]


def summed(rows):
    """Live bytes per point, summed over ROWS (one site may be several
    stacks); every row has the same times."""
    n = len(rows[0]['series']['bytes'])
    if any(len(r['series']['bytes']) != n or r['series']['t'] != rows[0]['series']['t']
           for r in rows):
        raise Fail('report: rows of one report have different series times')
    return [sum(r['series']['bytes'][k] for r in rows) for k in range(n)]


def test(h):
    tmp = tempfile.mkdtemp(prefix='mt-recser-')
    try:
        run(h, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, tmp):
    record = os.path.join(tmp, 'record.mtsnap')
    t = growthcheck.start_steps(h)
    m = h.start_memtrace(['attach', str(t.pid), '--interval', '60', '--record', record,
                          '--snapshot-every', str(EVERY)])
    m.wait_tracing()
    t.send('go')
    based = growthcheck.parse_fields(t.expect_line(r'^based .*$', "a 'based' line").group(0))
    held = []
    for _ in range(ROUNDS):
        fields = growthcheck.step(t, STEPS)
        growthcheck.wait_rewritten(record, 3, EVERY)
        held.append(fields['planted_bytes'])
    h.check(m.running(), 'memtrace attach ended while recording')
    rc = growthcheck.sigint(m)
    if not h.check(rc == 0, f'memtrace attach exited {rc} after SIGINT, expected 0'):
        m.dump()
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)
    step_bytes = int(t.result.info['planted_step_bytes'])
    log(f'planted_grow held {held} bytes after each round, {step_bytes} per step; '
        f'base {based}')
    h.check(held == [step_bytes * STEPS * (i + 1) for i in range(ROUNDS)],
            f'grow_steps did not plant what it says: {held}')

    out = os.path.join(tmp, 'report.html')
    r = growthcheck.run_mt(h, ['report', record, '-o', out], engine=False)
    if not growthcheck.check_ok(h, r, '`memtrace report`') or not os.path.isfile(out):
        raise Fail('memtrace report wrote no page')
    with open(out, encoding='utf-8') as f:
        data = page_data(f.read())

    rows = rows_of(data, 'planted_grow')
    if not rows or not all(s['series'] for s in rows):
        raise Fail('report: no planted_grow series')
    ts = rows[0]['series']['t']
    got = summed(rows)
    log(f'planted_grow: {len(got)} points {got} at {ts}')
    h.check(len(got) >= 3 * ROUNDS, f'report: {len(got)} points from one --record file, '
            f'expected at least {3 * ROUNDS}')
    h.check(len(got) <= 256, f'report: {len(got)} points, at most 256 are written')
    h.check(ts == sorted(ts) and ts[-1] > ts[0], f'report: series times not in order: {ts}')
    allowed = {step_bytes * n for n in range(ROUNDS * STEPS + 1)}
    h.check(all(v in allowed for v in got),
            f'report: points {sorted(set(got) - allowed)} are no number of steps')
    h.check(got == sorted(got), 'report: planted_grow fell at some point')
    h.check(all(v in got for v in held), f'report: points {got} miss a round of {held}')
    h.check(got[-1] == held[-1], f'report: last point {got[-1]}, grow_steps held {held[-1]}')
    h.check(sum(s['live_bytes'] for s in rows) == held[-1], 'report: live bytes')
    # the verdict's algorithm is series.c's (unit-tested there and in
    # test_report_html.c); a few steps may read as growing or fluctuating
    h.check(all(s['trend'] in ('growing', 'plateau', 'fluctuating') for s in rows),
            f'report: planted_grow trend {[s["trend"] for s in rows]}, expected a verdict '
            'on its rise')

    base = rows_of(data, 'base_hold')
    if h.check(base and all(s['series'] for s in base), 'report: no base_hold series'):
        b = summed(base)
        first = next((k for k, v in enumerate(b) if v), None)
        h.check(first is not None and all(v == based['base_bytes'] for v in b[first:]),
                f'report: base_hold series {b}, it held {based["base_bytes"]} throughout')

    r = growthcheck.run_mt(h, ['diff', record, record, '--json'], engine=False)
    growthcheck.check_ok(h, r, '`memtrace diff FILE FILE`')


growthcheck.main(test)
