#!/usr/bin/env python3
"""histo on stk_dlopen: the plugin libstk_plugin.so is dlopen()ed after
memtrace attached; its lib_alloc() leaks blocks.  The site is lib_alloc in
a module ending in /libstk_plugin.so, with file:line, under call_plugin
and main.

  test_dlopen.py close   the target dlclose()s the plugin before memtrace
                         reports: the frames keep their names
  test_dlopen.py keep    the plugin stays loaded

With --verbose: the plugin defines no allocator, so memtrace never stops
the target's threads for ld.so's notifications (the inject engine's agent
holds only the notifying thread; the breakpoint engine stops only it).
"""
import os
import sys

import stackcheck

PLUGIN = 'libstk_plugin.so'
STOPPED = 'memtrace: threads were stopped'


def no_stops_for_ld_so(h, m, _report):
    stops = [ln for ln in m.err.lines if ln.startswith(STOPPED) and 'ld.so' in ln]
    h.check(not stops, f'threads stopped at ld.so notifications with nothing to hook: {stops}')
    h.check(m.saw(STOPPED) is not None, f'no "{STOPPED}" line: is --verbose passed?')


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('close', 'keep'):
        h.broken('usage: test_dlopen.py close|keep')
    close = sys.argv[1] == 'close'
    plugin = os.path.join(h.targets, PLUGIN)
    if not os.path.exists(plugin):
        h.broken(f'{plugin} is not built')
    args = [plugin] if close else [plugin, '--keep']
    _t, result, _report = stackcheck.traced(
        h, 'stk_dlopen', args, mt_args=['--verbose'],
        modules=[h.target_path('stk_dlopen'), plugin],
        memtrace_check=lambda m, r: no_stops_for_ld_so(h, m, r),
        lossless=False)   # the default mode's handling of ld.so is tested
    if close and result.info.get('unloaded') != '1':
        h.broken('the target still maps the plugin after dlclose(): the test proves nothing')


stackcheck.main(test)
