#!/usr/bin/env python3
"""memtrace census on census_nortti, whose classes were built with
-fno-rtti: their vtables have no typeinfo, so the census names their
objects by the vtable's symbol ("vtable for ns::Deep"), with exact counts;
and histo's census at attach names them the same."""
import re

import harness


def expected(t):
    want = {}
    for line in t.result.lines:
        m = re.match(r'^census type=(\S+) blocks=(\d+) bytes=(\d+)$', line)
        if m:
            want[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    if sorted(want) != ['Plain', 'ns::Deep']:
        raise harness.Broken(f'census_nortti printed no expectations: {t.result.lines}')
    return want


def check_types(h, report, want, what):
    c = report.get('census')
    if not isinstance(c, dict):
        raise harness.Fail(f'{what}: no census: {report.get("census_unavailable")!r}')
    got = {r['type']: (r['blocks'], r['bytes']) for r in c['types']}
    for name, counts in want.items():
        h.check(got.get(name) == counts,
                f'{what}: class {name}: census (blocks, bytes) {got.get(name)}, the target '
                f'holds {counts}')


def test(h):
    t = h.start_target('census_nortti')
    t.send('go')
    t.expect_line(r'^armed$', "'armed'")
    want = expected(t)
    m = h.start_memtrace(['census', str(t.pid), '--json'])
    check_types(h, m.finish(), want, 'census')
    m = h.attach(t)
    check_types(h, m.stop(), want, 'histo')
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)


harness.main(test)
