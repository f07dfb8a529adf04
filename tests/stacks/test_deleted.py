#!/usr/bin/env python3
"""histo on a stk_chain whose file is gone since it started: a copy in a
temporary directory, started, then

  test_deleted.py deleted    unlinked
  test_deleted.py replaced   replaced (rename over it) by another program,
                             stk_wrapper, as an upgrade would do

before memtrace attaches.  Frames are still f3, f2, f1, f0, main with their
files and lines: memtrace must read the binary that is mapped
(/proc/PID/map_files), not whatever the path names now."""
import os
import shutil
import sys
import tempfile

import stackcheck


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('deleted', 'replaced'):
        h.broken('usage: test_deleted.py deleted|replaced')
    tmp = tempfile.mkdtemp(prefix='stk_deleted_')
    try:
        exe = os.path.join(tmp, 'stk_chain')
        shutil.copy2(h.target_path('stk_chain'), exe)
        t = stackcheck.start(h, 'stk_chain', exe=exe)
        if sys.argv[1] == 'deleted':
            os.unlink(exe)
        else:
            new = exe + '.new'
            shutil.copy2(h.target_path('stk_wrapper'), new)
            os.replace(new, exe)
        with open(f'/proc/{t.pid}/maps') as f:
            if f'{exe} (deleted)' not in f.read():
                h.broken(f'/proc/{t.pid}/maps does not show {exe} as deleted')
        m = h.attach(t)
        t.send('go')
        result = t.collect()
        report = stackcheck.finish(h, t, m)
        stackcheck.check_report(h, report, t.pid, [exe])
        stackcheck.check_paths(h, report, result, [exe])
        t.send('exit')
        t.wait_exit(0)
        plain = stackcheck.run_untraced(h, 'stk_chain')
        h.check(result.done == plain.done,
                f'done line traced:   {result.done}\n      done line untraced: {plain.done}')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


stackcheck.main(test)
