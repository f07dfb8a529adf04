#!/usr/bin/env python3
"""CPython's own allocator (pymalloc) is seen: Debian's /usr/bin/python3,
whose executable has libpython linked in and exports PyObject_Malloc & co,
runs py_pymalloc.py, which calls PyObject_Malloc/Calloc/Realloc/Free and
PyMem_Malloc/Calloc/Realloc/Free through ctypes after memtrace attached.
Every such call is made from the script's work() (named by its Python
frames; with the breakpoint engine, which takes none, every call returns
to one place in libffi), so those sites must hold exactly the blocks the
script kept (sizes of 136 to 232 bytes, which
pymalloc serves from its arenas and malloc never sees, and 4000-byte ones
that PyObject_Malloc passes to malloc: one call each, not two).  The
report names the eight hooks in the python executable and says pymalloc
is hooked there; blocks allocated before attach and PyObject_Free'd while
traced are unknown frees.  After memtrace detached the entries hold the
file's bytes again, and the interpreter calls them on and exits 0.  Skips
(77) without /usr/bin/python3 (tools/setup installs Debian's python3)."""
import os
import subprocess

import harness

PYTHON = '/usr/bin/python3'
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'py_pymalloc.py')
PY_HOOKS = ('PyObject_Malloc', 'PyObject_Calloc', 'PyObject_Realloc', 'PyObject_Free',
            'PyMem_Malloc', 'PyMem_Calloc', 'PyMem_Realloc', 'PyMem_Free')


class PyTarget(harness.Target):
    """py_pymalloc.py under PYTHON, speaking the targets' protocol."""

    def __init__(self, h):
        self.exe = PYTHON
        harness._Proc.__init__(self, h, [PYTHON, '-I', SCRIPT], 'python3', subprocess.PIPE)
        self.result = harness.Result()


def check_hooks(h, report):
    names = {}
    for hk in report['hooks']:
        for n in hk.get('names', []):
            names[n] = hk
    for n in PY_HOOKS:
        hk = names.get(n)
        if h.check(hk is not None, f'no hook serves {n} (hooks: {sorted(names)})'):
            h.check(harness._same_file(hk['module'], PYTHON),
                    f'{n} hooked in {hk["module"]}, expected {os.path.realpath(PYTHON)}')
    h.check(harness._same_file(report.get('pymalloc'), PYTHON),
            f'report pymalloc {report.get("pymalloc")!r}, expected {os.path.realpath(PYTHON)}')
    h.check(not [n for n in names if n.startswith('PyMem_Raw')],
            f'PyMem_Raw* hooked (they only call malloc): {sorted(names)}')
    h.check(not report.get('unhooked'), f'entries found but not hooked: {report.get("unhooked")}')
    # The python executable is not position-independent (0x400000): its
    # hooks need trampolines of their own near it, none a breakpoint.
    if harness.test_engine() == 'inject':
        bp = [hk['symbol'] for hk in report['hooks'] if hk.get('engine') != 'inject']
        h.check(not bp, f'hooks not traced by the inject engine: {bp}')


def check_sites(h, report, result):
    want = result.expects.get('ffi_call_unix64')
    if want is None:
        h.broken(f'{SCRIPT} printed no expectation: {result.lines}')
    # The site: with Python frames named (inject), the script's work(),
    # one site per line, through libffi (work() also grows its list, the
    # interpreter's own calls); without them (breakpoint), the one place
    # in libffi every ctypes call returns to.
    def ffi(s):
        return os.path.basename(str(s['module'])).startswith('libffi.so')

    # With CPython's allocator tables hooked (inj_pytab.c) work()'s lines
    # also make the interpreter's own objects (its tuples, the ints of the
    # pointers), seen as calls of the API entries too: the rows are
    # stacks, and the ctypes calls' have libffi right under the entry.
    def api(s):
        st = s.get('stack') or []
        return len(st) > 1 and st[0].get('function') in PY_HOOKS and ffi(st[1])

    mine = [s for s in report['sites']
            if ffi(s) or (s['module'] == '[python]' and s['function'] == 'work'
                          and any(ffi(f) for f in s.get('stack', [])) and api(s))]
    got = {k: sum(s[k] for s in mine) for k in harness.SITE_FIELDS}
    # Exact: a nested call counted twice (the malloc inside a 4000-byte
    # PyObject_Malloc) would add blocks here, where the default wrappers
    # name it (wrappers.h: PyObject_Malloc is one).
    h.check(got == want, f'the ctypes calls\' sites (work() or libffi): {got}, expected {want} '
            f'(sites: {mine})')
    before = int(result.info['freed_before'])
    h.check(report['unknown_frees'] >= before,
            f'unknown_frees {report["unknown_frees"]}, expected at least the {before} '
            f'blocks allocated before attach and freed while traced')
    h.check(report['lost_events'] == 0, f'lost_events {report["lost_events"]}')
    for s in report['sites']:
        h.check(s['live_blocks'] == s['allocs'] - s['frees'] and s['live_bytes'] >= 0,
                f'site with live_blocks != allocs - frees: {s}')


def test(h):
    if not os.access(PYTHON, os.X_OK):
        h.skip(f'{PYTHON} is not installed (tools/setup installs Debian\'s python3)')
    t = PyTarget(h)
    t.ready()
    m = h.attach(t, ['--group-by', 'stack'])   # one row per stack (check_sites)
    t.send('go')
    result = t.collect()
    report = m.stop()
    h.check_engine(report['engine'], 'the report')
    check_hooks(h, report)
    check_sites(h, report, result)
    h.check_hooks(t.pid, report)    # the entries hold the file's bytes again
    h.check_released(t.pid)
    t.send('more')
    t.expect_line(r'^after ok$', "'after ok' after memtrace detached")
    t.send('exit')
    t.wait_exit(0)


harness.main(test)
