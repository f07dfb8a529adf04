#!/usr/bin/env python3
"""--depth N counts the frames that ran above the allocator's entry (return
addresses unwound), the same with both engines; the functions inlined at
those calls are shown too, marked "inlined", and not counted.

stk_chain (main -> f0 -> f1 -> f2 -> f3 -> malloc, one function per
translation unit, nothing inlined) with --depth 3: exactly the allocator's
frame then f3, f2, f1, the site f3, counts exact, "depth": 3.

stk_inline (-O2: alloc_inline and mid_inline forced inline into outer,
which main calls) with --depth 1: one return address, outer's, shown with
the two functions inlined there: alloc_inline, mid_inline (inlined), outer;
not main.  The site is alloc_inline, counts exact.

Both run with --lossless.  Without it the agent waits at most 40 ms for
memtrace's rule to unwind a code address it has not seen, then cuts the
stack short (counted in --verbose's "stacks cut short") so that the
process never waits longer on memtrace: on a loaded machine memtrace's
rule server can miss that, and this test once saw stk_chain's stacks end
at f3 or f2 (4 runs of 30 beside two busy loops).  With --lossless the
agent waits on while memtrace's process lives (man memtrace, SAFETY), so
what --depth counts is what the test sees."""
import stackcheck


def physical(frames):
    return [fr.get('function') for fr in frames if not fr.get('inlined')]


def chain(h, depth=3):
    t, result, report = stackcheck.traced(h, 'stk_chain',
                                          mt_args=['--depth', str(depth), '--lossless'],
                                          depth=depth, check=False)
    stackcheck.check_report(h, report, t.pid, [t.exe], depth=depth)
    full = ['f3', 'f2', 'f1', 'f0', 'main']
    want = result.paths[0].counts
    mine = []
    for s in report['sites']:
        if not stackcheck.module_is(s.get('module'), t.exe):
            continue
        mine.append(s)
        frames = stackcheck.user_frames(s)
        names = [fr.get('function') for fr in frames]
        h.check(names == full[:depth] and not any(fr.get('inlined') for fr in frames),
                f'with --depth {depth}, frames above the allocator {names}, expected '
                f'{full[:depth]}:\n    ' + stackcheck.site_text(s))
        h.check(stackcheck.physical_frames(s['stack']) == depth + 1,
                f'{stackcheck.physical_frames(s["stack"])} frames that ran with --depth '
                f'{depth}, expected {depth + 1}:\n    ' + stackcheck.site_text(s))
    got = stackcheck.sum_sites(mine)
    if not h.check(mine and got == want, f'f3 with --depth {depth}: counts differ'):
        stackcheck.log_counts(want, got)
        for s in report['sites']:
            stackcheck.log('    ' + stackcheck.site_text(s))


def inline(h, depth=1):
    t, result, report = stackcheck.traced(h, 'stk_inline',
                                          mt_args=['--depth', str(depth), '--lossless'],
                                          depth=depth, check=False)
    stackcheck.check_report(h, report, t.pid, [t.exe], depth=depth)
    want = result.paths[0].counts
    mine = [s for s in report['sites'] if s.get('function') == 'alloc_inline']
    for s in mine:
        frames = stackcheck.user_frames(s)
        shown = [(fr.get('function'), bool(fr.get('inlined'))) for fr in frames]
        h.check(shown == [('alloc_inline', True), ('mid_inline', True), ('outer', False)],
                f'with --depth {depth}, frames above the allocator {shown}, expected '
                'alloc_inline and mid_inline (inlined) then outer, and not main:\n    '
                + stackcheck.site_text(s))
    got = stackcheck.sum_sites(mine)
    if not h.check(mine and got == want, f'alloc_inline with --depth {depth}: counts differ'):
        stackcheck.log_counts(want, got)
        for s in report['sites']:
            stackcheck.log('    ' + stackcheck.site_text(s))


def test(h):
    chain(h)
    inline(h)


stackcheck.main(test)
