#!/usr/bin/env python3
"""The progress line (src/util/progress.h): on a terminal only, never in a
pipe, never with --json.

The target is census_heap (tests/targets/census_heap.cc), whose heap is
built before attach.  A step draws its line at its first update (the first
module read, chunk walked, site named), then at most 10 times a second: the
test does not depend on how long a step takes.

  pipe      `memtrace census PID` and `memtrace histo PID --duration 1`
            (tables) with stderr to a pipe: no progress text, no carriage
            return, no escape sequence on stderr; the table on stdout
  terminal  the same under `script` (util-linux), stderr a terminal and
            stdout a file: "memtrace: census: walking the heap: N
            chunks", "memtrace: reading modules: I/N" (at attach) and
            "memtrace: naming sites: I/N" drawn as "\\rTEXT\\033[K" and
            erased ("\\r\\033[K") before anything else is written; with
            --json, none at all.  Skipped without `script`.
"""
import os
import re
import shutil
import subprocess
import tempfile

import harness

TARGET = 'census_heap'
DRAW_RE = re.compile(r'\rmemtrace: ([^\r\n\x1b]*)\x1b\[K')
ERASE = '\r\x1b[K'
STEPS = ('reading modules', 'walking the heap', 'naming sites')


def start(h):
    t = h.start_target(TARGET)
    t.send('go')
    t.expect_line(r'^armed$', "'armed'")
    return t


def commands(pid):
    return {
        'census': ['census', str(pid)],
        'histo': harness.engine_args(['histo', str(pid), '--duration', '1']),
    }


def check_pipe(h, t):
    for name, args in commands(t.pid).items():
        m = h.start_memtrace(args, engine=False)
        rc = m.wait()
        h.check(rc == 0, f'{name}: exited {rc}')
        err = '\n'.join(m.err.lines)
        h.check('\r' not in err and '\x1b' not in err,
                f'{name}: a carriage return or an escape on stderr (a pipe): {err!r}')
        h.check(not any(s in err for s in STEPS),
                f'{name}: progress text on stderr (a pipe): {err!r}')
        h.check(m.out.text().strip() != '', f'{name}: no table on stdout')


def under_script(h, args, tmp):
    """memtrace ARGS with stderr on script's terminal, stdout to a file:
    (what the terminal got, stdout)."""
    out = os.path.join(tmp, 'stdout')
    cmd = ' '.join([h.memtrace, *args, '>' + out])
    env = dict(os.environ, TERM='xterm', COLUMNS='200')
    env.pop('NO_COLOR', None)
    p = subprocess.run(['script', '-q', '-e', '-c', cmd, '/dev/null'], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=harness.TIMEOUT)
    term = p.stdout.decode('utf-8', 'replace')
    harness.log(f'$ script -c {cmd!r}: status {p.returncode}, terminal: {term!r}')
    h.check(p.returncode == 0, f'{args[0]} under script exited {p.returncode}')
    with open(out) as f:
        return term, f.read()


def check_drawn(h, name, term, step):
    """STEP drawn at least once on TERM, every draw erased before the next
    other text; what stays on screen holds no progress."""
    draws = DRAW_RE.findall(term)
    h.check(any(d.startswith(step) for d in draws),
            f'{name}: no "{step}" progress line on the terminal: {term!r}')
    # Every draw is followed by another draw or the erase, nothing else.
    for m in DRAW_RE.finditer(term):
        rest = term[m.end():]
        h.check(rest.startswith('\rmemtrace: ') or rest.startswith(ERASE),
                f'{name}: a progress line not erased before {rest[:60]!r}')
    left = DRAW_RE.sub('', term).replace(ERASE, '')
    h.check(not any(s in left for s in STEPS),
            f'{name}: progress text left on the terminal: {left!r}')


def check_terminal(h, t):
    if not shutil.which('script'):
        harness.log('no script (util-linux): the terminal case is not checked')
        return
    cmds = commands(t.pid)
    with tempfile.TemporaryDirectory() as tmp:
        term, out = under_script(h, cmds['census'], tmp)
        check_drawn(h, 'census', term, 'census: walking the heap: ')
        h.check(re.search(r'census: walking the heap: [\d,]+ chunks', term),
                f'census: the progress line has no chunk count: {term!r}')
        h.check(out.strip() != '', 'census: no table on stdout')
        term, out = under_script(h, cmds['histo'], tmp)
        check_drawn(h, 'histo', term, 'naming sites: ')
        check_drawn(h, 'histo', term, 'reading modules: ')
        h.check(re.search(r'naming sites: [\d,]+/[\d,]+', term),
                f'histo: the progress line has no I/N: {term!r}')
        for name, args in cmds.items():
            term, out = under_script(h, [*args, '--json'], tmp)
            h.check('\x1b' not in term and not any(s in term for s in STEPS),
                    f'{name} --json: progress on the terminal: {term!r}')
            harness.parse_json(out, f'{name} --json stdout')


def test(h):
    t = start(h)
    check_pipe(h, t)
    check_terminal(h, t)
    t.send('exit')
    t.wait_exit(0)


harness.main(test)
