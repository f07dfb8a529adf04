#!/usr/bin/env python3
"""The integer spaces of src/util/errors.h, checked in the source: no
negated memtrace code (-MT_E_...), no cast of an int into enum mt_err
(an -errno is classified by mt_err_from_errno), and exit statuses
(mt_err_exit_status, mt_fail) made only by the command layer: cli/, the
session that answers for a command, util/ that defines them.

    check_err_spaces.py SRC          check the tree SRC (src/)
    check_err_spaces.py --self-test  also show that a planted mix is caught

Prints one line per fault, "PATH:LINE: what".  Exit 0 clean, 1 faults,
99 broken harness."""
import os
import re
import sys
import tempfile

COMMAND_LAYER = ('cli', 'session', 'util')
RULES = [
    (re.compile(r'-\s*MT_E_[A-Z]'), None,
     'a negated memtrace code: return enum mt_err, not -MT_E_* in an int'),
    (re.compile(r'\(\s*enum\s+mt_err\s*\)'), None,
     'a cast into enum mt_err: classify an -errno with mt_err_from_errno()'),
    (re.compile(r'\bmt_err_exit_status\s*\(|\bmt_fail\s*\('), COMMAND_LAYER,
     'an exit status below the command layer: return enum mt_err or -errno'),
]


def faults(src):
    out = []
    for dirpath, _, names in sorted(os.walk(src)):
        for name in sorted(names):
            if not name.endswith(('.c', '.h')):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            layer = rel.split(os.sep)[0]
            with open(path, encoding='utf-8', errors='replace') as f:
                for n, line in enumerate(f, 1):
                    for rx, allowed, what in RULES:
                        if allowed and layer in allowed:
                            continue
                        if rx.search(line):
                            out.append('%s:%d: %s' % (rel, n, what))
    return out


def self_test():
    planted = {
        'symbols/bad.c': 'int f(void) { return -MT_E_IO; }\n',
        'engine/bad.c': 'enum mt_err g(int rc) { return (enum mt_err)-rc; }\n',
        'model/bad.c': 'int h(void) { return mt_err_exit_status(MT_E_IO); }\n',
        'session/ok.c': 'int k(void) { return mt_fail(MT_E_IO, "x"); }\n',
    }
    want = ['symbols/bad.c:1: a negated memtrace code',
            'engine/bad.c:1: a cast into enum mt_err',
            'model/bad.c:1: an exit status below the command layer']
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in planted.items():
            os.makedirs(os.path.join(tmp, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), 'w') as f:
                f.write(text)
        got = faults(tmp)
    missing = [w for w in want if not any(g.startswith(w) for g in got)]
    extra = [g for g in got if g.startswith('session/')]
    if missing or extra or len(got) != len(want):
        print('the check missed a planted mix (missing %s, extra %s):\n%s' %
              (missing, extra, '\n'.join(got)))
        return False
    return True


def main():
    args = sys.argv[1:]
    test = '--self-test' in args
    args = [a for a in args if a != '--self-test']
    if len(args) != 1 or not os.path.isdir(args[0]):
        print('usage: check_err_spaces.py [--self-test] SRC')
        return 99
    found = faults(args[0])
    for line in found:
        print(line)
    if test and not self_test():
        return 1
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
