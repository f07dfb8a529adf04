#!/usr/bin/env python3
"""histo on stk_dlopen: the plugin libstk_plugin.so is dlopen()ed after
memtrace attached; its lib_alloc() leaks blocks.  The site is lib_alloc in
a module ending in /libstk_plugin.so, with file:line, under call_plugin
and main.

  test_dlopen.py close   the target dlclose()s the plugin before memtrace
                         reports: the frames keep their names
  test_dlopen.py keep    the plugin stays loaded
"""
import os
import sys

import stackcheck

PLUGIN = 'libstk_plugin.so'


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('close', 'keep'):
        h.broken('usage: test_dlopen.py close|keep')
    close = sys.argv[1] == 'close'
    plugin = os.path.join(h.targets, PLUGIN)
    if not os.path.exists(plugin):
        h.broken(f'{plugin} is not built')
    args = [plugin] if close else [plugin, '--keep']
    _t, result, _report = stackcheck.traced(h, 'stk_dlopen', args,
                                            modules=[h.target_path('stk_dlopen'), plugin])
    if close and result.info.get('unloaded') != '1':
        h.broken('the target still maps the plugin after dlclose(): the test proves nothing')


stackcheck.main(test)
