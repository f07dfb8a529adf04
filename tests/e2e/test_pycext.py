#!/usr/bin/env python3
"""A C extension's leak in a CPython service (Debian's /usr/bin/python3,
3.11; with an argument 3.N, pyenv's CPython 3.N): tests/targets/python/leaky.c, built here against the
interpreter's headers, mallocs in its own function tensor_new and keeps
each block; the service calls it N times from `handle`.  With the inject
engine the report must have exactly N live blocks of the leak's size at
`handle` (the script's file and line), and the stack must show the
extension's native frames (tensor_new, then leak, in leaky.c) with the
Python callers above them: handle, main, <module>.  The interpreter runs
on through attach and detach and exits 0.  The breakpoint engine takes no
Python frames: the blocks must still be there, exact, at tensor_new.
Up to 3.10 the interpreter's native call frames stay between the Python
frames: only those are checked in order there.  Skips (77) without
/usr/bin/python3 3.11 (or pyenv's 3.N), its headers (python3-dev) or a C
compiler."""
import os
import shutil
import subprocess
import tempfile

import harness
import pyservice
from pyservice import Service, query
N = 250
SIZE = 3001

SERVICE = '''\
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leaky


def handle(i):
    leaky.leak(SIZE)  # the leak


def main():
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "go":
            for i in range(int(cmd[1])):
                handle(i)
            print("done", flush=True)
        elif cmd and cmd[0] == "quit":
            break


main()
'''.replace('SIZE', str(SIZE))
HANDLE_LINE = SERVICE.splitlines().index(f'    leaky.leak({SIZE})  # the leak') + 1
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'targets', 'python',
                      'leaky.c')


def build(h, d, python):
    """leaky's module in D, for the interpreter PYTHON; skips without headers or cc."""
    include = query('import sysconfig; print(sysconfig.get_paths()["include"])', python)
    suffix = query('import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))', python)
    if not include or not suffix or not os.path.exists(os.path.join(include, 'Python.h')):
        h.skip(f'no Python.h for {python} (python3-dev; tools/setup installs it)')
    cc = os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc')
    if not cc:
        h.skip('no C compiler')
    out = os.path.join(d, 'leaky' + suffix)
    r = subprocess.run([cc, '-shared', '-fPIC', '-O1', '-g', '-I' + include, SOURCE, '-o', out],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        h.broken(f'building leaky.c failed: {r.stderr}')


def test(h):
    python, ver = pyservice.chosen(h)
    with tempfile.TemporaryDirectory() as d:
        build(h, d, python)
        script = os.path.join(d, 'service.py')
        with open(script, 'w') as f:
            f.write(SERVICE)
        t = Service(h, script, python)
        t.ready()
        m = h.attach(t)
        t.send(f'go {N}')
        t.expect_line(r'^done$', "'done'")
        report = m.stop()
        h.check_released(t.pid)
        t.send('quit')
        t.wait_exit(0)
    leaks = [s for s in report['sites'] if s['live_bytes'] == N * SIZE and
             s['live_blocks'] == N and s['allocs'] == N and s['frees'] == 0]
    h.check(len(leaks) == 1, f'no site with exactly {N} live blocks of {SIZE} bytes: ' +
            str([(s['function'], s['live_blocks'], s['live_bytes']) for s in report['sites'][:8]]))
    if not leaks:
        return
    site = leaks[0]
    stack = [(f.get('function', ''), os.path.basename(str(f.get('file', ''))))
             for f in site.get('stack', [])]
    names = [fn for fn, _ in stack]
    if report['engine'] != 'inject':
        h.check(site['function'] == 'tensor_new',
                f'site {site["function"]!r}, expected tensor_new (no Python frames): {stack}')
        return
    h.check(site['function'] == 'handle' and site['file'] == script and
            site['line'] == HANDLE_LINE,
            f'site {site["function"]} ({site["file"]}:{site["line"]}), expected handle '
            f'({script}:{HANDLE_LINE})')
    # up to 3.10 native call frames stay between the Python frames
    python_names = [fn for (fn, _), f in zip(stack, site.get('stack', []))
                    if f.get('module') == '[python]']
    above = names if ver not in ('3.9', '3.10') else python_names
    ok = ('tensor_new', 'leaky.c') in stack and ('leak', 'leaky.c') in stack and \
        'handle' in names and names.index('tensor_new') < names.index('leak') < \
        names.index('handle') and 'handle' in above and \
        above[above.index('handle') + 1:above.index('handle') + 3] == ['main', '<module>'] \
        if 'handle' in names and 'tensor_new' in names and 'leak' in names else False
    h.check(ok, f'the stack is not tensor_new <- leak (leaky.c) ... <- handle <- main <- '
            f'<module>: '
            f'{stack}')

harness.main(test)
