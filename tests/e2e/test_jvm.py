#!/usr/bin/env python3
"""A JVM whose JNI library leaks a tensor per request
(tests/targets/jvm/InferenceService.java and tensor.c, built here with the
JDK's javac and the C compiler): Java frames named with --jvm-perfmap.

The JVM runs with -Xbatch -XX:-TieredCompilation (a method is compiled by
C2 after 10,000 calls, the calling thread waiting for it) and handle() and
handleLate() never inlined; it warms handle() up before it says "ready".

  test_jvm.py         memtrace histo PID --jvm-perfmap --group-by stack
                      --json, N calls of handle(), then M of handleLate()
                      (compiled only during the trace, named only because
                      memtrace asks the JVM again at the end):
                      - the header's java line says the frames were named
                        from the JVM's perf map;
                      - the stacks of Java_InferenceService_createTensor
                        hold exactly N live blocks of handle()'s size, each
                        with the Java method InferenceService.handle in a
                        [jit] frame above the native one; some of
                        handleLate()'s blocks have InferenceService.handleLate
                        above it;
                      - a report asked for meanwhile (a second memtrace
                        histo) does not name handleLate (no map has it yet),
                        and the final one still does (what was named before
                        is named again);
                      - the JVM runs on after the detach: it answers another
                        request and exits 0.
  test_jvm.py plain   the same without --jvm-perfmap: the java line says
                      JIT frames are not named and --jvm-perfmap names them,
                      and no frame is named InferenceService.handleLate.
  test_jvm.py refused the JVM runs with -XX:+DisableAttachMechanism: the java
                      line says "not allowed", memtrace asked once only, the
                      N blocks are counted exactly, unnamed.
  test_jvm.py kill9   memtrace (inject engine) is killed with SIGKILL while
                      tracing: the JVM runs on, answers a request and exits 0.

Skipped (77) without a JDK (javac, jni.h, java, jcmd) or a C compiler;
tools/setup installs Debian's openjdk-17-jdk-headless."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, '..', 'targets', 'jvm')
SIZE, LATE_SIZE = 4093, 61          # InferenceService.java's
N, M = 25, 15000
NAMED = "frames named from the JVM's perf map (jcmd Compiler.perfmap)"


def find_jdk(h):
    javac = shutil.which('javac')
    if not javac:
        h.skip('no javac (tools/setup installs openjdk-17-jdk-headless)')
    home = os.path.dirname(os.path.dirname(os.path.realpath(javac)))
    for need in ('include/jni.h', 'include/linux/jni_md.h', 'bin/java', 'bin/jcmd'):
        if not os.path.exists(os.path.join(home, need)):
            h.skip(f'the JDK at {home} has no {need}')
    cc = os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc')
    if not cc:
        h.skip('no C compiler to build the JNI library')
    return home, cc


def build(h, home, cc, out):
    inc = os.path.join(home, 'include')
    cmds = ([os.path.join(home, 'bin', 'javac'), '-d', out,
             os.path.join(SRC, 'InferenceService.java')],
            [cc, '-shared', '-fPIC', '-O0', '-g', '-fno-omit-frame-pointer',
             '-I', inc, '-I', os.path.join(inc, 'linux'), '-o',
             os.path.join(out, 'libtensor.so'), os.path.join(SRC, 'tensor.c')])
    for cmd in cmds:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=harness.TIMEOUT, check=False)
        if r.returncode != 0:
            h.broken(f'{" ".join(cmd)} failed: {r.stdout.decode(errors="replace")}')
    os.chmod(out, 0o755)   # the JVM may run as another user (RUN_AS)


class Jvm(harness.Target):
    """The JVM as a target: harness.Target's line protocol, another program."""

    def __init__(self, h, argv):    # pylint: disable=super-init-not-called
        self.exe = argv[0]
        harness._Proc.__init__(self, h, argv, 'java', subprocess.PIPE, None,
                               harness.TARGET_PREEXEC)
        self.result = harness.Result()


MAPS = []   # the perf maps the JVMs were asked to write, removed at the end


def start_jvm(h, home, classes, extra=()):
    jvm = Jvm(h, [os.path.join(home, 'bin', 'java'), *extra, '-Xbatch', '-XX:-TieredCompilation',
                  '-XX:CompileCommand=quiet',
                  '-XX:CompileCommand=dontinline,InferenceService::handle*',
                  f'-Djava.library.path={classes}', '-cp', classes, 'InferenceService'])
    jvm.ready()
    MAPS.append(f'/tmp/perf-{jvm.pid}.map')
    return jvm


def request(jvm, word, n):
    jvm.send(f'{word} {n}')
    jvm.expect_line(rf'^{word}ed {n}$' if word == 'call' else rf'^lated {n}$')


def names(frames):
    return [f['function'] for f in frames]


def above_native(site, method):
    """Whether the frame just outside the JNI function's is METHOD's, in
    JIT code (the perf map may name a method with its return and
    parameter types: "long InferenceService.handle(int)")."""
    stack = site['stack']
    for i, f in enumerate(stack):
        if f['function'] == 'Java_InferenceService_createTensor':
            outer = [g for g in stack[i + 1:] if 'createTensor' not in g['function']]
            return bool(outer) and f'InferenceService.{method}(' in outer[0]['function'] \
                and outer[0]['module'] == '[jit]'
    return False


def check_trace(h, report, named):
    native = [s for s in report['sites']
              if 'Java_InferenceService_createTensor' in names(s['stack'])]
    for s in native:
        harness.log(f"site: {s['live_blocks']} blocks of {s['live_bytes']} B: "
                    f"{' <- '.join(names(s['stack'])[:6])}")
    if not h.check(native, 'no stack holds Java_InferenceService_createTensor'):
        return
    big = [s for s in native if s['live_bytes'] == s['live_blocks'] * SIZE and s['live_blocks']]
    blocks = sum(s['live_blocks'] for s in big)
    h.check(blocks == N, f'{blocks} live blocks of {SIZE} B under the JNI function, '
                         f'expected {N}')
    if named:
        h.check(all(above_native(s, 'handle') for s in big),
                'a stack of handle()\'s blocks lacks InferenceService.handle in [jit] '
                'above Java_InferenceService_createTensor')
    late = [s for s in native if above_native(s, 'handleLate')]
    h.check(bool(late) == named,
            f'InferenceService.handleLate {"not " if named else ""}named above the JNI '
            f'function ({"with" if named else "without"} --jvm-perfmap)')
    total = sum(s['live_blocks'] for s in native)
    h.check(total == N + M, f'{total} live blocks under the JNI function, expected {N + M}')


def traced(h, home, classes, named):
    jvm = start_jvm(h, home, classes)
    extra = ['--jvm-perfmap'] if named else []
    m = h.attach(jvm, ['--no-census', '--group-by', 'stack', *extra])
    request(jvm, 'call', N)
    request(jvm, 'late', M)
    if named:
        # A report meanwhile (another memtrace asks this one): handleLate's
        # frames are named there by no map yet, and must not stay unnamed
        # in the final report (memtrace asks again after the detach).
        mid = h.start_memtrace(['histo', str(jvm.pid), '--json', '--group-by', 'stack'],
                               engine=False).finish()
        h.check(not any(above_native(s, 'handleLate') for s in mid['sites']),
                'handleLate named before the JVM was asked again: the test proves nothing')
    report = m.stop()
    want = NAMED if named else 'JIT frames not named: --jvm-perfmap names them'
    h.check((report.get('java') or '').startswith(want),
            f'java line {report.get("java")!r}, expected {want!r}...')
    check_trace(h, report, named)
    h.check_released(jvm.pid)
    request(jvm, 'call', 3)         # runs on after the detach
    jvm.send('exit')
    jvm.expect_line(r'^bye \d+$')
    jvm.wait_exit(0)


def refused(h, home, classes):
    jvm = start_jvm(h, home, classes, ['-XX:+DisableAttachMechanism'])
    m = h.attach(jvm, ['--no-census', '--group-by', 'stack', '--jvm-perfmap'])
    request(jvm, 'call', N)
    report = m.stop()
    want = 'JIT frames not named: not allowed: '
    h.check((report.get('java') or '').startswith(want),
            f'java line {report.get("java")!r}, expected {want!r}...')
    asked = [line for line in m.err.lines if line.startswith('memtrace: java: asking')]
    h.check(len(asked) == 1, f'memtrace asked the JVM {len(asked)} times, expected once '
                             f'(not again after a refusal)')
    native = [s for s in report['sites']
              if 'Java_InferenceService_createTensor' in names(s['stack'])]
    blocks = sum(s['live_blocks'] for s in native)
    h.check(blocks == N, f'{blocks} live blocks under the JNI function, expected {N}')
    h.check(not any(above_native(s, 'handle') for s in native),
            'InferenceService.handle named though the JVM refused to write its map')
    h.check_released(jvm.pid)
    jvm.send('exit')
    jvm.expect_line(r'^bye \d+$')
    jvm.wait_exit(0)


def killed(h, home, classes):
    if harness.test_engine() == 'breakpoint':
        h.skip('SIGKILL leaves the breakpoint engine\'s int3s behind')
    jvm = start_jvm(h, home, classes)
    m = h.attach(jvm, ['--no-census', '--jvm-perfmap'])
    request(jvm, 'call', N)
    os.kill(m.pid, signal.SIGKILL)
    rc = m.wait(what='die of SIGKILL')
    h.check(rc == -signal.SIGKILL, f'memtrace exit status {rc}, expected death by SIGKILL')
    h.check_released(jvm.pid)
    request(jvm, 'call', N)
    request(jvm, 'late', M)
    jvm.send('exit')
    jvm.expect_line(r'^bye \d+$')
    jvm.wait_exit(0)


def test(h):
    mode = sys.argv[1] if len(sys.argv) > 1 else 'named'
    if mode not in ('named', 'plain', 'refused', 'kill9'):
        h.broken('usage: test_jvm.py [plain|refused|kill9]')
    home, cc = find_jdk(h)
    with tempfile.TemporaryDirectory(prefix='mt-jvm-') as classes:
        try:
            build(h, home, cc, classes)
            if mode == 'kill9':
                killed(h, home, classes)
            elif mode == 'refused':
                refused(h, home, classes)
            else:
                traced(h, home, classes, mode == 'named')
        finally:
            h.cleanup()    # the JVM ends before its directory and map go
            for path in MAPS:
                if os.path.exists(path):
                    os.unlink(path)


harness.main(test)
