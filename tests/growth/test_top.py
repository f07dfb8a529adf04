#!/usr/bin/env python3
"""memtrace top, driven through tmux (issue 22, item 3).

grow_sites --plateau-ms 0 has a growing site (leak_steady), a flat one with
heavy churn (churn_ring) and, since memtrace attaches before "go", a
shrinking one (shrink_pool).  `memtrace top PID --interval 0.5` runs in a
detached tmux session of a fixed size, on a private tmux socket; the test
reads the screen with capture-pane, waiting each time for the text it
expects (never a fixed sleep), and types with send-keys:

  - without a terminal, top is refused: exit 2, one error line, no output;
  - the first row by growth (the default) is leak_steady, growing;
  - `c` sorts by churn: the header says so and churn_ring comes first;
  - Enter shows the first row's stack: churn_ring marked "->", then its
    callers tick and main, each with its file;
  - `s` writes memtrace-PID-1.snap, which `memtrace diff` reads back with
    leak_steady and churn_ring live in it;
  - `q` quits: memtrace exits 0, says it detached, the terminal left the
    alternate screen, the allocator's code bytes are the file's again, no
    thread is traced or stopped, and the target goes on and exits 0 when
    told.

Skipped (77) without tmux.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import growthcheck
from growthcheck import Fail, log

import harness

WIDTH, HEIGHT = 200, 50
INTERVAL = '0.5'


class Tmux:
    """One tmux server of our own (a socket in DIR), one session 'top'."""

    def __init__(self, tmux, d):
        self.tmux = tmux
        self.sock = os.path.join(d, 'tmux.sock')
        self.env = dict(os.environ, LANG='C.UTF-8', LC_ALL='C.UTF-8', TERM='xterm-256color')
        self.env.pop('TMUX', None)
        self.env.pop('NO_COLOR', None)

    def run(self, *args, check=True):
        p = subprocess.run([self.tmux, '-S', self.sock, '-f', '/dev/null', *args],
                           capture_output=True, text=True, env=self.env, timeout=30)
        if check and p.returncode != 0:
            raise harness.Broken(f'tmux {" ".join(args)}: exit {p.returncode}: '
                                 f'{p.stderr.strip()}')
        return p.stdout

    def start(self, cwd, command):
        self.run('new-session', '-d', '-s', 'top', '-x', str(WIDTH), '-y', str(HEIGHT),
                 '-c', cwd, command)

    def screen(self):
        return self.run('capture-pane', '-p', '-t', 'top', check=False)

    def keys(self, *keys):
        self.run('send-keys', '-t', 'top', *keys)

    def kill(self):
        self.run('kill-server', check=False)


def wait_screen(tm, pred, what):
    """The screen once PRED(list of its lines) is true."""
    last = ['']

    def ready():
        last[0] = tm.screen()
        return pred(last[0].splitlines())
    try:
        harness.wait_until(ready, what)
    except Fail:
        log('--- the screen:\n' + last[0])
        raise
    return last[0].splitlines()


ROW = re.compile(r'^\s*(\d+)\s.*\s(growing|plateau|fluctuating|shrinking|flat)\s+(\S+)\+0x')


def rows(lines):
    """(rank, verdict, function) of each site row on the screen."""
    out = []
    for line in lines:
        m = ROW.match(line)
        if m:
            out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def first_row(lines):
    r = rows(lines)
    return r[0] if r else None


def refused_without_terminal(h, pid):
    run = growthcheck.run_mt(h, ['top', str(pid)], engine=False)
    growthcheck.check_error(h, run, 2, [r'needs a terminal'], 'memtrace top in a pipe')


def test(h):
    tmux = shutil.which('tmux')
    if not tmux:
        h.skip('no tmux (Debian package tmux; tools/setup installs it)')
    t = h.start_target('grow_sites', ['--plateau-ms', '0'])
    refused_without_terminal(h, t.pid)
    d = tempfile.mkdtemp(prefix='mt-top-')
    tm = Tmux(tmux, d)
    engine = harness.test_engine()
    args = [h.memtrace, 'top', str(t.pid), '--interval', INTERVAL]
    if engine:
        args += ['--engine', engine]
    rc_file, err_file = os.path.join(d, 'rc'), os.path.join(d, 'stderr')
    # stderr to a file: top needs only stdin and stdout on the terminal,
    # and writes what it said there once the screen is given back
    command = (' '.join(args) + f' 2>{err_file}; echo $? >{rc_file}.tmp; '
               f'mv {rc_file}.tmp {rc_file}; echo top-ended; exec sleep 600')
    try:
        tm.start(d, command)
        run_top(h, tm, t, d, rc_file, err_file)
    finally:
        tm.kill()
        shutil.rmtree(d, ignore_errors=True)


def run_top(h, tm, t, d, rc_file, err_file):
    wait_screen(tm, lambda ls: ls and ls[0].startswith(f'memtrace top  pid {t.pid} '),
                'the header of memtrace top')
    t.send('go')
    lines = wait_screen(tm, lambda ls: first_row(ls) == (1, 'growing', 'leak_steady')
                        and {'churn_ring', 'shrink_pool'} <= {r[2] for r in rows(ls)},
                        'leak_steady first and growing, churn_ring and shrink_pool shown')
    h.check('sorted by growth' in lines[0], f'default sort not growth: {lines[0]!r}')
    h.check(re.search(r'\b0 lost events\b', lines[1]) is not None,
            f'no "0 lost events" in the header: {lines[1]!r}')
    h.check(lines[2].startswith('heap at attach: mapped '), f'no heap summary: {lines[2]!r}')
    log('by growth: ' + ', '.join(f'{r[2]} ({r[1]})' for r in rows(lines)))

    tm.keys('c')
    lines = wait_screen(tm, lambda ls: 'sorted by churn' in ls[0]
                        and first_row(ls) is not None and first_row(ls)[2] == 'churn_ring',
                        "churn_ring first after 'c' (sort by churn)")
    log('by churn: ' + ', '.join(f'{r[2]} ({r[1]})' for r in rows(lines)))

    tm.keys('Enter')
    lines = wait_screen(tm, lambda ls: any(re.match(r'^\s+-> churn_ring\+0x', x) for x in ls),
                        "churn_ring's stack under its row after Enter")
    at = next(i for i, x in enumerate(lines) if re.match(r'^\s+-> churn_ring\+0x', x))
    below = lines[at + 1:at + 8]
    h.check(re.search(r'grow_sites\.c:\d+', lines[at]) is not None,
            f'site frame without its file and line: {lines[at]!r}')
    h.check(any(re.match(r'^\s+tick\+0x\w+ \(grow_sites\) grow_sites\.c:\d+', x) for x in below),
            f'no frame of tick under churn_ring: {below}')
    h.check(any(re.match(r'^\s+main\+0x\w+ \(grow_sites\) grow_sites\.c:\d+', x) for x in below),
            f'no frame of main under churn_ring: {below}')

    tm.keys('s')
    snap = f'memtrace-{t.pid}-1.snap'
    wait_screen(tm, lambda ls: any(f'snapshot written to {snap}' in x for x in ls),
                f"'snapshot written to {snap}' on the status line")
    path = os.path.join(d, snap)
    with open(path, 'rb') as f:
        growthcheck.check_header(h, f.read(), snap)
    report = growthcheck.diff_json(h, path, path)
    for fn in ('leak_steady', 'churn_ring'):
        got = growthcheck.site_rows(report['sites'], fn)
        h.check(got and got[0]['bytes_b'] > 0, f'{fn} not live in the snapshot: {got}')

    tm.keys('q')
    harness.wait_until(lambda: os.path.exists(rc_file), 'memtrace top to exit after q')
    with open(rc_file) as f:
        rc = f.read().strip()
    with open(err_file) as f:
        err = f.read()
    log('memtrace stderr:\n' + err.rstrip())
    h.check(rc == '0', f'memtrace top exited {rc} after q, expected 0')
    h.check(f'memtrace: detached from pid {t.pid}' in err.splitlines(),
            f"no 'memtrace: detached from pid {t.pid}' line on stderr")
    wait_screen(tm, lambda ls: 'top-ended' in ls, "the shell's line after memtrace")
    alt = tm.run('display-message', '-p', '-t', 'top', '#{alternate_on}').strip()
    h.check(alt == '0', f'the terminal is still on the alternate screen ({alt!r})')
    h.check_entry_bytes(t.pid)
    h.check_released(t.pid)
    h.check(t.running(), 'the target is gone after memtrace quit')
    t.send('exit')
    t.expect_line(r'^bye ticks=\d+$', "the target's 'bye' line")
    t.wait_exit(0)


if __name__ == '__main__':
    growthcheck.main(test)
