#!/usr/bin/env python3
"""histo on stk_chain (-O1, no frame pointers: unwinding needs CFI):
main -> f0 -> f1 -> f2 -> f3 -> malloc, one function per translation unit.
The site is f3 and its JSON stack, after malloc's frame(s), is exactly
f3, f2, f1, f0, main with each call's file and line; every 5th block is
freed again by main, and the counts are exact."""
import stackcheck


def test(h):
    _t, result, _report = stackcheck.traced(h, 'stk_chain')
    h.check(len(result.paths) == 1, f'stk_chain printed {len(result.paths)} stack expectations')


stackcheck.main(test)
