#!/usr/bin/env python3
"""One process, one tracer (issue 4).  While `memtrace attach PID` runs on
grow_steps:

  - `memtrace histo PID --json` is answered by that session over its
    local socket: exit 0, a report of the live state right now (exact
    blocks and bytes of planted_grow, base_hold, ring_churn), and again
    after more steps; the target stays traced by the session alone;
  - `memtrace snapshot PID -o FILE` writes a valid snapshot of that state
    (`diff FILE FILE`: every row "same", planted_grow's exact bytes);
  - the socket lives in a directory of mode 0700 owned by the user, and
    another user (nobody) gets no report;
  - once the session ends its socket is gone, and a new standalone histo
    traces the process itself.
"""
import os
import re
import shutil
import stat
import tempfile

import growthcheck
import harness
from growthcheck import Fail, log


def unix_socket_paths(pid):
    """Paths of the Unix sockets PID holds ('@name' for abstract ones)."""
    inodes = set()
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                link = os.readlink(f'/proc/{pid}/fd/{fd}')
            except OSError:
                continue
            m = re.match(r'^socket:\[(\d+)\]$', link)
            if m:
                inodes.add(m.group(1))
    except OSError:
        return []
    paths = []
    with open('/proc/net/unix') as f:
        next(f)    # Num RefCount Protocol Flags Type St Inode Path
        for line in f:
            parts = line.split(None, 7)
            if len(parts) == 8 and parts[6] in inodes:
                paths.append(parts[7].strip())
    return paths


def tracer_pid(pid):
    with open(f'/proc/{pid}/status') as f:
        m = re.search(r'^TracerPid:\s*(\d+)', f.read(), re.M)
    return int(m.group(1)) if m else None


def check_live(h, report, f, what):
    """histo's JSON rows of grow_steps agree with its "stepped" fields."""
    for key in ('pid', 'sites', 'totals'):
        if key not in report:
            raise Fail(f'{what}: report has no "{key}": keys {sorted(report)}')
    for fn, key in (('planted_grow', 'planted'), ('base_hold', 'base'), ('ring_churn', 'ring')):
        rows = [s for s in report['sites'] if s.get('function') == fn]
        got = (sum(s.get('live_blocks', 0) for s in rows), sum(s.get('live_bytes', 0) for s in rows))
        want = (f[f'{key}_blocks'], f[f'{key}_bytes'])
        h.check(got == want, f'{what}: {fn} holds {got[0]} blocks {got[1]} bytes, the target '
                f'says {want[0]} blocks {want[1]} bytes')


def test(h):
    tmp = tempfile.mkdtemp(prefix='mt-growth-')
    try:
        run(h, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, tmp):
    t = growthcheck.start_steps(h)
    m = h.start_memtrace(['attach', str(t.pid), '--interval', '60'])
    m.wait_tracing()
    growthcheck.go(t)
    f = growthcheck.step(t, 3)

    sock = None
    try:
        paths = harness.wait_until(lambda: [p for p in unix_socket_paths(m.pid) if p],
                                   'the attach session to bind a named Unix socket', timeout=10)
        sock = paths[0]
        log(f'session socket: {sock}')
    except Fail as e:
        h.check(False, f'{e} (its sockets: {unix_socket_paths(m.pid)})')

    r = growthcheck.run_mt(h, ['histo', t.pid, '--json'])
    if growthcheck.check_ok(h, r, '`memtrace histo PID --json` while attach runs'):
        report = harness.parse_json(r.out, 'histo --json answered by the session')
        h.check(report.get('pid') == t.pid, f'histo via the session: pid {report.get("pid")}')
        check_live(h, report, f, 'histo via the session')
    h.check(tracer_pid(t.pid) == m.pid,
            f'the target is traced by {tracer_pid(t.pid)}, expected the session {m.pid}')

    snap = os.path.join(tmp, 'live.mtsnap')
    r = growthcheck.run_mt(h, ['snapshot', t.pid, '-o', snap])
    if growthcheck.check_ok(h, r, '`memtrace snapshot PID -o FILE` while attach runs') \
            and h.check(os.path.isfile(snap), 'memtrace snapshot exited 0 but wrote no file'):
        with open(snap, 'rb') as fh:
            growthcheck.check_header(h, fh.read(), 'the snapshot from the session')
        same = growthcheck.diff_json(h, snap, snap)
        growthcheck.check_steps_diff(h, same, f, f, t.exe, 'diff FILE FILE')
        h.check(all(s['status'] == 'same' for s in same['sites']),
                'diff FILE FILE: rows not "same"')

    f = growthcheck.step(t, 2)
    r = growthcheck.run_mt(h, ['histo', t.pid, '--json'])
    if growthcheck.check_ok(h, r, 'the second `memtrace histo PID --json` while attach runs'):
        check_live(h, harness.parse_json(r.out, 'the second histo via the session'), f,
                   'histo via the session after 2 more steps')

    if sock and not sock.startswith('@'):
        d = os.path.dirname(sock)
        st = os.stat(d)
        h.check(stat.S_IMODE(st.st_mode) == 0o700,
                f'the socket directory {d} has mode {stat.S_IMODE(st.st_mode):04o}, expected 0700')
        h.check(st.st_uid == os.geteuid(),
                f'the socket directory {d} belongs to uid {st.st_uid}, not {os.geteuid()}')
    elif sock:
        h.check(False, f'the session socket {sock} is abstract: no file mode keeps other users out')

    prefix = growthcheck.nobody_prefix()
    if os.geteuid() == 0 and shutil.which('setpriv') and prefix:
        r = growthcheck.run_mt(h, ['histo', t.pid, '--json'], prefix=prefix)
        growthcheck.check_no_signal(h, r)
        h.check(r.rc != 0 and '"sites"' not in r.out,
                f'another user (nobody) got a report from the session (exit {r.rc})')
        h.check(len(r.err_lines) == 1 and r.err_lines[0].startswith('memtrace: error: '),
                f'nobody\'s histo: stderr {r.err_lines}, expected one error line')
    else:
        log('not root: the other-user check is skipped')

    h.check(m.running(), 'the attach session ended while clients used it')
    rc = growthcheck.sigint(m)
    if not h.check(rc == 0, f'memtrace attach exited {rc} after SIGINT, expected 0'):
        m.dump()
    h.check_released(t.pid)
    if sock and not sock.startswith('@'):
        h.check(not os.path.exists(sock), f'the session socket {sock} is left after it ended')

    # Standalone again: histo traces the process itself.
    r = growthcheck.run_mt(h, ['histo', t.pid, '--json', '--duration', '0.5'])
    if growthcheck.check_ok(h, r, 'standalone `memtrace histo PID` after the session'):
        h.check(any(line.startswith('memtrace: tracing') for line in r.err_lines),
                'the standalone histo after the session did not trace the process itself')
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)


growthcheck.main(test)
