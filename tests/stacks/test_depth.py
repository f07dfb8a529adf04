#!/usr/bin/env python3
"""--depth bounds the stack: histo --depth 3 on stk_chain reports at most
3 frames above the allocator's (memtrace may count those or not), still
names the site f3, still counts exactly, and says "depth": 3."""
import stackcheck

DEPTH = 3


def test(h):
    t, result, report = stackcheck.traced(h, 'stk_chain', mt_args=['--depth', str(DEPTH)],
                                          depth=DEPTH, check=False)
    stackcheck.check_report(h, report, t.pid, [t.exe], depth=DEPTH)
    full = ['f3', 'f2', 'f1', 'f0', 'main']
    want = result.paths[0].counts
    mine = []
    for s in report['sites']:
        if not stackcheck.module_is(s.get('module'), t.exe):
            continue
        mine.append(s)
        names = [fr.get('function') for fr in stackcheck.user_frames(s)]
        h.check(DEPTH - 1 <= len(names) <= DEPTH and names == full[:len(names)],
                f'with --depth {DEPTH}, frames above the allocator {names}, expected '
                f'{full[:DEPTH - 1]} or {full[:DEPTH]}:\n    ' + stackcheck.site_text(s))
        h.check(len(s['stack']) <= DEPTH + 1,
                f'{len(s["stack"])} frames with --depth {DEPTH}:\n    ' + stackcheck.site_text(s))
    got = stackcheck.sum_sites(mine)
    if not h.check(mine and got == want, f'f3 with --depth {DEPTH}: counts differ'):
        stackcheck.log_counts(want, got)
        for s in report['sites']:
            stackcheck.log('    ' + stackcheck.site_text(s))


stackcheck.main(test)
