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

Skipped (77) without node; tools/setup installs Debian's nodejs.
"""
import os
import re
import shutil

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
    """(start, end, offset) of every mapping of the file EXE in PID."""
    out = []
    with open(f'/proc/{pid}/maps') as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and stackcheck.module_is(parts[5].strip(), exe):
                lo, hi = (int(x, 16) for x in parts[0].split('-'))
                out.append((lo, hi, int(parts[2], 16)))
    return out


def check_node_frames(h, report, maps, exe):
    """Frames given to node are in node's file; those in its second mapping
    are named when node's frames are."""
    image = [lo - off for lo, _hi, off in maps if off == 0]
    named = unnamed_copy = 0
    for row in report['sites']:
        for fr in row.get('stack') or []:
            if not stackcheck.module_is(fr.get('module'), exe):
                continue
            addr = int(fr['address'], 16)
            where = [(lo, off) for lo, hi, off in maps if lo <= addr < hi]
            if not h.check(where, f'frame {stackcheck.frame_text(fr)} at {fr["address"]} '
                           'is given to node, but no mapping of node holds it'):
                continue
            lo, off = where[0]
            named += bool(fr.get('function'))
            if lo - off not in image and not fr.get('function'):
                unnamed_copy += 1
    h.check(named == 0 or unnamed_copy == 0,
            f'{unnamed_copy} frames in the second mapping of node have no name')


def test(h):
    node = shutil.which('node') or shutil.which('nodejs')
    if not node:
        h.skip('no node here (tools/setup installs Debian\'s nodejs)')
    exe = os.path.realpath(node)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'node_jit.js')
    argv = [node, '--perf-basic-prof', '--interpreted-frames-native-stack', script,
            str(SIZE), str(COUNT), str(FILL)]
    t = None
    try:
        t = stackcheck.start(h, 'node', exe=exe, argv=argv)
        m = h.attach(t, ['--group-by', 'stack', '--depth', str(DEPTH)])
        at_attach = executable_ranges(t.pid)
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
        check_node_frames(h, report, maps, exe)
        stackcheck.log(f'node {name}: {got_blocks} blocks named from the perf map, '
                       f'{report.get("events")} events, {len(report["sites"])} stacks')
        t.send('exit')
        t.wait_exit(0)
    finally:
        if t is not None and os.path.exists(f'/tmp/perf-{t.pid}.map'):
            os.unlink(f'/tmp/perf-{t.pid}.map')


stackcheck.main(test)
