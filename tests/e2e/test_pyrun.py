#!/usr/bin/env python3
"""memtrace run -- /usr/bin/python3 script.py: the report comes after the
interpreter exited, when its code objects are gone; the Python frames
must have been named while it ran (issue 21).

The script keeps N payloads of 2,500 bytes in a module-level dict from a
function `handle`, then calls `settle`, which prints "settled" and reads
stdin (inherited from memtrace).  memtrace -v says when it has named the
Python frames of every stack it got, with the innermost Python frame of
the newest stack.  The test has the script make (exec) and call a new
function poke_K after "settled", until memtrace says every stack is
named and the newest is in poke_K: handle's, which came before, is named
too.  (Another stack may come after poke_K's, the exec's own: then
poke_K+1, whose stacks are the only new ones.)  Then it sends "exit" and
the script ends with os._exit(0), which skips the interpreter's
finalization: the dict is still live at the exit.

The report must name the payloads' site `handle` at the script's line of
the insertion, with exactly N live blocks of the payload's size.  Debian's
/usr/bin/python3 (CPython 3.11), not a python found on PATH (pyenv's shim
is a shell script that execs the interpreter: memtrace stops tracing at an
exec); skips (77) when it is missing or is not 3.11, or with the
breakpoint engine (no Python frames)."""
import os
import queue
import re
import subprocess
import tempfile

import harness
import pyservice

N = 300
SIZE = 2500

SCRIPT = '''\
import os
import sys

STORE = {}
KEEP = []
FILL = b"y"


def handle(i):
    STORE[i] = FILL * 2500  # the payload


def settle():
    print("settled", len(STORE), sys.getsizeof(STORE[0]), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] != "poke":
            break
        ns = {}
        exec(f"def poke_{cmd[1]}(keep, fill):\\n"
             f"    keep.append(fill * 3500)\\n"
             f"    print('poked', {cmd[1]}, flush=True)\\n", ns)
        ns["poke_" + cmd[1]](KEEP, FILL)


for i in range(%d):
    handle(i)
settle()
os._exit(0)
''' % N
HANDLE_LINE = SCRIPT.splitlines().index('    STORE[i] = FILL * 2500  # the payload') + 1
LOOP_LINE = SCRIPT.splitlines().index('    handle(i)') + 1
NAMED_RE = re.compile(r'^memtrace: python: \d+ frames named while pid \d+ runs \(.*\); '
                      r'every stack named, the newest in (\S+)$')


def poke_until_named(h, m):
    """Have the script make and call poke_K until memtrace -v says poke_K
    was the newest frame it named."""
    for k in range(20):
        while True:   # the lines that came before this poke
            try:
                m.err._queue.get_nowait()
            except queue.Empty:
                break
        m.popen.stdin.write(f'poke {k}\n'.encode())
        m.popen.stdin.flush()
        line = m.out.next(harness.TIMEOUT, f"'poked {k}' line")
        h.check(line == f'poked {k}', f"the script said {line!r}, expected 'poked {k}'")
        while True:
            line = m.err.next(harness.TIMEOUT, f"'python: ... the newest' line after poke {k}")
            if line is None:
                h.fail(f'memtrace ended before it named poke_{k}')
            match = NAMED_RE.match(line)
            if match:
                break
        if match.group(1) == f'poke_{k}':
            return
    h.fail('memtrace never named a poke_K last, after 20 of them')


def test(h):
    pyservice.need_311(h)
    if harness.test_engine() == 'breakpoint':
        h.skip('the breakpoint engine takes no Python frames')
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, 'script.py')
        with open(script, 'w') as f:
            f.write(SCRIPT)
        m = h.start_memtrace(['run', '-v', '--json', '--', pyservice.PYTHON, script],
                             stdin=subprocess.PIPE)
        settled = None
        while settled is None:
            line = m.out.next(harness.TIMEOUT, "'settled' line")
            if line is None:
                h.fail('memtrace ended before the script said settled')
            settled = re.match(r'^settled (\d+) (\d+)$', line)
        stored, size = int(settled.group(1)), int(settled.group(2))
        h.check(stored == N and size == SIZE + 33,
                f'the script stored {stored} payloads of {size} bytes, expected {N}')
        poke_until_named(h, m)
        m.popen.stdin.write(b'exit\n')
        m.popen.stdin.close()
        rc = m.wait(what='end with its command')
        h.check(rc == 0, f'memtrace run exited with status {rc}, the script with 0')
        h.check(m.saw('memtrace: target exited with status 0'),
                "no 'memtrace: target exited with status 0' line")
        lines = m.out.lines
        start = next((i for i, line in enumerate(lines) if line.startswith('{')), None)
        if start is None:
            h.fail('no JSON report on memtrace stdout:\n' + m.out.text())
        report = harness.parse_json('\n'.join(lines[start:]), 'memtrace run --json report')
    sites = [(s['function'], s['file'], s['line'], s['live_blocks'], s['live_bytes'])
             for s in report['sites']]
    want = ('handle', script, HANDLE_LINE, N, N * size)
    h.check(want in sites, f'no site {want}: {sites[:8]}')
    # its caller too: the module's loop (a code object that lives to the end)
    mine = [s for s in report['sites'] if s['function'] == 'handle']
    python = [(f.get('function'), f.get('line')) for f in (mine[0]['stack'] if mine else [])
              if f.get('module') == '[python]']
    h.check(python[:2] == [('handle', HANDLE_LINE), ('<module>', LOOP_LINE)],
            f'the stack does not show handle <- <module>: {python}')


harness.main(test)
