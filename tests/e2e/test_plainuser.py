#!/usr/bin/env python3
"""The inject engine for a plain user (issue 16): the target and memtrace
both run as `nobody` (no capability, no supplementary group), which may
ptrace its own processes but may not open /proc/PID/map_files (that needs
CAP_SYS_ADMIN; checked first, so that the test does exercise the other
way).  memtrace takes the agent's shared memory with pidfd_getfd(2).

  - target_basic: the standard scenario, with the inject engine, every
    count exact, every patched byte restored;
  - target_prefork's parent traced twice: the second memtrace reuses the
    agent and its region (reached through the fd the target keeps, not
    "out of reach"), and both traces count parent_alloc exactly.

Needs root to become that user (else 77); skipped (77) where Yama's
ptrace_scope keeps a user from tracing a process it did not start, or
where `nobody` cannot run the build (a private build directory)."""
import os
import pwd
import subprocess

import harness

USER = 'nobody'


def as_user(argv):
    return subprocess.run(argv, user=harness.RUN_AS[0], group=harness.RUN_AS[1],
                          extra_groups=[], input='', capture_output=True, text=True,
                          timeout=60)


def may_not_open_map_files(h, pid):
    """USER cannot open /proc/PID/map_files/* of its own process."""
    entry = sorted(os.listdir(f'/proc/{pid}/map_files'))[0]
    r = as_user(['head', '-c', '1', f'/proc/{pid}/map_files/{entry}'])
    h.check(r.returncode != 0 and 'not permitted' in r.stderr,
            f'{USER} may open map_files (status {r.returncode}): this test would not '
            'exercise the way without it')


def parent_twice(h):
    t = h.start_target('target_prefork')
    may_not_open_map_files(h, t.pid)
    total = 0
    for n, reused in ((100, False), (250, True)):
        m = h.start_memtrace(['histo', str(t.pid), '--json', '--duration', '0', '--verbose'])
        tr = m.wait_tracing()
        h.check(tr.group(6) == 'inject', f'tracing line: {tr.group(0)}')
        total += n
        t.send(f'alloc {n}')
        t.expect_line(rf'^parent allocs={total}$')
        r = m.stop()
        mine = [s for s in r['sites'] if s['function'] == 'parent_alloc']
        got = {k: sum(s[k] for s in mine) for k in harness.SITE_FIELDS}
        want = {'live_blocks': n, 'live_bytes': 48 * n, 'allocs': n, 'frees': 0}
        h.check(got == want, f'parent_alloc: {got}, expected {want}')
        h.check(r['engine'] == 'inject' and r['lost_events'] == 0,
                f'engine {r["engine"]}, {r["lost_events"]} lost')
        agent = m.saw('memtrace: agent:') or ''
        h.check(agent.endswith(', agent reused') == reused,
                f'trace {"2" if reused else "1"}: {agent!r}')
        h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)


def test(h):
    if harness.test_engine() not in (None, 'inject'):
        h.skip('the breakpoint engine never needed map_files')
    if os.geteuid() != 0:
        h.skip('needs root to run as another user')
    try:
        with open('/proc/sys/kernel/yama/ptrace_scope') as f:
            scope = int(f.read())
    except OSError:
        scope = 0
    if scope > 0:
        h.skip(f'Yama ptrace_scope is {scope}: a plain user may not trace a process it did '
               'not start')
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        h.skip(f'no user {USER}')
    harness.RUN_AS = (pw.pw_uid, pw.pw_gid)
    try:
        r = as_user([h.memtrace, '--version'])
    except OSError as e:
        # A build in a folder USER cannot reach (a clone under /root, as
        # root on a fresh machine): exec fails before the program runs.
        h.skip(f'{USER} cannot run {h.memtrace}: {e.strerror} (is the build in a folder '
               f'{USER} cannot enter, such as /root?)')
    if r.returncode != 0 or not os.access(h.target_path('target_basic'), os.R_OK):
        h.skip(f'{USER} cannot run {h.memtrace}: {r.stderr.strip()}')
    r = as_user([h.target_path('target_basic')])
    if 'ready' not in r.stdout:
        h.skip(f'{USER} cannot run the targets: {r.stderr.strip()}')

    result, report = h.scenario('target_basic', memtrace_args=['--verbose'])
    h.check(report['engine'] == 'inject', f'report engine {report["engine"]!r}')
    parent_twice(h)


harness.main(test)
