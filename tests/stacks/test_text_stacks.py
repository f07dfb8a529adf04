#!/usr/bin/env python3
"""histo --stacks (table output) on stk_chain: the row of the site f3 has
the expected counts, and the lines under it show the stack: f3, f2, f1,
f0 and main in that order, each with its file:line."""
import re
import signal
import os

import stackcheck

ROW_RE = re.compile(r'^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S.*)$')
CHAIN = ['f3', 'f2', 'f1', 'f0', 'main']


def word_re(name):
    return re.compile(r'(?<![\w:.])' + re.escape(name) + r'(?![\w])')


def test(h):
    t = stackcheck.start(h, 'stk_chain')
    m = h.start_memtrace(['histo', str(t.pid), '--duration', '0', '--stacks'])
    m.wait_tracing()
    t.send('go')
    result = t.collect()
    os.kill(m.pid, signal.SIGINT)
    rc = m.wait(what='exit after SIGINT')
    h.check(rc == 0, f'memtrace exited with status {rc}, expected 0')
    h.check(m.saw(f'memtrace: detached from pid {t.pid}') is not None,
            f"no 'memtrace: detached from pid {t.pid}' line on memtrace's stderr")
    h.check_released(t.pid)
    out = m.out.lines
    text = '\n'.join(out)

    m_lost = re.search(r'(\d+) lost events', text)
    h.check(m_lost and m_lost.group(1) == '0', 'the header does not say "0 lost events"')

    # rows and the lines under each
    rows = []
    for line in out:
        r = ROW_RE.match(line)
        if r:
            rows.append((r, []))
        elif rows and line.strip() and not line.startswith('('):
            rows[-1][1].append(line)
    path = result.paths[0]
    f3 = [(r, under) for r, under in rows if word_re('f3').match(r.group(6))]
    if not h.check(len(f3) == 1, f'{len(f3)} rows for the site f3, expected 1:\n' + text):
        return
    r, under = f3[0]
    got = {'live_blocks': int(r.group(2)), 'live_bytes': int(r.group(3)),
           'allocs': int(r.group(4)), 'frees': int(r.group(5))}
    if not h.check(got == path.counts, 'the f3 row\'s counts differ'):
        stackcheck.log_counts(path.counts, got)
    where = []
    for name, file, line in zip(CHAIN, path.files, path.lines):
        at = [i for i, s in enumerate(under)
              if word_re(name).search(s) and f'{file}:{line}' in s]
        h.check(at, f'no line under the f3 row shows {name} at {file}:{line}')
        where.append(at[0] if at else None)
    found = [w for w in where if w is not None]
    h.check(found == sorted(found) and len(set(found)) == len(found),
            f'the stack lines are not in the order {CHAIN}: at lines {where}')
    if h.failures:
        stackcheck.log('--- memtrace stdout:\n' + text)
    t.send('exit')
    t.wait_exit(0)


stackcheck.main(test)
