#!/usr/bin/env python3
"""histo on target_cxxalloc under a preloaded allocator (argument:
jemalloc, tcmalloc or mimalloc), which defines operator new and delete
itself: every form of new and delete (plain, array, sized, aligned,
nothrow) counted exactly per site, the allocator's own API the target binds
to (jemalloc's mallocx/rallocx/sdallocx/dallocx, tcmalloc's tc_*,
mimalloc's mi_*) too, each call once (jemalloc's delete jumps to free), and
what has no hook (mimalloc's mi_heap_malloc) named in the report.  An
operator new that fails throws std::bad_alloc through the hooks to the
target's handler (the target dies if not).  Skips
(77) when the library is not installed (tools/setup installs it)."""
import os
import sys

import harness

LIBS = {
    'jemalloc': ('libjemalloc.so.2',),
    'tcmalloc': ('libtcmalloc_minimal.so.4', 'libtcmalloc.so.4'),
    'mimalloc': ('libmimalloc.so.2',),
}
DIRS = ('/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib')
# The operators the allocator's own hooks must serve (aliases join one
# hook), of those it defines (mimalloc has no unaligned nothrow delete:
# libstdc++'s, which calls free, is the one bound).
CXX_NAMES = ('_Znwm', '_Znam', '_ZdlPv', '_ZdaPv', '_ZdlPvm', '_ZnwmSt11align_val_t',
             '_ZdlPvSt11align_val_t', '_ZdlPvmSt11align_val_t', '_ZnwmRKSt9nothrow_t',
             '_ZnamRKSt9nothrow_t', '_ZdlPvRKSt9nothrow_t', '_ZdaPvRKSt9nothrow_t')
API_NAMES = {
    'jemalloc': ('mallocx', 'rallocx', 'sdallocx', 'dallocx'),
    'tcmalloc': ('tc_malloc', 'tc_free', 'tc_calloc', 'tc_new', 'tc_delete'),
    'mimalloc': ('mi_malloc', 'mi_zalloc', 'mi_realloc', 'mi_free', 'mi_malloc_aligned',
                 'mi_mallocn'),
}
UNHOOKED = {'jemalloc': [], 'tcmalloc': [], 'mimalloc': ['mi_heap_malloc']}


def find_lib(which):
    for name in LIBS[which]:
        for d in DIRS:
            path = os.path.join(d, name)
            if os.path.exists(path):
                return path
    return None


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in LIBS:
        h.broken(f'usage: test_cxx_alloc.py {"|".join(LIBS)}')
    which = sys.argv[1]
    lib = find_lib(which)
    if not lib:
        h.skip(f'{" or ".join(LIBS[which])} is not installed (tools/setup installs it)')
    h.target_env = dict(os.environ, LD_PRELOAD=lib)
    h.allocator = LIBS[which][0].split('.so')[0] + '.so'

    def check(report, result):
        h.check(result.info.get('api') == which,
                f'the target bound the API of {result.info.get("api")!r}, expected {which}')
        h.check(f'function=cxa::{which}_api()' in ' '.join(
                    f'function={k}' for k in result.expects),
                f'the target made no {which} API calls: {sorted(result.expects)}')
        names = {}
        for hk in report['hooks']:
            for n in hk.get('names', []):
                names[n] = hk
        with open(lib, 'rb') as f:
            defined = harness._dynamic_symbols(f.read(), lib)
        h.check(sum(n in defined for n in CXX_NAMES) >= 8,
                f'{lib} defines only {[n for n in CXX_NAMES if n in defined]}')
        for n in [n for n in CXX_NAMES if n in defined] + list(API_NAMES[which]):
            hk = names.get(n)
            if h.check(hk is not None, f'no hook serves {n} (hooks: {sorted(names)})'):
                h.check(os.path.basename(hk['module']).startswith(h.allocator),
                        f'{n} hooked in {hk["module"]}, expected {lib}')
        # More than 16 hooks need a second trampoline page near the library:
        # none may fall back to breakpoints for want of one.
        if harness.test_engine() == 'inject':
            bp = [hk['symbol'] for hk in report['hooks'] if hk.get('engine') != 'inject']
            h.check(not bp, f'hooks not traced by the inject engine: {bp}')
        h.check(report.get('unsupported') == UNHOOKED[which],
                f'report unsupported {report.get("unsupported")!r}, expected {UNHOOKED[which]}')
        want = ','.join(UNHOOKED[which]) or '-'
        h.check(result.info.get('unhooked') == want,
                f'target says unhooked={result.info.get("unhooked")}, expected {want}')

    h.scenario('target_cxxalloc', report_check=check)


harness.main(test)
