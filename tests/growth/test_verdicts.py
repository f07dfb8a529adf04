#!/usr/bin/env python3
"""attach's verdicts (issue 4): grow_sites has four sites whose live bytes
rise for ever (leak_steady), rise then hold (grow_plateau), stay flat under
heavy churn (churn_ring) and fall (shrink_pool), paced by the target
itself.  `memtrace attach PID --interval 0.3 --duration 6` must give each
its verdict at the end, rank the leak first, and show the churn.

  test_verdicts.py json   --json: JSON Lines, one object per interval and a
                          final one ("final": true); per site live_bytes,
                          live_blocks, delta_bytes, delta_blocks,
                          rate_bytes_per_min, trend, churn_allocs,
                          churn_frees, sparkline; deltas agree with the
                          series; the final object ranks leak_steady first
  test_verdicts.py text   the table: in the final summary each site's row
                          holds its verdict word and a sparkline

A second argument N runs grow_sites --plateau-ms N: grow_plateau grows for
N ms instead of 2000 (2700: it rises for nearly half the run and holds for the
other half, still a plateau).  3000 sat on the edge: the rise starts at
`go`, after tracing began, so it ended past the trace's midpoint and on a
loaded machine the later half of the series could still be rising.

shrink_pool fills its pool (400 mallocs) in its first tick after `go`, after
tracing began.  With the breakpoint engine on a loaded machine that fill can
take longer than an interval (once: 156672 -> 191488 -> 407552 bytes over the
first three), and then the series really rises before it falls: memtrace is
right to call it fluctuating.  So the test reads the series first: when the
fill spanned intervals (the pool's peak is not its first interval), the
series must rise only to the full pool and fall from there, and the verdict
may be shrinking or fluctuating; otherwise it must be shrinking.
"""
import json
import os
import sys

import growthcheck
from growthcheck import Fail, log

INTERVAL = 0.3
DURATION = 6

LEAK, PLATEAU, CHURN, SHRINK = 'leak_steady', 'grow_plateau', 'churn_ring', 'shrink_pool'
WANT = {
    LEAK: ('growing',),
    PLATEAU: ('plateau',),
    CHURN: ('flat', 'fluctuating'),
    SHRINK: ('shrinking',),
}
SITE_KEYS = ('function', 'live_bytes', 'live_blocks', 'delta_bytes', 'delta_blocks',
             'rate_bytes_per_min', 'trend', 'churn_allocs', 'churn_frees', 'sparkline')


def run_attach(h, extra, target_args=()):
    """grow_sites TARGET_ARGS under `attach --interval 0.3 --duration 6
    EXTRA`, which must end by itself with 0; returns (target, info,
    memtrace)."""
    t = h.start_target('grow_sites', target_args)
    args = ['attach', str(t.pid), '--interval', str(INTERVAL), '--duration', str(DURATION),
            *extra]
    m = h.start_memtrace(args)
    m.wait_tracing()
    t.send('go')
    info = growthcheck.parse_fields(t.expect_line(r'^info .*$', "grow_sites' info line").group(0))
    rc = m.wait(timeout=DURATION + 60, what='end after its --duration')
    if rc != 0:
        m.dump()
        raise Fail(f'`memtrace {" ".join(args)}` exited {rc}, expected 0')
    h.check_released(t.pid)
    h.check(t.running(), 'grow_sites died while traced')
    t.send('exit')
    t.expect_line(r'^bye ', "grow_sites' bye line")
    t.wait_exit(0)
    return t, info, m


def sizes(info):
    return {LEAK: info['leak_size'], PLATEAU: info['plateau_size'], CHURN: info['ring_size'],
            SHRINK: info['pool_size']}


def by_function(obj):
    rows = {}
    for s in obj.get('sites', []):
        rows.setdefault(s.get('function'), []).append(s)
    return rows


def series_text(objects, fn):
    vals = []
    for o in objects:
        rows = by_function(o).get(fn)
        vals.append(str(rows[0].get('live_bytes')) if rows else '-')
    return ' '.join(vals)


def fill_spanned(h, pool, info):
    """POOL: shrink_pool's live bytes per interval.  True when its fill took
    more than one interval (module docstring); checks that the series rose
    only to the full pool and never rose after its peak."""
    if not pool:
        return False
    full = info['pool_n'] * info['pool_size']
    peak = pool.index(max(pool))
    h.check(max(pool) <= full, f'{SHRINK}: {max(pool)} live bytes, more than its pool {full}')
    rising = pool[:peak + 1]
    falling = pool[peak:]
    bad = [(a, b) for a, b in zip(rising, rising[1:]) if b < a]
    bad += [(a, b) for a, b in zip(falling, falling[1:]) if b > a]
    h.check(not bad, f'{SHRINK}: live bytes went the wrong way between intervals: {bad[:3]} '
            f'(series {pool})')
    if peak:
        log(f'{SHRINK}: its fill spanned {peak + 1} intervals ({pool[:peak + 1]}): '
            'shrinking or fluctuating are both right')
    return peak > 0


def test_json(h, target_args):
    t, info, m = run_attach(h, ['--json'], target_args)
    lines = [line for line in m.out.lines if line.strip()]
    objects = []
    for i, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except ValueError as e:
            log(f'--- stdout line {i + 1}: {line[:300]}')
            raise Fail(f'attach --json: stdout line {i + 1} is not one JSON object: {e}') \
                from None
        if not isinstance(obj, dict):
            raise Fail(f'attach --json: stdout line {i + 1} is not a JSON object')
        if 'sites' not in obj or not isinstance(obj['sites'], list):
            raise Fail(f'attach --json: object {i + 1} has no "sites" list: keys {sorted(obj)}')
        objects.append(obj)
    if not objects:
        raise Fail('attach --json printed nothing on stdout')
    final = objects[-1]
    intervals = objects[:-1]
    h.check(final.get('final') is True, f'the last object has "final": {final.get("final")!r}, '
            'expected true')
    for i, o in enumerate(intervals):
        h.check(o.get('final') in (None, False),
                f'interval object {i + 1} has "final": {o.get("final")!r}')
    # 6 s / 0.3 s = 20 intervals; a loaded machine may delay some.
    h.check(8 <= len(intervals) <= DURATION / INTERVAL + 3,
            f'{len(intervals)} interval objects for --duration {DURATION} --interval {INTERVAL}')

    size = sizes(info)
    for i, o in enumerate(objects):
        for s in o['sites']:
            missing = [k for k in SITE_KEYS if k not in s]
            if missing:
                raise Fail(f'object {i + 1}: site without {missing}: '
                           f'{json.dumps(s, sort_keys=True)[:400]}')
            h.check(s['trend'] in growthcheck.TRENDS,
                    f'object {i + 1}: site {s["function"]} has trend {s["trend"]!r}')
        rows = by_function(o)
        for fn, sz in size.items():
            mine = rows.get(fn, [])
            h.check(len(mine) <= 1, f'object {i + 1}: {len(mine)} rows for {fn}, expected one')
            for s in mine:
                h.check(s['live_bytes'] == s['live_blocks'] * sz,
                        f'object {i + 1}: {fn} live_bytes {s["live_bytes"]} != live_blocks '
                        f'{s["live_blocks"]} * {sz}')

    # delta_* is the change since the previous interval.
    prev = {}
    for i, o in enumerate(intervals):
        rows = by_function(o)
        for fn in size:
            if fn not in rows:
                continue
            s = rows[fn][0]
            pb, pk = prev.get(fn, (0, 0))     # the first: since attach
            h.check(s['delta_bytes'] == s['live_bytes'] - pb
                    and s['delta_blocks'] == s['live_blocks'] - pk,
                    f'interval {i + 1}: {fn} delta_bytes {s["delta_bytes"]} delta_blocks '
                    f'{s["delta_blocks"]}, but live went {pb} -> {s["live_bytes"]} bytes, '
                    f'{pk} -> {s["live_blocks"]} blocks')
            prev[fn] = (s['live_bytes'], s['live_blocks'])
        for fn in list(prev):
            if fn not in rows:
                prev[fn] = (0, 0)

    # The shapes themselves (what the target did), so a wrong verdict is
    # memtrace's fault: the leak and the plateau never fall; the pool
    # (fill_spanned) rises only while it fills.
    for fn, direction in ((LEAK, 1), (PLATEAU, 1)):
        vals = [by_function(o)[fn][0]['live_bytes'] for o in intervals if fn in by_function(o)]
        bad = [(a, b) for a, b in zip(vals, vals[1:]) if (b - a) * direction < 0]
        h.check(not bad, f'{fn}: live bytes went the wrong way between intervals: {bad[:3]}')

    for fn in size:
        log(f'{fn:>13}: {series_text(objects, fn)}')

    want_of = dict(WANT)
    pool = [by_function(o)[SHRINK][0]['live_bytes'] for o in intervals
            if SHRINK in by_function(o)]
    if fill_spanned(h, pool, info):
        want_of[SHRINK] = ('shrinking', 'fluctuating')

    rows = by_function(final)
    for fn, want in want_of.items():
        if not h.check(fn in rows, f'the final object has no row for {fn}'):
            continue
        s = rows[fn][0]
        h.check(s['trend'] in want,
                f'final verdict of {fn} is {s["trend"]!r}, expected {" or ".join(want)} '
                f'(live bytes per interval: {series_text(objects, fn)})')
        h.check(isinstance(s['sparkline'], str) and len(s['sparkline']) >= 2,
                f'{fn}: sparkline {s["sparkline"]!r}')
    final_fns = [s.get('function') for s in final['sites']]
    h.check(final_fns[:1] == [LEAK],
            f'the final object ranks {final_fns[:4]}, expected {LEAK} first '
            '(evidence for growth, not size)')
    if LEAK in rows:
        h.check(rows[LEAK][0]['rate_bytes_per_min'] > 0,
                f'{LEAK}: rate_bytes_per_min {rows[LEAK][0]["rate_bytes_per_min"]}, expected > 0')
    if SHRINK in rows:
        h.check(rows[SHRINK][0]['rate_bytes_per_min'] < 0,
                f'{SHRINK}: rate_bytes_per_min {rows[SHRINK][0]["rate_bytes_per_min"]}, '
                'expected < 0')

    # Churn: the ring frees and reallocates churn_per_tick blocks every
    # tick (one each 20 ms), about 240 per 0.3 s interval while its live
    # blocks stay at ring_n; the leak frees nothing.
    per_tick = info['churn_per_tick']
    churny = 0
    for i, o in enumerate(intervals):
        r = by_function(o)
        if CHURN in r and i > 0:
            c = r[CHURN][0]
            if c['churn_allocs'] >= per_tick and c['churn_frees'] >= per_tick:
                churny += 1
            h.check(c['live_blocks'] in (info['ring_n'], info['ring_n'] - 1),
                    f'interval {i + 1}: {CHURN} holds {c["live_blocks"]} blocks, the ring has '
                    f'{info["ring_n"]}')
        if LEAK in r:
            h.check(r[LEAK][0]['churn_frees'] == 0,
                    f'interval {i + 1}: {LEAK} churn_frees {r[LEAK][0]["churn_frees"]}, it '
                    'frees nothing')
    h.check(churny >= len(intervals) // 2,
            f'{CHURN} shows churn (>= {per_tick} allocs and frees) in only {churny} of '
            f'{len(intervals)} intervals: '
            + ' '.join(f'{s["churn_allocs"]}/{s["churn_frees"]}'
                       for o in intervals for s in by_function(o).get(CHURN, [])))
    if CHURN in rows:
        c = rows[CHURN][0]
        h.check(c['churn_allocs'] > 0 and c['churn_frees'] > 0,
                f'final object: {CHURN} churn_allocs {c["churn_allocs"]} churn_frees '
                f'{c["churn_frees"]}, expected both > 0')


UNITS = {'B': 1, 'KiB': 1 << 10, 'MiB': 1 << 20, 'GiB': 1 << 30}


def table_bytes(line):
    """The live bytes of a growth table row ("   1  303.0 KiB   -50.0 ..."),
    to the precision the table prints, or None."""
    words = line.split()
    if len(words) < 3 or not words[0].isdigit() or words[2] not in UNITS:
        return None
    try:
        return round(float(words[1]) * UNITS[words[2]])
    except ValueError:
        return None


def test_text(h, target_args):
    # memtrace inherits this environment: a UTF-8 locale for the
    # sparkline's block characters.
    os.environ['LC_ALL'] = 'C.UTF-8'
    _t, _info, m = run_attach(h, [], target_args)
    text = m.out.text()
    h.check('\x1b[' not in text, 'the table on a pipe holds ANSI escapes')
    want_of = dict(WANT)
    # Each interval's row: "rank live-bytes ..."; the last row is the
    # final summary's, which repeats the last interval.
    pool = [table_bytes(line) for line in m.out.lines if SHRINK in line][:-1]
    if fill_spanned(h, [b for b in pool if b is not None], _info):
        want_of[SHRINK] = ('shrinking', 'fluctuating')
    for fn, want in want_of.items():
        rows = [line for line in m.out.lines if fn in line]
        if not h.check(rows, f'no line of the table names {fn}'):
            continue
        last = rows[-1]          # the final summary's row
        words = set(last.replace('|', ' ').split())
        h.check(any(w in words for w in want),
                f'the final row of {fn} has no verdict {" or ".join(want)}: {last!r}')
        h.check(any(ch in last for ch in growthcheck.SPARK_CHARS),
                f'the final row of {fn} has no sparkline ({growthcheck.SPARK_CHARS}): {last!r}')
    if h.failures:
        log('--- memtrace stdout:')
        for line in m.out.lines[-40:]:
            log('    ' + line)


def test(h):
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in ('json', 'text'):
        h.broken('usage: test_verdicts.py json|text [PLATEAU_MS]')
    target_args = ['--plateau-ms', sys.argv[2]] if len(sys.argv) == 3 else []
    (test_json if sys.argv[1] == 'json' else test_text)(h, target_args)


growthcheck.main(test)
