#!/usr/bin/env python3
"""histo on stk_jit: generated code in an anonymous executable mapping
calls malloc (no CFI there, frame pointers kept).  The site is that JIT
frame, module "[jit]", then jit_caller and main:

  test_jit.py map     the target wrote /tmp/perf-PID.map: the JIT frame is
                      named jit_leaker
  test_jit.py nomap   no map: the JIT frame has function ""
"""
import os
import sys

import stackcheck


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('map', 'nomap'):
        h.broken('usage: test_jit.py map|nomap')
    args = ['--map'] if sys.argv[1] == 'map' else []
    exe = h.target_path('stk_jit')
    t = None
    try:
        t, _result, _report = stackcheck.traced(h, 'stk_jit', args, modules=[exe, '[jit]'])
    finally:
        if t is not None and os.path.exists(f'/tmp/perf-{t.pid}.map'):
            os.unlink(f'/tmp/perf-{t.pid}.map')


stackcheck.main(test)
