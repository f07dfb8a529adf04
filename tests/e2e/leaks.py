"""Helpers for the tests of `memtrace leaks` (test_leaks_*.py), on top of
harness.py: run it, check the invariants of its JSON report, read what
tests/targets/target_leaky.c says it made, and read a LEAK SUMMARY
(memcheck's, or memtrace's text form, which uses memcheck's words).

The report (--json), as the leaks command defines it:
  {"pid", "comm", "allocator", "paused_ms", "took_ms", "complete", "warnings",
   "definitely_lost": {"blocks", "bytes"}, "indirectly_lost", "possibly_lost",
   "reachable",
   "groups": [{"kind", "type" or "size", "stack" (when traced), "blocks",
               "bytes", "indirect_bytes", "chain" (reachable, when known)}],
   "why": [{"match", "chain"}]  (with --why)}
Every lost group is listed; the reachable ones all with --show-reachable.
Bytes are usable sizes, which the targets make equal to the sizes they ask
for (24 + 16 * k), as memcheck counts them.
"""
import os
import re
import shutil
import subprocess

import harness

KINDS = ('definitely_lost', 'indirectly_lost', 'possibly_lost', 'reachable')
LOST = KINDS[:3]
# memcheck's words for each kind, in its LEAK SUMMARY
WORDS = {
    'definitely lost': 'definitely_lost',
    'indirectly lost': 'indirectly_lost',
    'possibly lost': 'possibly_lost',
    'still reachable': 'reachable',
}
SUMMARY_LINE_RE = re.compile(
    r'^(?:==\d+==)?\s*(definitely lost|indirectly lost|possibly lost|still reachable):'
    r'\s*([\d,]+) bytes? in ([\d,]+) blocks?\s*$')


def run(h, pid, *args, want_rc=0, complete=True):
    """memtrace leaks PID --json ARGS, ended by itself with WANT_RC: the
    report, its invariants checked (check_report)."""
    m = h.start_memtrace(['leaks', str(pid), '--json', *args])
    report = m.finish(want_rc)
    check_report(h, report, pid, complete=complete,
                 all_reachable='--show-reachable' in args)
    return report


def run_text(h, pid, *args, want_rc=0):
    """memtrace leaks PID ARGS (the text form): its stdout."""
    m = h.start_memtrace(['leaks', str(pid), *args])
    rc = m.wait(what='end by itself')
    h.check(rc == want_rc, f'memtrace leaks {" ".join(args)} exited {rc}, expected {want_rc}')
    errors = [line for line in m.err.lines if line.startswith('memtrace: error')]
    h.check(not errors, f'memtrace printed errors: {errors}')
    return m.out.text()


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_report(h, r, pid, complete=True, all_reachable=False):
    """The report's fields are there and agree with each other: the totals
    of each lost kind are the sums of its groups (every lost group is
    listed), and of the reachable ones with --show-reachable."""
    for key in ('pid', 'comm', 'allocator', 'paused_ms', 'took_ms', 'complete', 'warnings',
                *KINDS, 'groups'):
        if key not in r:
            raise harness.Fail(f'leaks report has no "{key}": {sorted(r)}')
    h.check(r['pid'] == pid, f'leaks report pid {r["pid"]}, target is {pid}')
    try:
        with open(f'/proc/{pid}/comm') as f:
            comm = f.read().strip()
        h.check(r['comm'] == comm, f'leaks report comm {r["comm"]!r}, target is {comm!r}')
    except OSError:
        pass
    h.check(str(r['allocator']).startswith('glibc'),
            f'leaks report allocator {r["allocator"]!r}, expected glibc ...')
    for key in ('paused_ms', 'took_ms'):
        h.check(isinstance(r[key], (int, float)) and r[key] >= 0,
                f'leaks report {key} {r[key]!r} is not a number >= 0')
    h.check(isinstance(r['warnings'], list), f'leaks report warnings {r["warnings"]!r}')
    if complete:
        h.check(r['complete'] is True, f'leaks report complete {r["complete"]!r}, '
                f'warnings {r["warnings"]}')
    for kind in KINDS:
        t = r[kind]
        if not isinstance(t, dict) or not _is_count(t.get('blocks')) \
                or not _is_count(t.get('bytes')):
            raise harness.Fail(f'leaks report {kind} is not {{blocks, bytes}}: {t!r}')
    if not isinstance(r['groups'], list):
        raise harness.Fail(f'leaks report groups is not a list: {r["groups"]!r}')
    for g in r['groups']:
        for key in ('kind', 'blocks', 'bytes', 'indirect_bytes'):
            if key not in g:
                raise harness.Fail(f'leaks group without "{key}": {g}')
        h.check(g['kind'] in KINDS, f'leaks group of kind {g["kind"]!r}: {g}')
        h.check(('type' in g) != ('size' in g), f'leaks group with not one of type, size: {g}')
        h.check(_is_count(g['blocks']) and g['blocks'] > 0 and _is_count(g['bytes'])
                and _is_count(g['indirect_bytes']), f'leaks group with bad counts: {g}')
    for kind in (KINDS if all_reachable else LOST):
        got = sums(r['groups'], kind)
        want = (r[kind]['blocks'], r[kind]['bytes'])
        h.check(got == want, f'leaks report: {kind} is (blocks, bytes) {want}, its groups add '
                f'up to {got}')


def select(groups, kind, size=None, function=None):
    """The groups of KIND, of usable size SIZE (when given), whose stack
    names FUNCTION (when given)."""
    out = []
    for g in groups:
        if g.get('kind') != kind:
            continue
        if size is not None and g.get('size') != size:
            continue
        if function is not None and not frame_named(g, function):
            continue
        out.append(g)
    return out


def sums(groups, kind=None, size=None, function=None):
    """(blocks, bytes) summed over the groups select() picks (all of
    GROUPS when KIND is None)."""
    picked = groups if kind is None else select(groups, kind, size, function)
    return (sum(g['blocks'] for g in picked), sum(g['bytes'] for g in picked))


def frame_named(g, function):
    """The frame of G's stack that names FUNCTION, or None."""
    for f in g.get('stack') or []:
        if isinstance(f, dict) and f.get('function') == function:
            return f
    return None


class Leaky:
    """What target_leaky said it made: its "leak ..." and "leaks ..." lines.

    groups: [{function, kind, size, blocks, bytes, indirect_bytes}]
    totals: {kind: (blocks, bytes)} for the three lost kinds
    sizes:  the sizes of its blocks"""

    def __init__(self, lines):
        self.groups = []
        self.totals = None
        for line in lines:
            words = line.split()
            if not words or words[0] not in ('leak', 'leaks'):
                continue
            fields = dict(w.split('=', 1) for w in words[1:])
            if words[0] == 'leak':
                g = {k: (v if k in ('function', 'kind') else int(v)) for k, v in fields.items()}
                self.groups.append(g)
            else:
                f = {k: int(v) for k, v in fields.items()}
                self.totals = {
                    'definitely_lost': (f['definitely_blocks'], f['definitely_bytes']),
                    'indirectly_lost': (f['indirectly_blocks'], f['indirectly_bytes']),
                    'possibly_lost': (f['possibly_blocks'], f['possibly_bytes']),
                }
        if self.totals is None or len(self.groups) < 5:
            raise harness.Broken(f'target_leaky printed no complete expectations: {lines}')
        self.sizes = sorted({g['size'] for g in self.groups})

    def want(self, kind, size):
        """(blocks, bytes, indirect_bytes) the target made of KIND and SIZE."""
        picked = [g for g in self.groups if g['kind'] == kind and g['size'] == size]
        return (sum(g['blocks'] for g in picked), sum(g['bytes'] for g in picked),
                sum(g['indirect_bytes'] for g in picked))


def parse_summary(text, what):
    """{kind: (blocks, bytes)} from the first LEAK SUMMARY in TEXT (commas
    of thousands removed); Fail when there is none."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if 'LEAK SUMMARY' in line), None)
    if start is None:
        harness.log(f'--- {what}:\n{text}')
        raise harness.Fail(f'{what}: no LEAK SUMMARY')
    out = {}
    for line in lines[start + 1:]:
        m = SUMMARY_LINE_RE.match(line)
        if not m:
            if out and not line.strip('=0123456789 '):
                break        # the blank line after the summary
            continue
        kind = WORDS[m.group(1)]
        if kind in out:
            break            # the next summary
        out[kind] = (int(m.group(3).replace(',', '')), int(m.group(2).replace(',', '')))
    return out


def memcheck(h, args=('valgrind',), target='target_leaky'):
    """TARGET ARGS under valgrind --leak-check=full: memcheck's figures
    {kind: (blocks, bytes)} from its first LEAK SUMMARY (the one the target
    asked for while its blocks were all held), and what the target printed.
    None when valgrind is not installed."""
    valgrind = shutil.which('valgrind')
    if valgrind is None:
        return None
    argv = [valgrind, '--leak-check=full', '--show-leak-kinds=definite,indirect,possible',
            '--error-exitcode=0', h.target_path(target), *args]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=harness.TIMEOUT * 3,
                             env=h.target_env)
    except subprocess.TimeoutExpired:
        raise harness.Fail(f'{target} under valgrind did not end within '
                           f'{harness.TIMEOUT * 3:.0f} s') from None
    if out.returncode != 0:
        harness.log(f'--- valgrind stderr:\n{out.stderr}')
        raise harness.Fail(f'{target} {" ".join(args)} under valgrind exited '
                           f'{out.returncode}')
    figures = parse_summary(out.stderr, 'valgrind --leak-check=full')
    if 'definitely_lost' not in figures or 'indirectly_lost' not in figures:
        harness.log(f'--- valgrind stderr:\n{out.stderr}')
        raise harness.Fail(f'memcheck printed no definitely/indirectly lost line: {figures}')
    harness.log(f'memcheck ({os.path.basename(valgrind)} {target} {" ".join(args)}): '
                + ', '.join(f'{k} {v[1]} bytes in {v[0]} blocks' for k, v in figures.items()))
    return figures, out.stdout.splitlines()


def check_no_child(h, pid, what):
    """memtrace's copy of the target was killed and reaped."""
    left = harness.children(pid)
    h.check(not left, f'{what}: the target has children left (pid, state): {left}')
