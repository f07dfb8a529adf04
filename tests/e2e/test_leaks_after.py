#!/usr/bin/env python3
"""memtrace leaks --duration on target_leaky whose leaks are made while
memtrace traces: the lost groups carry their allocation stacks.

target_leaky after prints "ready PID"; memtrace leaks PID --json --duration
600 attaches and traces (its "memtrace: tracing pid" line); the target is
told "go" and makes its leaks (tests/targets/target_leaky.c: leak_plain,
leak_tree, leak_cycles, each calling malloc itself) and "done"; SIGINT
ends the tracing early and memtrace goes on to the leak check.  Then:
  - the definitely and indirectly lost totals are the target's;
  - every lost group of one of the target's sizes has a stack, and per
    leaking function, the lost groups whose stack names it (with the
    target's source file and a line) add up to what that function made,
    of each kind (leak_plain: 10 x 40 definitely lost; leak_tree: its head
    definitely lost, with 8 x 72 indirect bytes, the children indirectly
    lost; leak_cycles: 4 x 88 of each kind);
  - the target is left running, untraced, without a child, and exits 0.
"""
import os

import harness
import leaks

TARGET = 'target_leaky'


def wait_tracing(m, pid):
    """memtrace's "memtrace: tracing pid PID" line; a memtrace that ends
    first fails the test (or skips it when it may not trace here)."""
    prefix = f'memtrace: tracing pid {pid}'
    while True:
        line = m.err.next(harness.TIMEOUT, f"'{prefix}' line")
        if line is None:
            rc = m.wait()
            if rc == 4:
                raise harness.Skip('memtrace may not trace here (exit status 4): '
                                   + (m.saw('memtrace: error') or ''))
            raise harness.Fail(f'memtrace exited with status {rc} before tracing')
        if line.startswith(prefix):
            return line


def check_stacks(h, r, exp, exe):
    """Per leaking function and lost kind, the groups whose stack names the
    function add up to what it made; every lost group of the target's
    sizes has a stack."""
    for g in r['groups']:
        if g['kind'] in leaks.LOST and g.get('size') in exp.sizes:
            h.check(isinstance(g.get('stack'), list) and g['stack'],
                    f'lost group without an allocation stack: {g}')
    for want in exp.groups:
        if want['kind'] not in leaks.LOST:
            continue
        fn = want['function']
        picked = leaks.select(r['groups'], want['kind'], want['size'], fn)
        got = leaks.sums(picked) + (sum(g['indirect_bytes'] for g in picked),)
        wanted = (want['blocks'], want['bytes'], want['indirect_bytes'])
        h.check(got == wanted, f'{want["kind"]} groups of size {want["size"]} whose stack names '
                f'{fn}: (blocks, bytes, indirect_bytes) {got}, the target made {wanted}')
        for g in picked:
            f = leaks.frame_named(g, fn)
            h.check(os.path.basename(str(f.get('file'))) == 'target_leaky.c'
                    and isinstance(f.get('line'), int) and f['line'] > 0,
                    f'the frame of {fn} has file:line {f.get("file")}:{f.get("line")}, expected '
                    'target_leaky.c and a line')
            h.check(harness._same_file(f.get('module'), exe),
                    f'the frame of {fn} has module {f.get("module")!r}, expected {exe}')


def test(h):
    t = h.start_target(TARGET, ['after'])
    m = h.start_memtrace(['leaks', str(t.pid), '--json', '--duration', '600'])
    wait_tracing(m, t.pid)
    t.send('go')
    result = t.collect()
    exp = leaks.Leaky(result.lines)
    r = m.stop()          # SIGINT: the tracing ends, the leak check runs
    leaks.check_report(h, r, t.pid)

    for kind in ('definitely_lost', 'indirectly_lost'):
        got = (r[kind]['blocks'], r[kind]['bytes'])
        h.check(got == exp.totals[kind], f'{kind} (blocks, bytes) {got}, the target made '
                f'{exp.totals[kind]}')
    check_stacks(h, r, exp, t.exe)

    h.check_released(t.pid)
    leaks.check_no_child(h, t.pid, 'leaks --duration')
    h.check(t.running(), 'the target died during the leak check')
    t.send('exit')
    t.wait_exit(0)
    named = sorted({g.get('site') for g in r['groups'] if g['kind'] in leaks.LOST})
    harness.log(f'{TARGET} after: lost groups allocated in {named}')


harness.main(test)
