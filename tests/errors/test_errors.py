#!/usr/bin/env python3
"""End-to-end tests of memtrace's error paths.

One row of CASES per bad invocation: the command line, the exit status the
contract gives it, and the regexes its one stderr line must match.  Every
row checks the same things:

  - memtrace exits with the expected status (within a timeout),
  - stdout is empty (no report after an error),
  - stderr is exactly one line, `memtrace: error: WHAT: WHAT TO DO`,
  - that line matches every pattern of the row,
  - afterwards, every live process the row targeted is still alive, not
    stopped and not traced (TracerPid 0 in /proc/PID/status).

Rows that need something this machine lacks (root, YAMA, 32-bit support,
setpriv, ...) are skipped with a reason.

Usage:
    MEMTRACE=build/src/memtrace test_errors.py [CASE...]   run all or some rows
    test_errors.py --list                                  print the row names

Environment:
    MEMTRACE          the memtrace executable (required)
    MT_TRACER         tests/errors/tracer (else looked up beside MEMTRACE's build)
    MT_STATIC_TARGET  tests/errors/static_loop (likewise)
    MT_NO_MEMFD_TARGET  tests/errors/no_memfd (likewise)

Exit status follows meson/automake: 0 pass, 1 fail, 77 every selected row
skipped, 99 the harness itself is broken.
"""

import contextlib
import grp
import os
import pwd
import re
import selectors
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77
EXIT_HARNESS = 99

# How long memtrace may take to fail.  It should fail in milliseconds; a row
# that hits this is a failure, not a slow machine.
MEMTRACE_TIMEOUT = 60.0
# How long a helper process may take to say it is ready.
READY_TIMEOUT = 20.0
# How long a target may take to settle after memtrace exits (it should
# already be settled: a tracer's exit detaches its tracees).
SETTLE_TIMEOUT = 5.0

CAP_SYS_PTRACE = 19
PF_KTHREAD = 0x00200000  # include/linux/sched.h

# `memtrace: error: WHAT: WHAT TO DO` -- WHAT may itself contain ": ".
ERROR_LINE = re.compile(r'^memtrace: error: \S.*: \S.*$')


class Skip(Exception):
    """The row cannot run on this machine; the message says why."""


class Failure(Exception):
    """memtrace or the target did something the contract forbids."""


class HarnessError(Exception):
    """The test itself is broken (missing executable, bad environment)."""


# ---------------------------------------------------------------- /proc --

def proc_status(pid):
    """Fields of /proc/PID/status as a dict, or None if PID is gone."""
    fields = {}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields[key] = value.strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields


def proc_stat(pid):
    """/proc/PID/stat split into fields after the comm, or None if gone.

    Sample: `2 (kthreadd) S 0 0 0 0 -1 2129984 ...`; the comm may hold
    spaces and parentheses, so split after the last ')'.  In the returned
    list [0] is the state and [6] the flags (fields 3 and 9 of proc(5)).
    """
    try:
        with open(f'/proc/{pid}/stat') as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(')') + 2:].split()


def proc_cmdline(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None


def cap_bits(status, key):
    return int(status[key], 16)


def wait_until(what, predicate, timeout):
    """Poll predicate() until it returns true; Failure after timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise Failure(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def describe(pid):
    st = proc_stat(pid)
    status = proc_status(pid)
    if st is None or status is None:
        return f'pid {pid} is gone'
    return f'pid {pid}: state {st[0]}, TracerPid {status.get("TracerPid")}'


def untouched(pid):
    """True if PID is alive, not stopped, not a zombie and not traced."""
    st = proc_stat(pid)
    status = proc_status(pid)
    if st is None or status is None:
        return False
    return st[0] not in 'TtZXx' and status.get('TracerPid') == '0'


def check_untouched(pid):
    try:
        wait_until(f'pid {pid} to be running and untraced',
                   lambda: untouched(pid), SETTLE_TIMEOUT)
    except Failure:
        raise Failure(f'memtrace left its target disturbed: {describe(pid)}')


# -------------------------------------------------------- child helpers --

def read_line(stream, timeout, what):
    """One line from a child's pipe, waiting at most timeout seconds."""
    fd = stream.fileno()
    buf = b''
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while not buf.endswith(b'\n'):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise Skip(f'{what}: no line within {timeout:g} s')
            chunk = os.read(fd, 1)
            if not chunk:
                raise Skip(f'{what}: closed its output '
                           f'after {buf.decode(errors="replace")!r}')
            buf += chunk
    finally:
        sel.close()
    return buf.decode(errors='replace').rstrip('\n')


def end_process(proc):
    """Kill and reap a child we started, whatever state it is in."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            with contextlib.suppress(OSError):
                stream.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextlib.contextmanager
def started(argv, what, **kwargs):
    """Popen argv; always killed and reaped on the way out.

    Popen returns only once exec has succeeded (it reports exec errors
    through a close-on-exec pipe), so the child already runs argv[0].
    """
    proc = None
    try:
        proc = subprocess.Popen(argv, **kwargs)
        yield proc
    except OSError as e:
        if proc is None:
            raise Skip(f'cannot start {what}: {e}')
        raise
    finally:
        end_process(proc)


def sleeper(wrap=()):
    """A sleeping process, by default owned by us (root here)."""
    return started([*wrap, 'sleep', 'infinity'], 'sleep',
                   stdin=subprocess.DEVNULL)


def env_path(var, *relative):
    """An executable from the environment, else beside MEMTRACE's build."""
    path = os.environ.get(var)
    if not path:
        build = os.path.dirname(os.path.dirname(os.path.abspath(MEMTRACE)))
        path = os.path.join(build, *relative)
    if not os.access(path, os.X_OK):
        raise Skip(f'{var} not set and {path} not built')
    return path


def need_root():
    if os.geteuid() != 0:
        raise Skip('needs root')


def setpriv_user():
    """setpriv arguments that run a command as nobody:nogroup."""
    need_root()
    if not shutil.which('setpriv'):
        raise Skip('setpriv (util-linux) not installed')
    try:
        pwd.getpwnam('nobody')
    except KeyError:
        raise Skip('no user nobody')
    for group in ('nogroup', 'nobody'):
        try:
            grp.getgrnam(group)
            break
        except KeyError:
            continue
    else:
        raise Skip('no group nogroup or nobody')
    return ['setpriv', '--reuid=nobody', f'--regid={group}', '--clear-groups']


def yama_scope():
    try:
        with open('/proc/sys/kernel/yama/ptrace_scope') as f:
            return int(f.read())
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------- setups --
#
# A setup is a context manager that prepares what a row targets and yields a
# Ctx; code after its yield runs once memtrace has exited and checks the
# targets; its finally ends every process it started.

class Ctx:
    def __init__(self, pid=None, wrap=(), shell_pid=False, **values):
        self.pid = pid          # substituted for <PID> in argv and patterns
        self.wrap = list(wrap)  # command prefix for memtrace (setpriv ...)
        self.shell_pid = shell_pid  # <PID> is memtrace's own pid ($$)
        self.values = values    # further <NAME> substitutions


@contextlib.contextmanager
def no_target():
    yield Ctx()


@contextlib.contextmanager
def unused_pid():
    """A pid no process or thread has, as high as possible below pid_max.

    Another process could take it between here and memtrace's attach; from
    the top of the range, with pids handed out upward from the last one,
    that takes a wrap of the whole pid space.
    """
    with open('/proc/sys/kernel/pid_max') as f:
        pid_max = int(f.read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists(f'/proc/{pid}'):
            yield Ctx(pid)
            return
    raise Skip('every pid is in use')


@contextlib.contextmanager
def zombie():
    """A child that has exited and that we do not reap until the end."""
    with started(['true'], 'true', stdin=subprocess.DEVNULL) as proc:
        # Popen never reaps a child whose object is alive until poll() or
        # wait() is called, so it stays a zombie.
        wait_until(f'pid {proc.pid} to become a zombie',
                   lambda: (proc_stat(proc.pid) or ['?'])[0] == 'Z',
                   READY_TIMEOUT)
        yield Ctx(proc.pid)


@contextlib.contextmanager
def stopped_process():
    """A process the user stopped with SIGSTOP: memtrace refuses it and
    leaves it stopped and untraced."""
    with sleeper() as proc:
        os.kill(proc.pid, signal.SIGSTOP)
        wait_until(f'pid {proc.pid} to stop',
                   lambda: (proc_stat(proc.pid) or ['?'])[0] == 'T',
                   READY_TIMEOUT)
        yield Ctx(proc.pid)
        st = proc_stat(proc.pid)
        status = proc_status(proc.pid)
        if st is None or st[0] != 'T' or status.get('TracerPid') != '0':
            raise Failure(f'memtrace did not leave the stopped target as it '
                          f'was: {describe(proc.pid)}')
        os.kill(proc.pid, signal.SIGCONT)


def is_kernel_thread(pid):
    st = proc_stat(pid)
    return (st is not None and int(st[6]) & PF_KTHREAD != 0
            and proc_cmdline(pid) == b'')


@contextlib.contextmanager
def kernel_thread():
    """kthreadd (pid 2) when it is one, else any kernel thread."""
    pid = 2 if is_kernel_thread(2) else None
    if pid is None:
        for name in sorted(os.listdir('/proc')):
            if name.isdigit() and is_kernel_thread(int(name)):
                pid = int(name)
                break
    if pid is None:
        raise Skip('no kernel thread visible (pid namespace?)')
    yield Ctx(pid)
    status = proc_status(pid)
    if status is not None and status.get('TracerPid') != '0':
        raise Failure(f'kernel thread left traced: {describe(pid)}')


@contextlib.contextmanager
def own_pid():
    """memtrace given its own pid: `sh -c 'exec memtrace histo $$'`."""
    yield Ctx(shell_pid=True)


@contextlib.contextmanager
def other_user():
    """memtrace run as nobody against a root-owned process."""
    wrap = setpriv_user()
    if not os.access(MEMTRACE, os.X_OK) or subprocess.run(
            [*wrap, 'test', '-x', MEMTRACE]).returncode != 0:
        raise Skip(f'nobody cannot execute {MEMTRACE}')
    with sleeper() as proc:
        yield Ctx(proc.pid, wrap=wrap)
        check_untouched(proc.pid)


@contextlib.contextmanager
def no_cap_sys_ptrace():
    """Root without CAP_SYS_PTRACE against a root process with more caps.

    The kernel (security/commoncap.c, cap_ptrace_access_check) lets a
    tracer with the target's uid attach only if the target's permitted
    capabilities are a subset of the tracer's, or the tracer has
    CAP_SYS_PTRACE.  Root that drops CAP_SYS_PTRACE from its bounding set
    execs with it gone from its permitted set, so a root `sleep` holding
    it is refused with EPERM even though the uids match.  (Checked on
    Linux 6.18: PTRACE_SEIZE -> EPERM.)
    """
    need_root()
    if not shutil.which('setpriv'):
        raise Skip('setpriv (util-linux) not installed')
    wrap = ['setpriv', '--inh-caps=-sys_ptrace',
            '--bounding-set=-sys_ptrace']
    probe = subprocess.run([*wrap, 'cat', '/proc/self/status'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise Skip(f'cannot drop CAP_SYS_PTRACE: {probe.stderr.strip()}')
    fields = dict(line.split(':\t', 1) for line in probe.stdout.splitlines()
                  if ':\t' in line)
    dropped_prm = int(fields['CapPrm'], 16)
    if (int(fields['CapEff'], 16) | dropped_prm) >> CAP_SYS_PTRACE & 1:
        raise Skip('CAP_SYS_PTRACE survived setpriv')
    with sleeper() as proc:
        target_prm = cap_bits(proc_status(proc.pid), 'CapPrm')
        if target_prm & ~dropped_prm == 0:
            raise Skip('the target holds no capability memtrace lacks, '
                       'so the kernel would allow the attach')
        yield Ctx(proc.pid, wrap=wrap)
        check_untouched(proc.pid)


@contextlib.contextmanager
def yama_denied():
    """A target YAMA forbids, the uids and capabilities allowing it.

    ptrace_scope 1 (only descendants) and 2 (only CAP_SYS_PTRACE): nobody
    against another process of nobody's that is not its descendant.
    ptrace_scope 3 (no attach at all): root against a root process.
    Scope 3 cannot be lowered again until reboot, so this test never sets
    the scope; it tests the one the machine has.
    """
    scope = yama_scope()
    if scope is None:
        raise Skip('YAMA not in this kernel '
                   '(/proc/sys/kernel/yama/ptrace_scope missing)')
    if scope == 0:
        raise Skip('kernel.yama.ptrace_scope is 0: YAMA denies nothing')
    if scope == 3:
        need_root()
        wrap = []
    else:
        wrap = setpriv_user()
        if subprocess.run([*wrap, 'test', '-x', MEMTRACE]).returncode != 0:
            raise Skip(f'nobody cannot execute {MEMTRACE}')
    with sleeper(wrap) as proc:
        yield Ctx(proc.pid, wrap=wrap)
        check_untouched(proc.pid)


@contextlib.contextmanager
def already_traced():
    """A process held by tests/errors/tracer (PTRACE_SEIZE, not stopped)."""
    tracer_exe = env_path('MT_TRACER', 'tests', 'errors', 'tracer')
    with sleeper() as target:
        with started([tracer_exe, str(target.pid)], 'tracer',
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE) as tracer:
            try:
                line = read_line(tracer.stdout, READY_TIMEOUT, 'tracer')
            except Skip as e:
                tracer.kill()
                raise Skip(f'{e}: {tracer.stderr.read().decode().strip()}')
            if line != 'traced':
                raise HarnessError(f'tracer said {line!r}')
            yield Ctx(target.pid, TRACER=tracer.pid)
            # memtrace must not have disturbed the existing tracer ...
            status = proc_status(target.pid)
            if status is None or status.get('TracerPid') != str(tracer.pid):
                raise Failure('the tracer lost its tracee: '
                              + describe(target.pid))
            # ... and once the tracer lets go the target runs untraced.
            tracer.stdin.close()
            try:
                tracer.wait(timeout=READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise Failure('tracer did not exit when its stdin closed')
            if tracer.returncode != 0:
                raise Failure(f'tracer exited {tracer.returncode}: '
                              + tracer.stderr.read().decode())
            check_untouched(target.pid)


@contextlib.contextmanager
def static_stripped():
    """`gcc -static -s` binary: glibc's malloc inside, no symbol names it."""
    exe = env_path('MT_STATIC_TARGET', 'tests', 'errors', 'static_loop')
    with started([exe], 'static_loop', stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE) as proc:
        line = read_line(proc.stdout, READY_TIMEOUT, 'static_loop')
        if line != f'ready {proc.pid}':
            raise HarnessError(f'static_loop said {line!r}')
        yield Ctx(proc.pid)
        check_untouched(proc.pid)


def i386_loop_elf():
    """A minimal i386 ELF executable that loops in pause() forever.

    ELF32 header, one PT_LOAD of the whole file at 0x08048000 (R+X), code:
        b8 1d 00 00 00   mov  eax, 29     ; __NR_pause on i386
        cd 80            int  0x80
        eb f7            jmp  -9          ; back to the mov
    (pause rather than `jmp .` so the target does not spin a CPU.)
    """
    base = 0x08048000
    ehsize, phentsize = 52, 32
    code = bytes.fromhex('b81d000000cd80ebf7')
    size = ehsize + phentsize + len(code)
    ident = b'\x7fELF' + bytes([1, 1, 1, 0]) + bytes(8)  # 32-bit, LSB, v1
    ehdr = struct.pack('<16sHHIIIIIHHHHHH', ident,
                       2,                       # e_type ET_EXEC
                       3,                       # e_machine EM_386
                       1,                       # e_version
                       base + ehsize + phentsize,  # e_entry
                       ehsize,                  # e_phoff
                       0, 0,                    # e_shoff, e_flags
                       ehsize, phentsize, 1,    # e_ehsize, phentsize, phnum
                       0, 0, 0)                 # no section headers
    phdr = struct.pack('<IIIIIIII',
                       1,                       # p_type PT_LOAD
                       0, base, base,           # p_offset, p_vaddr, p_paddr
                       size, size,              # p_filesz, p_memsz
                       5,                       # p_flags R+X
                       0x1000)                  # p_align
    return ehdr + phdr + code


@contextlib.contextmanager
def i386_process():
    """A 32-bit process (needs CONFIG_IA32_EMULATION, not disabled)."""
    with tempfile.TemporaryDirectory(prefix='memtrace-errors-') as tmp:
        path = os.path.join(tmp, 'loop32')
        with open(path, 'wb') as f:
            f.write(i386_loop_elf())
        os.chmod(path, 0o755)
        # Without IA32 emulation exec fails with ENOEXEC: started() skips.
        with started([path], 'a 32-bit process',
                     stdin=subprocess.DEVNULL) as proc:
            yield Ctx(proc.pid)
            check_untouched(proc.pid)


# ----------------------------------------------------------------- cases --

class Case:
    def __init__(self, name, setup, argv, status, patterns):
        self.name = name
        self.setup = setup        # context manager factory yielding a Ctx
        self.argv = argv          # memtrace's arguments; <PID> substituted
        self.status = status      # expected exit status
        self.patterns = patterns  # regexes the error line must all match;
                                  # <PID>, <TRACER> substituted (escaped)


# The message says it is about a PID ("PID", "process ID").
PID_WORD = r'(?i)\bpid\b|\bprocess id\b'

@contextlib.contextmanager
def agent_denied():
    """A seccomp filter denies memfd_create: the agent cannot be set up."""
    exe = env_path('MT_NO_MEMFD_TARGET', 'tests', 'errors', 'no_memfd')
    with started([exe], 'no_memfd', stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE) as proc:
        line = read_line(proc.stdout, READY_TIMEOUT, 'no_memfd')
        if line != f'ready {proc.pid}':
            raise HarnessError(f'no_memfd said {line!r}')
        yield Ctx(proc.pid)
        check_untouched(proc.pid)


CASES = [
    # Bad command lines: status 2, nothing attached.  The message names the
    # offending word so the user sees which one was wrong.
    Case('pid-letters', no_target, ['histo', 'abc'], 2, [PID_WORD, r"abc"]),
    Case('pid-trailing-junk', no_target, ['histo', '12x'], 2,
         [PID_WORD, r'12x']),
    Case('pid-negative', no_target, ['histo', '-5'], 2, [r'-5']),
    Case('pid-zero', no_target, ['histo', '0'], 2, [PID_WORD, r'\b0\b']),
    Case('pid-empty', no_target, ['histo', ''], 2, [PID_WORD]),
    Case('pid-overflow', no_target, ['histo', '99999999999'], 2,
         [PID_WORD, r'99999999999']),
    Case('attach-pid-letters', no_target, ['attach', 'abc'], 2,
         [PID_WORD, r'abc']),
    Case('unknown-option', no_target, ['histo', '1', '--frobnicate'], 2,
         [r'--frobnicate']),
    Case('unknown-option-first', no_target, ['--frobnicate'], 2,
         [r'--frobnicate']),
    Case('unknown-command', no_target, ['frobnicate', '1'], 2,
         [r'frobnicate']),
    Case('missing-pid', no_target, ['histo'], 2, [PID_WORD]),
    Case('attach-missing-pid', no_target, ['attach'], 2, [PID_WORD]),
    Case('duration-missing-argument', no_target, ['histo', '1', '--duration'],
         2, [r'--duration']),
    Case('duration-not-a-number', no_target,
         ['histo', '1', '--duration', 'abc'], 2, [r'--duration', r'abc']),

    # Processes that do not exist or cannot be traced at all.
    Case('no-such-process', unused_pid, ['histo', '<PID>'], 3,
         [r'\b<PID>\b',
          r'(?i)\bno (such )?process\b|does not exist|not running']),
    Case('zombie', zombie, ['histo', '<PID>'], 6,
         [r'\b<PID>\b', r'(?i)zombie']),
    Case('kernel-thread', kernel_thread, ['histo', '<PID>'], 6,
         [r'\b<PID>\b', r'(?i)kernel thread']),
    Case('stopped', stopped_process, ['histo', '<PID>'], 6,
         [r'\b<PID>\b', r'(?i)stopped', r'kill -CONT']),
    Case('own-pid', own_pid, ['histo', '<PID>'], 6,
         [r'(?i)\bitself\b|\bown (process|pid)\b']),

    # Permission: the message says which rule refused.
    Case('other-user', other_user, ['histo', '<PID>'], 4,
         [r'\b<PID>\b', r'owned by (user )?root\b|\buid 0\b']),
    Case('no-cap-sys-ptrace', no_cap_sys_ptrace, ['histo', '<PID>'], 4,
         [r'\b<PID>\b', r'CAP_SYS_PTRACE']),
    Case('yama-ptrace-scope', yama_denied, ['histo', '<PID>'], 4,
         [r'\b<PID>\b', r'ptrace_scope']),

    # Already traced: the message names the tracer's pid (TracerPid).
    Case('already-traced', already_traced, ['histo', '<PID>'], 5,
         [r'\b<PID>\b', r'\b<TRACER>\b', r'(?i)traced']),

    # memtrace detach: the same checks before it attaches; a process
    # under another tracer is refused (a live memtrace's: tests/e2e's
    # test_detach.py).
    Case('detach-missing-pid', no_target, ['detach'], 2, [PID_WORD, r'detach']),
    Case('detach-pid-letters', no_target, ['detach', 'abc'], 2,
         [PID_WORD, r'abc']),
    Case('detach-unknown-option', no_target, ['detach', '1', '--engine', 'inject'],
         2, [r'--engine']),
    Case('detach-no-such-process', unused_pid, ['detach', '<PID>'], 3,
         [r'\b<PID>\b',
          r'(?i)\bno (such )?process\b|does not exist|not running']),
    Case('detach-zombie', zombie, ['detach', '<PID>'], 6,
         [r'\b<PID>\b', r'(?i)zombie']),
    Case('detach-own-pid', own_pid, ['detach', '<PID>'], 6,
         [r'(?i)\bitself\b|\bown (process|pid)\b']),
    Case('detach-already-traced', already_traced, ['detach', '<PID>'], 5,
         [r'\b<PID>\b', r'\b<TRACER>\b', r'(?i)traced']),

    # Attached, then found unusable: memtrace must leave the target as it
    # found it (checked by the setup after memtrace exits).
    Case('static-stripped', static_stripped, ['histo', '<PID>'], 7,
         [r'\b<PID>\b', r'(?i)\b(allocator|malloc)\b']),
    # The inject engine's agent cannot be used: never breakpoints unasked.
    Case('agent-denied', agent_denied, ['histo', '<PID>'], 6,
         [r'\b<PID>\b', r'memfd_create', r'--engine breakpoint']),
    Case('32-bit', i386_process, ['histo', '<PID>'], 8,
         [r'\b<PID>\b',
          r'(?i)32-bit|\bi386\b|ELFCLASS32|not a 64-bit|architecture']),
]


# ---------------------------------------------------------------- runner --

def substitute(text, ctx, regex):
    """Replace <PID>, <TRACER>, ... in argv words or patterns."""
    values = dict(ctx.values)
    if ctx.pid is not None:
        values['PID'] = ctx.pid
    for key, value in values.items():
        text = text.replace(f'<{key}>',
                            re.escape(str(value)) if regex else str(value))
    return text


def memtrace_command(case, ctx):
    if ctx.shell_pid:
        # sh execs memtrace, so $$ is memtrace's own pid.
        words = [shlex.quote(MEMTRACE)] + [
            '$$' if a == '<PID>' else shlex.quote(a) for a in case.argv]
        return [*ctx.wrap, 'sh', '-c', 'exec ' + ' '.join(words)]
    return [*ctx.wrap, MEMTRACE] + [substitute(a, ctx, False)
                                    for a in case.argv]


def run_memtrace(argv):
    """Run memtrace to completion; (status, stdout, stderr)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=MEMTRACE_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Let it detach cleanly if it can, so the target check is fair.
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise Failure(f'memtrace still running after {MEMTRACE_TIMEOUT:g} s; '
                      f'status after SIGINT {proc.returncode}, stderr '
                      f'{err.decode(errors="replace")!r}')
    return (proc.returncode, out.decode(errors='replace'),
            err.decode(errors='replace'))


def check_result(case, ctx, status, out, err):
    problems = []
    if status != case.status:
        problems.append(f'exit status {status}, expected {case.status}')
    if out:
        problems.append(f'stdout not empty: {out!r}')
    lines = err.splitlines()
    if len(lines) != 1 or not err.endswith('\n'):
        problems.append(f'stderr is not exactly one line: {err!r}')
    line = lines[0] if lines else ''
    if not ERROR_LINE.match(line):
        problems.append(f'not `memtrace: error: WHAT: WHAT TO DO`: {line!r}')
    for pattern in case.patterns:
        regex = substitute(pattern, ctx, True)
        if not re.search(regex, line):
            problems.append(f'does not match /{regex}/: {line!r}')
    if problems:
        raise Failure('; '.join(problems))
    return line


def run_case(case):
    """Run one row; returns (command, error line) or raises."""
    result = None
    target_problem = None
    try:
        with case.setup() as ctx:
            argv = memtrace_command(case, ctx)
            result = run_memtrace(argv)
    except Failure as e:
        # The setup's check of its targets failed after memtrace ran:
        # report it together with whatever is wrong with the output.
        if result is None:
            raise
        target_problem = str(e)
    try:
        line = check_result(case, ctx, *result)
    except Failure as e:
        if target_problem:
            raise Failure(f'{e}; {target_problem}')
        raise
    if target_problem:
        raise Failure(target_problem)
    return ' '.join(shlex.quote(a) for a in argv), line


def main(args):
    global MEMTRACE
    if args == ['--list']:
        print('\n'.join(c.name for c in CASES))
        return 0
    by_name = {c.name: c for c in CASES}
    unknown = [a for a in args if a not in by_name]
    if unknown:
        print(f'unknown case(s): {" ".join(unknown)}; see --list',
              file=sys.stderr)
        return EXIT_HARNESS
    MEMTRACE = os.environ.get('MEMTRACE', '')
    if not MEMTRACE or not os.access(MEMTRACE, os.X_OK):
        print(f'MEMTRACE={MEMTRACE!r} is not an executable', file=sys.stderr)
        return EXIT_HARNESS
    MEMTRACE = os.path.abspath(MEMTRACE)

    selected = [by_name[a] for a in args] if args else CASES
    failed = skipped = 0
    for case in selected:
        try:
            command, line = run_case(case)
            print(f'PASS {case.name}: {command}\n     {line}')
        except Skip as e:
            skipped += 1
            print(f'SKIP {case.name}: {e}')
        except Failure as e:
            failed += 1
            print(f'FAIL {case.name}: {e}')
        except HarnessError as e:
            print(f'ERROR {case.name}: {e}')
            return EXIT_HARNESS
        sys.stdout.flush()
    if failed:
        return 1
    if skipped == len(selected):
        return EXIT_SKIP
    return 0


MEMTRACE = None

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
