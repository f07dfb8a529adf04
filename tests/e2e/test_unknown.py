#!/usr/bin/env python3
"""histo on target_unknown: blocks allocated before attach and freed (or
reallocated) after it, and their allocating function never appears as a
site.

  no-census  (histo --no-census) they are unknown_frees, as many as the
             target counted
  census     (histo, which takes a census at attach) the census found them
             all: each free is matched (census.freed_blocks), none is an
             unknown free
"""
import sys

import harness


def no_census(h):
    h.scenario('target_unknown', memtrace_args=['--no-census'],
               report_check=lambda report, result: h.check(
                   report.get('census') is None and
                   report.get('census_unavailable') == 'not taken: --no-census',
                   f'--no-census: census {report.get("census")!r}, census_unavailable '
                   f'{report.get("census_unavailable")!r}'))


def census(h):
    t = h.start_target('target_unknown')
    m = h.attach(t)
    t.send('go')
    result = t.collect()
    report = m.stop()
    if result.unknown_frees is None:
        raise harness.Broken('target_unknown printed no unknown_frees expectation')
    c = report.get('census')
    if not isinstance(c, dict):
        raise harness.Fail(f'no census: {report.get("census_unavailable")!r}')
    h.check(report['unknown_frees'] == 0,
            f'unknown_frees {report["unknown_frees"]}, expected 0: every block freed was '
            f'censused at attach')
    h.check(c['freed_blocks'] == result.unknown_frees,
            f'census.freed_blocks {c["freed_blocks"]}, the target freed '
            f'{result.unknown_frees} blocks it allocated before attach')
    h.check(c['freed_blocks'] <= c['blocks'] and c['freed_bytes'] <= c['bytes'],
            f'census freed more than it found: {c}')
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)


def test(h):
    scenarios = {'no-census': no_census, 'census': census}
    if len(sys.argv) != 2 or sys.argv[1] not in scenarios:
        h.broken(f'usage: test_unknown.py {"|".join(scenarios)}')
    scenarios[sys.argv[1]](h)


harness.main(test)
