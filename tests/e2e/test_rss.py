#!/usr/bin/env python3
"""The report's coverage line: the process's RSS at attach and at the end
beside what memtrace saw live, and a warning when most of the growth is
memory the hooked allocator did not hand out.

test_rss.py mmap    target_rss grows 64 MiB of anonymous memory with
                    mmap(2): the JSON "rss" says untraced_growth true and
                    the table prints the warning line;
test_rss.py malloc  target_rss mallocs 64 MiB in 64 KiB blocks: memtrace
                    sees them live (exactly), no warning.

Each mode traces one grow with `histo --json` and a second one with the
table (`histo`, no --json).  The growth asserted is a floor (the pages the
target wrote), not a figure: RSS also moves for reasons of its own."""
import os
import signal
import sys

import harness

MODE = sys.argv[1] if len(sys.argv) > 1 else 'mmap'
GROW = 64 << 20          # bytes a grow writes (target_rss.c)
FLOOR = GROW - (4 << 20)  # anonymous growth that must show, at least
WARNING = 'warning: anonymous memory grew '


def check_json(h, report):
    rss = report.get('rss')
    if not isinstance(rss, dict):
        raise harness.Fail(f'report "rss" is {rss!r}, expected an object')
    keys = ('start_bytes', 'end_bytes', 'anon_start_bytes', 'anon_end_bytes', 'end_age_s',
            'peak_live_bytes', 'untraced_growth')
    missing = [k for k in keys if k not in rss]
    if missing:
        raise harness.Fail(f'report "rss" lacks {missing}: {rss}')
    if rss['anon_start_bytes'] is None:
        h.skip('this kernel has no RssAnon in /proc/PID/status (Linux < 4.5)')
    anon = rss['anon_end_bytes'] - rss['anon_start_bytes']
    h.check(anon >= FLOOR, f'anonymous memory grew {anon} bytes while the target wrote '
            f'{GROW} bytes of it: {rss}')
    h.check(rss['end_bytes'] - rss['start_bytes'] >= FLOOR,
            f'RSS grew {rss["end_bytes"] - rss["start_bytes"]} bytes, expected >= {FLOOR}: {rss}')
    h.check(rss['end_age_s'] == 0, f'RSS at the end read {rss["end_age_s"]} s before the end '
            'of a trace that ended by a signal, expected 0 (read at the end)')
    live = report['totals']['live_bytes']
    if MODE == 'malloc':
        sites = [s for s in report['sites'] if s['function'] == 'grow_malloc']
        got = sum(s['live_bytes'] for s in sites)
        h.check(got == GROW, f'grow_malloc live_bytes {got}, expected {GROW}')
        h.check(rss['peak_live_bytes'] >= GROW and rss['peak_live_bytes'] >= live,
                f'peak_live_bytes {rss["peak_live_bytes"]}, expected >= {GROW} and >= the '
                f'live bytes {live}')
        h.check(rss['untraced_growth'] is False,
                f'untraced_growth with the growth seen allocated: {rss}')
    else:
        h.check(rss['peak_live_bytes'] < GROW // 8 and rss['peak_live_bytes'] >= live,
                f'peak_live_bytes {rss["peak_live_bytes"]} with the growth mmap\'d '
                f'(live bytes {live})')
        h.check(rss['untraced_growth'] is True,
                f'untraced_growth not set for {anon} bytes mmap\'d: {rss}')


def check_table(h, text):
    lines = text.splitlines()
    rss = [ln for ln in lines if ln.startswith('rss: ')]
    h.check(len(rss) == 1 and ' at attach, ' in rss[0] and ' at the end (+' in rss[0]
            and 'memtrace saw ' in rss[0],
            f'expected one "rss: ... at attach, ... at the end (+...); memtrace saw ..." '
            f'line, got {rss}:\n{text}')
    warn = [ln for ln in lines if ln.startswith(WARNING)]
    if MODE == 'malloc':
        h.check(not warn, f'a warning with the growth seen allocated: {warn}')
    else:
        h.check(len(warn) == 1 and 'mmap(2)' in warn[0] and 'pymalloc' in warn[0],
                f'expected one line "{WARNING}..." naming mmap(2) and pymalloc, got '
                f'{warn}:\n{text}')


def test(h):
    t = h.start_target('target_rss', [MODE])
    m = h.attach(t)
    t.send('go')
    t.send('grow')
    t.expect_line(r'^grown (\d+)$', "'grown BYTES'")
    check_json(h, m.stop())
    h.check_released(t.pid)

    m = h.start_memtrace(['histo', str(t.pid), '--duration', '0'])
    m.wait_tracing()
    t.send('grow')
    t.expect_line(r'^grown (\d+)$', "'grown BYTES'")
    os.kill(m.pid, signal.SIGINT)
    rc = m.wait(what='exit after SIGINT')
    h.check(rc == 0, f'memtrace (table) exited with status {rc}')
    check_table(h, m.out.text())
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)


harness.main(test)
