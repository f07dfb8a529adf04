#!/usr/bin/env python3
"""histo on stk_chain running in another mount namespace: under
`unshare -m`, a private tmpfs is mounted over an (outside) empty
temporary directory DIR and a copy of stk_chain is run from it, so the
path in /proc/PID/maps, DIR/stk_chain, is not that file in memtrace's
namespace:

  test_mountns.py missing   DIR/stk_chain does not exist outside
  test_mountns.py decoy     DIR/stk_chain outside is another program
                            (stk_wrapper)

memtrace must read the target's files through /proc/PID/root or
/proc/PID/map_files and report the chain with files and lines.  Skipped
(77) when unshare is missing or may not create a mount namespace."""
import os
import shutil
import subprocess
import sys
import tempfile

import stackcheck

# Runs as the target's command line: mounts, copies, then becomes
# stk_chain with the same pid (exec), which prints "ready PID".
SCRIPT = 'mount -t tmpfs stk_ns "$1" && cp "$2" "$1/stk_chain" && exec "$1/stk_chain"'


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('missing', 'decoy'):
        h.broken('usage: test_mountns.py missing|decoy')
    unshare = shutil.which('unshare')
    if not unshare:
        h.skip('unshare (util-linux) is missing')
    tmp = tempfile.mkdtemp(prefix='stk_ns_')
    try:
        probe = subprocess.run([unshare, '-m', '--propagation', 'private', 'sh', '-c',
                                'mount -t tmpfs stk_probe "$1"', 'sh', tmp],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            h.skip(f'cannot mount in a new mount namespace: {probe.stderr.strip()}')
        if os.listdir(tmp):
            h.broken(f'the probe\'s tmpfs leaked into this namespace: {os.listdir(tmp)}')
        inner = os.path.join(tmp, 'stk_chain')
        if sys.argv[1] == 'decoy':
            shutil.copy2(h.target_path('stk_wrapper'), inner)
        argv = [unshare, '-m', '--propagation', 'private', 'sh', '-c', SCRIPT, 'sh', tmp,
                h.target_path('stk_chain')]
        t = stackcheck.start(h, 'stk_chain', exe=inner, argv=argv)
        with open(f'/proc/{t.pid}/maps') as f:
            maps = f.read()
        if inner not in maps:
            h.broken(f'the target does not map {inner}')
        if sys.argv[1] == 'missing' and os.path.exists(inner):
            h.broken(f'{inner} exists outside the namespace')
        if os.path.samefile(f'/proc/{t.pid}/exe', h.target_path('stk_wrapper')) or \
                (os.path.exists(inner) and os.path.samefile(f'/proc/{t.pid}/exe', inner)):
            h.broken('the target runs the outside file')
        m = h.attach(t)
        t.send('go')
        result = t.collect()
        report = stackcheck.finish(h, t, m)
        stackcheck.check_report(h, report, t.pid, [inner])
        stackcheck.check_paths(h, report, result, [inner])
        t.send('exit')
        t.wait_exit(0)
        plain = stackcheck.run_untraced(h, 'stk_chain')
        h.check(result.done == plain.done,
                f'done line traced:   {result.done}\n      done line untraced: {plain.done}')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


stackcheck.main(test)
