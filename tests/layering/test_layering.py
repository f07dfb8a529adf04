#!/usr/bin/env python3
"""The layering check on memtrace's own tree, and on a copy of it with one
upward include added (model/tracker.c including cli/cli.h) and one include
without its layer folder: the check must pass the first and fail the
copy, naming both faults.  Exit 0 pass, 1 fail, 99 broken harness."""
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
check = os.path.join(here, 'check_layers.py')
root = sys.argv[1]
src = os.path.join(root, 'src')


def run(src_dir, tree=None):
    args = [sys.executable, check, src_dir] + ([tree] if tree else [])
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


rc, out = run(src, root)
if rc != 0:
    print('memtrace breaks its layering:\n' + out)
    sys.exit(1)

with tempfile.TemporaryDirectory() as tmp:
    copy = os.path.join(tmp, 'src')
    shutil.copytree(src, copy)
    tracker = os.path.join(copy, 'model', 'tracker.c')
    if not os.path.exists(tracker):
        print('harness: %s is gone; pick another file to break' % tracker)
        sys.exit(99)
    with open(tracker, 'a') as f:
        f.write('#include "cli/cli.h"\n#include "tracker.h"\n')
    rc, out = run(copy)
    want = ['model/tracker.c', 'model includes "cli/cli.h" from cli, a higher layer',
            'include "tracker.h" names no layer folder']
    missing = [w for w in want if w not in out]
    if rc != 1 or missing:
        print('the check missed an upward include (exit %d, missing %s):\n%s' %
              (rc, missing, out))
        sys.exit(1)
print('layering kept; an upward include is caught:\n' + out.strip())
