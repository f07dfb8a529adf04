#!/usr/bin/env python3
"""node with --perf-basic-prof (tests/stacks/node_jit.js): a JavaScript
function compiled after memtrace attached allocates COUNT blocks of SIZE.

  - memtrace's stacks name that function from /tmp/perf-PID.map, in module
    "[jit]": the stacks holding it account for exactly the COUNT blocks of
    SIZE the target said;
  - no frame is given to node's module unless node's file is mapped at its
    address (libdwfl's module of node spans the anonymous memory up to
    V8's second mapping of node's text, where the JIT code is); a frame in
    that second mapping has a name when node's other frames have one.

  test_node.py             as above
  test_node.py largepages  also --use-largepages=on: node copies most of its
                           text to anonymous huge pages at the same
                           addresses; frames there are node's, named (not
                           JIT code); skipped (77) where node does not do it.

Skipped (77) without node; tools/setup installs Debian's nodejs.
"""
import os
import re
import shutil
import sys

import stackcheck

SIZE = 1048576 + 4093   # no other allocation of node's has this size
COUNT = 5
FILL = int(os.environ.get("NODE_FILL", "300"))  # new functions whose code fills V8's code pages
DEPTH = 64              # V8's frames between malloc and the JS function


def executable_ranges(pid):
    """[start, end) of every executable mapping of PID."""
    out = []
    with open(f'/proc/{pid}/maps') as f:
        for line in f:
            parts = line.split()
            if 'x' in parts[1]:
                out.append(tuple(int(x, 16) for x in parts[0].split('-')))
    return out


def node_mappings(pid, exe):
    """(start, end, offset) of every mapping of the file EXE in PID, and
    (start, end) of the anonymous executable ones between the first and the
    last of those at offset 0's image (text moved to huge pages)."""
    files, anon = [], []
    with open(f'/proc/{pid}/maps') as f:
        for line in f:
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            if len(parts) == 6 and stackcheck.module_is(parts[5].strip(), exe):
                files.append((lo, hi, int(parts[2], 16)))
            elif len(parts) == 5 and 'x' in parts[1]:
                anon.append((lo, hi))
    image = [lo for lo, _hi, off in files if off == 0]
    ends = [hi for lo, hi, off in files if image and lo - off == image[0]]
    inside = [(lo, hi) for lo, hi in anon if image and image[0] <= lo and hi <= max(ends)]
    return files, inside


def check_node_frames(h, report, maps, exe, largepages):
    """Frames given to node are in node's file, or in its text moved to
    huge pages; those in its second mapping (and with LARGEPAGES, in the
    moved text, where some must be) are named when node's frames are."""
    files, moved = maps
    image = [lo - off for lo, _hi, off in files if off == 0]
    named = unnamed_copy = in_moved = unnamed_moved = 0
    for row in report['sites']:
        for fr in row.get('stack') or []:
            addr = int(fr['address'], 16)
            if any(lo <= addr < hi for lo, hi in moved):
                h.check(stackcheck.module_is(fr.get('module'), exe),
                        f'frame {stackcheck.frame_text(fr)} at {fr["address"]} is in node\'s '
                        'text moved to huge pages, but not given to node')
                in_moved += 1
                unnamed_moved += not fr.get('function')
                continue
            if not stackcheck.module_is(fr.get('module'), exe):
                continue
            where = [(lo, off) for lo, hi, off in files if lo <= addr < hi]
            if not h.check(where, f'frame {stackcheck.frame_text(fr)} at {fr["address"]} '
                           'is given to node, but no mapping of node holds it'):
                continue
            lo, off = where[0]
            named += bool(fr.get('function'))
            if lo - off not in image and not fr.get('function'):
                unnamed_copy += 1
    h.check(named == 0 or unnamed_copy == 0,
            f'{unnamed_copy} frames in the second mapping of node have no name')
    if largepages:
        h.check(in_moved > 0, 'no frame in node\'s text moved to huge pages')
        h.check(named == 0 or unnamed_moved == 0,
                f'{unnamed_moved} frames in node\'s text moved to huge pages have no name')


def test(h):
    if sys.argv[1:] not in ([], ['largepages']):
        h.broken('usage: test_node.py [largepages]')
    largepages = sys.argv[1:] == ['largepages']
    node = shutil.which('node') or shutil.which('nodejs')
    if not node:
        h.skip('no node here (tools/setup installs Debian\'s nodejs)')
    exe = os.path.realpath(node)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'node_jit.js')
    # --logfile: node 18's V8 also writes isolate-*-v8.log in the cwd.
    argv = [node, '--perf-basic-prof', '--interpreted-frames-native-stack',
            '--no-logfile-per-isolate', '--logfile=/dev/null',
            *(['--use-largepages=on'] if largepages else []), script,
            str(SIZE), str(COUNT), str(FILL)]
    t = None
    try:
        t = stackcheck.StackTarget(h, 'node', exe=exe, argv=argv)
        t.ready()
        m = h.attach(t, ['--group-by', 'stack', '--depth', str(DEPTH)])
        at_attach = executable_ranges(t.pid)
        if largepages and not node_mappings(t.pid, exe)[1]:
            h.skip('node did not move its text to huge pages here')
        t.send('go')
        result = t.collect()
        info = result.info
        if not all(k in info for k in ('jit_function', 'blocks', 'bytes')):
            h.broken(f'node_jit.js said no "info jit_function" line: {result.lines}')
        name, blocks, nbytes = info['jit_function'], int(info['blocks']), int(info['bytes'])
        report = stackcheck.finish(h, t, m)
        maps = node_mappings(t.pid, exe)

        # V8 names it "JS:~NAME FILE:LINE:COL" (node 20), "LazyCompile:~NAME
        # ..." (node 18): NAME is a word of its own.
        word = re.compile(r'(?:^|[\s:~*])' + re.escape(name) + r'(?:\s|$)')
        got_blocks = got_bytes = fresh = 0
        for row in report['sites']:
            stack = row.get('stack') or []
            hits = [fr for fr in stack if word.search(fr.get('function') or '')]
            if not hits:
                continue
            for fr in hits:
                h.check(fr.get('module') == '[jit]',
                        f'{name} in module {fr.get("module")!r}, expected "[jit]"')
                addr = int(fr['address'], 16)
                fresh += not any(lo <= addr < hi for lo, hi in at_attach)
            if row['live_blocks'] and row['live_bytes'] == row['live_blocks'] * SIZE:
                got_blocks += row['live_blocks']
                got_bytes += row['live_bytes']
        h.check(got_blocks == blocks and got_bytes == nbytes,
                f'stacks through {name}: {got_blocks} blocks of {SIZE} bytes '
                f'({got_bytes} bytes), the target made {blocks} ({nbytes} bytes)\n'
                + '\n'.join(stackcheck.site_text(s) for s in report['sites'][:5]))
        # What this test is for: code in memory that was not executable
        # when memtrace attached (V8 took a new page for it).
        h.check(fresh > 0, f'{name}: all its code was in pages executable at attach '
                f'(FILL {FILL} new functions did not fill them)')
        check_node_frames(h, report, maps, exe, largepages)
        stackcheck.log(f'node {name}: {got_blocks} blocks named from the perf map, '
                       f'{report.get("events")} events, {len(report["sites"])} stacks')
        t.send('exit')
        t.wait_exit(0)
    finally:
        if t is not None and os.path.exists(f'/tmp/perf-{t.pid}.map'):
            os.unlink(f'/tmp/perf-{t.pid}.map')


stackcheck.main(test)
