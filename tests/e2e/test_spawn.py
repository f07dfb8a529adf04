#!/usr/bin/env python3
"""histo on target_fork in its spawn and vfork modes: posix_spawn (a
CLONE_VM | CLONE_VFORK child sharing the parent's memory until it execs)
and vfork + execve of /bin/true, 5 times each; every child exits 0 and the
parent's own allocations are exact."""
import harness


def test(h):
    h.scenario('target_fork', ['spawn'])
    h.scenario('target_fork', ['vfork'])


harness.main(test)
