#!/usr/bin/env python3
"""histo on stk_dlopen_private: a library loaded after attach with its own
malloc (over a static arena, never reaching glibc's), bound to by its own
calls through RTLD_DEEPBIND.  memtrace must hook that allocator when the
library is loaded: the site is lib_alloc in libstk_private.so with every
block it allocated, and a hook on the library's malloc is in the report.
With the inject engine, --verbose says the threads were stopped once to
hook what ld.so loaded (its jumps are written with every thread stopped);
the breakpoint engine writes its int3 with the notifying thread alone
stopped, and says nothing."""
import os

import stackcheck

PLUGIN = 'libstk_private.so'


def stops_to_hook(h, m, report):
    stops = [ln for ln in m.err.lines
             if ln.startswith('memtrace: threads were stopped') and 'ld.so loaded' in ln]
    want = 1 if (stackcheck.harness.test_engine() or report['engine']) == 'inject' else 0
    h.check(len(stops) == want, f'{len(stops)} stops to hook what ld.so loaded, expected '
            f'{want}: {stops}')


def test(h):
    plugin = os.path.join(h.targets, PLUGIN)
    if not os.path.exists(plugin):
        h.broken(f'{plugin} is not built')
    _t, _result, report = stackcheck.traced(
        h, 'stk_dlopen_private', [plugin],
        mt_args=['--verbose'], modules=[h.target_path('stk_dlopen_private'), plugin],
        memtrace_check=lambda m, r: stops_to_hook(h, m, r),
        lossless=False)   # the default mode's handling of ld.so is tested
    hooked = [hk for hk in report.get('hooks', [])
              if hk.get('module', '').endswith('/' + PLUGIN) and 'malloc' in hk.get('names', [])]
    h.check(len(hooked) == 1,
            f'the library\'s own malloc is not among the hooks: {report.get("hooks")}')


stackcheck.main(test)
