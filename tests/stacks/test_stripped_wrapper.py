#!/usr/bin/env python3
"""histo on stk_fanout_stripped: stk_fanout (a static wrapper pool_alloc()
called from caller0 ... caller11) without any symbol table.  memtrace
names each function of the stripped binary after its .eh_frame FDE,
"stk_fanout_stripped+0xSTART"; the starts come from the unstripped twin's
symbol table (nm), the expected counts from the target.

  test_stripped_wrapper.py fde      --group-by function: one row, pool_alloc's
                                    FDE name, holding every block; the
                                    fan-out hint names it with its 12 callers,
                                    and the missing-symbols hint names the
                                    binary, its build-id and --debug-dir
  test_stripped_wrapper.py wrapper  --wrapper PATH+START (the binary's path,
                                    START in upper-case hex without 0x):
                                    one row per caller, each exact; no
                                    fan-out hint

Both run with --lossless: the fan-out hint counts the distinct callers
seen in the stacks, and without it the agent waits at most 40 ms for the
rule to unwind a return address it has not seen before cutting the stack
short (man memtrace, SAFETY).  On a loaded machine that once left fewer
than 10 of the 12 callers in the stacks, and no hint (1 run of 30 beside
a full suite).  With --lossless the agent waits while memtrace lives.
"""
import os
import re
import shutil
import subprocess
import sys

import stackcheck
from stackcheck import module_is, site_text

FANOUT = 12


def symbols(h, path):
    """name -> start of the functions in PATH's symbol table (nm)."""
    try:
        out = subprocess.run(['nm', '--defined-only', path], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        h.skip(f'cannot run nm on {path}: {e}')
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in 'tT':
            syms[parts[2]] = int(parts[0], 16)
    return syms


def build_id(h, path):
    try:
        out = subprocess.run(['readelf', '-n', path], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        h.skip(f'cannot run readelf on {path}: {e}')
    m = re.search(r'Build ID: ([0-9a-f]+)', out)
    if not m:
        h.broken(f'{path} has no build-id note')
    return m.group(1)


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('fde', 'wrapper'):
        h.broken('usage: test_stripped_wrapper.py fde|wrapper')
    mode = sys.argv[1]
    if not shutil.which('nm') or not shutil.which('readelf'):
        h.skip('nm or readelf (binutils) is missing')
    exe = h.target_path('stk_fanout_stripped')
    full = h.target_path('stk_fanout')
    if symbols(h, exe):
        h.broken(f'{exe} still has a symbol table')
    syms = symbols(h, full)
    base = os.path.basename(exe)
    funcs = ['pool_alloc', 'main'] + [f'caller{i}' for i in range(FANOUT)]
    for name in funcs:
        if name not in syms:
            h.broken(f'{full} has no symbol {name}')
    fde = {name: f'{base}+{syms[name]:#x}' for name in funcs}
    wrapper = fde['pool_alloc']

    if mode == 'fde':
        mt_args, wrappers, group_by = ['--group-by', 'function', '--lossless'], [], 'function'
    else:
        given = f'{os.path.realpath(exe)}+{syms["pool_alloc"]:X}'
        mt_args, wrappers, group_by = ['--wrapper', given, '--lossless'], [wrapper], 'site'
        stackcheck.log(f'--wrapper {given}: expected to match {wrapper}')
    seen = {}
    t, result, report = stackcheck.traced(
        h, 'stk_fanout_stripped', (), mt_args, check=False,
        memtrace_check=lambda m, r: seen.update(err=list(m.err.lines)))
    stackcheck.check_report(h, report, t.pid, [exe], wrappers, group_by)
    err = seen.get('err', [])

    mine = [s for s in report['sites'] if module_is(s.get('module'), exe)]
    known = {f'{base}+{start:#x}' for start in syms.values()}
    for s in mine:
        for fr in s.get('stack') or []:
            if module_is(fr.get('module'), exe):
                h.check(fr.get('function') in known,
                        f'frame {fr.get("function")!r} at {fr.get("address")} is not named '
                        f'after the FDE of a function of {base} ({sorted(known)}):\n    '
                        + site_text(s))
    fanout = [line for line in err if 'is called from' in line]
    if mode == 'fde':
        rows = [s for s in mine if s.get('function') == wrapper]
        h.check(len(mine) == 1 and len(rows) == 1,
                f'--group-by function: expected one row {wrapper}, got '
                f'{[s.get("function") for s in mine]}')
        got = stackcheck.sum_sites(rows)
        want = result.expects['pool_alloc']
        if not h.check(got == want, f'row {wrapper}: counts differ'):
            stackcheck.log_counts(want, got)
        h.check(any(f'{wrapper} is called from {FANOUT} places' in line
                    and f'--wrapper {wrapper}' in line for line in fanout),
                f'no hint "{wrapper} is called from {FANOUT} places; try --wrapper {wrapper}"'
                f' on stderr: {fanout}')
        bid = build_id(h, exe)
        nosym = [line for line in err if 'has no symbols' in line]
        h.check(len(nosym) == 1 and base in nosym[0] and bid in nosym[0]
                and '--debug-dir' in nosym[0],
                f'expected one hint line naming {base} without symbols, build-id {bid} and '
                f'--debug-dir: {nosym}')
    else:
        for i in range(FANOUT):
            name = f'caller{i}'
            rows = [s for s in mine if s.get('function') == fde[name]]
            got = stackcheck.sum_sites(rows)
            want = result.expects[name]
            if not h.check(got == want, f'{name} ({fde[name]}): counts differ'):
                stackcheck.log_counts(want, got)
                for s in mine:
                    stackcheck.log('    ' + site_text(s))
        callers = {fde[f'caller{i}'] for i in range(FANOUT)}
        h.check(all(s.get('function') in callers for s in mine),
                f'rows other than the callers: {[s.get("function") for s in mine]}')
        h.check(not any(wrapper in line for line in fanout),
                f'fan-out hint for a wrapper given with --wrapper: {fanout}')


stackcheck.main(test)
