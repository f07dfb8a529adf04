#!/usr/bin/env python3
"""A pre-fork server (issue 16): target_prefork's parent is traced and
detached, then forks workers that allocate without a pause.

  1. The parent is traced once (histo, exact counts of parent_alloc) and
     detached.
  2. Worker W1 is forked: it inherited the agent (code, trampolines,
     records) with its configuration wiped, but neither the parent's
     shared region (MADV_DONTFORK) nor, once memtrace attached, the fd of
     the parent's memfd.
  3. The parent and W1 are traced at the same time, both with the inject
     engine: each has one region of its own (different memfds), each
     report has exactly its own process's allocations (parent_alloc N
     blocks in one, worker_burst M blocks in the other, neither the other's
     sites), and the worker's storm runs on.
  4. Worker W2 is forked; `memtrace attach W2` traces it with the inject
     engine and is killed with SIGKILL while the storm runs (after an
     interval report with events).  W2 is left released and running (its
     passes go on), and told to stop it frees every block, finds each one
     as written (bad=0) and exits 0.
  5. Worker W3 is forked while the parent is traced: memtrace removes the
     jumps from its copy (its allocator's bytes are the file's), and a
     memtrace attaching to W3 later traces it with the inject engine,
     exactly (worker_burst).

Only for the inject engine (the breakpoint engine has no agent)."""
import os
import re
import signal

import harness

AGENT_MAGIC = (0x31544e4547415446).to_bytes(8, 'little')   # MT_AGENT_MAGIC
REGION = '/memfd:memtrace-rings'


def regions(pid):
    """[(range, inode)] of PID's mappings of memtrace's shared region."""
    out = []
    for line in open(f'/proc/{pid}/maps'):
        parts = line.split(None, 5)
        if len(parts) > 5 and parts[5].startswith(REGION):
            out.append((parts[0], int(parts[4])))
    return out


def region_fds(pid):
    """{fd: inode} of PID's open memtrace memfds."""
    out = {}
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            if os.readlink(f'/proc/{pid}/fd/{fd}').startswith(REGION):
                out[int(fd)] = os.stat(f'/proc/{pid}/fd/{fd}').st_ino
        except OSError:
            pass
    return out


def agents(pid):
    """Start addresses of PID's mappings that hold memtrace's agent."""
    found = []
    with open(f'/proc/{pid}/maps') as maps, \
            open(f'/proc/{pid}/mem', 'rb', buffering=0) as mem:
        for line in maps:
            parts = line.split(None, 5)
            if 'x' not in parts[1] or len(parts) > 5:
                continue
            try:
                mem.seek(int(parts[0].split('-')[0], 16))
                if mem.read(8) == AGENT_MAGIC:
                    found.append(parts[0])
            except OSError:
                pass
    return found


class Server:
    """target_prefork and its workers' lines (all on its stdout)."""

    def __init__(self, h):
        self.h = h
        self.t = h.start_target('target_prefork')

    def ask(self, command, answer):
        self.t.send(command)
        return self.t.expect_line(answer, f'{answer!r} after {command!r}')

    def fork(self):
        pid = int(self.ask('fork', r'^forked (\d+)$').group(1))
        self.t.expect_line(rf'^worker {pid} started$', f'worker {pid} started')
        return pid

    def passes(self, pid):
        m = self.ask(f'tell {pid} status', rf'^worker {pid} passes=(\d+) bad=(\d+)$')
        self.h.check(m.group(2) == '0', f'worker {pid}: bad={m.group(2)}')
        return int(m.group(1))

    def burst(self, pid, n):
        return int(self.ask(f'tell {pid} burst {n}', rf'^worker {pid} burst=(\d+)$').group(1))

    def stop(self, pid):
        m = self.ask(f'tell {pid} stop', rf'^worker {pid} stopped passes=(\d+) bad=(\d+)$')
        self.h.check(m.group(2) == '0', f'worker {pid} found {m.group(2)} blocks damaged')
        rc = self.ask(f'reap {pid}', rf'^reaped {pid} status=(-?\d+)$').group(1)
        self.h.check(rc == '0', f'worker {pid} ended with status {rc}, expected 0')


def histo(h, pid):
    """histo of PID until stopped.  --lossless: a worker's storm allocates
    faster than memtrace accounts (about 40% of its events dropped on this
    2-core machine), and a full ring drops in runs until drained to half;
    worker_burst's exact count then held only while the burst came before
    the ring first filled.  The census at attach (its walk takes tens of
    ms while the storm runs) made that race visible: the burst was lost
    in 1 run of 7."""
    m = h.start_memtrace(['histo', str(pid), '--json', '--duration', '0', '--verbose',
                          '--lossless'])
    tr = m.wait_tracing()
    h.check(int(tr.group(1)) == pid and tr.group(6) == 'inject',
            f'tracing line for {pid}: {tr.group(0)}')
    return m


def site(report, function):
    mine = [s for s in report['sites'] if s['function'] == function]
    return {k: sum(s[k] for s in mine) for k in harness.SITE_FIELDS}


def check_exact(h, report, function, n, what):
    got = site(report, function)
    want = {'live_blocks': n, 'live_bytes': n * (48 if function == 'parent_alloc' else 80),
            'allocs': n, 'frees': 0}
    h.check(got == want, f'{what}: {function} reported {got}, expected {want}')
    h.check(report['engine'] == 'inject' and report['lost_events'] == 0 or
            function != 'parent_alloc', f'{what}: engine {report["engine"]}, '
            f'{report["lost_events"]} lost')


def test(h):
    if harness.test_engine() not in (None, 'inject'):
        h.skip('the breakpoint engine has no agent to inherit')
    s = Server(h)
    parent = s.t.pid

    # 1. The parent traced once, then detached.
    m = histo(h, parent)
    s.ask('alloc 100', r'^parent allocs=100$')
    r = m.stop()
    check_exact(h, r, 'parent_alloc', 100, 'parent, first trace')
    h.check_released(parent)
    p_regions, p_fds = regions(parent), region_fds(parent)
    h.check(len(p_regions) == 1 and list(p_fds.values()) == [p_regions[0][1]],
            f'parent: regions {p_regions}, memfds open {p_fds}: expected one, kept open')

    # 2. W1 inherits the agent, not the region.
    w1 = s.fork()
    h.check(agents(w1) == agents(parent) and len(agents(w1)) == 1,
            f'agents: parent {agents(parent)}, worker {agents(w1)}')
    h.check(regions(w1) == [], f'worker {w1} maps a region it inherited: {regions(w1)}')

    # 3. The parent and W1 traced at the same time.
    mp = histo(h, parent)
    mw = histo(h, w1)
    w_regions = regions(w1)
    h.check(len(w_regions) == 1 and w_regions[0][1] != p_regions[0][1],
            f'worker regions {w_regions}, parent\'s {p_regions}: expected one of its own')
    h.check(list(region_fds(w1).values()) == [w_regions[0][1]],
            f'worker memfds open {region_fds(w1)}: expected its own only ({w_regions})')
    h.check(regions(parent) == p_regions, f'parent regions now {regions(parent)}, '
            f'were {p_regions}')
    s.ask('alloc 300', r'^parent allocs=400$')
    n1 = s.burst(w1, 1000)
    h.check(n1 == 1000, f'worker burst {n1}')
    rp, rw = mp.stop(), mw.stop()
    check_exact(h, rp, 'parent_alloc', 300, 'parent, traced with its worker')
    check_exact(h, rw, 'worker_burst', 1000, 'worker 1, traced with its parent')
    h.check(not [x for x in rp['sites'] if x['function'].startswith('worker_')],
            'worker sites in the parent\'s report')
    h.check(site(rw, 'parent_alloc')['allocs'] == 0, 'parent_alloc in the worker\'s report')
    h.check(rw['events'] > 1000, f'worker 1: {rw["events"]} events, its storm ran on')
    h.check(mw.saw('memtrace: agent:') is not None
            and 'inherited by fork: given rings of its own' in mw.saw('memtrace: agent:'),
            f'--verbose: {mw.saw("memtrace: agent:")}')
    h.check_released(parent)
    h.check_released(w1)

    # 4. W2: attach, SIGKILL mid-load.
    w2 = s.fork()
    mk = h.start_memtrace(['attach', str(w2), '--interval', '0.1', '--json'])
    tr = mk.wait_tracing()
    h.check(tr.group(6) == 'inject', f'worker 2 traced by {tr.group(6)}')
    events = 0
    while events == 0:
        line = mk.out.next(harness.TIMEOUT, 'an interval report with events')
        if line is None:
            h.fail(f'memtrace ended (status {mk.wait()}) before it reported events')
        events = harness.parse_json(line, 'interval report').get('events', 0)
    os.kill(mk.pid, signal.SIGKILL)
    rc = mk.wait(what='die of SIGKILL')
    h.check(rc == -signal.SIGKILL, f'memtrace exit status {rc}')
    h.check_released(w2)
    before = s.passes(w2)
    after = before
    while after < before + 2:
        after = s.passes(w2)
    harness.log(f'worker 2: {events} events traced, then killed memtrace; passes '
                f'{before} -> {after}')
    s.stop(w2)

    # 5. W3 forked while the parent is traced.
    mp = histo(h, parent)
    w3 = s.fork()
    s.ask('alloc 10', r'^parent allocs=410$')
    rp = mp.stop()
    check_exact(h, rp, 'parent_alloc', 10, 'parent, traced while it forked')
    h.check_released(parent)
    h.check_entry_bytes(w3)
    mw = histo(h, w3)
    n3 = s.burst(w3, 500)
    rw = mw.stop()
    check_exact(h, rw, 'worker_burst', 500, 'worker 3, forked while its parent was traced')
    h.check_released(w3)
    h.check_entry_bytes(w3)
    s.stop(w3)
    s.stop(w1)
    h.check(n3 == 500, f'worker 3 burst {n3}')
    s.t.send('exit')
    s.t.wait_exit(0)


harness.main(test)
