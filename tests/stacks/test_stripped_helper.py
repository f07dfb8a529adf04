#!/usr/bin/env python3
"""histo on stk_xalloc with the stripped libstk_xalloc.so: its exported
xmalloc (a default wrapper) calls a static helper that only its .eh_frame
names, "libstk_xalloc.so+0xSTART", which calls malloc.  memtrace takes the
helper for the wrapper's own: the sites are xmalloc's callers alloc_a and
alloc_b, exact; the helper's frame is in each stack, between malloc and
xmalloc, named after its FDE."""
import os
import re

import stackcheck
from stackcheck import site_text


def test(h):
    lib = os.path.join(os.environ['STACK_TARGETS'], 'libstk_xalloc.so')
    exe = h.target_path('stk_xalloc')
    t, result, report = stackcheck.traced(h, 'stk_xalloc', [lib], wrappers=['xmalloc'],
                                          modules=[exe, lib])
    mine = [s for s in report['sites'] if stackcheck.module_is(s.get('module'), exe)]
    h.check(len(mine) >= 2, f'expected the sites alloc_a and alloc_b, got {len(mine)} rows')
    for s in mine:
        names = [fr.get('function') for fr in s.get('stack') or []]
        k = names.index('xmalloc') if 'xmalloc' in names else -1
        h.check(k >= 2 and re.fullmatch(r'libstk_xalloc\.so\+0x[0-9a-f]+', names[k - 1] or ''),
                'no frame named libstk_xalloc.so+0x... between malloc and xmalloc:\n    '
                + site_text(s))


stackcheck.main(test)
