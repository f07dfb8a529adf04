#!/usr/bin/env python3
"""SIGKILL memtrace in the middle of an 8-thread allocator storm (inject
engine only: its agent and hooks stay in the target, with nobody reading
the rings).

target_churn 8 CALLS 0 (8 threads of random 16 B - 4 KiB malloc, calloc,
realloc and free, pass after pass) runs under

    memtrace attach PID --engine inject --interval 0.1 --json

until memtrace's interval reports show it traced events, then memtrace is
killed with SIGKILL.  Afterwards:

  - no thread of the target is left traced or stopped;
  - the target goes on: every thread completes at least 2 more whole
    passes (the agent must not block when nobody drains its rings): the
    target's "status" answers count them;
  - exactly one agent mapping is in the target (its code starts with the
    agent header's magic, agent_abi.h), and a second
    `memtrace histo PID --engine inject --duration 1 --json` exits 0, traces
    the running storm (events > 0, engine inject) and leaves still exactly
    one agent: it reused the one the killed memtrace left, and said it took
    over the killed memtrace's hooks (naming `memtrace detach PID`);
  - told to stop, the target ends its passes with exit status 0, every
    pass of every thread gave the same checksum (bad_passes=0), and its
    checksum is that of an untraced run (target_churn 8 CALLS 1).

The storm allocates faster than memtrace accounts.  By default the agent
drops what finds its ring full: the reports may count lost events, and as
many inconsistencies at most (a dropped free whose address was allocated
again).  `test_kill9.py --lossless` runs both memtraces with --lossless:
then no event may be lost, and the agent, which waits for room while
memtrace's heartbeat moves, must stop waiting once memtrace is dead.

With MT_TEST_ENGINE=breakpoint the test is skipped (77): meson does not
register it for that engine.  E2E_KILL9_CALLS sets the calls per pass."""
import os
import signal
import sys

import churn
import harness

THREADS = 8
CALLS = int(os.environ.get('E2E_KILL9_CALLS', '0')) or 50000
AGENT_MAGIC = (0x31544e4547415446).to_bytes(8, 'little')   # MT_AGENT_MAGIC
LOSSLESS = '--lossless' in sys.argv[1:]
MODE = ['--lossless'] if LOSSLESS else []


def check_losses(h, report, what):
    """No event lost with --lossless; by default, lost events are allowed
    (and shown), inconsistencies (in a final report; interval reports do
    not have them) no more than them."""
    lost, bad = report.get('lost_events'), report.get('inconsistencies', 0)
    if LOSSLESS:
        h.check(lost == 0, f'{what}: lost_events {lost} with --lossless')
    h.check(isinstance(lost, int) and isinstance(bad, int) and 0 <= bad <= lost,
            f'{what}: {bad} inconsistencies, {lost} lost events (at most as many expected)')


def agent_mappings(pid):
    """Anonymous executable mappings of PID that start with the agent's
    magic: the in-process agents memtrace left there."""
    found = []
    with open(f'/proc/{pid}/maps') as maps, \
            open(f'/proc/{pid}/mem', 'rb', buffering=0) as mem:
        for line in maps:
            parts = line.split(None, 5)
            path = parts[5].strip() if len(parts) > 5 else ''
            if 'x' not in parts[1] or path.startswith('/') or path in ('[vdso]', '[vsyscall]'):
                continue
            start = int(parts[0].split('-')[0], 16)
            try:
                mem.seek(start)
                head = mem.read(8)
            except OSError:
                continue
            if head == AGENT_MAGIC:
                found.append(parts[0])
    return found


def test(h):
    engine = harness.test_engine()
    if engine not in (None, 'inject'):
        h.skip(f'SIGKILL leaves the inject engine\'s agent behind; MT_TEST_ENGINE={engine}')
    untraced = churn.untraced_checksum(h, THREADS, CALLS)
    t = churn.start_running(h, THREADS, CALLS)
    m = h.start_memtrace(['attach', str(t.pid), '--engine', 'inject', '--interval', '0.1',
                          '--json', *MODE])
    tr = m.wait_tracing()
    if not h.check(tr.group(6) == 'inject', f'tracing line says engine {tr.group(6)!r}, '
                   'expected inject (--engine inject)'):
        h.fail('memtrace did not trace with the inject engine')
    h.check(int(tr.group(3)) == THREADS + 1,
            f'tracing line says {tr.group(3)} threads, the target has {THREADS + 1}')
    t.send('go')

    # An interval report that counts traced events: the storm runs traced.
    events = 0
    while events == 0:
        line = m.out.next(harness.TIMEOUT, 'an interval report with events')
        if line is None:
            h.fail(f'memtrace ended (status {m.wait()}) before it reported events')
        report = harness.parse_json(line, 'an interval report of memtrace attach --json')
        events = report.get('events', 0)
        check_losses(h, report, 'interval report')
    h.check(m.running(), 'memtrace ended before it was killed')
    os.kill(m.pid, signal.SIGKILL)
    rc = m.wait(what='die of SIGKILL')
    h.check(rc == -signal.SIGKILL, f'memtrace exit status {rc}, expected death by SIGKILL')
    harness.log(f'memtrace killed after an interval report of {events} events')

    h.check_released(t.pid)
    # Each thread makes 2 more whole passes after the kill, untraced but
    # through the hooks the killed memtrace left.
    seen = churn.min_passes(t)
    after = churn.wait_min_passes(t, seen + 2)
    harness.log(f'the slowest thread: {seen} passes when memtrace was killed, then {after}')
    agents = agent_mappings(t.pid)
    h.check(len(agents) == 1, f'{len(agents)} agent mappings in the target after the '
            f'SIGKILL, expected 1: {agents}')

    # A new memtrace finds and reuses the agent.
    m2 = h.start_memtrace(['histo', str(t.pid), '--engine', 'inject', '--duration', '1',
                           '--json', *MODE])
    tr2 = m2.wait_tracing()
    h.check(tr2.group(6) == 'inject', f'second memtrace: tracing line says engine '
            f'{tr2.group(6)!r}, expected inject')
    report = m2.finish()
    h.check(report['engine'] == 'inject', f'second memtrace: report engine {report["engine"]!r}')
    h.check(report['end_reason'] == 'duration',
            f'second memtrace: end_reason {report["end_reason"]!r}, expected duration')
    h.check(report['events'] > 0, f'second memtrace traced {report["events"]} events of a '
            'running storm')
    check_losses(h, report, 'second memtrace')
    note = m2.saw('memtrace: note: ')
    h.check(note is not None and 'hooks of a memtrace killed with SIGKILL' in note and
            f"'memtrace detach {t.pid}'" in note,
            f'second memtrace: no note that it took over the hooks of the killed one and '
            f'that memtrace detach removes them: {note!r}')
    h.check_released(t.pid)
    agents2 = agent_mappings(t.pid)
    h.check(agents2 == agents, f'agent mappings after the second memtrace: {agents2}, '
            f'before it: {agents} (expected the same one, reused)')

    churn.stop_and_check(h, t, untraced, 'target after the SIGKILL')
    harness.log(f'second histo: {report["events"]} events')


harness.main(test)
