#!/usr/bin/env python3
"""asyncio tasks in a CPython service (Debian's /usr/bin/python3, 3.11;
with an argument 3.N, pyenv's CPython 3.N): after "go" the service runs N tasks of the coroutine `handle`, each of
which awaits once (so it runs from the event loop, under _asyncio's C
code) and then stores a payload of 2,500 bytes.  With the inject engine
the report must have exactly N live blocks of the payload's size at
`handle`, the script's file and the line of the store, and the stack must
show the event loop's Python frames above it (Handle._run).  The
interpreter runs on through attach and detach and exits 0.  With the
breakpoint engine (no Python frames) the blocks must be there all the
same, exact.  Skips (77) without /usr/bin/python3 3.11 (or pyenv's
3.N).  Up to 3.10 frames have no qualified name: Handle._run is _run."""
import os
import tempfile

import harness
import pyservice
from pyservice import Service
N = 200
SIZE = 2500
BYTES_HEADER = 33   # sys.getsizeof(b'') on 64-bit CPython 3.9 to 3.13

SERVICE = '''\
import asyncio
import os
import sys

STORE = []
FILL = b"y"  # a name, not a constant: b"y" * N would be folded


async def handle(i):
    await asyncio.sleep(0)
    STORE.append(FILL * SIZE)  # the payload


async def run(n):
    await asyncio.gather(*(handle(i) for i in range(n)))


def main():
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "go":
            asyncio.run(run(int(cmd[1])))
            print("done", len(STORE), flush=True)
        elif cmd and cmd[0] == "quit":
            break


main()
'''.replace('SIZE', str(SIZE))
STORE_LINE = SERVICE.splitlines().index(f'    STORE.append(FILL * {SIZE})  # the payload') + 1


def test(h):
    python, ver = pyservice.chosen(h)
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, 'service.py')
        with open(script, 'w') as f:
            f.write(SERVICE)
        t = Service(h, script, python)
        t.ready()
        m = h.attach(t)
        t.send(f'go {N}')
        t.expect_line(rf'^done {N}$', f"'done {N}'")
        report = m.stop()
        h.check_released(t.pid)
        t.send('quit')
        t.wait_exit(0)
    size = SIZE + BYTES_HEADER
    mine = [s for s in report['sites']
            if s['live_blocks'] == N and s['live_bytes'] == N * size]
    h.check(len(mine) == 1, f'no site with exactly {N} live blocks of {size} bytes: ' +
            str([(s['function'], s.get('line'), s['live_blocks'], s['live_bytes'])
                 for s in report['sites'][:8]]))
    if not mine or report['engine'] != 'inject':
        return
    site = mine[0]
    h.check(site['function'] == 'handle' and site['file'] == script and
            site['line'] == STORE_LINE,
            f'site {site["function"]} ({site["file"]}:{site["line"]}), expected handle '
            f'({script}:{STORE_LINE})')
    names = [f.get('function', '') for f in site.get('stack', [])]
    run = '_run' if ver in ('3.9', '3.10') else 'Handle._run'
    h.check(run in names and names.index('handle') < names.index(run),
            f'the event loop\'s frames are not above handle: {names}')


harness.main(test)
