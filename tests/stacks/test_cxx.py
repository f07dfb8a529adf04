#!/usr/bin/env python3
"""histo on stk_cxx: blocks from operator new / new[] / std::vector growth
in user functions.  Sites carry the user's demangled names
(Cache::insert(int), make_widgets(int), store::Pool<Entry>::grab()),
never operator new; the vector's growth sits under Registry::add(int)."""
import stackcheck


def test(h):
    _t, _result, report = stackcheck.traced(h, 'stk_cxx')
    for s in report['sites']:
        names = [fr.get('function') for fr in s.get('stack', [])]
        if 'Cache::insert(int)' in names:
            h.check(any(n.startswith('operator new') for n in names),
                    'no "operator new(unsigned long)" frame (demangled) above '
                    'Cache::insert(int):\n    ' + stackcheck.site_text(s))


stackcheck.main(test)
