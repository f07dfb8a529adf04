#!/usr/bin/env python3
"""pymalloc's inlined calls are seen: Debian's /usr/bin/python3.11 is built
with LTO, and most of its small objects are made by pymalloc inlined into
their callers, never through the hooked PyObject_Malloc.  memtrace points
CPython's allocator tables (OBJ, MEM) at its agent (inj_pytab.c).

A service grows a module-level dict from `handle`: N keys, "key-%06d"
strings of some 60 bytes (pymalloc's, made inline by the str formatting),
and N payloads of 2,000 bytes (malloc's).  Both must be at handle's line,
exactly N blocks of the sizes the service prints (sys.getsizeof), and the
report says both tables were hooked.  The service prints its tables'
function pointers (PyMem_GetAllocator through ctypes): while traced they
differ from what they were; once memtrace detached they are as before.
A child the service forks while traced has its tables as before attach
(memtrace puts them back in it), works and exits 0.
A second memtrace is SIGKILLed while the service works: the service goes
on (through the trampolines left in its tables) and a third memtrace takes
them over, sees the keys of a further "go" exactly, and on detach puts the
original pointers back; after another SIGKILL, `memtrace detach PID` puts
them back.  The interpreter exits 0.  Skips (77) when
/usr/bin/python3.11 is missing (tools/setup installs Debian's python3).

With another interpreter as argument (pyenv's 3.12 and 3.13: the tables
inside _PyRuntime, reached through the GOT of a shared libpython), the
same; where memtrace names no Python frames of that version, the keys and
the payloads must be exact at some site all the same."""
import os
import signal
import subprocess
import sys
import tempfile

import harness

# another interpreter as the first argument (pyenv's, a shared libpython)
PYTHON = sys.argv[1] if len(sys.argv) > 1 else '/usr/bin/python3.11'
N = 500

SERVICE = '''\
import ctypes
import os
import sys

STORE = {}
FILL = b"x"


class Alloc(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("malloc", ctypes.c_void_p),
                ("calloc", ctypes.c_void_p), ("realloc", ctypes.c_void_p),
                ("free", ctypes.c_void_p)]


def tables():
    out = []
    for domain in (1, 2):  # PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ
        a = Alloc()
        ctypes.pythonapi.PyMem_GetAllocator(domain, ctypes.byref(a))
        out += [a.malloc or 0, a.calloc or 0, a.realloc or 0, a.free or 0]
    return " ".join("%x" % p for p in out)


def handle(i):
    STORE["key-%06d" % i] = FILL * 2000  # insert


def main():
    tables()
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "go":
            for i in range(int(cmd[1]), int(cmd[1]) + int(cmd[2])):
                handle(i)
            k = "key-%06d" % int(cmd[1])
            sizes = sys.getsizeof(k), sys.getsizeof(STORE[k])
            del k  # before "done": a report taken then does not hold it
            print("done", len(STORE), *sizes, flush=True)
        elif cmd and cmd[0] == "fork":
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                mine = tables() + " " + str(len({"k%d" % i: i for i in range(1000)}))
                os.write(w, mine.encode())
                os._exit(0)
            os.close(w)
            got = os.read(r, 4096).decode()
            os.close(r)
            print("child", got, os.waitpid(pid, 0)[1], flush=True)
        elif cmd and cmd[0] == "tables":
            print("tables", tables(), flush=True)
        elif cmd and cmd[0] == "quit":
            break


main()
'''
HANDLE_LINE = SERVICE.splitlines().index('    STORE["key-%06d" % i] = FILL * 2000  # insert') + 1


class Service(harness.Target):
    """SCRIPT run by PYTHON, spoken to like a target."""

    def __init__(self, h, script):
        self.exe = PYTHON
        harness._Proc.__init__(self, h, [PYTHON, '-I', script], os.path.basename(PYTHON),
                               subprocess.PIPE, None, harness.TARGET_PREEXEC)
        self.result = harness.Result()


def tables(t):
    t.send('tables')
    return t.expect_line(r'^tables ((?:[0-9a-f]+ ?){8})$', "'tables' and 8 pointers").group(1)


def go(t, start):
    t.send(f'go {start} {N}')
    m = t.expect_line(r'^done (\d+) (\d+) (\d+)$', "'done COUNT KEYSIZE PAYLOADSIZE'")
    return int(m.group(2)), int(m.group(3))


def check_sites(h, report, script, sizes, what):
    """The keys and the payloads at handle's line; where memtrace names no
    Python frames of this version (its header says so), at any site."""
    named = 'Python frames named' in report.get('python', '')
    for nbytes, kind in zip(sizes, ('keys', 'payloads')):
        got = [s for s in report['sites']
               if (not named or (s['function'] == 'handle' and s['file'] == script and
                                 s['line'] == HANDLE_LINE)) and
               s['live_blocks'] == N and s['live_bytes'] == N * nbytes]
        h.check(len(got) == 1,
                f'{what}: no site {"handle" if named else ""} ({script}:{HANDLE_LINE}) with '
                f'{N} live {kind} of {nbytes} bytes: ' +
                str([(s['function'], s['line'], s['live_blocks'], s['live_bytes'])
                     for s in report['sites'][:8]]))


def detach_after_kill(h, t, before):
    """Another memtrace SIGKILLed: `memtrace detach PID` puts the tables'
    functions back (8 entries) and says so."""
    k = h.start_memtrace(['histo', str(t.pid), '--json', '--duration', '0'])
    k.wait_tracing()
    os.kill(k.pid, signal.SIGKILL)
    k.wait(what='die of SIGKILL')
    h.check(tables(t) != before, 'the tables were not swapped before the SIGKILL')
    d = h.start_memtrace(['detach', str(t.pid)], engine=False)
    rc = d.wait(what='memtrace detach to exit')
    said = [line for line in d.err.lines if 'CPython allocator table entries' in line]
    h.check(rc == 0 and len(said) == 1 and 'restored 8 CPython' in said[0],
            f'memtrace detach: status {rc}, said {d.err.lines}')
    after = tables(t)
    h.check(after == before, f'tables after memtrace detach {after}, at first {before}')
    go(t, 4 * N)


def test(h):
    if not os.access(PYTHON, os.X_OK):
        # pyenv's are not installed by tools/setup: skipped where missing
        h.skip(f'{PYTHON} is not installed (tools/setup installs it)')
    if harness.test_engine() != 'inject':
        h.skip('only the inject engine hooks CPython\'s allocator tables')
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, 'service.py')
        with open(script, 'w') as f:
            f.write(SERVICE)
        t = Service(h, script)
        t.ready()
        before = tables(t)

        m = h.attach(t)
        during = tables(t)
        sizes = go(t, 0)
        t.send('fork')
        child = t.expect_line(r'^child ((?:[0-9a-f]+ ){8})1000 (\d+)$',
                              "'child TABLES 1000 STATUS'")
        h.check(child.group(1).strip() == before and child.group(2) == '0',
                f'a forked child: tables {child.group(1)} (before: {before}), status '
                f'{child.group(2)}')
        report = m.stop()
        after = tables(t)
        h.check(report.get('pymalloc_tables') == ['obj', 'mem'],
                f'pymalloc_tables {report.get("pymalloc_tables")!r}, expected obj and mem')
        check_sites(h, report, script, sizes, 'first attach')
        moved = [a != b for a, b in zip(before.split(), during.split())]
        h.check(all(moved), f'tables while traced {during} vs before {before}')
        h.check(after == before, f'tables after detach {after}, before attach {before}')

        k = h.start_memtrace(['histo', str(t.pid), '--json', '--duration', '0'])
        k.wait_tracing()
        killed = tables(t)
        t.send(f'go {N} {N}')
        os.kill(k.pid, signal.SIGKILL)
        k.wait(what='die of SIGKILL')
        t.expect_line(r'^done (\d+) (\d+) (\d+)$', "'done' (after SIGKILL of memtrace)")
        left = tables(t)
        h.check(left == killed and left != before,
                f'tables after SIGKILL {left}, while traced {killed}, before {before}')

        m = h.attach(t)
        adopted = tables(t)
        sizes = go(t, 2 * N)
        report = m.stop()
        h.check(adopted == killed, f'tables taken over {adopted}, left {killed}')
        check_sites(h, report, script, sizes, 'after SIGKILL')
        after = tables(t)
        h.check(after == before, f'tables after the last detach {after}, at first {before}')
        sizes = go(t, 3 * N)
        detach_after_kill(h, t, before)
        t.send('quit')
        t.wait_exit(0)


harness.main(test)
