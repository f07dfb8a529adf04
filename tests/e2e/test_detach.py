#!/usr/bin/env python3
"""`memtrace detach PID` after a memtrace was killed with SIGKILL: every
byte of the target's code is its files' again, and the target runs on.

The checker (code_differences) reads every executable mapping of a file
in the target through /proc/PID/mem and compares it with the file at the
mapping's offset (through /proc/PID/map_files, else /proc/PID/root).

test_detach.py (MT_TEST_ENGINE inject or unset: the default engine,
started without --engine): target_churn 4 CALLS 0 (4
threads of malloc/calloc/realloc/free, pass after pass) under
`memtrace attach PID` without --engine:

  - while that memtrace lives, `memtrace detach PID` refuses: exit 5, one
    line naming the live memtrace's pid;
  - mid-load (an interval report counted events) memtrace is killed with
    SIGKILL: its jumps are left in the code (the checker sees them);
  - `memtrace detach PID` exits 0, says it restored N >= 4 entry points,
    all jumps, naming malloc and free; then the checker finds every
    executable mapping equal to its file, no thread is traced or stopped;
  - a second `memtrace detach PID`: "nothing to restore", exit 0;
  - the target goes on (every thread 2 more passes), a later `memtrace
    histo` still reuses the agent and traces the storm, and told to stop
    the target exits 0 with the checksum of an untraced run.

test_detach.py with MT_TEST_ENGINE=breakpoint: target_basic waits for "go" under `memtrace
attach PID --engine breakpoint`; memtrace is killed with SIGKILL; its
int3s are in the code (the target would die of SIGTRAP at its next
malloc); `memtrace detach PID` restores them all (0 jumps); the code
equals the files; then told "go" the target allocates, prints the same
done line as an untraced run, and exits 0.

test_detach.py --fork (inject): target_forker, a pre-fork server
stand-in, is traced and memtrace is killed with SIGKILL; then it forks a
worker, which inherits the jumps and the agent with its state wiped
(MADV_WIPEONFORK: no records).  While the worker allocates, `memtrace
detach WORKER` restores its jumps from the files alone (the checker sees
its code equal to its files, the parent's still patched); the worker goes
on, ends with exit status 0, no bad pass and the checksum of a worker
forked before any tracing; then the parent is cleaned too and forks a
worker as good.

test_detach.py --clean: `memtrace detach` on a target never traced, then
on one a memtrace attached to and detached from (its agent stays):
"nothing to restore", exit 0, nothing written (the checker); a jump the
test writes at valloc that lands on no memtrace trampoline is left as it
is, with a warning naming valloc and exit status 14; the target then
runs its work and exits 0 as untraced.
"""
import os
import re
import signal
import sys

import churn
import harness

THREADS = 4
CALLS = 20000
MODE = sys.argv[1] if len(sys.argv) > 1 else None
DETACH_RE = re.compile(r'^memtrace: pid (\d+): restored (\d+) entry points? '
                       r'\((\d+) jumps?, (\d+) breakpoints?\)'
                       r'(; the agent stays mapped, unused)?$')
RESTORED_RE = re.compile(r'^memtrace: restored (\S+) at 0x[0-9a-f]+ in (\S+): '
                         r'(a jump|a breakpoint), \d+ bytes? put back as the file has them$')


def code_differences(pid):
    """Every executable file mapping of PID compared with its file:
    ['range path: first difference at +OFF (memory XX, file YY)', ...].
    Memory past the file's end (the last page) must be zeros."""
    found = []
    with open(f'/proc/{pid}/maps') as maps, \
            open(f'/proc/{pid}/mem', 'rb', buffering=0) as mem:
        for line in maps:
            parts = line.split(None, 5)
            path = parts[5].strip() if len(parts) > 5 else ''
            if 'x' not in parts[1] or not path.startswith('/'):
                continue
            path = path.removesuffix(' (deleted)')
            start, end = (int(x, 16) for x in parts[0].split('-'))
            offset = int(parts[2], 16)
            try:
                f = open(f'/proc/{pid}/map_files/{parts[0]}', 'rb')
            except OSError:
                f = open(f'/proc/{pid}/root{path}', 'rb')
            with f:
                f.seek(offset)
                disk = f.read(end - start)
            mem.seek(start)
            live = mem.read(end - start)
            disk += bytes(len(live) - len(disk))
            if live != disk:
                at = next(i for i in range(len(live)) if live[i] != disk[i])
                found.append(f'{parts[0]} {path}: first difference at +{at:#x} '
                             f'(memory {harness._hex(live[at:at + 8])}, '
                             f'file {harness._hex(disk[at:at + 8])})')
    return found


def run_detach(h, pid, want_rc=0):
    """`memtrace detach PID` to its end: its stderr lines."""
    d = h.start_memtrace(['detach', str(pid)], engine=False)
    rc = d.wait(what='end (memtrace detach)')
    h.check(d.out.text() == '', f'memtrace detach wrote to stdout: {d.out.text()!r}')
    if not h.check(rc == want_rc, f'memtrace detach exited {rc}, expected {want_rc}: '
                   f'{d.err.lines}'):
        h.fail('memtrace detach failed')
    return d.err.lines


def check_restored(h, pid, lines, jumps):
    """LINES say that memtrace detach restored at least malloc and free,
    all of them jumps (JUMPS) or all breakpoints; returns how many."""
    m = DETACH_RE.match(lines[-1]) if lines else None
    if not h.check(m is not None, f'no summary line from memtrace detach: {lines}'):
        return 0
    n, nj, nb = int(m.group(2)), int(m.group(3)), int(m.group(4))
    h.check(int(m.group(1)) == pid, f'summary names pid {m.group(1)}, expected {pid}')
    h.check(n >= 4 and n == nj + nb, f'restored {n} entry points ({nj} jumps, {nb} '
            'breakpoints): expected at least malloc, free, calloc, realloc')
    h.check((nj, nb) == ((n, 0) if jumps else (0, n)),
            f'restored {nj} jumps and {nb} breakpoints, expected only '
            f'{"jumps" if jumps else "breakpoints"}')
    h.check(bool(m.group(5)) == jumps, f'summary {lines[-1]!r}: the agent is '
            f'{"" if jumps else "not "}in the target')
    each = [RESTORED_RE.match(line) for line in lines[:-1]]
    h.check(all(each), f'unexpected lines from memtrace detach: {lines[:-1]}')
    names = {r.group(1) for r in each if r}
    h.check(len(each) == n, f'{len(each)} "restored" lines, the summary says {n}')
    h.check({'malloc', 'free'} <= names, f'restored {sorted(names)}: no malloc or free')
    return n


def check_clean_code(h, pid, what):
    diffs = code_differences(pid)
    h.check(not diffs, f'{what}: code differs from its files:\n    ' + '\n    '.join(diffs))


def check_nothing(h, pid, what):
    lines = run_detach(h, pid)
    h.check(lines == [f'memtrace: pid {pid}: nothing to restore'],
            f'{what}: memtrace detach said {lines}, expected only "nothing to restore"')


def finish_as_untraced(h, t, untraced):
    """The target, released, runs its load to the end as an untraced run
    does (the same done line) and exits 0."""
    h.check_released(t.pid)
    t.send('go')
    result = t.collect()
    h.check(result.done == untraced.done, f'done line after detach: {result.done}\n'
            f'      untraced: {untraced.done}')
    t.send('exit')
    t.wait_exit(0)


def kill9(h, m):
    os.kill(m.pid, signal.SIGKILL)
    rc = m.wait(what='die of SIGKILL')
    h.check(rc == -signal.SIGKILL, f'memtrace exit status {rc}, expected death by SIGKILL')


def refuse_live(h, t, m):
    """memtrace detach refuses a target a live memtrace traces."""
    d = h.start_memtrace(['detach', str(t.pid)], engine=False)
    rc = d.wait(what='end (memtrace detach of a traced target)')
    err = d.err.lines
    h.check(rc == 5, f'memtrace detach of a traced target exited {rc}, expected 5: {err}')
    h.check(len(err) == 1 and err[0].startswith('memtrace: error: ') and
            f'live memtrace (PID {m.pid})' in err[0],
            f'memtrace detach of a traced target said {err}, expected one error line '
            f'naming the live memtrace {m.pid}')


def test_kill9(h):
    untraced = churn.untraced_checksum(h, THREADS, CALLS)
    t = churn.start_running(h, THREADS, CALLS)
    m = h.start_memtrace(['attach', str(t.pid), '--interval', '0.1', '--json'], engine=False)
    tr = m.wait_tracing()
    if not h.check(tr.group(6) == 'inject', f'the default engine is {tr.group(6)!r}, '
                   'expected inject'):
        h.fail('memtrace did not trace with the inject engine')
    t.send('go')
    events = 0
    while events == 0:
        line = m.out.next(harness.TIMEOUT, 'an interval report with events')
        if line is None:
            h.fail(f'memtrace ended (status {m.wait()}) before it reported events')
        events = harness.parse_json(line, 'an interval report').get('events', 0)
    refuse_live(h, t, m)
    kill9(h, m)
    h.check_released(t.pid)
    h.check(code_differences(t.pid), 'no jump left in the code after the SIGKILL: the '
            'test would not see a detach that does nothing')

    seen = churn.min_passes(t)
    lines = run_detach(h, t.pid)
    n = check_restored(h, t.pid, lines, jumps=True)
    check_clean_code(h, t.pid, 'after memtrace detach')
    h.check_released(t.pid)
    check_nothing(h, t.pid, 'second detach')
    after = churn.wait_min_passes(t, seen + 2)
    harness.log(f'restored {n} entry points; the slowest thread: {seen} passes, then {after}')

    m2 = h.start_memtrace(['histo', str(t.pid), '--duration', '1', '--json'])
    m2.wait_tracing()
    report = m2.finish()
    h.check(report['engine'] == 'inject' and report['events'] > 0,
            f'histo after the detach: engine {report["engine"]}, {report["events"]} events')
    check_clean_code(h, t.pid, 'after a later histo')
    churn.stop_and_check(h, t, untraced, 'target after kill -9 and detach')


def test_breakpoint(h):
    untraced = h.run_untraced('target_basic')
    t = h.start_target('target_basic')
    m = h.start_memtrace(['attach', str(t.pid), '--engine', 'breakpoint', '--interval', '0.1'],
                         engine=False)
    tr = m.wait_tracing()
    h.check(tr.group(6) == 'breakpoint', f'engine {tr.group(6)!r}, expected breakpoint')
    kill9(h, m)
    h.check_released(t.pid)
    h.check(code_differences(t.pid), 'no breakpoint left in the code after the SIGKILL: '
            'the test would not see a detach that does nothing')
    lines = run_detach(h, t.pid)
    check_restored(h, t.pid, lines, jumps=False)
    check_clean_code(h, t.pid, 'after memtrace detach')
    finish_as_untraced(h, t, untraced)


def libc_function(pid, name):
    """(address, file bytes) of NAME's first 16 bytes in PID's C library."""
    libc = [mp for mp in harness._maps(pid) if os.path.basename(mp[3]).startswith('libc.so')]
    if not libc:
        raise harness.Broken(f'no C library mapped in pid {pid}')
    with open(f'/proc/{pid}/root{libc[0][3]}', 'rb') as f:
        image = f.read()
    off = harness._vaddr_to_offset(image, harness._dynamic_symbols(image, libc[0][3])[name])
    where = [mp for mp in libc if mp[2] <= off < mp[2] + (mp[1] - mp[0])]
    return where[0][0] + off - where[0][2], image[off:off + 16]


def refuse_foreign(h, t):
    """A jump at valloc (target_basic never calls it) that lands on no
    memtrace trampoline is not memtrace's: memtrace detach leaves it,
    names it in a warning, and exits 14.  The test then puts the file's
    bytes back itself."""
    addr, orig = libc_function(t.pid, 'valloc')
    foreign = b'\xe9\x00\x00\x00\x00' + orig[5:]
    with open(f'/proc/{t.pid}/mem', 'r+b', buffering=0) as mem:
        mem.seek(addr)
        mem.write(foreign)
        lines = run_detach(h, t.pid, want_rc=14)
        mem.seek(addr)
        now = mem.read(16)
        mem.seek(addr)
        mem.write(orig)
    h.check(now == foreign, f'memtrace detach wrote over a jump that is not its own: '
            f'{harness._hex(now)}')
    h.check(len(lines) == 2 and lines[0].startswith(f'memtrace: warning: valloc at {addr:#x} ')
            and 'not a memtrace trampoline' in lines[0] and
            lines[1].startswith(f'memtrace: error: PID {t.pid}: 1 entry left as found, '
                                '0 restored'),
            f'memtrace detach of a foreign jump said {lines}')


def test_clean(h):
    untraced = h.run_untraced('target_basic')
    t = h.start_target('target_basic')
    check_nothing(h, t.pid, 'a target never traced')
    check_clean_code(h, t.pid, 'a target never traced, after memtrace detach')
    m = h.start_memtrace(['histo', str(t.pid), '--duration', '0.5', '--json'])
    m.wait_tracing()
    m.finish()
    check_clean_code(h, t.pid, 'after a histo that detached')
    check_nothing(h, t.pid, 'a target traced and detached')
    check_clean_code(h, t.pid, 'a target traced and detached, after memtrace detach')
    refuse_foreign(h, t)
    check_clean_code(h, t.pid, 'after the foreign jump was taken out')
    finish_as_untraced(h, t, untraced)


def worker_line(t, regex, what):
    return t.expect_line(r'^worker (\d+)' + regex + '$', what)


def run_worker(h, t, before_end=None):
    """Tell target_forker T to fork a worker; BEFORE_END(wpid) runs while it
    allocates; then it is asked for 2 more passes, stopped and reaped (exit
    0, no bad pass).  Returns its first pass's checksum."""
    t.send('fork')
    wpid = int(worker_line(t, '', "the 'worker PID' line").group(1))
    try:
        if before_end:
            before_end(wpid)
        os.kill(wpid, signal.SIGUSR2)
        seen = int(worker_line(t, r' passes=(\d+)', 'a worker status').group(2))
        while True:
            os.kill(wpid, signal.SIGUSR2)
            now = int(worker_line(t, r' passes=(\d+)', 'a worker status').group(2))
            if now >= seen + 2:
                break
        os.kill(wpid, signal.SIGUSR1)
        end = worker_line(t, r' passes=(\d+) bad=(\d+) checksum=([0-9a-f]+)',
                          "the worker's last line")
        t.send('reap')
        st = t.expect_line(r'^reaped (\d+) status=(\d+)$', "the 'reaped' line")
    except BaseException:
        try:
            os.kill(wpid, signal.SIGKILL)
        except OSError:
            pass
        raise
    h.check(int(st.group(1)) == wpid and st.group(2) == '0',
            f'worker {wpid} ended with wait status {st.group(2)}, expected 0')
    h.check(end.group(3) == '0', f'worker {wpid}: {end.group(3)} bad passes')
    return end.group(4)


def test_fork(h):
    """Jumps a worker inherited, with the agent's state wiped, from a
    parent whose memtrace was killed: restored from the files alone."""
    t = h.start_target('target_forker')
    t.send('go')
    untraced = run_worker(h, t)
    m = h.start_memtrace(['attach', str(t.pid), '--interval', '0.1'], engine=False)
    tr = m.wait_tracing()
    h.check(tr.group(6) == 'inject', f'engine {tr.group(6)!r}, expected inject')
    kill9(h, m)
    h.check_released(t.pid)

    def detach_worker(wpid):
        h.check(code_differences(wpid), f'worker {wpid} inherited no jump: the test would '
                'not see a detach that does nothing')
        lines = run_detach(h, wpid)
        check_restored(h, wpid, lines, jumps=True)
        check_clean_code(h, wpid, f'worker {wpid} after memtrace detach')
        h.check_released(wpid)
    traced = run_worker(h, t, detach_worker)
    h.check(traced == untraced, f'worker checksum {traced}, untraced {untraced}')
    h.check(code_differences(t.pid), "the parent lost its jumps when the worker's were "
            'taken out')
    check_restored(h, t.pid, run_detach(h, t.pid), jumps=True)
    check_clean_code(h, t.pid, 'the parent after memtrace detach')
    h.check(run_worker(h, t) == untraced, 'a worker of the cleaned parent: another checksum')
    t.send('exit')
    t.wait_exit(0)


def test(h):
    if MODE == '--clean':
        test_clean(h)
    elif MODE == '--fork':
        test_fork(h)
    elif MODE is not None:
        h.broken(f'unknown mode {MODE!r}: give --clean, --fork or nothing')
    elif harness.test_engine() == 'breakpoint':
        test_breakpoint(h)
    else:
        test_kill9(h)


harness.main(test)
