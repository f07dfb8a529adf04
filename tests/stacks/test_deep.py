#!/usr/bin/env python3
"""A stack deeper than --depth's maximum is kept whole up to it.

stk_deep allocates 8 blocks under 200 calls of one recursive function
(main -> rec -> ... -> rec -> malloc), so a full stack is the allocator's
entry and DEPTH return addresses, all in rec.  With --depth 128, the
maximum, that is 129 entries: each site must show exactly 128 frames of
rec above the allocator (and --depth 5, five), its counts exact, with both
engines.  A stack of 129 entries was once lost at --depth 128 (issue 18):
the blocks were then reported without their stack."""
import stackcheck

MAX_DEPTH = 128


def deep(h, depth):
    t, result, report = stackcheck.traced(h, 'stk_deep', mt_args=['--depth', str(depth)],
                                          depth=depth)
    mine = [s for s in report['sites'] if stackcheck.module_is(s.get('module'), t.exe)]
    h.check(mine, f'--depth {depth}: no site in stk_deep')
    for s in mine:
        frames = stackcheck.user_frames(s)
        names = [fr.get('function') for fr in frames]
        h.check(names == ['rec'] * depth and not any(fr.get('inlined') for fr in frames),
                f'with --depth {depth}, {len(names)} frames above the allocator, expected '
                f'{depth} of rec: {names[:4]}...{names[-4:]}')
        h.check(stackcheck.physical_frames(s['stack']) == depth + 1,
                f'{stackcheck.physical_frames(s["stack"])} frames that ran with --depth '
                f'{depth}, expected {depth + 1}')


def test(h):
    deep(h, MAX_DEPTH)
    deep(h, 5)


stackcheck.main(test)
