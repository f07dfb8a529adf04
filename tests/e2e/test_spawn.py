#!/usr/bin/env python3
"""histo on target_fork in its spawn and vfork modes: posix_spawn (a
CLONE_VM | CLONE_VFORK child sharing the parent's memory until it execs)
and vfork + execve of /bin/true, 5 times each; every child exits 0 and the
parent's own allocations are exact."""
import harness


def children_ok(h, result):
    h.check('children_ok=yes' in result.done.split(),
            f'a child did not exit 0 while traced: {result.done}')


def test(h):
    for mode in ('spawn', 'vfork'):
        h.scenario('target_fork', [mode], report_check=lambda r, res: children_ok(h, res))


harness.main(test)
