#!/usr/bin/env python3
"""histo --verbose on target_jit: 40,000 allocations, each from a distinct
stub of code the target wrote itself (a JIT's code: an anonymous mapping,
no CFI), then 20 from an ordinary function.

Each stub's return address is a code address the inject engine's agent
needs an unwind rule for, and the rule table has room for 32,768, so it
fills up.  What it checks:
  - the stubs' blocks are reported exactly: 40,000 allocations and as
    many frees at sites inside the stubs, none live; after_jit's as
    expected, and the target's checksum matches an untraced run;
  - with the inject engine (--verbose's "agent:" line): memtrace told the
    agent that it had no room for some rules (stacks cut short for want of
    room), and the agent never waited for a rule in vain (no timed-out
    waits).  Before memtrace said so, each address without room made the
    allocating thread wait 40 ms and then marked memtrace stale.

Run with --lossless, like the other exact tests under a storm: in the
default mode a full ring drops in runs, and on a loaded machine (a clean
clone's suite beside 100 attach cycles on 8 storming threads) 25,982 of
the stubs' events were dropped.  With --lossless the agent waits while
memtrace lives, so a missing refusal would show as a hang (the test's
timeout), not only as a timed-out wait."""
import re

import harness

AGENT_RE = re.compile(r'memtrace: agent: .* (\d+) stacks cut short \((\d+) for want of room'
                      r' for an unwind rule\), .* (\d+) waits for a rule timed out')


def check_stub_sites(h, report, result):
    start, end = int(result.info['stub_start'], 16), int(result.info['stub_end'], 16)
    n = int(result.info['stubs'])
    mine = [s for s in report['sites'] if start <= int(s['address'], 16) < end]
    got = {k: sum(s[k] for s in mine) for k in ('allocs', 'frees', 'live_blocks', 'live_bytes')}
    want = {'allocs': n, 'frees': n, 'live_blocks': 0, 'live_bytes': 0}
    h.check(got == want, f'sites in the stubs: {got}, expected {want}')


def check_agent_line(h, m, report):
    h.check_engine_line(m, report)
    if report['engine'] != 'inject':
        return
    line = m.saw('memtrace: agent:')
    v = AGENT_RE.match(line or '')
    if not h.check(v is not None, f'no or a malformed "agent:" line: {line!r}'):
        return
    harness.log(line)
    cut, refused, timeouts = (int(g) for g in v.groups())
    h.check(refused > 0, f'no stack cut short for want of rule room: {line}')
    h.check(refused <= cut, f'more stacks cut short for want of room than in all: {line}')
    h.check(timeouts == 0, f'the agent waited for a rule in vain {timeouts} times: {line}')


def test(h):
    state = {}
    h.scenario('target_jit', memtrace_args=('--verbose', '--lossless'),
               report_check=lambda r, res: (check_stub_sites(h, r, res),
                                            state.update(report=r)),
               memtrace_check=lambda m: check_agent_line(h, m, state['report']))


harness.main(test)
