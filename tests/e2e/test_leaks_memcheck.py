#!/usr/bin/env python3
"""memtrace leaks on target_leaky, whose leaks were made before memtrace
attaches, against memcheck's figures for the same program.

target_leaky (tests/targets/target_leaky.c) drops the last pointer to 10
blocks of 40 bytes, orphans a tree (a head of 56, 8 children of 72 hanging
off it), makes 4 unreachable two-block cycles of 88, and keeps 16 blocks of
104 on a global list and 6 of 120 on a worker thread's stack; it prints what
it made.  The same program runs under valgrind --leak-check=full (mode
valgrind: memcheck's leak check while the worker holds its blocks), and
memtrace leaks --json --show-reachable on the live one must give:
  - definitely and indirectly lost blocks and bytes equal to memcheck's and
    to the target's own figures (where valgrind is not installed, the
    target's only, and the test says so);
  - per size of the target's blocks, the lost groups it made and no other:
    the 40-byte blocks definitely lost; the tree's head one definitely lost
    group of size 56 with indirect_bytes 8 * 72, the children indirectly
    lost; one of each cycle definitely lost (with its peer as indirect
    bytes), the other indirectly lost; nothing of size 104 or 120 lost,
    and the list's and the worker stack's blocks reachable, 16 and 6;
and then the text form's LEAK SUMMARY gives the same figures, with exit 0;
--error-exitcode 7 makes it exit 7 (the figures the same).  The target is
left running, untraced, without a child, and exits 0.
"""
import harness
import leaks

TARGET = 'target_leaky'


def check_totals(h, r, want, what, source):
    for kind in ('definitely_lost', 'indirectly_lost'):
        got = (r[kind]['blocks'], r[kind]['bytes'])
        h.check(got == want[kind], f'{what}: {kind} (blocks, bytes) {got}, {source} says '
                f'{want[kind]}')


def check_groups(h, r, exp, what):
    """Per size of the target's blocks and lost kind, the groups add up to
    what the target made (nothing, where it made none)."""
    for size in exp.sizes:
        for kind in leaks.LOST:
            picked = leaks.select(r['groups'], kind, size)
            got = leaks.sums(picked) + (sum(g['indirect_bytes'] for g in picked),)
            want = exp.want(kind, size)
            h.check(got == want, f'{what}: size {size}, {kind}: (blocks, bytes, indirect_bytes) '
                    f'{got}, the target made {want}')
    for g in exp.groups:
        if g['kind'] != 'reachable':
            continue
        got = leaks.sums(r['groups'], 'reachable', g['size'])
        h.check(got == (g['blocks'], g['bytes']),
                f'{what}: size {g["size"]} ({g["function"]}): reachable (blocks, bytes) {got}, '
                f'the target holds {(g["blocks"], g["bytes"])}')
    # The tree's head (56 bytes) is one block, one group, with its children
    # (8 of 72) as its indirect bytes.
    tree = [g for g in exp.groups if g['function'] == 'leak_tree'
            and g['kind'] == 'definitely_lost']
    if len(tree) != 1:
        raise harness.Broken(f'target_leaky printed no tree head: {exp.groups}')
    head = tree[0]
    heads = leaks.select(r['groups'], 'definitely_lost', head['size'])
    h.check(len(heads) == 1 and heads[0]['blocks'] == 1
            and heads[0]['indirect_bytes'] == head['indirect_bytes'],
            f'{what}: the tree head: definitely lost groups of size {head["size"]} {heads}, '
            f'expected one of 1 block with indirect_bytes {head["indirect_bytes"]}')


def test(h):
    t = h.start_target(TARGET, ['before'])
    exp = leaks.Leaky(t.result.lines)

    mc = leaks.memcheck(h)
    if mc is None:
        harness.log('valgrind is not installed: memtrace is compared with the target\'s own '
                    'figures only, not with memcheck\'s')
    else:
        figures, _ = mc
        # The target's figures are memcheck's, or the target is wrong.
        check_totals(h, {k: {'blocks': v[0], 'bytes': v[1]} for k, v in figures.items()},
                     exp.totals, 'memcheck', 'the target')

    r = leaks.run(h, t.pid, '--show-reachable')
    check_totals(h, r, exp.totals, 'leaks --json', 'the target')
    if mc is not None:
        check_totals(h, r, mc[0], 'leaks --json', 'memcheck')
    check_groups(h, r, exp, 'leaks --json')
    h.check_released(t.pid)
    leaks.check_no_child(h, t.pid, 'leaks --json')

    text = leaks.run_text(h, t.pid)
    summary = leaks.parse_summary(text, 'memtrace leaks (text)')
    for kind in ('definitely_lost', 'indirectly_lost'):
        h.check(summary.get(kind) == exp.totals[kind],
                f'leaks (text): LEAK SUMMARY {kind} (blocks, bytes) {summary.get(kind)}, the '
                f'target made {exp.totals[kind]}')

    r7 = leaks.run(h, t.pid, '--error-exitcode', '7', want_rc=7)
    check_totals(h, r7, exp.totals, 'leaks --error-exitcode 7', 'the target')
    h.check_released(t.pid)
    leaks.check_no_child(h, t.pid, 'leaks --error-exitcode 7')

    h.check(t.running(), 'the target died during the leak checks')
    t.send('exit')
    t.wait_exit(0)
    harness.log(f'{TARGET}: definitely lost {r["definitely_lost"]}, indirectly lost '
                f'{r["indirectly_lost"]}, possibly lost {r["possibly_lost"]}, reachable '
                f'{r["reachable"]}, paused {r["paused_ms"]} ms')


harness.main(test)
