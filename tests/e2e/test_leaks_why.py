#!/usr/bin/env python3
"""memtrace leaks --why on target_sessions: who holds 10,000 app::Session.

target_sessions (tests/targets/target_sessions.cc) keeps 10,000 objects of
the polymorphic class app::Session in a global std::unordered_map,
g_sessions, and says so ("sessions type=app::Session blocks=N bytes=N
root=g_sessions", bytes the objects' usable sizes).  Then:
  - leaks --json --why app::Session: why[0] matches app::Session; its chain
    starts at a root naming g_sessions, each link after it is a group of
    blocks (a type or a size, blocks and bytes), and it ends at the type
    app::Session with all 10,000 blocks and their bytes; nothing is lost
    (the target drops no pointer); the reachable group of app::Session has
    the 10,000 blocks too;
  - the text form (leaks --why app::Session) names g_sessions and
    app::Session;
  - the target is left running, untraced, without a child, and exits 0
    (it checks every object before deleting it).
"""
import re

import harness
import leaks

TARGET = 'target_sessions'
TYPE = 'app::Session'


def expected(t):
    for line in t.result.lines:
        m = re.match(r'^sessions type=(\S+) blocks=(\d+) bytes=(\d+) root=(\S+)$', line)
        if m and m.group(1) == TYPE:
            return int(m.group(2)), int(m.group(3)), m.group(4)
    raise harness.Broken(f'{TARGET} printed no expectations: {t.result.lines}')


def check_chain(h, chain, blocks, nbytes, root, what):
    if not isinstance(chain, list) or len(chain) < 2:
        raise harness.Fail(f'{what}: chain {chain!r} is not a root and at least one link')
    first, last = chain[0], chain[-1]
    h.check(isinstance(first, dict) and root in str(first.get('root', '')),
            f'{what}: the chain starts at {first!r}, expected a root naming {root}')
    for link in chain[1:]:
        h.check(isinstance(link, dict) and ('type' in link or 'size' in link)
                and isinstance(link.get('blocks'), int) and link['blocks'] > 0
                and isinstance(link.get('bytes'), int) and link['bytes'] > 0,
                f'{what}: chain link {link!r} is not a group (type or size, blocks, bytes)')
    h.check(isinstance(last, dict) and last.get('type') == TYPE
            and last.get('blocks') == blocks and last.get('bytes') == nbytes,
            f'{what}: the chain ends at {last!r}, expected type {TYPE} with {blocks} blocks '
            f'and {nbytes} bytes')


def test(h):
    t = h.start_target(TARGET)
    blocks, nbytes, root = expected(t)

    r = leaks.run(h, t.pid, '--why', TYPE)
    for kind in leaks.LOST:
        h.check(r[kind]['blocks'] == 0, f'{kind}: {r[kind]}, the target lost nothing')
    why = r.get('why')
    if not isinstance(why, list) or not why:
        raise harness.Fail(f'leaks --why {TYPE}: why is {why!r}, expected a non-empty list')
    h.check(why[0].get('match') == TYPE, f'why[0] matches {why[0].get("match")!r}, '
            f'expected {TYPE}')
    check_chain(h, why[0].get('chain'), blocks, nbytes, root, 'why[0]')
    sessions = [g for g in r['groups'] if g.get('type') == TYPE]
    got = leaks.sums(sessions, 'reachable')
    h.check(got == (blocks, nbytes), f'reachable groups of type {TYPE}: (blocks, bytes) {got}, '
            f'the target holds {(blocks, nbytes)}')
    for g in sessions:
        if g.get('chain') is not None:
            check_chain(h, g['chain'], g['blocks'], g['bytes'], root, f'the group of {TYPE}')
    h.check_released(t.pid)
    leaks.check_no_child(h, t.pid, 'leaks --why')

    text = leaks.run_text(h, t.pid, '--why', TYPE)
    for name in (root, TYPE):
        h.check(name in text, f'leaks --why {TYPE} (text) does not name {name}:\n{text}')

    h.check(t.running(), 'the target died during the leak checks')
    t.send('exit')
    t.wait_exit(0)
    harness.log(f'{TARGET}: why {TYPE}: ' + ' -> '.join(
        str(link.get('root') or link.get('type') or link.get('size'))
        for link in why[0]['chain']))


harness.main(test)
