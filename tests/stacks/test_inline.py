#!/usr/bin/env python3
"""histo on stk_inline (-O2 -g): malloc called from alloc_inline(), forced
inline into mid_inline(), forced inline into outer().  The stack shows the
inlined functions as their own frames, "inlined": true, with the header's
file and the lines of the malloc and alloc_inline calls, then outer
("inlined": false) and main; the site is alloc_inline."""
import stackcheck


def test(h):
    _t, _result, report = stackcheck.traced(h, 'stk_inline')
    for s in report['sites']:
        frames = stackcheck.user_frames(s)
        if frames and frames[0].get('function') == 'alloc_inline':
            h.check(s.get('function') == 'alloc_inline' and s.get('file', '').endswith(
                '/inline_alloc.h'), 'the site is not the inlined alloc_inline frame:\n    '
                + stackcheck.site_text(s))


stackcheck.main(test)
