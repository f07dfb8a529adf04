#!/usr/bin/env python3
"""histo on a CPython service: Debian's /usr/bin/python3 (3.11, a static
interpreter), not a python found on PATH; or, with an argument 3.N, pyenv's
CPython 3.N (a shared libpython), and with 3.N-stripped the same with a
stripped copy of its libpython (only .dynsym left).  After "go N" it grows a module-level dict from a
function `handle`, N payloads of 2,000 bytes, each a bytes object that
CPython allocates with malloc (larger than pymalloc's 512 bytes).

`other`, called right after it from the same loop, makes N payloads of
3,000 bytes: the same native stack at the same places, only the Python
frames differ, so a stack served from the agent's stack cache (which
replays native walks) would put them at handle's site.  Then "thread N"
makes N payloads of 4,000 bytes in `worker`, run by a thread of its own:
its site is `worker`, exactly N blocks.  And "go" has map() call `make`
N times, 5,000 bytes each: a second eval loop under map's C code, whose
stack must show make, native frames, then main and <module>.  With the
inject engine, a second memtrace writes folded stacks, and a third is
killed (SIGKILL) while the service works: the service must go on, and
exit 0 at the end.

The report must name the payloads' site by the Python frame that makes
them: `handle` in the script's file at the line of the insertion, with
exactly N live blocks of the payload's size there, and the stack above it
must show the Python callers (main, <module>) in place of the interpreter's
eval loop (_PyEval_EvalFrameDefault).  The header says which CPython.  The
interpreter runs on unharmed through attach and detach and exits 0.

The breakpoint engine takes no Python frames: it only checks that the
header says so and that the interpreter survives.  Skips (77) when
/usr/bin/python3 is missing or is not CPython 3.11 (tools/setup installs
Debian's python3), or when pyenv has no CPython 3.N."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import harness
import pyservice
from pyservice import Service
N = 300

SERVICE = '''\
import os
import sys
import threading

STORE = {}
FILL = b"x"
SIZE = 2000
OTHER = {}
MADE = []


def handle(i):
    STORE[i] = FILL * SIZE  # the payload


def other(i):
    OTHER[i] = FILL * (SIZE + 1000)  # another payload


def make(i):
    return FILL * (SIZE + 3000)  # called by map


def worker(n):
    for i in range(n):
        OTHER[-1 - i] = FILL * (SIZE + 2000)  # a thread's payload


def main():
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "go":
            for i in range(int(cmd[1])):
                handle(i)
                other(i)
            MADE.extend(map(make, range(int(cmd[1]))))
            print("done", len(STORE), sys.getsizeof(STORE[0]), flush=True)
        elif cmd and cmd[0] == "thread":
            t = threading.Thread(target=worker, args=(int(cmd[1]),))
            t.start()
            t.join()
            print("joined", flush=True)
        elif cmd and cmd[0] == "quit":
            break


main()
'''
HANDLE_LINE = SERVICE.splitlines().index('    STORE[i] = FILL * SIZE  # the payload') + 1
MAKE_LINE = SERVICE.splitlines().index('    return FILL * (SIZE + 3000)  # called by map') + 1
MAIN_LINE = SERVICE.splitlines().index('                handle(i)') + 1
MODULE_LINE = SERVICE.splitlines().index('main()') + 1
WORKER_LINE = SERVICE.splitlines().index(
    '        OTHER[-1 - i] = FILL * (SIZE + 2000)  # a thread\'s payload') + 1
OTHER_LINE = SERVICE.splitlines().index('    OTHER[i] = FILL * (SIZE + 1000)  # another payload') + 1


def interpreter(h, d):
    """The interpreter this run takes (argv[1]: none, 3.N or 3.N-stripped),
    its environment and its version "3.N"; a stripped copy of its
    libpython (or of itself when static) in D."""
    python, ver = pyservice.chosen(h)
    how = sys.argv[1].partition('-')[2] if len(sys.argv) > 1 else ''
    if how != 'stripped':
        return python, None, ver
    lib = os.path.join(os.path.dirname(os.path.dirname(python)), 'lib',
                       f'libpython{ver}.so.1.0')
    if not shutil.which('strip') or not shutil.which('readelf'):
        h.skip('no strip or readelf (binutils)')
    if not os.path.exists(lib):
        # a static interpreter: strip the executable itself, found where
        # it was (its standard library through PYTHONHOME)
        copy = os.path.join(d, f'python{ver}')
        subprocess.run(['strip', '-o', copy, python], check=True)
        home = os.path.dirname(os.path.dirname(python))
        return copy, dict(os.environ, PYTHONHOME=home), ver
    subprocess.run(['strip', '-o', os.path.join(d, os.path.basename(lib)), lib], check=True)
    return python, dict(os.environ, LD_LIBRARY_PATH=d), ver


def check_stripped(h, t, d):
    """The stripped copy in D is what the service runs: no .symtab left."""
    with open(f'/proc/{t.pid}/maps', encoding='utf-8') as f:
        mine = [line.split()[-1] for line in f if line.rstrip().endswith('.so.1.0') or
                'python3.' in line]
    copies = {p for p in mine if p.startswith(d + '/')}
    h.check(len(copies) == 1, f'the service does not run the stripped copy in {d}: {mine}')
    for p in copies:
        out = subprocess.run(['readelf', '-S', p], capture_output=True, text=True).stdout
        h.check('.symtab' not in out, f'{p} still has a .symtab')


def harness_bytes_header():
    """sys.getsizeof(b'') of CPython 3.9 to 3.13 on 64 bits: a bytes object's
    header and its NUL, allocated with its data."""
    return 33


def frames_of(site):
    return [f.get('function', '') for f in site.get('stack', [])]


def attach_folded(h, t):
    """A second attach, --format folded, over a second "go": the text."""
    m = h.start_memtrace(['histo', str(t.pid), '--format', 'folded', '--duration', '0'])
    m.wait_tracing()
    t.send(f'go {N}')
    t.expect_line(r'^done (\d+) (\d+)$', "'done N SIZE' (second)")
    os.kill(m.pid, signal.SIGINT)
    rc = m.wait(what='exit after SIGINT')
    h.check(rc == 0, f'memtrace --format folded exited with status {rc}')
    return m.out.text()


def attach_kill9(h, t):
    """A third attach, SIGKILLed while the service works: the agent stays
    in it, Python frames configured, nobody reading; it must go on."""
    m = h.start_memtrace(['histo', str(t.pid), '--json', '--duration', '0'])
    m.wait_tracing()
    t.send(f'go {N}')
    os.kill(m.pid, signal.SIGKILL)
    m.wait(what='die of SIGKILL')
    t.expect_line(r'^done (\d+) (\d+)$', "'done N SIZE' (after SIGKILL of memtrace)")
    t.send(f'thread {N}')
    t.expect_line(r'^joined$', "'joined' (after SIGKILL of memtrace)")


def test(h):
    made = {}
    with tempfile.TemporaryDirectory() as d:
        python, env, ver = interpreter(h, d)
        script = os.path.join(d, 'service.py')
        with open(script, 'w') as f:
            f.write(SERVICE)
        t = Service(h, script, python, env)
        t.ready()
        if env:
            check_stripped(h, t, d)
        m = h.attach(t)
        t.send(f'go {N}')
        done = t.expect_line(r'^done (\d+) (\d+)$', "'done N SIZE'")
        stored, size = int(done.group(1)), int(done.group(2))
        t.send(f'thread {N}')
        t.expect_line(r'^joined$', "'joined'")
        h.check(stored == N and size == 2000 + harness_bytes_header(),
                f'the service stored {stored} payloads of {size} bytes, expected {N}')
        report = m.stop()
        folded = None
        if report['engine'] == 'inject':
            folded = attach_folded(h, t)
            attach_kill9(h, t)
        t.send('quit')
        t.wait_exit(0)
    inject = report['engine'] == 'inject'
    note = report.get('python', '')
    want = f'CPython {ver}: Python frames ' + ('named' if inject else 'not taken')
    h.check(note.startswith(want), f'header says python {note!r}, expected {want!r}...')
    if not inject:
        return
    payloads = None
    for fn, line, nbytes in (('handle', HANDLE_LINE, size), ('other', OTHER_LINE, size + 1000),
                             ('worker', WORKER_LINE, size + 2000),
                             ('make', MAKE_LINE, size + 3000)):
        mine = [s for s in report['sites']
                if s['function'] == fn and s['file'] == script and s['line'] == line]
        got = [s for s in mine if s['live_blocks'] == N and s['live_bytes'] == N * nbytes]
        h.check(len(got) == 1,
                f'no site {fn} ({script}:{line}) with {N} live blocks of {nbytes} bytes: ' +
                str([(s['function'], s['file'], s['line'], s['live_blocks'], s['live_bytes'])
                     for s in report['sites'][:8]]))
        payloads = payloads or got
        if fn == 'make' and got:
            made = got[0]
    if not payloads:
        return
    # make runs in an eval loop of its own, under map's C code: main's
    # loop is the one further out, with native frames between the two
    mods = [(f.get('function'), f.get('module')) for f in made.get('stack', [])]
    k = [i for i, (fn, mod) in enumerate(mods) if mod == '[python]']
    h.check(len(k) >= 3 and mods[k[0]][0] == 'make' and mods[k[1]][0] == 'main' and
            k[1] > k[0] + 1 and mods[k[2]][0] == '<module>',
            f'make\'s stack is not make <- (native) <- main <- <module>: {mods}')
    names = frames_of(payloads[0])
    h.check('_PyEval_EvalFrameDefault' not in names,
            f'the eval loop is still in the stack: {names}')
    # up to 3.10 each Python call goes through the interpreter's native
    # call frames (function_code_fastcall, _PyEval_Vector): they stay
    # between the Python frames; from 3.11 on, Python calls Python inline
    inline = ver not in ('3.9', '3.10')
    want = [f'<module> (service.py:{MODULE_LINE})', f'main (service.py:{MAIN_LINE})',
            f'handle (service.py:{HANDLE_LINE})']
    lines = [line for line in (folded or '').splitlines() if line.endswith(f' {N * size}')]
    h.check(any(folded_shows(line, want, inline) for line in lines),
            f'no folded line with {want!r} weighing {N * size}: {folded!r}')
    i = names.index('handle') if 'handle' in names else -1
    mods = [f.get('module') for f in payloads[0].get('stack', [])]
    python = [n for n, mod in zip(names, mods) if mod == '[python]']
    j = python.index('handle') if 'handle' in python else -1
    h.check(i >= 0 and (names[i + 1:i + 3] if inline else python[j + 1:j + 3]) ==
            ['main', '<module>'], f'the stack does not show handle <- main <- <module>: {names}')


def folded_shows(line, want, inline):
    """Whether the folded stack LINE has the frames WANT, adjacent when
    INLINE, else with only native frames between them."""
    frames = line.rsplit(' ', 1)[0].split(';')
    if inline:
        return ';'.join(want) in ';'.join(frames)
    python = [f for f in frames if '(service.py:' in f]
    return ';'.join(want) in ';'.join(python)

harness.main(test)
