#!/usr/bin/env python3
"""Separate debug info found by build-id under --debug-dir DIR: a copy of
stk_chain without debug sections (objcopy --strip-debug keeps the symbol
table, no .gnu_debuglink), its DWARF in DIR/.build-id/NN/REST.debug.

  without --debug-dir   frames are named f3 ... main, without file:line
  --debug-dir DIR       the same frames with their files and lines
"""
import os
import re
import shutil
import subprocess
import tempfile

import stackcheck
from stackcheck import site_text

CHAIN = ['f3', 'f2', 'f1', 'f0', 'main']


def build_id(h, path):
    out = subprocess.run(['readelf', '-n', path], capture_output=True, text=True).stdout
    m = re.search(r'Build ID: ([0-9a-f]+)', out)
    if not m:
        h.skip(f'{path} has no build-id note')
    return m.group(1)


def test(h):
    if not shutil.which('objcopy') or not shutil.which('readelf'):
        h.skip('objcopy or readelf (binutils) is missing')
    full = h.target_path('stk_chain')
    tmp = tempfile.mkdtemp(prefix='stk_debugdir_')
    try:
        exe = os.path.join(tmp, 'stk_chain')
        bid = build_id(h, full)
        debug_dir = os.path.join(tmp, 'debug')
        debug_file = os.path.join(debug_dir, '.build-id', bid[:2], bid[2:] + '.debug')
        os.makedirs(os.path.dirname(debug_file))
        for cmd in (['objcopy', '--only-keep-debug', full, debug_file],
                    ['objcopy', '--strip-debug', full, exe]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                h.broken(f'{" ".join(cmd)}: {p.stderr.strip()}')
        os.chmod(exe, 0o755)
        sections = subprocess.run(['readelf', '-SW', exe], capture_output=True, text=True).stdout
        if '.debug_info' in sections or '.gnu_debuglink' in sections:
            h.broken(f'{exe} still has debug info or a debug link')

        # Without --debug-dir: names from the symbol table only.
        t, result, report = stackcheck.traced(h, 'stk_chain', exe=exe, check=False,
                                              untraced=False)
        stackcheck.check_report(h, report, t.pid, [exe])
        path = result.paths[0]
        mine = [s for s in report['sites'] if stackcheck.module_is(s.get('module'), exe)]
        got = stackcheck.sum_sites(mine)
        if not h.check(got == path.counts, 'without --debug-dir: counts differ'):
            stackcheck.log_counts(path.counts, got)
        for s in mine:
            frames = stackcheck.user_frames(s)[:len(CHAIN)]
            h.check([fr.get('function') for fr in frames] == CHAIN,
                    f'without --debug-dir: expected the frames {CHAIN}:\n    ' + site_text(s))
            h.check(all(not fr.get('file') for fr in frames),
                    'without --debug-dir there is no debug info, yet a frame has file:line:\n    '
                    + site_text(s))

        # With it: the whole expectation, files and lines included.
        stackcheck.traced(h, 'stk_chain', exe=exe, mt_args=['--debug-dir', debug_dir],
                          untraced=False)
        plain = stackcheck.run_untraced(h, 'stk_chain')
        h.check(result.done == plain.done,
                f'done line traced:   {result.done}\n      done line untraced: {plain.done}')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


stackcheck.main(test)
