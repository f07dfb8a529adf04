#!/usr/bin/env python3
"""histo on stk_wrapper: my_xmalloc() wraps malloc, my_xstrdup() calls
my_xmalloc, callers a(), b() and c() (c through my_xstrdup).

  test_wrapper.py none    no --wrapper: every block's site is my_xmalloc
  test_wrapper.py exact   --wrapper my_xmalloc: sites a, b and my_xstrdup
  test_wrapper.py glob    --wrapper 'my_x*': sites a, b and c
  test_wrapper.py both    --wrapper my_xmalloc --wrapper my_xstrdup: as glob
"""
import sys

import stackcheck

MODES = {
    # mode: (target argument, wrappers)
    'none': ('none', []),
    'exact': ('exact', ['my_xmalloc']),
    'glob': ('glob', ['my_x*']),
    'both': ('glob', ['my_xmalloc', 'my_xstrdup']),
}


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in MODES:
        h.broken(f'usage: test_wrapper.py {"|".join(MODES)}')
    arg, wrappers = MODES[sys.argv[1]]
    mt_args = [a for w in wrappers for a in ('--wrapper', w)]
    t, result, report = stackcheck.traced(h, 'stk_wrapper', [arg], mt_args, wrappers)
    mine = [s for s in report['sites'] if stackcheck.module_is(s.get('module'), t.exe)]
    if arg == 'none':
        line = int(result.info.get('xmalloc_line', 0))
        for s in mine:
            h.check(s.get('function') == 'my_xmalloc' and s.get('line') == line,
                    f'without --wrapper every site is my_xmalloc at wrapper_lib.c:{line}:\n    '
                    + stackcheck.site_text(s))
    else:
        names = {s.get('function') for s in mine}
        h.check(not names & {'my_xmalloc'} and (arg == 'exact' or 'my_xstrdup' not in names),
                f'--wrapper {wrappers}: sites still named {sorted(names)}')


stackcheck.main(test)
