#!/usr/bin/env python3
"""memtrace leaks finds the pointers that hide where a leak checker can miss
them (issue 19, "careful about false leaks"), and no pointer where there is
none.

target_leakroots (tests/targets/target_leakroots.c) keeps one block, each of
a size of its own, whose only pointer is
  merged    in a page the kernel merged with the mapping of a glibc
            mmapped chunk (the target checked it is one mapping);
  register  in r12 of a thread blocked in read(2);
  altstack  in a signal handler's frame on a malloc'd alternate signal
            stack the program forgot (only the kernel knows it), and that
            stack block itself;
  mangled   mangled with glibc's pointer guard (PTR_MANGLE) in a global;
  tls       in a __thread variable of a blocked worker;
and for each a control block handled the same way whose pointer is really
gone (overwritten, cleared from the register, dropped by the handler,
mangled with another guard, cleared from TLS).  It prints what it made.

memtrace leaks --json --show-reachable PID, 3 times, must give each time:
  - per size of the target's blocks, exactly the group it made: every kept
    block reachable, every control definitely lost (so that the test fails
    both when a root is missed and when a pointer is seen that is not
    there); the lost totals equal to the controls alone (no other block of
    the process is lost, possibly lost or indirectly lost);
  - the root each kept block was reached from: the register r12 of the
    register worker, the altstack and tls workers' stacks, the global
    g_mangled_keep, "anonymous memory at 0x..." for the merged page;
  - the 300 KiB mmapped chunk reachable (from its global g_big);
and the target is still alive, untraced, without a child; on "exit" its
workers wake (r12 still holding the block after the restarted syscall, the
handler returning from the alternate stack, which its thread takes back from
the kernel and frees), every kept block's bytes are intact, and it exits 0.
"""
import re

import harness
import leaks

TARGET = 'target_leakroots'
RUNS = 3
BIG_SIZE = 300 * 1024


def parse_extra(lines):
    """{worker name: tid} and the merged line's fields."""
    tids = {}
    merged = None
    for line in lines:
        m = re.match(r'^worker name=(\w+) tid=(\d+)$', line)
        if m:
            tids[m.group(1)] = int(m.group(2))
        m = re.match(r'^merged mapping=(\w+)-(\w+) chunk=(\w+)-(\w+) page=(\w+)-(\w+)$', line)
        if m:
            merged = [int(v, 16) for v in m.groups()]
    if set(tids) != {'register', 'altstack', 'tls'} or merged is None:
        raise harness.Broken(f'{TARGET} printed no workers or no merged line: {lines}')
    lo, hi, clo, chi, plo, phi = merged
    if not (lo <= clo and chi == plo and phi <= hi):
        raise harness.Broken(f'{TARGET}: chunk and page are not one mapping: {merged}')
    return tids


def root_of(g):
    chain = g.get('chain') or []
    return chain[0].get('root') if chain and isinstance(chain[0], dict) else None


def check_run(h, r, exp, tids, what):
    for kind in ('definitely_lost', 'indirectly_lost', 'possibly_lost'):
        got = (r[kind]['blocks'], r[kind]['bytes'])
        h.check(got == exp.totals[kind], f'{what}: {kind} (blocks, bytes) {got}, the target '
                f'made {exp.totals[kind]} (its controls)')
    for g in exp.groups:
        size, kind = g['size'], g['kind']
        for k in leaks.KINDS:
            got = leaks.sums(r['groups'], k, size)
            want = (g['blocks'], g['bytes']) if k == kind else (0, 0)
            h.check(got == want, f'{what}: {g["function"]}: size {size}, {k} (blocks, bytes) '
                    f'{got}, expected {want}')
    roots = {
        'register': f"thread {tids['register']}'s register r12",
        'altstack': f"thread {tids['altstack']}'s stack",
        'tls': f"thread {tids['tls']}'s stack",
        'mangled': 'g_mangled_keep (target_leakroots)',
        'merged': 'anonymous memory at 0x',   # the mapping's start follows
    }
    for g in exp.groups:
        if g['kind'] != 'reachable':
            continue
        picked = leaks.select(r['groups'], 'reachable', g['size'])
        got = [root_of(p) for p in picked]
        want = roots[g['function']]
        ok = (len(got) == 1 and got[0] is not None and got[0].startswith(want)
              if g['function'] == 'merged' else got == [want])
        h.check(ok, f'{what}: {g["function"]}: the block of size '
                f'{g["size"]} reached from {got}, expected {roots[g["function"]]!r}')
    big = [g for g in r['groups'] if g['kind'] == 'reachable'
           and isinstance(g.get('size'), int) and g['size'] >= BIG_SIZE]
    h.check(len(big) == 1 and big[0]['blocks'] == 1 and root_of(big[0]) == 'g_big '
            '(target_leakroots)', f'{what}: the mmapped chunk: reachable groups {big}, '
            'expected one block reached from g_big')


def test(h):
    t = h.start_target(TARGET)
    exp = leaks.Leaky(t.result.lines)
    tids = parse_extra(t.result.lines)
    for run in range(1, RUNS + 1):
        what = f'leaks run {run}'
        r = leaks.run(h, t.pid, '--show-reachable')
        check_run(h, r, exp, tids, what)
        h.check(t.running(), f'{what}: the target died (status {t.popen.poll()})')
        if h.failures:
            return
        h.check_released(t.pid)
        leaks.check_no_child(h, t.pid, what)
    t.send('exit')
    t.wait_exit(0)


harness.main(test)
