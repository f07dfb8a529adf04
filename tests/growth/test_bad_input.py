#!/usr/bin/env python3
"""Bad snapshot input to `memtrace diff` (issue 4): one row per kind of bad
file, each its own meson test.  Every row checks `diff BAD BAD` and, with
a valid snapshot V of grow_steps, `diff BAD V`, `diff V BAD` and `diff BAD V
--json`:

  - the documented exit status (10 input/output error, 11 not a valid
    snapshot, 12 written by a newer memtrace), never a death by signal,
  - nothing on stdout,
  - exactly one stderr line `memtrace: error: WHAT: WHAT TO DO`, which
    names the bad file.

Usage: test_bad_input.py CASE | --list
"""
import os
import shutil
import struct
import sys
import tempfile

import growthcheck
from growthcheck import E_BAD_SNAPSHOT, E_IO, E_SNAPSHOT_VERSION, MAGIC, Fail, log


def flip_middle(data):
    """Eight bytes in the middle of the compressed payload, inverted."""
    mid = 12 + (len(data) - 12) // 2
    mid = max(12, min(mid, len(data) - 8))
    out = bytearray(data)
    for i in range(mid, min(mid + 8, len(out))):
        out[i] ^= 0xff
    return bytes(out)


# name: (needs V, status, regexes the line matches, make(dir, V) -> path)
def _write(d, name, data, mode=0o644):
    path = os.path.join(d, name)
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def _directory(d, _v):
    path = os.path.join(d, 'a-directory.mtsnap')
    os.mkdir(path)
    return path


CASES = {
    'empty': (False, E_BAD_SNAPSHOT, [r'snapshot'],
              lambda d, v: _write(d, 'empty.mtsnap', b'')),
    'magic_only': (False, E_BAD_SNAPSHOT, [r'snapshot'],
                   lambda d, v: _write(d, 'magic.mtsnap', MAGIC)),
    'header_only': (False, E_BAD_SNAPSHOT, [r'snapshot'],
                    lambda d, v: _write(d, 'header.mtsnap', MAGIC + struct.pack('<I', 1))),
    'truncated': (True, E_BAD_SNAPSHOT, [r'snapshot'],
                  lambda d, v: _write(d, 'half.mtsnap', v[:len(v) // 2])),
    'truncated_last_byte': (True, E_BAD_SNAPSHOT, [r'snapshot'],
                            lambda d, v: _write(d, 'short.mtsnap', v[:-1])),
    'corrupt': (True, E_BAD_SNAPSHOT, [r'snapshot'],
                lambda d, v: _write(d, 'flipped.mtsnap', flip_middle(v))),
    'text_mode': (True, E_BAD_SNAPSHOT, [r'snapshot'],
                  lambda d, v: _write(d, 'crlf.mtsnap', v.replace(b'\r\n', b'\n'))),
    'future_version': (False, E_SNAPSHOT_VERSION, [r'newer'],
                       lambda d, v: _write(d, 'future.mtsnap',
                                           MAGIC + struct.pack('<I', 999) + (v or b'')[12:])),
    'text': (False, E_BAD_SNAPSHOT, [r'snapshot'],
             lambda d, v: _write(d, 'notes.txt',
                                 b'These are not the bytes you are looking for.\n' * 20)),
    'directory': (False, E_IO, [], _directory),
    'missing': (False, E_IO, [], lambda d, v: os.path.join(d, 'no-such.mtsnap')),
    'unreadable': (False, E_IO, [],
                   lambda d, v: _write(d, 'secret.mtsnap', v or MAGIC, mode=0o000)),
}


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        h.broken(f'usage: test_bad_input.py {"|".join(CASES)} | --list')
    case = sys.argv[1]
    needs_v, status, patterns, make = CASES[case]
    prefix = ()
    if case == 'unreadable':
        if os.geteuid() != 0:
            h.skip('needs root to run memtrace as nobody (root reads any file)')
        if not shutil.which('setpriv'):
            h.skip('needs setpriv to run memtrace as nobody')
        prefix = growthcheck.nobody_prefix()
        if prefix is None:
            h.skip('no user nobody')
    tmp = tempfile.mkdtemp(prefix='mt-growth-')
    try:
        os.chmod(tmp, 0o755)    # nobody may look in, not read secret.mtsnap
        run(h, case, tmp, needs_v, status, patterns, make, prefix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, case, tmp, needs_v, status, patterns, make, prefix):
    good = os.path.join(tmp, 'good.mtsnap')
    v = None
    try:
        growthcheck.snapshot_run(h, good, 'histo', steps=1)
        os.chmod(good, 0o644)
        with open(good, 'rb') as f:
            v = f.read()
        growthcheck.check_header(h, v, 'the valid snapshot')
    except Fail as e:
        if needs_v:
            raise Fail(f'cannot make the valid snapshot this case is made from: {e}') from None
        h.check(False, f'cannot make a valid snapshot to diff against: {e}')
    if prefix:
        # nobody must be able to reach memtrace and the valid snapshot.
        probe = growthcheck.run_mt(h, ['--version'], prefix=prefix)
        if probe.rc != 0:
            probe.show()
            h.broken('memtrace --version fails as nobody')
    bad = make(tmp, v)
    log(f'case {case}: {bad}' + (f' ({os.path.getsize(bad)} bytes)' if os.path.isfile(bad)
                                 else ''))
    name = os.path.basename(bad)
    pats = [*patterns, '(?:' + name.replace('.', r'\.') + ')']
    calls = [['diff', bad, bad]]
    if v is not None:
        calls += [['diff', bad, good], ['diff', good, bad], ['diff', bad, good, '--json']]
    for args in calls:
        r = growthcheck.run_mt(h, args, prefix=prefix)
        growthcheck.check_error(h, r, status, pats,
                                what=f'{case}: `memtrace {" ".join(args[:1])} '
                                + ' '.join(os.path.basename(a) for a in args[1:]) + '`')
    if v is not None and case not in ('unreadable',):
        # The valid snapshot itself is fine.
        ok = growthcheck.run_mt(h, ['diff', good, good], prefix=prefix)
        growthcheck.check_ok(h, ok, '`memtrace diff good good`')


if __name__ == '__main__':
    if sys.argv[1:] == ['--list']:
        print('\n'.join(CASES))
        sys.exit(0)
    growthcheck.main(test)
