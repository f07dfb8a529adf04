#!/usr/bin/env python3
"""The missing-symbols hint for a Debian package's stripped binary:
memtrace run -- sort FILE (coreutils ships /usr/bin/sort stripped; its own
code, xmalloc and friends, allocates).  With --group-by module the module
/usr/bin/sort is a row of its own, and one hint line names it, its
build-id (readelf), coreutils-dbgsym (the package dpkg-query -S names)
and --debug-dir with the build-id path.  Where libc6-dbg is not
installed, libc's static functions are unnamed too and libc gets a hint
line of its own (a fresh Debian 12 machine once showed only libc's).  Skipped where sort is no
Debian package's, has symbols, or its debug file is installed."""
import os
import re
import shutil
import subprocess
import tempfile

import stackcheck

SORT = '/usr/bin/sort'


def test(h):
    if not shutil.which('dpkg-query') or not shutil.which('readelf') \
            or not os.path.exists(SORT):
        h.skip('dpkg-query, readelf or /usr/bin/sort is missing')
    q = subprocess.run(['dpkg-query', '-S', '--', SORT], capture_output=True, text=True)
    if q.returncode != 0:
        h.skip(f'{SORT} belongs to no Debian package here')
    pkg = q.stdout.split(':', 1)[0].split(',')[0]
    sections = subprocess.run(['readelf', '-SW', SORT], capture_output=True, text=True).stdout
    notes = subprocess.run(['readelf', '-n', SORT], capture_output=True, text=True).stdout
    m = re.search(r'Build ID: ([0-9a-f]+)', notes)
    if '.symtab' in sections or not m:
        h.skip(f'{SORT} has a symbol table, or no build-id')
    bid = m.group(1)
    if os.path.exists(f'/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug'):
        h.skip(f'the debug file of {SORT} is installed')
    os.environ.pop('DEBUGINFOD_URLS', None)
    with tempfile.NamedTemporaryFile('w', prefix='stk_sort_') as f:
        for i in range(2000):
            f.write(f'{(i * 7919) % 2003:05d} line {i}\n')
        f.flush()
        mt = h.start_memtrace(['run', '--group-by', 'module', '--top', '0', '--', SORT, f.name])
        rc = mt.wait(what='end with sort')
    h.check(rc == 0, f'memtrace run -- sort exited with {rc}')
    rows = [line for line in mt.out.lines if line.rstrip().endswith(' (sort)')
            or f' {SORT}' in line]
    every = [line for line in mt.err.lines if line.startswith('memtrace: hint:')
             and 'has no symbols' in line]
    hints = [line for line in every if f' {SORT} has no symbols' in line]
    h.check(len(hints) == 1, f'expected one missing-symbols hint for {SORT}, got {every}')
    h.check(len(every) <= 3, f'more than 3 missing-symbols hints: {every}')
    if hints:
        line = hints[0]
        for want in (f'{SORT} has no symbols', f'(build-id {bid})', f'install {pkg}-dbgsym',
                     f'--debug-dir DIR holding .build-id/{bid[:2]}/{bid[2:]}.debug'):
            h.check(want in line, f'the hint lacks {want!r}: {line}')
    h.check(rows, f'no row for the module {SORT}:\n' + mt.out.text())


stackcheck.main(test)
