#!/usr/bin/env python3
"""The inject engine in a process that may never make memory writable and
executable nor make memory executable (memory-deny-write-execute: prctl
PR_SET_MDWE, as systemd's MemoryDenyWriteExecute= asks of a service).
memtrace maps its agent executable from the start, writes it through
ptrace and only then makes its state writable, so the agent goes in: the
standard target_basic scenario passes with the inject engine, every count
exact.  (Before, memtrace mapped the agent writable and then asked for
executable, was refused, and fell back to breakpoints.)

Skipped (77) where the kernel has no PR_SET_MDWE (before Linux 6.3)."""
import ctypes
import subprocess

import harness

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


# Loaded here: the forked child before exec (preexec_fn) only calls it.
LIBC = ctypes.CDLL(None, use_errno=True)


def set_mdwe():
    if LIBC.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_MDWE)')


def test(h):
    if harness.test_engine() not in (None, 'inject'):
        h.skip('only the inject engine maps code into the process')
    try:
        subprocess.run(['true'], preexec_fn=set_mdwe, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        h.skip(f'no memory-deny-write-execute here: {e}')
    harness.TARGET_PREEXEC = set_mdwe
    result, report = h.scenario('target_basic', memtrace_args=['--verbose'])
    h.check(report['engine'] == 'inject', f'report engine {report["engine"]!r}')


harness.main(test)
