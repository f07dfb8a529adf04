#!/usr/bin/env python3
"""histo on stk_jit: generated code in an anonymous executable mapping
calls malloc (no CFI there, frame pointers kept).  The site is that JIT
frame, module "[jit]", then jit_caller and main:

  test_jit.py map     the target wrote /tmp/perf-PID.map: the JIT frame is
                      named jit_leaker
  test_jit.py nomap   no map: the JIT frame has function ""

Run with --lossless, like stacks_depth.  The JIT code's unwind rule (the
frame-pointer step) is always right, but it is the first rule the agent
asks for, and by default the agent waits at most 40 ms for it: a rule
server that a loaded machine does not run in time cuts the stack after
the JIT frame, and until memtrace's next drain every later stack is cut
without asking, so all 11 allocations lost jit_caller and main (once in 30
runs beside a full suite).  With --lossless the agent waits on while
memtrace's process lives (man memtrace, SAFETY).
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
        t, _result, _report = stackcheck.traced(h, 'stk_jit', args, mt_args=['--lossless'],
                                          modules=[exe, '[jit]'])
    finally:
        if t is not None and os.path.exists(f'/tmp/perf-{t.pid}.map'):
            os.unlink(f'/tmp/perf-{t.pid}.map')


stackcheck.main(test)
