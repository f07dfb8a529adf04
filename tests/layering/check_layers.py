#!/usr/bin/env python3
"""memtrace's layering check: an include never goes up a layer.

Every file under src/ belongs to the layer of its first folder
(src/model/tracker.c is in model).  An include of one of memtrace's own
headers names its layer ("model/tracker.h"); it may name the file's own
layer or a lower one, never a higher one.  The layers, lowest first, are
LAYERS below; the reasons for the order are in doc/ARCHITECTURE.md.

Also checked: every quoted include names a layer folder (src/ is the only
include root), and no meson.build under tests/ or bench/ compiles a file of
src/ by its path (tests link the layers' libraries).

Usage: check_layers.py SRC_DIR [TREE_DIR]
Exit 0 when the tree keeps its layers, 1 with one line per fault."""
import os
import re
import sys

# Lowest first.  Layers on one line share a rank: they may include each
# other.
LAYERS = [
    ['util'],       # errors and exit statuses, messages, atomic files
    ['arch'],       # registers, syscalls, instruction bytes of one machine
    ['model'],      # pure: allocator functions, events, live blocks, sites, growth
    ['agent'],      # the in-process agent and the ABI and rings it shares
    ['target'],     # ptrace, memory, syscalls in the target, maps, /proc
    ['symbols'],    # allocator discovery, symbolization, unwinding
    ['engine'],     # hook engines, ring reader, rule server, stack capture
    ['census'],     # the heap from before attach
    ['snapshot', 'report'],  # snapshot files; every report printer, diff's too
    ['session'],    # one tracing session
    ['cli'],        # the command line and main
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
# Headers the build makes, found on the build's include path.
GENERATED = {'config.h'}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SRC_PATH = re.compile(r"""['"]src['"]\s*/|['"](\.\./)+src/|/\s*['"]src['"]""")


def layer_of(rel):
    head = rel.split('/', 1)[0]
    return head if head in RANK else None


def check_src(src):
    faults = []
    for dirpath, _dirs, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(('.c', '.h', '.S')):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            own = layer_of(rel)
            if own is None:
                faults.append('%s: not in a layer folder (%s)' %
                              (rel, ', '.join(RANK)))
                continue
            text = open(path, encoding='utf-8', errors='replace').read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count('\n', 0, m.start()) + 1
                if inc in GENERATED:
                    continue
                dep = layer_of(inc)
                if dep is None:
                    faults.append('%s:%d: include "%s" names no layer folder: '
                                  'write "LAYER/%s"' % (rel, line, inc, inc))
                elif not os.path.exists(os.path.join(src, inc)) and \
                        not inc.endswith('.pb-c.h'):
                    faults.append('%s:%d: include "%s": no such file in src/' %
                                  (rel, line, inc))
                elif RANK[dep] > RANK[own]:
                    faults.append('%s:%d: %s includes "%s" from %s, a higher layer'
                                  % (rel, line, own, inc, dep))
    return faults


def check_meson(tree):
    faults = []
    for top in ('tests', 'bench'):
        for dirpath, _dirs, files in os.walk(os.path.join(tree, top)):
            if 'meson.build' not in files:
                continue
            path = os.path.join(dirpath, 'meson.build')
            for n, text in enumerate(open(path, encoding='utf-8'), 1):
                code = text.split('#', 1)[0]
                if SRC_PATH.search(code) and '.c' in code:
                    faults.append('%s:%d: compiles a file of src/ by its path: link '
                                  "its layer's library" %
                                  (os.path.relpath(path, tree), n))
    return faults


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    faults = check_src(argv[1])
    if len(argv) == 3:
        faults += check_meson(argv[2])
    for f in faults:
        print(f)
    return 1 if faults else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
