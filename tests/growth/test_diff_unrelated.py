#!/usr/bin/env python3
"""diff of two unrelated programs (issue 4): snapshots of grow_steps and of
grow_other (another executable, another build-id).  `memtrace diff A B`
must refuse with exit 13 and one clear line, with or without --json;
with --force it compares anyway: exit 0, grow_steps' sites "gone" and
grow_other's "new", with their exact blocks and bytes."""
import os
import shutil
import tempfile

import growthcheck

STEPS = 2


def test(h):
    tmp = tempfile.mkdtemp(prefix='mt-growth-')
    try:
        run(h, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, tmp):
    a, b = os.path.join(tmp, 'steps.mtsnap'), os.path.join(tmp, 'other.mtsnap')
    _pid_a, fa, _ = growthcheck.snapshot_run(h, a, 'snapshot', 'grow_steps', steps=STEPS)
    _pid_b, fb, _ = growthcheck.snapshot_run(h, b, 'snapshot', 'grow_other', steps=STEPS)

    for extra in ([], ['--json'], ['--group-by', 'function']):
        run_ab = growthcheck.run_mt(h, ['diff', a, b, *extra])
        growthcheck.check_error(h, run_ab, growthcheck.E_DIFFERENT_PROGRAMS,
                                [r'different program'])
    run_ba = growthcheck.run_mt(h, ['diff', b, a])
    growthcheck.check_error(h, run_ba, growthcheck.E_DIFFERENT_PROGRAMS, [r'different program'])

    report = growthcheck.diff_json(h, a, b, '--force')
    rows = report['sites']
    steps_exe, other_exe = h.target_path('grow_steps'), h.target_path('grow_other')
    growthcheck.check_row(h, rows, 'planted_grow', {
        'status': 'gone', 'blocks_a': fa['planted_blocks'], 'bytes_a': fa['planted_bytes'],
        'blocks_b': 0, 'bytes_b': 0}, 'diff --force')
    growthcheck.check_row(h, rows, 'base_hold', {
        'status': 'gone', 'blocks_a': fa['base_blocks'], 'bytes_a': fa['base_bytes']},
        'diff --force')
    growthcheck.check_row(h, rows, 'other_hold', {
        'status': 'new', 'blocks_a': 0, 'bytes_a': 0,
        'blocks_b': fb['other_blocks'], 'bytes_b': fb['other_bytes']}, 'diff --force')
    for s in rows:
        if growthcheck.in_module(s, steps_exe) and s['bytes_a'] > 0:
            h.check(s['status'] == 'gone', 'diff --force: a grow_steps site not "gone": '
                    + growthcheck.diff_text(s))
        if growthcheck.in_module(s, other_exe) and s['bytes_b'] > 0:
            h.check(s['status'] == 'new', 'diff --force: a grow_other site not "new": '
                    + growthcheck.diff_text(s))
    if h.failures:
        growthcheck.log_rows(rows, 'diff --force')

    table = growthcheck.run_mt(h, ['diff', a, b, '--force'])
    growthcheck.check_ok(h, table, '`memtrace diff A B --force` (table)')

    same = growthcheck.diff_json(h, a, a)
    h.check(all(s['status'] == 'same' for s in same['sites']),
            'diff A A: rows not "same": '
            + '; '.join(growthcheck.diff_text(s) for s in same['sites'] if s['status'] != 'same'))


growthcheck.main(test)
