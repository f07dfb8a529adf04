#!/usr/bin/env python3
"""histo on stk_dlopen_private: a library loaded after attach with its own
malloc (over a static arena, never reaching glibc's), bound to by its own
calls through RTLD_DEEPBIND.  memtrace must hook that allocator when the
library is loaded: the site is lib_alloc in libstk_private.so with every
block it allocated, and a hook on the library's malloc is in the report."""
import os

import stackcheck

PLUGIN = 'libstk_private.so'


def test(h):
    plugin = os.path.join(h.targets, PLUGIN)
    if not os.path.exists(plugin):
        h.broken(f'{plugin} is not built')
    _t, _result, report = stackcheck.traced(
        h, 'stk_dlopen_private', [plugin],
        modules=[h.target_path('stk_dlopen_private'), plugin])
    hooked = [hk for hk in report.get('hooks', [])
              if hk.get('module', '').endswith('/' + PLUGIN) and 'malloc' in hk.get('names', [])]
    h.check(len(hooked) == 1,
            f'the library\'s own malloc is not among the hooks: {report.get("hooks")}')


stackcheck.main(test)
