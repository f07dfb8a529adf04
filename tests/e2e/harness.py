"""memtrace end-to-end test harness (Python 3 standard library only).

A test script is one scenario:

    import harness

    def test(h):
        h.scenario('target_basic')          # the whole standard protocol

    harness.main(test)

harness.main(fn) calls fn(h) with a Harness, turns the outcome into the exit
status meson understands (0 pass, 1 fail, 77 skip, 99 harness broken) and
always kills every process the test started.  Environment: MEMTRACE (the
memtrace executable) and TARGETS (the directory of the built test targets);
E2E_TIMEOUT (seconds, default 120) bounds every single wait.

MT_TEST_ENGINE (inject or breakpoint; meson runs every end-to-end test once
with each): when set, every memtrace command that traces (attach, histo,
run, snapshot) gets `--engine VALUE` right after its sub-command
(engine_args()), and the engine named by the tracing line and the report
must be that one.  Unset, memtrace picks its default engine and either name
is accepted.

The target protocol (tests/targets/protocol.h): the target prints
"ready PID" and waits for "go"; after its work it prints
"expect function=NAME live_blocks=N live_bytes=N allocs=N frees=N" lines,
maybe "expect unknown_frees=N" and "info KEY=VALUE ..." lines, then
"done checksum=HEX ..." and waits for "exit" (or a target-specific word).

Building blocks, for scenarios that need more than h.scenario():

  h.start_target(name, args=())    -> Target, after its "ready PID" line
  h.attach(target, extra_args=())  -> Memtrace running
                                      `histo PID --json --duration 0`, after
                                      its "memtrace: tracing" line (checked)
  h.start_memtrace(args, engine=True)
                                   -> Memtrace, nothing awaited (engine=False:
                                      no --engine, for command-line errors)
  harness.engine_args(args)        -> ARGS with --engine MT_TEST_ENGINE
  harness.test_engine()            -> MT_TEST_ENGINE, or None
  h.check_engine(name, what)          NAME is an engine, MT_TEST_ENGINE's
  h.check_entry_bytes(pid)            the first bytes of malloc, free, calloc
                                      and realloc in the target's C library
                                      are the file's (nothing left patched)
  target.send(line)                   one line to the target's stdin
  target.expect_line(regex)        -> re.Match of the next line matching it
  target.collect()                 -> Result, once "done" came
  target.wait_exit(status=0)
  memtrace.stop()                  -> report dict (SIGINT, exit 0, JSON)
  memtrace.finish()                -> report dict (waits for it to end alone)
  memtrace.saw(prefix)             -> the stderr line starting with prefix
  h.check_report(report, result, target)   expectations, invariants
  h.check_tracing_line(m, report)  the tracing line agrees with the report
  h.check_hooks(pid, report)       hooked bytes in memory == ELF file bytes
  h.check_released(pid)            no thread traced or left stopped
  h.run_untraced(name, args)       -> Result of the same target without
                                      memtrace
  h.check(cond, msg)                  records a failure, goes on
  h.fail(msg) / h.skip(msg) / h.broken(msg)   end the test at once

  h.target_env = {...}; h.allocator = 'libjemalloc.so'
                                      targets run with that environment
                                      (LD_PRELOAD), reports name that allocator
  h.scenario(name, args, memtrace_args, during=fn(t, m),
             during_untraced=fn(t), report_check=fn(report, result))
                                      the standard flow with hooks
  harness.wait_until(pred, what)      poll until true (TIMEOUT), or Fail
  harness.thread_states(pid)       -> {tid: state letter}
  harness.run_time_ns(pid)         -> CPU time of all its threads
  harness.parse_json(text, what)   -> dict, or Fail

Failures print what differs: expected and reported values per function,
and the sites memtrace reported for it.
"""

import json
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PASS, FAIL, SKIP, BROKEN = 0, 1, 77, 99
TIMEOUT = float(os.environ.get('E2E_TIMEOUT', '120'))

# Names a target may print for a function whose symbol memtrace may report
# mangled or demangled.
ALIASES = {
    '_Znwm': ('_Znwm', 'operator new(unsigned long)'),
}

SITE_FIELDS = ('live_blocks', 'live_bytes', 'allocs', 'frees')

# The hook engines memtrace has (--engine), and the sub-commands that trace
# and so take --engine.
ENGINES = ('inject', 'breakpoint')
ENGINE_COMMANDS = ('attach', 'histo', 'run', 'snapshot')


def test_engine():
    """The engine the test runs with (MT_TEST_ENGINE), or None when unset.
    Any other value is a broken harness."""
    engine = os.environ.get('MT_TEST_ENGINE') or None
    if engine is not None and engine not in ENGINES:
        raise Broken(f'MT_TEST_ENGINE={engine!r}: expected one of {", ".join(ENGINES)}')
    return engine


def engine_args(args):
    """ARGS (a memtrace command line without the executable) with
    `--engine MT_TEST_ENGINE` right after the sub-command, when that is set
    and the sub-command traces; otherwise ARGS unchanged.  An --engine
    already given is left alone."""
    args = [str(a) for a in args]
    engine = test_engine()
    if engine is None or not args or args[0] not in ENGINE_COMMANDS:
        return args
    head = args[1:args.index('--')] if '--' in args else args[1:]
    if '--engine' in head or any(a.startswith('--engine=') for a in head):
        return args
    return [args[0], '--engine', engine, *args[1:]]

# memtrace --verbose: the engine's counts, printed once it detached.
ENGINE_LINE_RE = re.compile(
    r'^memtrace: engine: (\d+) calls, \d+ nested, (\d+) lost, (\d+) abandoned$')

TRACING_RE = re.compile(
    r'^memtrace: tracing pid (\d+) \((.*)\): (\d+) threads, '
    r'allocator (\S+), (\d+) hooks, engine (\S+)$')


class Fail(Exception):
    pass


class Skip(Exception):
    pass


class Broken(Exception):
    pass


def log(msg):
    print(msg, flush=True)


class _Lines:
    """Reads a pipe line by line in a thread; lines are kept and queued."""

    def __init__(self, pipe, name):
        self.name = name
        self.lines = []
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b''):
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def next(self, timeout, what):
        """The next line; None at end of file; Fail after TIMEOUT."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise Fail(f'{self.name}: no {what} within {timeout:.0f} s') from None

    def drain(self, timeout=5.0):
        """Wait until end of file (after the process ended)."""
        self._thread.join(timeout)

    def text(self):
        return ''.join(line + '\n' for line in self.lines)


class Result:
    """What a target printed between "go" and "done"."""

    def __init__(self):
        self.expects = {}          # function -> {field: int}
        self.unknown_frees = None  # int when the target printed it
        self.info = {}             # "info KEY=VALUE" pairs
        self.done = None           # the "done ..." line without "done "
        self.checksum = None
        self.lines = []

    def parse(self, line):
        """Take one protocol line; True once it was the "done" line."""
        self.lines.append(line)
        words = line.split()
        if not words:
            return False
        if words[0] == 'expect':
            fields = dict(w.split('=', 1) for w in words[1:])
            if 'unknown_frees' in fields:
                self.unknown_frees = int(fields['unknown_frees'])
            else:
                name = fields.pop('function')
                self.expects[name] = {k: int(fields[k]) for k in SITE_FIELDS}
        elif words[0] == 'info':
            self.info.update(dict(w.split('=', 1) for w in words[1:]))
        elif words[0] == 'done':
            self.done = line[len('done '):]
            self.checksum = dict(w.split('=', 1) for w in words[1:] if '=' in w).get('checksum')
            return True
        return False


# (uid, gid): targets and memtrace run as that user, without supplementary
# groups (test_plainuser.py); None: as the test runs.
RUN_AS = None
# A function each target runs before it execs (test_mdwe.py), or None.
TARGET_PREEXEC = None


class _Proc:
    def __init__(self, harness, argv, name, stdin, env=None, preexec=None):
        self.h = harness
        self.name = name
        self.argv = argv
        as_user = {'user': RUN_AS[0], 'group': RUN_AS[1], 'extra_groups': []} if RUN_AS else {}
        try:
            self.popen = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=env,
                                          preexec_fn=preexec, **as_user)
        except OSError as e:
            raise Broken(f'cannot start {argv[0]}: {e}') from None
        harness._procs.append(self)
        self.pid = self.popen.pid
        self.out = _Lines(self.popen.stdout, f'{name} stdout')
        self.err = _Lines(self.popen.stderr, f'{name} stderr')

    def running(self):
        return self.popen.poll() is None

    def wait(self, timeout=TIMEOUT, what='exit'):
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f'{self.name} (pid {self.pid}) did not {what} within {timeout:.0f} s') from None
        self.out.drain()
        self.err.drain()
        return rc

    def kill(self):
        if self.running():
            try:
                self.popen.kill()
            except OSError:
                pass
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def dump(self):
        """Its stderr, for a failure report."""
        if self.err.lines:
            log(f'--- {self.name} stderr:')
            for line in self.err.lines:
                log('    ' + line)


class Target(_Proc):
    def __init__(self, harness, name, args):
        self.exe = harness.target_path(name)
        super().__init__(harness, [self.exe, *args], name, subprocess.PIPE,
                         harness.target_env, TARGET_PREEXEC)
        self.result = Result()

    def send(self, line):
        try:
            self.popen.stdin.write((line + '\n').encode())
            self.popen.stdin.flush()
        except OSError as e:
            raise Fail(f'{self.name}: cannot write {line!r} to its stdin: {e}') from None

    def line(self, what='line', timeout=TIMEOUT):
        line = self.out.next(timeout, what)
        if line is None:
            rc = self.popen.poll()
            raise Fail(f'{self.name}: end of output while waiting for {what} '
                       f'(exit status {rc})')
        return line

    def expect_line(self, regex, what=None):
        """Skip lines up to one matching REGEX; protocol lines are kept.
        Fails after TIMEOUT in all, however many other lines came: a target
        printing progress must not keep a lost answer waited for."""
        what = what or f'a line matching {regex!r}'
        deadline = time.monotonic() + TIMEOUT
        skipped, last = 0, None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f'{self.name}: no {what} within {TIMEOUT:.0f} s '
                           f'({skipped} other lines, the last {last!r})')
            line = self.line(what, left)
            m = re.match(regex, line)
            if m:
                return m
            self.result.parse(line)
            skipped, last = skipped + 1, line

    def ready(self):
        m = self.expect_line(r'^ready (\d+)$', "'ready PID'")
        if int(m.group(1)) != self.pid:
            raise Broken(f'{self.name} says ready {m.group(1)}, its pid is {self.pid}')

    def collect(self):
        """Read up to and including the done line; returns the Result."""
        while not self.result.parse(self.line("the 'done' line")):
            pass
        return self.result

    def wait_exit(self, status=0):
        self.popen.stdin.close()
        rc = self.wait(what='exit')
        if rc != status:
            raise Fail(f'{self.name} exited with status {rc}, expected {status}')


class Memtrace(_Proc):
    def __init__(self, harness, args, stdin=subprocess.DEVNULL, engine=True):
        if engine:
            args = engine_args(args)
        super().__init__(harness, [harness.memtrace, *args], 'memtrace', stdin)
        self.tracing = None   # re.Match of the tracing line

    def saw(self, prefix):
        for line in self.err.lines:
            if line.startswith(prefix):
                return line
        return None

    def wait_tracing(self):
        """Wait for the "memtrace: tracing" line; a memtrace that ends
        first fails the test (or skips it, if ptrace is not permitted)."""
        while True:
            line = self.err.next(TIMEOUT, "'memtrace: tracing' line")
            if line is None:
                rc = self.wait()
                if rc == 4:
                    raise Skip('memtrace may not trace here (exit status 4): '
                               + (self.saw('memtrace: error') or ''))
                raise Fail(f'memtrace exited with status {rc} before tracing')
            if line.startswith('memtrace: tracing'):
                m = TRACING_RE.match(line)
                if not m:
                    raise Fail(f'malformed tracing line: {line!r}')
                self.h.check_engine(m.group(6), 'the tracing line')
                self.tracing = m
                return m

    def _report(self, rc, want_rc):
        if rc != want_rc:
            raise Fail(f'memtrace exited with status {rc}, expected {want_rc}')
        errors = [line for line in self.err.lines if line.startswith('memtrace: error')]
        self.h.check(not errors, f'memtrace printed errors: {errors}')
        return parse_json(self.out.text(), 'memtrace stdout')

    def stop(self, want_rc=0):
        """SIGINT, wait for the exit, return the parsed report."""
        os.kill(self.pid, signal.SIGINT)
        return self._report(self.wait(what='exit after SIGINT'), want_rc)

    def finish(self, want_rc=0):
        """Wait for memtrace to end by itself; return the parsed report."""
        return self._report(self.wait(what='end by itself'), want_rc)


def parse_json(text, what):
    try:
        report = json.loads(text)
    except ValueError as e:
        log(f'--- {what}:\n{text}')
        raise Fail(f'{what} is not one JSON object: {e}') from None
    if not isinstance(report, dict):
        raise Fail(f'{what} is not a JSON object')
    return report


def _read_proc(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8', 'replace')


def thread_ids(pid):
    try:
        return sorted(int(t) for t in os.listdir(f'/proc/{pid}/task'))
    except OSError:
        return []


def thread_states(pid):
    """tid -> state letter from /proc/PID/task/TID/stat."""
    states = {}
    for tid in thread_ids(pid):
        try:
            stat = _read_proc(f'/proc/{pid}/task/{tid}/stat')
        except OSError:
            continue
        states[tid] = stat[stat.rindex(')') + 2]
    return states


def run_time_ns(pid):
    """CPU time the process's threads have run, in ns (schedstat)."""
    total = 0
    for tid in thread_ids(pid):
        try:
            total += int(_read_proc(f'/proc/{pid}/task/{tid}/schedstat').split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def children(pid):
    """Processes whose parent is PID, as (pid, state): a census's or a leak
    check's copy of the target, alive or a zombie."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            stat = _read_proc(f'/proc/{d}/stat')
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(d), fields[0]))
    return out


def wait_until(pred, what, timeout=TIMEOUT):
    """Poll PRED until it is true; Fail after TIMEOUT."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Fail(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _maps(pid):
    """[(start, end, offset, path, 'start-end')] from /proc/PID/maps, e.g.
    7f2b67bd0000-7f2b67d25000 r-xp 00026000 08:01 1234  /usr/lib/.../libc.so.6"""
    maps = []
    for line in _read_proc(f'/proc/{pid}/maps').splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].startswith('/'):
            continue
        start, end = (int(x, 16) for x in parts[0].split('-'))
        maps.append((start, end, int(parts[2], 16), parts[5], parts[0]))
    return maps


def _same_file(a, b):
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _dynamic_symbols(image, path):
    """{name: st_value} of the functions an ELF file defines, from
    `nm -D --defined-only` (default versions only, name@@VERSION, or plain
    names)."""
    with tempfile.NamedTemporaryFile(prefix='mt-libc-') as tmp:
        tmp.write(image)
        tmp.flush()
        try:
            out = subprocess.run(['nm', '-D', '--defined-only', tmp.name], capture_output=True,
                                 text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Broken(f'cannot run nm -D on {path}: {e}') from None
    if out.returncode != 0:
        raise Broken(f'nm -D {path} exited {out.returncode}: {out.stderr.strip()}')
    symbols = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] not in 'TtWiI':
            continue
        name, _, version = parts[2].partition('@')
        if version and not version.startswith('@'):
            continue   # name@VERSION: an old version, not the default
        symbols[name] = int(parts[0], 16)
    return symbols


def _vaddr_to_offset(image, vaddr):
    """The file offset of VADDR in a 64-bit little-endian ELF IMAGE, from
    its PT_LOAD program headers; None if no segment holds it."""
    if image[:4] != b'\x7fELF' or image[4] != 2 or image[5] != 1:
        raise Broken('not a 64-bit little-endian ELF file')
    phoff, = struct.unpack_from('<Q', image, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', image, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = \
            struct.unpack_from('<IIQQQQ', image, phoff + i * phentsize)
        if p_type == 1 and p_vaddr <= vaddr < p_vaddr + p_filesz:
            return vaddr - p_vaddr + p_offset
    return None


def _hex(data):
    return ' '.join(f'{b:02x}' for b in data)


class Harness:
    def __init__(self):
        self.memtrace = os.environ.get('MEMTRACE')
        self.targets = os.environ.get('TARGETS')
        if not self.memtrace or not os.access(self.memtrace, os.X_OK):
            raise Broken(f'MEMTRACE={self.memtrace!r} is not an executable')
        if not self.targets or not os.path.isdir(self.targets):
            raise Broken(f'TARGETS={self.targets!r} is not a directory')
        self.failures = []
        self._procs = []
        # Targets run with this environment (None: memtrace's own), and
        # the report must name an allocator whose file name starts with
        # ALLOCATOR (None: the C library): a preloaded jemalloc, say.
        self.target_env = None
        self.allocator = None

    # -- outcome ---------------------------------------------------------
    def check(self, cond, msg):
        if not cond:
            self.failures.append(msg)
            log('FAIL: ' + msg)
        return cond

    def fail(self, msg):
        raise Fail(msg)

    def skip(self, msg):
        raise Skip(msg)

    def broken(self, msg):
        raise Broken(msg)

    def cleanup(self):
        for proc in reversed(self._procs):   # memtrace before its target
            proc.kill()

    # -- processes -------------------------------------------------------
    def target_path(self, name):
        path = os.path.join(self.targets, name)
        if not os.access(path, os.X_OK):
            raise Broken(f'target {path} is not built')
        return path

    def start_target(self, name, args=()):
        t = Target(self, name, list(args))
        t.ready()
        return t

    def start_memtrace(self, args, stdin=subprocess.DEVNULL, engine=True):
        """memtrace ARGS; with ENGINE, --engine MT_TEST_ENGINE is added
        (engine_args()).  engine=False for command-line error tests."""
        return Memtrace(self, list(args), stdin, engine)

    def attach(self, target, extra_args=()):
        """memtrace histo PID --json --duration 0, up to its tracing line,
        which must name the target, its command name and thread count."""
        m = self.start_memtrace(['histo', str(target.pid), '--json', '--duration', '0',
                                 *extra_args])
        tr = m.wait_tracing()
        comm = _read_proc(f'/proc/{target.pid}/comm').strip()
        threads = len(thread_ids(target.pid))
        self.check(int(tr.group(1)) == target.pid,
                   f'tracing line names pid {tr.group(1)}, target is {target.pid}')
        self.check(tr.group(2) == comm, f'tracing line names comm {tr.group(2)!r}, target is {comm!r}')
        self.check(int(tr.group(3)) == threads,
                   f'tracing line says {tr.group(3)} threads, the target has {threads}')
        return m

    # -- checks ----------------------------------------------------------
    def check_report(self, report, result, target=None, pid=None, exe=None,
                     end_reason='signal', lossy=False):
        """Every expectation of RESULT (summed over the sites whose function
        has the expected name), unknown_frees when the target gave it, the
        report's own invariants, and no site of the target's executable
        that the target did not expect.  LOSSY: memtrace may have dropped
        events (the inject engine's default when it falls behind), so
        lost_events may be non-zero, a function's allocs and frees may be
        below the expectation but never above it, and unknown_frees is not
        compared."""
        pid = pid if pid is not None else target.pid
        exe = exe or target.exe
        for key in ('pid', 'comm', 'engine', 'allocator', 'threads', 'events',
                    'unknown_frees', 'lost_events', 'end_reason', 'totals', 'hooks', 'sites'):
            if key not in report:
                raise Fail(f'report has no "{key}": {sorted(report)}')
        self.check(report['pid'] == pid, f'report pid {report["pid"]}, target is {pid}')
        comm = os.path.basename(exe)[:15]
        self.check(report['comm'] == comm, f'report comm {report["comm"]!r}, expected {comm!r}')
        self.check_engine(report['engine'], 'the report')
        if not lossy:
            self.check(report['lost_events'] == 0, f'report lost_events {report["lost_events"]}')
        if end_reason:
            self.check(report['end_reason'] == end_reason,
                       f'report end_reason {report["end_reason"]!r}, expected {end_reason!r}')
        alloc = report['allocator']
        want = self.allocator or 'libc.so'
        self.check(isinstance(alloc, str) and os.path.basename(alloc).startswith(want),
                   f'report allocator {alloc!r}, expected {want}*')
        sites = report['sites']
        for s in sites:
            for key in ('function', 'module', 'address', *SITE_FIELDS):
                if key not in s:
                    raise Fail(f'site without "{key}": {s}')

        # Expectations, summed per function.
        diffs = []
        for name, want in result.expects.items():
            names = ALIASES.get(name, (name,))
            mine = [s for s in sites if s['function'] in names]
            got = {k: sum(s[k] for s in mine) for k in SITE_FIELDS}
            if lossy:
                if got['allocs'] > want['allocs'] or got['frees'] > want['frees']:
                    diffs.append((name, want, got, mine))
            elif got != want:
                diffs.append((name, want, got, mine))
        for name, want, got, mine in diffs:
            self.check(False, f'function {name}: reported values differ from the expectation')
            log(f'    {"field":<12} {"expected":>12} {"reported":>12}')
            for k in SITE_FIELDS:
                mark = '' if want[k] == got[k] else '   <-- differs'
                log(f'    {k:<12} {want[k]:>12} {got[k]:>12}{mark}')
            if not mine:
                log('    (no site reported for this function)')
            for s in mine:
                log('    site ' + json.dumps(s, sort_keys=True))
        if result.unknown_frees is not None and not lossy:
            self.check(report['unknown_frees'] == result.unknown_frees,
                       f'unknown_frees: expected {result.unknown_frees}, '
                       f'reported {report["unknown_frees"]}')

        # Sites in the target's own executable must all be expected ones.
        expected_names = set()
        for name in result.expects:
            expected_names.update(ALIASES.get(name, (name,)))
        for s in sites:
            if _same_file(s['module'], exe) and s['function'] not in expected_names:
                self.check(False, 'unexpected site in the target: ' + json.dumps(s, sort_keys=True))
            if _same_file(s['module'], exe):
                # the source of target_X is target_X.c or target_X.cc
                src = os.path.basename(str(s.get('file')))
                line = s.get('line')
                self.check(src.startswith(os.path.basename(exe) + '.')
                           and isinstance(line, int) and line > 0,
                           f'site {s["function"]}+{s.get("offset")} has file:line '
                           f'{s.get("file")}:{line}, expected the target\'s source')

        # Invariants of any report.
        for s in sites:
            if s['live_blocks'] != s['allocs'] - s['frees'] or s['live_blocks'] < 0 \
                    or s['live_bytes'] < 0:
                self.check(False, 'site with live_blocks != allocs - frees or negative '
                           'live values: ' + json.dumps(s, sort_keys=True))
        totals = report['totals']
        for k in ('live_blocks', 'live_bytes', 'allocs'):
            self.check(totals.get(k) == sum(s[k] for s in sites),
                       f'totals.{k} {totals.get(k)} != sum over sites {sum(s[k] for s in sites)}')
        site_frees = sum(s['frees'] for s in sites)
        self.check(totals.get('frees') in (site_frees, site_frees + report['unknown_frees']),
                   f'totals.frees {totals.get("frees")} is neither the sum over sites '
                   f'{site_frees} nor that plus unknown_frees')
        self.check(report['events'] >= totals.get('allocs', 0),
                   f'events {report["events"]} < totals.allocs {totals.get("allocs")}')

    def check_engine(self, name, what):
        """NAME, the engine WHAT names, is one of ENGINES, and the one
        MT_TEST_ENGINE asked for when that is set."""
        want = test_engine()
        if want is not None:
            return self.check(name == want, f'{what} says engine {name!r}, '
                              f'MT_TEST_ENGINE is {want!r}')
        return self.check(name in ENGINES, f'{what} says engine {name!r}, expected one '
                          f'of {", ".join(ENGINES)}')

    def check_tracing_line(self, m, report):
        """The tracing line agrees with the report (after check_report)."""
        self.check(report['engine'] == m.tracing.group(6),
                   f'report engine {report["engine"]!r}, tracing line said '
                   f'{m.tracing.group(6)!r}')
        self.check(report['allocator'] == m.tracing.group(4),
                   f'report allocator {report["allocator"]!r}, tracing line said '
                   f'{m.tracing.group(4)!r}')
        # Hooks can only be added after attach, in libraries loaded since
        # (never in the allocator module the tracing line named).
        at_attach = int(m.tracing.group(5))
        later = [hk for hk in report['hooks'] if hk['module'] != report['allocator']]
        self.check(len(report['hooks']) == at_attach
                   or (len(report['hooks']) > at_attach
                       and len(later) >= len(report['hooks']) - at_attach),
                   f'report lists {len(report["hooks"])} hooks, tracing line said '
                   f'{m.tracing.group(5)}')

    def check_engine_line(self, m, report):
        """memtrace ran with --verbose: its one "engine:" line gives the
        report's own counts (events; lost events, with the abandoned)."""
        lines = [ln for ln in m.err.lines if ln.startswith('memtrace: engine:')]
        if not self.check(len(lines) == 1, f"--verbose: {len(lines)} 'memtrace: engine:' "
                          f'lines, expected 1: {lines}'):
            return
        v = ENGINE_LINE_RE.match(lines[0])
        if not self.check(v is not None, f'malformed engine line: {lines[0]!r}'):
            return
        calls, lost = int(v.group(1)), int(v.group(2)) + int(v.group(3))
        self.check(calls == report['events'] and lost == report['lost_events'],
                   f'--verbose says {calls} calls and {lost} lost (with the abandoned), the '
                   f'report {report["events"]} events and {report["lost_events"]} lost')

    def check_hooks(self, pid, report):
        """Every hooked address holds, in the target's memory, the same 16
        bytes as the module file at file_offset (memtrace restored them)."""
        hooks = report['hooks']
        if not self.check(len(hooks) > 0, 'report lists no hooks'):
            return
        names = set()
        for hk in hooks:
            names.update(hk.get('names', [hk.get('symbol')]))
        for need in ('malloc', 'free', 'calloc', 'realloc'):
            self.check(need in names, f'no hook for {need} (hooks: {sorted(names)})')
        maps = _maps(pid)
        with open(f'/proc/{pid}/mem', 'rb', buffering=0) as mem:
            for hk in hooks:
                addr = int(hk['address'], 16)
                where = f'hook {hk.get("symbol")} at {hk["address"]}'
                m = [mp for mp in maps if mp[0] <= addr < mp[1]]
                if not self.check(m, f'{where}: address not in a file mapping'):
                    continue
                start, _end, offset, path, rng = m[0]
                self.check(_same_file(path, hk['module']),
                           f'{where}: mapped from {path}, report says {hk["module"]}')
                want_off = offset + (addr - start)
                self.check(hk['file_offset'] == want_off,
                           f'{where}: file_offset {hk["file_offset"]}, the mapping says {want_off}')
                mem.seek(addr)
                live = mem.read(16)
                try:
                    f = open(f'/proc/{pid}/map_files/{rng}', 'rb')
                except OSError:
                    f = open(hk['module'], 'rb')
                with f:
                    f.seek(hk['file_offset'])
                    disk = f.read(16)
                self.check(live == disk, f'{where}: bytes in memory differ from the file\n'
                           f'    memory: {_hex(live)}\n    file:   {_hex(disk)}')

    def check_entry_bytes(self, pid, names=('malloc', 'free', 'calloc', 'realloc'),
                          length=16):
        """The first LENGTH code bytes of each function NAMES in PID's C
        library, read from /proc/PID/mem, are those of the library file:
        no hook of any engine is left at the allocator's entries.  The
        addresses come from the file's dynamic symbols (nm -D) and program
        headers, placed by /proc/PID/maps."""
        libc = [mp for mp in _maps(pid) if os.path.basename(mp[3]).startswith('libc.so')]
        if not libc:
            raise Fail(f'no C library mapped in pid {pid}')
        path = libc[0][3]
        try:
            f = open(f'/proc/{pid}/map_files/{libc[0][4]}', 'rb')
        except OSError:
            f = open(f'/proc/{pid}/root{path}', 'rb')
        with f:
            image = f.read()
        symbols = _dynamic_symbols(image, path)
        checked = 0
        with open(f'/proc/{pid}/mem', 'rb', buffering=0) as mem:
            for name in names:
                if name not in symbols:
                    self.check(False, f'{path} has no dynamic symbol {name}')
                    continue
                off = _vaddr_to_offset(image, symbols[name])
                if off is None:
                    self.check(False, f'{name} at {symbols[name]:#x}: in no PT_LOAD of {path}')
                    continue
                where = [mp for mp in libc if mp[2] <= off < mp[2] + (mp[1] - mp[0])]
                if not self.check(where, f'{name} (file offset {off:#x}) is not mapped '
                                  f'in pid {pid}'):
                    continue
                addr = where[0][0] + off - where[0][2]
                mem.seek(addr)
                live = mem.read(length)
                disk = image[off:off + length]
                checked += 1
                self.check(live == disk, f'{name} at {addr:#x} in pid {pid}: code bytes differ '
                           f'from {path}\n    memory: {_hex(live)}\n    file:   {_hex(disk)}')
        return checked

    def check_released(self, pid):
        """No thread of PID is traced any more or left stopped."""
        def released():
            for tid in thread_ids(pid):
                try:
                    status = _read_proc(f'/proc/{pid}/task/{tid}/status')
                except OSError:
                    continue
                tracer = re.search(r'^TracerPid:\s*(\d+)', status, re.M)
                state = re.search(r'^State:\s*(\S)', status, re.M)
                if (tracer and tracer.group(1) != '0') or (state and state.group(1) in 'tT'):
                    return False
            return True
        try:
            wait_until(released, 'every thread to be untraced and running', timeout=10)
        except Fail as e:
            self.check(False, f'{e}: states {thread_states(pid)}')

    # -- scenarios -------------------------------------------------------
    def run_untraced(self, name, args=(), during=None, finish='exit'):
        """The target without memtrace: its Result (for the checksum)."""
        t = self.start_target(name, args)
        t.send('go')
        if during:
            during(t)
        result = t.collect()
        t.send(finish)
        t.wait_exit(0)
        return result

    def scenario(self, name, args=(), memtrace_args=(), during=None,
                 during_untraced=None, report_check=None, lossy=False,
                 memtrace_check=None):
        """The standard protocol: attach, go, collect the expectations,
        SIGINT memtrace, check its report and the restored bytes, let the
        target exit 0, then compare with an untraced run's done line.
        DURING(target, memtrace) runs right after "go" (DURING_UNTRACED(t)
        in the untraced run); REPORT_CHECK(report, result) adds checks;
        MEMTRACE_CHECK(memtrace) looks at memtrace's stderr once it
        exited; LOSSY as for check_report."""
        t = self.start_target(name, args)
        m = self.attach(t, memtrace_args)
        t.send('go')
        if during:
            during(t, m)
        result = t.collect()
        report = m.stop()
        self.check(m.saw(f'memtrace: detached from pid {t.pid}') is not None,
                   f"no 'memtrace: detached from pid {t.pid}' line on memtrace's stderr")
        self.check_report(report, result, t, lossy=lossy)
        self.check_tracing_line(m, report)
        self.check_hooks(t.pid, report)
        self.check_released(t.pid)
        if report_check:
            report_check(report, result)
        if memtrace_check:
            memtrace_check(m)
        t.send('exit')
        t.wait_exit(0)
        untraced = self.run_untraced(name, args, during=during_untraced)
        self.check(result.done == untraced.done,
                   f'done line traced:   {result.done}\n'
                   f'      done line untraced: {untraced.done}')
        log(f'{name}: {len(result.expects)} functions checked, '
            f'{report["events"]} events, {len(report["sites"])} sites, '
            f'{len(report["hooks"])} hooks, done {result.done}')
        return result, report

    def dump_all(self):
        for proc in self._procs:
            proc.dump()


def main(test):
    """Run TEST(h) and exit with the status meson expects."""
    def on_signal(signum, _frame):
        raise Broken(f'harness got signal {signum}')
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    status = BROKEN
    h = None
    try:
        h = Harness()
        test(h)
        if h.failures:
            h.dump_all()
            log(f'FAILED: {len(h.failures)} check(s) failed')
            status = FAIL
        else:
            log('PASS')
            status = PASS
    except Fail as e:
        log(f'FAIL: {e}')
        if h:
            h.dump_all()
        status = FAIL
    except Skip as e:
        log(f'SKIP: {e}')
        status = SKIP
    except Broken as e:
        log(f'HARNESS BROKEN: {e}')
        status = BROKEN
    except Exception:  # noqa: BLE001 -- a bug in the harness or the test
        traceback.print_exc()
        log('HARNESS BROKEN: unexpected exception')
        status = BROKEN
    finally:
        if h:
            h.cleanup()
    sys.exit(status)
