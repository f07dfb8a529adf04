#!/usr/bin/env python3
"""--format pprof read by the real client: Debian's `go tool pprof -top` and
`-traces` (golang-go; skipped with 77 without `go`) show the sites memtrace
saw with the target's exact figures.

One scenario per argument:

  histo      histo PID --format pprof -o FILE on target_basic (its planted
             leaks: 100 x 24 bytes in leak_small, 3 x 1 MiB in leak_big,
             ...): -top's flat column per function, for inuse_space,
             inuse_objects and alloc_objects, is exactly what the target
             says it allocated; -traces shows leak_small called from main;
             the census at attach is under the "[census]" frame, its bytes
             the profile's comment says
  stdout     the same, the profile written to stdout, a pipe
  run        run --format pprof -o FILE -- target_basic --run-mode
  record     attach --record SNAP --snapshot-every 0.2 --format pprof -o FILE:
             FILE holds a whole profile with the target's figures while
             attach runs (rewritten with each snapshot), and at the end
  diff       snapshot A before the target works, histo --snapshot B after:
             diff A B --format pprof shows B - A (leak_small +2400 bytes),
             diff B A the opposite (-2400)
  census     census PID --format pprof -o FILE on census_heap: each class
             a frame under "[census]" with its exact blocks and bytes
  terminal   --format pprof to a terminal (a pty): refused with exit 2 and
             one line, before anything is traced; the target untouched
"""
import gzip
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile

import harness

GO = shutil.which('go')
INUSE_FIELDS = {'inuse_space': 'live_bytes', 'inuse_objects': 'live_blocks',
                'alloc_objects': 'allocs'}


def pprof(h, args, path):
    """go tool pprof ARGS PATH: its stdout (a failure fails the test)."""
    env = dict(os.environ, PPROF_TMPDIR=os.path.dirname(path))
    r = subprocess.run([GO, 'tool', 'pprof', *args, path], capture_output=True, text=True,
                       timeout=harness.TIMEOUT, env=env)
    if r.returncode != 0:
        h.fail(f'go tool pprof {" ".join(args)} failed ({r.returncode}): {r.stderr.strip()}')
    return r.stdout


def top(h, path, sample):
    """-top of SAMPLE: {function: (flat, cum)} in bytes or counts."""
    text = pprof(h, ['-top', '-nodecount=100000', '-nodefraction=0', '-edgefraction=0',
                     f'-sample_index={sample}', '-unit=B'], path)
    rows = {}
    header = False
    for line in text.splitlines():
        if re.match(r'^\s*flat\s+flat%\s+sum%\s+cum\s+cum%', line):
            header = True
            continue
        if not header:
            continue
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        flat, cum = (int(re.sub(r'B$', '', v)) for v in (parts[0], parts[3]))
        rows[parts[5]] = (flat, cum)
    if not header:
        h.fail(f'go tool pprof -top printed no table:\n{text}')
    return rows


def comments(h, path):
    """The profile's comments, as -top prints them in its header."""
    return pprof(h, ['-top', '-nodecount=1'], path)


def check_sites(h, path, result, sign=1):
    """Every function the target expects: its flat values, times SIGN."""
    for sample, field in INUSE_FIELDS.items():
        rows = top(h, path, sample)
        for name, want in result.expects.items():
            got = rows.get(name, (0, 0))[0]
            h.check(got == sign * want[field],
                    f'{path}: -top {sample}: {name} flat {got}, the target says '
                    f'{sign * want[field]} ({field})')
    harness.log(f'{path}: {len(result.expects)} functions checked against go tool pprof -top')


def check_traces(h, path):
    """-traces: leak_small's 2400 bytes called from main."""
    text = pprof(h, ['-traces', '-sample_index=inuse_space', '-unit=B'], path)
    traces = text.split('-----------+')
    ok = any(re.search(r'^\s+2400B\s+leak_small\n\s+main\n', t, re.M) for t in traces)
    h.check(ok, f'-traces has no 2400B trace of leak_small called from main:\n{text}')


def check_census_frame(h, path):
    """The census's bytes, as the comment says, under "[census]": all of
    them allocated, those not freed since in use."""
    m = re.search(r'\[census\]: (\d+) blocks, (\d+) bytes .* (\d+) blocks \((\d+) bytes\) '
                  r'of them freed since', comments(h, path))
    if not m:
        h.fail(f'{path}: no census comment in the profile')
    nbytes, freed = int(m.group(2)), int(m.group(4))
    got = top(h, path, 'inuse_space').get('[census]', (0, 0))[1]
    h.check(got == nbytes - freed, f'{path}: "[census]" holds {got} bytes in use, the census '
            f'{nbytes} less {freed} freed')
    got = top(h, path, 'alloc_space').get('[census]', (0, 0))[1]
    h.check(got == nbytes, f'{path}: "[census]" holds {got} bytes allocated, the census '
            f'{nbytes}')


def traced(h, memtrace_args, snapshot=None):
    """target_basic traced by histo with MEMTRACE_ARGS: (Memtrace, Result)."""
    t = h.start_target('target_basic')
    args = ['histo', str(t.pid), '--duration', '0', *memtrace_args]
    if snapshot:
        args += ['--snapshot', snapshot]
    m = h.start_memtrace(args)
    m.wait_tracing()
    t.send('go')
    result = t.collect()
    os.kill(m.pid, 2)
    rc = m.wait(what='exit after SIGINT')
    h.check(rc == 0, f'memtrace {" ".join(args)} exited with {rc}')
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)
    return m, result


def scenario_histo(h, tmp):
    path = os.path.join(tmp, 'heap.pb.gz')
    m, result = traced(h, ['--format', 'pprof', '-o', path])
    h.check(m.out.text() == '', f'memtrace wrote to stdout with -o: {m.out.text()[:200]!r}')
    with open(path, 'rb') as f:
        h.check(f.read(2) == b'\x1f\x8b', f'{path} is not gzip')
    check_sites(h, path, result)
    check_traces(h, path)
    check_census_frame(h, path)


def scenario_stdout(h, tmp):
    t = h.start_target('target_basic')
    m = subprocess.Popen([h.memtrace, *harness.engine_args(
        ['histo', str(t.pid), '--duration', '0', '--format', 'pprof'])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = b''
        while not line.startswith(b'memtrace: tracing'):
            line = m.stderr.readline()
            if not line:
                h.fail(f'memtrace ended before tracing ({m.wait()})')
        t.send('go')
        result = t.collect()
        m.send_signal(2)
        data, _ = m.communicate(timeout=harness.TIMEOUT)
    finally:
        if m.poll() is None:
            m.kill()
            m.wait()
    h.check(m.returncode == 0, f'memtrace exited with {m.returncode}')
    path = os.path.join(tmp, 'stdout.pb.gz')
    with open(path, 'wb') as f:
        f.write(data)
    check_sites(h, path, result)
    t.send('exit')
    t.wait_exit(0)


def scenario_run(h, tmp):
    path = os.path.join(tmp, 'run.pb.gz')
    exe = h.target_path('target_basic')
    m = h.start_memtrace(['run', '--format', 'pprof', '-o', path, '--', exe, '--run-mode'])
    rc = m.wait(what='end with its command')
    h.check(rc == 3, f'memtrace run exited with {rc}, the command with 3')
    result = harness.Result()
    for line in m.out.lines:
        result.parse(line)
    if result.done is None:
        h.fail(f'no protocol lines from the target: {m.out.text()}')
    check_sites(h, path, result)
    check_traces(h, path)


def whole_profile(path, after_ns):
    """PATH's bytes once rewritten after AFTER_NS and whole (it is
    rewritten in place: a read may catch it half written), else None."""
    try:
        if os.stat(path).st_mtime_ns <= after_ns:
            return None
        with open(path, 'rb') as f:
            data = f.read()
        gzip.decompress(data)
        return data
    except (OSError, EOFError, gzip.BadGzipFile):
        return None


def scenario_record(h, tmp):
    path, snap = os.path.join(tmp, 'attach.pb.gz'), os.path.join(tmp, 'rec.mtsnap')
    t = h.start_target('target_basic')
    m = h.start_memtrace(['attach', str(t.pid), '--record', snap, '--snapshot-every', '0.2',
                          '--format', 'pprof', '-o', path])
    m.wait_tracing()
    t.send('go')
    result = t.collect()
    # the second rewrite after "done": its snapshot began after it, the
    # first's may have begun before
    after = os.stat(path).st_mtime_ns
    harness.wait_until(lambda: whole_profile(path, after), 'a profile rewritten')
    after = os.stat(path).st_mtime_ns
    data = harness.wait_until(lambda: whole_profile(path, after),
                              'a profile rewritten after the target worked')
    copy = os.path.join(tmp, 'during.pb.gz')
    with open(copy, 'wb') as f:
        f.write(data)
    check_sites(h, copy, result)
    h.check(m.running(), 'attach ended before it was stopped')
    os.kill(m.pid, 2)
    rc = m.wait(what='exit after SIGINT')
    h.check(rc == 0, f'memtrace attach exited with {rc}')
    h.check(m.out.text() == '', f'attach --format pprof -o wrote to stdout: {m.out.text()[:200]!r}')
    check_sites(h, path, result)
    check_traces(h, path)
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)


def scenario_diff(h, tmp):
    a, b = os.path.join(tmp, 'a.mtsnap'), os.path.join(tmp, 'b.mtsnap')
    t = h.start_target('target_basic')
    snap = h.start_memtrace(['snapshot', str(t.pid), '-o', a, '--duration', '0.2'])
    h.check(snap.wait() == 0, 'memtrace snapshot A failed')
    h.check_released(t.pid)
    m = h.start_memtrace(['histo', str(t.pid), '--duration', '0', '--json', '--snapshot', b])
    m.wait_tracing()
    t.send('go')
    result = t.collect()
    m.stop()
    t.send('exit')
    t.wait_exit(0)
    for first, second, sign in ((a, b, 1), (b, a, -1)):
        path = os.path.join(tmp, f'diff{sign}.pb.gz')
        d = h.start_memtrace(['diff', first, second, '--format', 'pprof', '-o', path],
                             engine=False)
        h.check(d.wait() == 0, f'memtrace diff {first} {second} failed: {d.err.text()}')
        rows = top(h, path, 'inuse_space')
        got = rows.get('leak_small', (0, 0))[0]
        h.check(got == sign * 2400, f'diff {os.path.basename(first)} {os.path.basename(second)}'
                f': leak_small {got} bytes, expected {sign * 2400}')
        objects = top(h, path, 'inuse_objects')
        for name, want in result.expects.items():
            got = objects.get(name, (0, 0))[0]
            h.check(got == sign * want['live_blocks'],
                    f'diff: {name} inuse_objects {got}, expected {sign * want["live_blocks"]}')


def scenario_census(h, tmp):
    t = h.start_target('census_heap')
    t.send('go')
    t.expect_line(r'^armed$', "'armed'")
    # "census type=cen::Alpha blocks=N bytes=N" (tests/e2e/test_census.py)
    types = {}
    for line in t.result.lines:
        m = re.match(r'^census type=(\S+) blocks=(\d+) bytes=(\d+)$', line)
        if m:
            types[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    if 'cen::Alpha' not in types:
        h.broken(f'census_heap printed no classes: {t.result.lines}')
    path = os.path.join(tmp, 'census.pb.gz')
    m = h.start_memtrace(['census', str(t.pid), '--format', 'pprof', '-o', path],
                         engine=False)
    h.check(m.wait() == 0, f'memtrace census failed: {m.err.text()}')
    h.check_released(t.pid)
    space, objects = top(h, path, 'inuse_space'), top(h, path, 'inuse_objects')
    for name, (blocks, nbytes) in types.items():
        got = (objects.get(name, (0, 0))[0], space.get(name, (0, 0))[0])
        h.check(got == (blocks, nbytes), f'census: {name} (blocks, bytes) {got} in the '
                f'profile, the target holds {(blocks, nbytes)}')
    text = pprof(h, ['-traces', '-sample_index=inuse_objects'], path)
    alpha = types['cen::Alpha'][0]
    h.check(re.search(rf'^\s+{alpha}\s+cen::Alpha\n\s+\[census\]\n', text, re.M),
            f'-traces has no {alpha} cen::Alpha under [census]:\n{text[:2000]}')
    t.send('exit')
    t.wait_exit(0)


def scenario_terminal(h, tmp):
    t = h.start_target('target_basic')
    master, slave = pty.openpty()
    try:
        r = subprocess.run([h.memtrace, 'histo', str(t.pid), '--format', 'pprof'],
                           stdout=slave, stderr=subprocess.PIPE, text=True,
                           timeout=harness.TIMEOUT)
    finally:
        os.close(slave)
        os.close(master)
    err = r.stderr.strip().splitlines()
    h.check(r.returncode == 2, f'pprof to a terminal: exit {r.returncode}, expected 2')
    h.check(len(err) == 1 and err[0].startswith('memtrace: error: --format pprof writes '
                                                'binary data, not for a terminal'),
            f'pprof to a terminal: {err}')
    h.check_released(t.pid)
    h.check(harness.thread_states(t.pid) and all(s != 't' for s in
                                                 harness.thread_states(t.pid).values()),
            'the target was stopped')
    t.send('go')
    t.collect()
    t.send('exit')
    t.wait_exit(0)


SCENARIOS = {'histo': scenario_histo, 'stdout': scenario_stdout, 'run': scenario_run,
             'record': scenario_record,
             'diff': scenario_diff, 'census': scenario_census, 'terminal': scenario_terminal}


def test(h):
    name = sys.argv[1] if len(sys.argv) > 1 else 'histo'
    if name not in SCENARIOS:
        h.broken(f'unknown scenario {name!r}')
    if not GO and name != 'terminal':
        h.skip('no go on PATH: install golang-go (tools/setup) for go tool pprof')
    with tempfile.TemporaryDirectory(prefix='mt-pprof-') as tmp:
        SCENARIOS[name](h, tmp)


harness.main(test)
