#!/usr/bin/env python3
"""Output formats (issue 4), on grow_steps after 3 steps, each in a fresh
session of `histo PID --duration 0 ...` ended by SIGINT:

  - `--format folded`: every line `frame;frame;... N`, outermost frame
    first (main before do_step before planted_grow), N the live bytes of
    that stack: the lines through planted_grow, base_hold and ring_churn
    weigh exactly what the target holds there;
  - `--format json` gives the same report as `--json` (the same keys, the
    same rows of the executable);
  - tables carry no ANSI escapes on a pipe, nor on a terminal with
    NO_COLOR set (histo, and diff of a snapshot);
  - `diff --format json` prints exactly what `diff --json` prints, and
    `diff --format folded` prints folded lines.
"""
import os
import pty
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import growthcheck
import harness
from growthcheck import Fail, log

STEPS = 3
FOLDED = re.compile(r'^(\S.*) (-?\d+)$')
ESC = '\x1b'


class PtyMemtrace:
    """memtrace with its stdout on a terminal (a pty) and stderr on a pipe."""

    def __init__(self, h, args, env):
        self.h = h
        self.name = 'memtrace (tty)'
        master, slave = pty.openpty()
        try:
            self.popen = subprocess.Popen([h.memtrace, *harness.engine_args(args)], stdin=subprocess.DEVNULL,
                                          stdout=slave, stderr=subprocess.PIPE, env=env)
        finally:
            os.close(slave)
        h._procs.append(self)
        self.pid = self.popen.pid
        self.err = harness._Lines(self.popen.stderr, 'memtrace (tty) stderr')
        self.chunks = []
        self._reader = threading.Thread(target=self._read, args=(master,), daemon=True)
        self._reader.start()

    def _read(self, fd):
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:      # EIO once the child closed the terminal
                break
            if not data:
                break
            self.chunks.append(data)
        os.close(fd)

    def running(self):
        return self.popen.poll() is None

    def wait(self, timeout=harness.TIMEOUT, what='exit'):
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f'{self.name} did not {what} within {timeout:.0f} s') from None
        self._reader.join(5)
        self.err.drain()
        return rc

    def text(self):
        return b''.join(self.chunks).decode('utf-8', 'replace')

    def saw(self, prefix):
        return next((line for line in self.err.lines if line.startswith(prefix)), None)

    def kill(self):
        if self.running():
            self.popen.kill()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def dump(self):
        if self.err.lines:
            log(f'--- {self.name} stderr:')
            for line in self.err.lines:
                log('    ' + line)


def session(h, extra, tty_env=None):
    """A fresh grow_steps, `histo PID --duration 0 EXTRA` (on a terminal if
    TTY_ENV is given), STEPS steps, SIGINT: (stdout text, stepped fields,
    target exe)."""
    t = growthcheck.start_steps(h)
    args = ['histo', str(t.pid), '--duration', '0', *extra]
    m = PtyMemtrace(h, args, tty_env) if tty_env is not None else h.start_memtrace(args)
    harness.Memtrace.wait_tracing(m)
    growthcheck.go(t)
    f = growthcheck.step(t, STEPS)
    os.kill(m.pid, signal.SIGINT)
    rc = m.wait(what='exit after SIGINT')
    if rc != 0:
        m.dump()
        raise Fail(f'`memtrace {" ".join(args)}` exited {rc}, expected 0')
    t.send('exit')
    t.wait_exit(0)
    out = m.text() if tty_env is not None else m.out.text()
    return out, f, t.exe


def run_on_pty(h, args, env):
    m = PtyMemtrace(h, args, env)
    rc = m.wait(timeout=growthcheck.RUN_TIMEOUT, what='end')
    return rc, m.text(), m


def check_folded(h, out, f):
    lines = [line for line in out.splitlines() if line.strip()]
    if not h.check(lines, 'histo --format folded printed nothing'):
        return
    stacks = []
    for line in lines:
        m = FOLDED.match(line)
        if not h.check(m is not None, f'folded: line is not `frame;frame;... N`: {line!r}'):
            continue
        frames = m.group(1).split(';')
        h.check(all(fr.strip() for fr in frames), f'folded: an empty frame in {line!r}')
        h.check(int(m.group(2)) >= 0, f'folded: negative live bytes in {line!r}')
        stacks.append((frames, int(m.group(2))))
    h.check(ESC not in out, 'folded output holds ANSI escapes')
    for fn, key, path in (('planted_grow', 'planted', ('main', 'do_step', 'planted_grow')),
                          ('base_hold', 'base', ('main', 'base_hold')),
                          ('ring_churn', 'ring', ('main', 'do_step', 'ring_churn'))):
        mine = [(fr, w) for fr, w in stacks if fn in fr]
        total = sum(w for _fr, w in mine)
        h.check(total == f[f'{key}_bytes'],
                f'folded: the stacks through {fn} weigh {total}, the target holds '
                f'{f[key + "_bytes"]} bytes there')
        for fr, _w in mine:
            idx = [fr.index(x) if x in fr else -1 for x in path]
            h.check(-1 not in idx and idx == sorted(idx),
                    f'folded: {";".join(fr)} does not hold {" ; ".join(path)} outermost first')
    if h.failures:
        log('--- folded output:')
        for line in lines[:40]:
            log('    ' + line)


def rows_of(report, exe):
    return sorted((s.get('function'), s.get('live_blocks'), s.get('live_bytes'),
                   s.get('allocs'), s.get('frees'))
                  for s in report.get('sites', []) if growthcheck.in_module(s, exe))


def test(h):
    tmp = tempfile.mkdtemp(prefix='mt-growth-')
    try:
        run(h, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, tmp):
    env_nc = dict(os.environ, NO_COLOR='1', LC_ALL='C.UTF-8')

    out, f, _exe = session(h, ['--format', 'folded'])
    check_folded(h, out, f)

    out_fj, f1, exe = session(h, ['--format', 'json'])
    out_j, f2, _ = session(h, ['--json'])
    r_fj = harness.parse_json(out_fj, 'histo --format json')
    r_j = harness.parse_json(out_j, 'histo --json')
    h.check(f1 == f2, 'grow_steps did different things in two runs')
    h.check(sorted(r_fj) == sorted(r_j),
            f'--format json and --json print different keys: {sorted(r_fj)} vs {sorted(r_j)}')
    h.check(rows_of(r_fj, exe) == rows_of(r_j, exe),
            f'--format json and --json rows differ:\n    {rows_of(r_fj, exe)}\n    '
            f'{rows_of(r_j, exe)}')
    for fn, key in (('planted_grow', 'planted'), ('base_hold', 'base'), ('ring_churn', 'ring')):
        got = [(s.get('live_blocks'), s.get('live_bytes')) for s in r_fj.get('sites', [])
               if s.get('function') == fn]
        h.check(got == [(f1[f'{key}_blocks'], f1[f'{key}_bytes'])],
                f'--format json: {fn} rows {got}, expected '
                f'{[(f1[key + "_blocks"], f1[key + "_bytes"])]}')

    snap = os.path.join(tmp, 'table.mtsnap')
    out, _f, _ = session(h, ['--snapshot', snap])
    h.check(ESC not in out, 'the histo table on a pipe holds ANSI escapes')
    h.check('planted_grow' in out, 'the histo table on a pipe has no planted_grow row')

    out, _f, _ = session(h, [], tty_env=env_nc)
    h.check(ESC not in out, 'the histo table on a terminal with NO_COLOR=1 holds ANSI escapes:\n'
            + repr(out[:300]))
    h.check('planted_grow' in out, 'the histo table on a terminal has no planted_grow row')

    if not h.check(os.path.isfile(snap), f'histo --snapshot wrote no {snap}'):
        return
    rc, out, m = run_on_pty(h, ['diff', snap, snap], env_nc)
    if h.check(rc == 0, f'`memtrace diff S S` on a terminal exited {rc}'):
        h.check(ESC not in out, 'the diff table on a terminal with NO_COLOR=1 holds ANSI escapes')
    else:
        m.dump()
    r = growthcheck.run_mt(h, ['diff', snap, snap])
    if growthcheck.check_ok(h, r, '`memtrace diff S S` on a pipe'):
        h.check(ESC not in r.out, 'the diff table on a pipe holds ANSI escapes')

    rj = growthcheck.run_mt(h, ['diff', snap, snap, '--json'])
    rf = growthcheck.run_mt(h, ['diff', snap, snap, '--format', 'json'])
    if growthcheck.check_ok(h, rj) and growthcheck.check_ok(h, rf):
        h.check(rj.out == rf.out, 'diff --format json and diff --json print different output')
    rfo = growthcheck.run_mt(h, ['diff', snap, snap, '--format', 'folded'])
    if growthcheck.check_ok(h, rfo):
        bad = [line for line in rfo.out.splitlines() if line.strip() and not FOLDED.match(line)]
        h.check(not bad, f'diff --format folded: lines not `frame;... N`: {bad[:3]}')


growthcheck.main(test)
