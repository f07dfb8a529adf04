#!/usr/bin/env python3
"""histo on target_fork: the traced parent forks 5 children that malloc and
free and exit with a status derived from their checksum.  The children
must not inherit breakpoints (they would die of SIGTRAP: the statuses on
the done line would differ from the untraced run) and their allocations
must not appear in the parent's report (child_work stays at zero)."""
import harness

harness.main(lambda h: h.scenario('target_fork', ['fork']))
