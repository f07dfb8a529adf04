#!/usr/bin/env python3
"""histo on target_fork: the traced parent forks 5 children that malloc and
free and exit with a status derived from their checksum.  The children
must not inherit breakpoints (they would die of SIGTRAP: children_ok=no,
and the statuses on the done line would differ from the untraced run) and
their allocations must not appear in the parent's report (child_work
stays at zero)."""
import harness


def children_ok(h, result):
    h.check('children_ok=yes' in result.done.split(),
            f'a child did not exit as predicted while traced: {result.done}')


harness.main(lambda h: h.scenario('target_fork', ['fork'],
                                  report_check=lambda r, res: children_ok(h, res)))
