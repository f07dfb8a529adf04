#!/usr/bin/env python3
"""diff across a restart (issue 4): grow_steps run twice (two PIDs, and with
ASLR two load addresses), a snapshot of each -- the first by `histo
--snapshot` after 2 steps, the second by `memtrace snapshot -o` after 5 --
and `memtrace diff` must match the sites of the two runs: planted_grow
"changed" by exactly 3 steps of growth, base_hold and ring_churn "same",
no new/gone pair for a site of the executable.  The same holds with
--group-by function and --group-by stack."""
import os
import shutil
import tempfile

import growthcheck
from growthcheck import log

STEPS_1, STEPS_2 = 2, 5


def test(h):
    tmp = tempfile.mkdtemp(prefix='mt-growth-')
    try:
        run(h, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, tmp):
    one, two = os.path.join(tmp, 'one.mtsnap'), os.path.join(tmp, 'two.mtsnap')
    pid1, f1, base1 = growthcheck.snapshot_run(h, one, 'histo', steps=STEPS_1)
    pid2, f2, base2 = growthcheck.snapshot_run(h, two, 'snapshot', steps=STEPS_2)
    exe = h.target_path('grow_steps')
    h.check(pid1 != pid2, f'both runs had pid {pid1}')
    try:
        with open('/proc/sys/kernel/randomize_va_space') as f:
            aslr = f.read().strip()
    except OSError:
        aslr = '?'
    log(f'run 1: pid {pid1}, executable at {base1 and hex(base1)}; '
        f'run 2: pid {pid2}, executable at {base2 and hex(base2)} (randomize_va_space {aslr})')
    if base1 == base2:
        log('note: both runs loaded the executable at the same address; the match is '
            'not proven across different addresses')

    for extra in ([], ['--group-by', 'function'], ['--group-by', 'stack']):
        what = 'diff ONE TWO ' + ' '.join(extra)
        report = growthcheck.diff_json(h, one, two, *extra)
        growthcheck.check_steps_diff(h, report, f1, f2, exe, what)
        mine = [s for s in report['sites'] if growthcheck.in_module(s, exe)]
        for s in mine:
            h.check(s['status'] in ('changed', 'same'),
                    f'{what}: a site of the executable is {s["status"]!r} across a restart: '
                    + growthcheck.diff_text(s))
        for side, pid in (('a', pid1), ('b', pid2)):
            meta = report[side]
            h.check(isinstance(meta, dict) and meta.get('pid') == pid,
                    f'{what}: "{side}" meta pid '
                    f'{meta.get("pid") if isinstance(meta, dict) else meta!r}, expected {pid}')


growthcheck.main(test)
