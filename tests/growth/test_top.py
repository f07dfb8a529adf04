#!/usr/bin/env python3
"""memtrace top, driven through tmux (issue 22, item 3).

usage: test_top.py quit | hup | ctrl-c | sigterm | target-exit

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
  - `p` pauses (the header and the status line say so), `p` again resumes
    (the interval's number moves on);
  - `s` writes memtrace-PID-1.snap, which `memtrace diff` reads back with
    leak_steady and churn_ring live in it;
  - `q` quits: memtrace exits 0, says it detached, the terminal left the
    alternate screen, the allocator's code bytes are the file's again, no
    thread is traced or stopped, and the target goes on and exits 0 when
    told.

hup: once the rows are there, the tmux session is killed (the terminal
closes; the shell, the session's leader, traps the SIGHUP as nohup would
ignore it, so memtrace must see the terminal hung up); memtrace exits 0
having detached, the bytes are the file's, the target goes on.  ctrl-c
(typed in the terminal) and sigterm (sent to memtrace) end it the same way,
and the terminal is given back.  target-exit: the target is told to exit;
memtrace exits 0, says so, and gives the terminal back.

Skipped (77) without tmux.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

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


def interval_of(lines):
    m = re.search(r'  interval (\d+)  ', lines[0]) if lines else None
    return int(m.group(1)) if m else -1


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
    # a trap, not an ignored SIGHUP (which memtrace would inherit): the
    # shell outlives the terminal to write memtrace's exit status
    command = ("trap 'echo hup >/dev/null' HUP; " + ' '.join(args) + f' 2>{err_file}; '
               f'echo $? >{rc_file}.tmp; mv {rc_file}.tmp {rc_file}; echo top-ended; '
               'exec sleep 600')
    try:
        tm.start(d, command)
        MODES[MODE](h, tm, t, d, rc_file, err_file)
    finally:
        tm.kill()
        shutil.rmtree(d, ignore_errors=True)


def first_rows(tm, t):
    """Once memtrace top shows its header, "go"; the screen once the rows
    are there, leak_steady first."""
    wait_screen(tm, lambda ls: ls and ls[0].startswith(f'memtrace top  pid {t.pid} '),
                'the header of memtrace top')
    t.send('go')
    return wait_screen(tm, lambda ls: first_row(ls) == (1, 'growing', 'leak_steady')
                       and {'churn_ring', 'shrink_pool'} <= {r[2] for r in rows(ls)},
                       'leak_steady first and growing, churn_ring and shrink_pool shown')


def ended(h, rc_file, err_file, what):
    """memtrace's exit status (checked 0) and its stderr lines."""
    harness.wait_until(lambda: os.path.exists(rc_file), f'memtrace top to exit {what}')
    with open(rc_file) as f:
        rc = f.read().strip()
    with open(err_file) as f:
        err = f.read()
    log('memtrace stderr:\n' + err.rstrip())
    h.check(rc == '0', f'memtrace top exited {rc} {what}, expected 0')
    return err.splitlines()


def check_restored(h, t):
    """Nothing of memtrace left in the target, which lives on."""
    h.check_entry_bytes(t.pid)
    h.check_released(t.pid)
    h.check(t.running(), 'the target is gone after memtrace ended')
    t.send('exit')
    t.expect_line(r'^bye ticks=\d+$', "the target's 'bye' line")
    t.wait_exit(0)


def check_screen_back(h, tm):
    wait_screen(tm, lambda ls: 'top-ended' in ls, "the shell's line after memtrace")
    alt = tm.run('display-message', '-p', '-t', 'top', '#{alternate_on}').strip()
    h.check(alt == '0', f'the terminal is still on the alternate screen ({alt!r})')


def mode_hup(h, tm, t, d, rc_file, err_file):
    first_rows(tm, t)
    tm.run('kill-session', '-t', 'top')
    err = ended(h, rc_file, err_file, 'after its terminal closed (SIGHUP)')
    # SIGHUP goes to the session leader, the shell here, which traps it:
    # memtrace finds the terminal hung up
    h.check('memtrace: the terminal closed: stopping' in err,
            "no 'memtrace: the terminal closed: stopping' line on stderr")
    h.check(f'memtrace: detached from pid {t.pid}' in err,
            f"no 'memtrace: detached from pid {t.pid}' line on stderr")
    check_restored(h, t)


def memtrace_pid(tm):
    """memtrace's PID: the only child of the pane's shell."""
    shell = int(tm.run('display-message', '-p', '-t', 'top', '#{pane_pid}').strip())
    kids = harness.wait_until(lambda: harness.children(shell), 'memtrace under the shell')
    return kids[0][0]


def stopped_by(h, tm, t, rc_file, err_file, act, said, what):
    """ACT() once the rows are there; memtrace then says SAID, detaches,
    exits 0 and gives the terminal back; the target lives on."""
    first_rows(tm, t)
    act()
    err = ended(h, rc_file, err_file, what)
    h.check(f'memtrace: {said}: stopping' in err, f"no 'memtrace: {said}: stopping' line")
    h.check(f'memtrace: detached from pid {t.pid}' in err,
            f"no 'memtrace: detached from pid {t.pid}' line on stderr")
    check_screen_back(h, tm)
    check_restored(h, t)


def mode_ctrl_c(h, tm, t, d, rc_file, err_file):
    stopped_by(h, tm, t, rc_file, err_file, lambda: tm.keys('C-c'), 'Interrupt',
               'after Ctrl-C')


def mode_sigterm(h, tm, t, d, rc_file, err_file):
    stopped_by(h, tm, t, rc_file, err_file,
               lambda: os.kill(memtrace_pid(tm), signal.SIGTERM), 'Terminated',
               'after SIGTERM')


def mode_target_exit(h, tm, t, d, rc_file, err_file):
    first_rows(tm, t)
    t.send('exit')
    t.expect_line(r'^bye ticks=\d+$', "the target's 'bye' line")
    t.wait_exit(0)
    err = ended(h, rc_file, err_file, 'after the target exited')
    h.check('memtrace: target exited with status 0' in err,
            "no 'memtrace: target exited with status 0' line on stderr")
    check_screen_back(h, tm)


def mode_quit(h, tm, t, d, rc_file, err_file):
    lines = first_rows(tm, t)
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

    tm.keys('p')
    lines = wait_screen(tm, lambda ls: ls[0].endswith('[paused]')
                        and any(x.startswith('paused: ') for x in ls), "'[paused]' after p")
    held = interval_of(lines)
    tm.keys('p')
    wait_screen(tm, lambda ls: not ls[0].endswith('[paused]') and interval_of(ls) > held,
                f'the rows refreshed again after the second p (interval > {held})')

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
    err = ended(h, rc_file, err_file, 'after q')
    h.check(f'memtrace: detached from pid {t.pid}' in err,
            f"no 'memtrace: detached from pid {t.pid}' line on stderr")
    check_screen_back(h, tm)
    check_restored(h, t)


MODES = {'quit': mode_quit, 'hup': mode_hup, 'ctrl-c': mode_ctrl_c, 'sigterm': mode_sigterm,
         'target-exit': mode_target_exit}
MODE = sys.argv[1] if len(sys.argv) == 2 and sys.argv[1] in MODES else None

if __name__ == '__main__':
    if MODE is None:
        print(f'usage: test_top.py {" | ".join(MODES)}', file=sys.stderr)
        sys.exit(99)
    growthcheck.main(test)
