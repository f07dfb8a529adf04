#!/usr/bin/env python3
"""histo --group-by KEY on stk_chain --multi, which allocates through three
stacks: P1 main>f0>f1>f2>f3>malloc, P2 the same chain to f3's calloc (a
second site in f3), P3 main>f2>f3>malloc (P1's site, another stack).
The rows in the target's executable must be:

  site       2 rows: f3's malloc site = P1 + P3, f3's calloc site = P2
  stack      3 rows: P1, P2, P3
  function   1 row:  f3 = P1 + P2 + P3
  module     1 row:  the executable = P1 + P2 + P3

and no key may appear in two rows."""
import sys

import stackcheck
from stackcheck import module_is, site_text, sum_sites

KEYS = ('site', 'stack', 'function', 'module')


def add(*counts):
    return {k: sum(c[k] for c in counts) for k in stackcheck.SITE_FIELDS}


def check_rows(h, what, rows, want):
    got = sum_sites(rows)
    if not h.check(len(rows) == 1 and got == want,
                   f'{what}: {len(rows)} rows holding {got}, expected one row holding {want}'):
        for s in rows:
            stackcheck.log('    ' + site_text(s))


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in KEYS:
        h.broken(f'usage: test_group_by.py {"|".join(KEYS)}')
    key = sys.argv[1]
    t, result, report = stackcheck.traced(h, 'stk_chain', ['--multi'], ['--group-by', key],
                                          group_by=key, check=False)
    stackcheck.check_report(h, report, t.pid, [t.exe], group_by=key)
    if len(result.paths) != 3:
        h.broken(f'stk_chain --multi printed {len(result.paths)} stack expectations, not 3')
    p1, p2, p3 = result.paths
    line_malloc, line_calloc = p1.lines[0], p2.lines[0]
    rows = [s for s in report['sites'] if module_is(s.get('module'), t.exe)]
    everything = add(p1.counts, p2.counts, p3.counts)

    if key == 'site':
        check_rows(h, f'site f3 malloc (line {line_malloc})',
                   [s for s in rows if s.get('function') == 'f3' and s.get('line') == line_malloc],
                   add(p1.counts, p3.counts))
        check_rows(h, f'site f3 calloc (line {line_calloc})',
                   [s for s in rows if s.get('function') == 'f3' and s.get('line') == line_calloc],
                   p2.counts)
        h.check(len(rows) == 2, f'{len(rows)} rows in the executable, expected 2')
    elif key == 'stack':
        stackcheck.check_paths(h, report, result, [t.exe])
        for p in (p1, p2, p3):
            n = len([s for s in rows if stackcheck.path_matches(s, p)])
            h.check(n == 1, f'{n} rows for the stack of {p.text!r}, expected 1')
        h.check(len(rows) == 3, f'{len(rows)} rows in the executable, expected 3')
    elif key == 'function':
        check_rows(h, 'function f3', [s for s in rows if s.get('function') == 'f3'], everything)
        h.check(len(rows) == 1, f'{len(rows)} rows in the executable, expected 1')
    else:
        check_rows(h, f'module {t.exe}', rows, everything)

    if key in ('function', 'module'):
        seen = {}
        for s in report['sites']:
            k = s.get(key)
            if k in seen:
                h.check(False, f'two rows for {key} {k!r}:\n    {site_text(seen[k])}\n    '
                        + site_text(s))
            seen[k] = s
    if not h.failures:
        return
    stackcheck.log(f'--- the report\'s {len(report["sites"])} rows:')
    for s in report['sites']:
        stackcheck.log('    ' + site_text(s))


stackcheck.main(test)
