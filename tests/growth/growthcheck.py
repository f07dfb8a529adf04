"""Helpers for the growth, snapshot and diff tests (issue 4), on top of
tests/e2e/harness.py.

  run_mt(h, args)              -> Run of a memtrace command that ends by
                                  itself (diff, a client of a session): rc,
                                  stdout, stderr; never hangs (timeout)
  check_error(h, run, status)     one `memtrace: error: WHAT: WHAT TO DO`
                                  line, nothing on stdout, the status, no
                                  signal
  start_steps(h, name, args)   -> grow_steps (or grow_other) after "ready"
  step(t, n)                   -> the fields of the last "stepped" line
  snapshot_run(h, path, how)   -> a whole session writing a snapshot of
                                  grow_steps after N steps (how: 'snapshot'
                                  = `memtrace snapshot PID -o`, 'histo' =
                                  `histo --snapshot`)
  diff_json(h, a, b)           -> the parsed `memtrace diff A B --json`
  site_rows(rows, function)    -> rows whose "function" is FUNCTION
  check_header(h, data, what)     MTSNAP\\r\\n, version 1, a zstd frame

Environment: MEMTRACE, GROWTH_TARGETS (the build directory of
tests/growth); E2E_TIMEOUT as in harness.py.
"""

import json
import os
import pwd
import re
import signal
import struct
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, '..', 'e2e'))
if os.environ.get('GROWTH_TARGETS'):
    # harness.Harness finds targets through TARGETS.
    os.environ['TARGETS'] = os.environ['GROWTH_TARGETS']

import harness  # noqa: E402
from harness import Fail, log  # noqa: E402,F401

# How long a memtrace command that should end by itself may take.
RUN_TIMEOUT = 60.0

MAGIC = b'MTSNAP\r\n'
FORMAT_VERSION = 1
ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'

# `memtrace: error: WHAT: WHAT TO DO` -- WHAT may itself contain ": ".
ERROR_LINE = re.compile(r'^memtrace: error: \S.*: \S.*$')

# Exit statuses (src/util/errors.h, /tmp/contract4.md).
E_IO = 10
E_BAD_SNAPSHOT = 11
E_SNAPSHOT_VERSION = 12
E_DIFFERENT_PROGRAMS = 13

TRENDS = ('growing', 'plateau', 'fluctuating', 'shrinking', 'flat')
SPARK_CHARS = '▁▂▃▄▅▆▇█'


class Run:
    def __init__(self, argv, rc, out, err):
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err
        self.err_lines = [line for line in err.splitlines() if line.strip()]

    def cmd(self):
        return ' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(self.argv))

    def show(self):
        log(f'--- `{self.cmd()}` exited {self.rc}')
        for line in self.err_lines:
            log('    stderr: ' + line)
        out = self.out.splitlines()
        for line in out[:20]:
            log('    stdout: ' + line)
        if len(out) > 20:
            log(f'    stdout: ... ({len(out)} lines)')


def nobody_prefix():
    """setpriv arguments that run a command as nobody, or None."""
    try:
        pw = pwd.getpwnam('nobody')
    except KeyError:
        return None
    return ['setpriv', f'--reuid={pw.pw_uid}', f'--regid={pw.pw_gid}', '--clear-groups']


def run_mt(h, args, env=None, prefix=(), timeout=RUN_TIMEOUT, engine=True):
    """Run `memtrace ARGS` to its end: a Run.  A memtrace that does not end
    within TIMEOUT is killed and fails the test.  With ENGINE, a tracing
    sub-command gets --engine MT_TEST_ENGINE (harness.engine_args)."""
    if engine:
        args = harness.engine_args(args)
    argv = [*prefix, h.memtrace, *[str(a) for a in args]]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise Fail(f'`{" ".join(argv)}` did not end within {timeout:.0f} s') from None
    except OSError as e:
        raise harness.Broken(f'cannot run {argv[0]}: {e}') from None
    return Run(argv, p.returncode, p.stdout.decode('utf-8', 'replace'),
               p.stderr.decode('utf-8', 'replace'))


def check_no_signal(h, run):
    """Never a crash: a negative returncode is a death by signal."""
    return h.check(run.rc >= 0 and run.rc < 128,
                   f'`{run.cmd()}` died: exit {run.rc}'
                   + (f' (signal {-run.rc})' if run.rc < 0 else ''))


def check_error(h, run, status, patterns=(), what=''):
    """An error ending: STATUS, empty stdout, exactly one stderr line of the
    form `memtrace: error: WHAT: WHAT TO DO` matching every regex in
    PATTERNS (case-insensitive)."""
    ok = check_no_signal(h, run)
    label = what or f'`{run.cmd()}`'
    ok &= h.check(run.rc == status, f'{label}: exit status {run.rc}, expected {status}')
    ok &= h.check(run.out == '', f'{label}: printed {len(run.out)} bytes on stdout after an error')
    ok &= h.check(len(run.err_lines) == 1,
                  f'{label}: {len(run.err_lines)} lines on stderr, expected exactly one')
    if run.err_lines:
        line = run.err_lines[0]
        ok &= h.check(ERROR_LINE.match(line) is not None,
                      f'{label}: stderr line {line!r} is not '
                      '`memtrace: error: WHAT: WHAT TO DO`')
        for pat in patterns:
            ok &= h.check(re.search(pat, line, re.I) is not None,
                          f'{label}: stderr line {line!r} does not match {pat!r}')
    if not ok:
        run.show()
    return ok


def check_ok(h, run, what=''):
    """Exit 0 and no error line."""
    label = what or f'`{run.cmd()}`'
    ok = check_no_signal(h, run)
    ok &= h.check(run.rc == 0, f'{label}: exit status {run.rc}, expected 0')
    errors = [line for line in run.err_lines if line.startswith('memtrace: error')]
    ok &= h.check(not errors, f'{label}: printed errors {errors}')
    if not ok:
        run.show()
    return ok


def parse_fields(line, skip=1):
    """KEY=VALUE words after the first SKIP words, VALUE an int if it is one."""
    fields = {}
    for w in line.split()[skip:]:
        if '=' in w:
            k, v = w.split('=', 1)
            try:
                fields[k] = int(v)
            except ValueError:
                fields[k] = v
    return fields


# -- grow_steps ---------------------------------------------------------

def start_steps(h, name='grow_steps', args=()):
    return h.start_target(name, args)


def go(t):
    """Send "go"; grow_steps answers with its "based" line (grow_other
    with nothing)."""
    t.send('go')
    if t.name == 'grow_steps':
        t.expect_line(r'^based ', "grow_steps' 'based' line")


def step(t, n=1):
    """N steps, one at a time, each confirmed; the last "stepped" fields."""
    fields = None
    for _ in range(n):
        t.send('step')
        m = t.expect_line(r'^stepped (.*)$', "a 'stepped' line")
        fields = parse_fields('stepped ' + m.group(1))
    return fields


def sigint(m):
    if m.running():
        os.kill(m.pid, signal.SIGINT)
    return m.wait(what='exit after SIGINT')


def snapshot_run(h, path, how='snapshot', name='grow_steps', args=(), steps=2):
    """One session on a fresh NAME: trace from before "go", STEPS steps,
    SIGINT, the snapshot written to PATH.  Returns (target pid, the last
    stepped fields, the exe's load address); the target has exited."""
    t = start_steps(h, name, args)
    if how == 'snapshot':
        mt_args = ['snapshot', str(t.pid), '-o', path, '--duration', '0']
    elif how == 'histo':
        mt_args = ['histo', str(t.pid), '--duration', '0', '--snapshot', path, '--json']
    else:
        raise harness.Broken(f'snapshot_run: unknown how {how!r}')
    m = h.start_memtrace(mt_args)
    m.wait_tracing()
    go(t)
    fields = step(t, steps) if steps else {}
    base = exe_base(t.pid, t.exe)
    rc = sigint(m)
    if rc != 0:
        m.dump()
        raise Fail(f'`memtrace {" ".join(mt_args)}` exited {rc} after SIGINT, expected 0')
    if not os.path.isfile(path):
        m.dump()
        raise Fail(f'`memtrace {" ".join(mt_args)}` exited 0 but wrote no {path}')
    t.send('exit')
    t.wait_exit(0)
    return t.pid, fields, base


def exe_base(pid, exe):
    """The lowest address the executable is mapped at in PID."""
    real = os.path.realpath(exe)
    lows = []
    try:
        with open(f'/proc/{pid}/maps') as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and os.path.realpath(parts[5].strip()) == real:
                    lows.append(int(parts[0].split('-')[0], 16))
    except OSError:
        return None
    return min(lows) if lows else None


# -- diff ---------------------------------------------------------------

DIFF_SITE_KEYS = ('function', 'module', 'blocks_a', 'blocks_b', 'bytes_a', 'bytes_b',
                  'delta_blocks', 'delta_bytes', 'status')


def diff_json(h, a, b, *extra):
    """`memtrace diff A B --json EXTRA`: exit 0 and one JSON object with
    "a", "b" and well-formed "sites" (else Fail)."""
    run = run_mt(h, ['diff', a, b, '--json', *extra])
    if not check_ok(h, run, f'`memtrace diff {os.path.basename(a)} {os.path.basename(b)} '
                    f'--json {" ".join(extra)}`'):
        raise Fail('memtrace diff failed')
    report = harness.parse_json(run.out, 'memtrace diff --json stdout')
    for key in ('a', 'b', 'sites'):
        if key not in report:
            raise Fail(f'diff JSON has no "{key}": keys {sorted(report)}')
    for s in report['sites']:
        missing = [k for k in DIFF_SITE_KEYS if k not in s]
        if missing:
            raise Fail(f'diff site without {missing}: {json.dumps(s, sort_keys=True)}')
    check_diff_rules(h, report)
    return report


def check_diff_rules(h, report):
    """Every row: deltas are B - A; the status agrees with them; sorted by
    delta bytes, largest growth first."""
    sites = report['sites']
    for s in sites:
        text = diff_text(s)
        h.check(s['delta_blocks'] == s['blocks_b'] - s['blocks_a']
                and s['delta_bytes'] == s['bytes_b'] - s['bytes_a'],
                f'diff row whose deltas are not B - A: {text}')
        h.check(s['status'] in ('new', 'gone', 'changed', 'same'),
                f'diff row with status {s["status"]!r}: {text}')
        if s['status'] == 'same':
            h.check(s['delta_blocks'] == 0 and s['delta_bytes'] == 0,
                    f'diff row "same" with a change: {text}')
        if s['status'] == 'new':
            h.check(s['blocks_a'] == 0 and s['bytes_a'] == 0,
                    f'diff row "new" with blocks in A: {text}')
        if s['status'] == 'gone':
            h.check(s['blocks_b'] == 0 and s['bytes_b'] == 0,
                    f'diff row "gone" with blocks in B: {text}')
    # Rows holding nothing on either side (only churn) may come last.
    deltas = [s['delta_bytes'] for s in sites if not empty_row(s)]
    h.check(deltas == sorted(deltas, reverse=True),
            f'diff rows not sorted by delta bytes, largest growth first: {deltas}')


def empty_row(s):
    return s['blocks_a'] == 0 and s['blocks_b'] == 0 and s['bytes_a'] == 0 \
        and s['bytes_b'] == 0


def diff_text(s):
    return (f'{s.get("function")!r} <{os.path.basename(str(s.get("module")))}> '
            f'{s.get("status")} blocks {s.get("blocks_a")} -> {s.get("blocks_b")} '
            f'({s.get("delta_blocks"):+}) bytes {s.get("bytes_a")} -> {s.get("bytes_b")} '
            f'({s.get("delta_bytes"):+})')


def log_rows(rows, title):
    log(f'--- {title} ({len(rows)} rows):')
    for s in rows:
        log('    ' + diff_text(s))


def in_module(row, exe):
    """Whether a row's module is the executable EXE (by file name: a
    snapshot may outlive the process)."""
    mod = row.get('module')
    return isinstance(mod, str) and os.path.basename(mod.replace(' (deleted)', '')) \
        == os.path.basename(exe)


def site_rows(rows, function):
    return [s for s in rows if s.get('function') == function]


def check_row(h, rows, function, want, what):
    """Exactly one row for FUNCTION, with the fields of WANT."""
    mine = site_rows(rows, function)
    if not h.check(len(mine) == 1, f'{what}: {len(mine)} rows for {function}, expected 1'):
        return None
    s = mine[0]
    bad = {k: (v, s.get(k)) for k, v in want.items() if s.get(k) != v}
    h.check(not bad, f'{what}: row {function}: ' + ', '.join(
        f'{k} {got!r}, expected {exp!r}' for k, (exp, got) in bad.items())
        + f'\n    {diff_text(s)}')
    return s


# -- snapshot files -----------------------------------------------------

def check_header(h, data, what):
    """MTSNAP\\r\\n, format version 1 (little-endian u32; these tests do not
    sample, and only sampled snapshots are version 2), a zstd frame."""
    ok = h.check(data[:8] == MAGIC, f'{what}: starts with {data[:8]!r}, expected {MAGIC!r}')
    if len(data) >= 12:
        version = struct.unpack('<I', data[8:12])[0]
        ok &= h.check(version == FORMAT_VERSION,
                      f'{what}: format version {version}, expected {FORMAT_VERSION}')
    ok &= h.check(data[12:16] == ZSTD_MAGIC,
                  f'{what}: bytes 12..15 are {data[12:16].hex()}, expected a zstd frame '
                  f'({ZSTD_MAGIC.hex()})')
    return ok


def zstd_ok(payload):
    """True if the zstd tool (when installed) accepts PAYLOAD as complete
    frames; None without the tool."""
    try:
        p = subprocess.run(['zstd', '-t', '-q', '-'], input=payload, capture_output=True,
                           timeout=RUN_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.returncode == 0


def main(test):
    harness.main(test)


def check_steps_diff(h, report, fa, fb, exe, what):
    """A diff of two snapshots of grow_steps whose "stepped" lines were FA
    and FB: planted_grow changed by exactly the planted growth, base_hold,
    ring_churn and scratch_churn the same, and no other row of the
    executable changed."""
    rows = report['sites']
    mine = [s for s in rows if in_module(s, exe)]
    grew = fb['planted_blocks'] != fa['planted_blocks']
    want_status = 'changed' if grew else 'same'
    if fa['planted_blocks'] == 0:
        want_status = 'new'
    check_row(h, mine, 'planted_grow', {
        'status': want_status,
        'blocks_a': fa['planted_blocks'], 'blocks_b': fb['planted_blocks'],
        'bytes_a': fa['planted_bytes'], 'bytes_b': fb['planted_bytes'],
        'delta_blocks': fb['planted_blocks'] - fa['planted_blocks'],
        'delta_bytes': fb['planted_bytes'] - fa['planted_bytes']}, what)
    for fn, key in (('base_hold', 'base'), ('ring_churn', 'ring')):
        check_row(h, mine, fn, {
            'status': 'same' if fa[f'{key}_bytes'] == fb[f'{key}_bytes'] else 'changed',
            'blocks_a': fa[f'{key}_blocks'], 'blocks_b': fb[f'{key}_blocks'],
            'bytes_a': fa[f'{key}_bytes'], 'bytes_b': fb[f'{key}_bytes']}, what)
    for s in site_rows(mine, 'scratch_churn'):
        h.check(s['status'] == 'same' and s['bytes_a'] == 0 and s['bytes_b'] == 0,
                f'{what}: scratch_churn holds nothing in either snapshot: {diff_text(s)}')
    known = ('planted_grow', 'base_hold', 'ring_churn', 'scratch_churn')
    for s in mine:
        if s.get('function') not in known:
            h.check(False, f'{what}: unexpected row in {os.path.basename(exe)}: {diff_text(s)}')
    for s in rows:
        if s.get('function') != 'planted_grow' and s['delta_bytes'] > 0:
            h.check(False, f'{what}: growth outside planted_grow: {diff_text(s)}')
    if h.failures:
        log_rows(rows, what)


def file_id(path):
    """Which version of PATH is there (a snapshot is replaced, never
    rewritten in place): None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def wait_rewritten(record, times, every, timeout=60):
    """Until RECORD was replaced TIMES times from now: the last of those
    snapshots was taken after now (the session writes one at a time).
    The versions seen, the one of now first."""
    seen = [file_id(record)]

    def replaced():
        cur = file_id(record)
        if cur is not None and cur not in seen:
            seen.append(cur)
        return len(seen) > times
    harness.wait_until(replaced, f'{record} to be rewritten {times} times '
                       f'(--snapshot-every {every})', timeout=timeout)
    return seen
