#!/usr/bin/env python3
"""The stack options on the command line: bad values are refused with exit
status 2 and one "memtrace: error:" line; good ones reach the report
("depth", "group_by"); every command's --help lists its new options."""
import subprocess

import stackcheck

BAD = [
    ['--depth', '0'],
    ['--depth', '129'],
    ['--depth', '-1'],
    ['--depth', 'ten'],
    ['--depth', '3.5'],
    ['--depth'],
    ['--group-by', 'file'],
    ['--group-by', ''],
    ['--group-by'],
    ['--wrapper'],
    ['--debug-dir'],
]

GOOD = [
    (['--depth', '1'], 1, 'site'),
    (['--depth', '128'], 128, 'site'),
    (['--group-by', 'site'], 32, 'site'),
    (['--group-by', 'stack', '--depth', '7'], 7, 'stack'),
    (['--group-by', 'function'], 32, 'function'),
    (['--group-by', 'module'], 32, 'module'),
    (['--wrapper', 'xmalloc', '--wrapper', 'x*', '--debug-dir', '/nonexistent'], 32, 'site'),
]

HELP = {
    'histo': ['--depth', '--wrapper', '--stacks', '--group-by', '--debug-dir'],
    'attach': ['--depth', '--wrapper', '--group-by', '--debug-dir'],
    'run': ['--depth', '--wrapper', '--stacks', '--group-by', '--debug-dir'],
}


def run(h, args, engine=False):
    """memtrace ARGS to its end; ENGINE adds --engine MT_TEST_ENGINE (not
    for the bad command lines, whose point is their own error)."""
    if engine:
        args = stackcheck.harness.engine_args(args)
    try:
        p = subprocess.run([h.memtrace, *args], capture_output=True, text=True,
                           timeout=stackcheck.harness.TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        h.fail(f'memtrace {" ".join(args)} did not end')
    return p


def test(h):
    t = stackcheck.start(h, 'stk_chain')   # a process to name; never told to go
    pid = str(t.pid)
    for bad in BAD:
        p = run(h, ['histo', pid, '--duration', '0', *bad])
        errs = [line for line in p.stderr.splitlines() if line.startswith('memtrace: error: ')]
        h.check(p.returncode == 2 and len(errs) == 1 and not p.stdout,
                f'memtrace histo PID {" ".join(bad)}: exit status {p.returncode}, stderr '
                f'{p.stderr.strip()!r}, expected 2 and one "memtrace: error:" line')
    for good, depth, key in GOOD:
        args = ['histo', pid, '--json', '--duration', '0.05', *good]
        p = run(h, args, engine=True)
        if not h.check(p.returncode == 0, f'memtrace {" ".join(args)}: exit status '
                       f'{p.returncode}: {p.stderr.strip()}'):
            continue
        report = stackcheck.harness.parse_json(p.stdout, f'memtrace {" ".join(args)}')
        h.check(report.get('depth') == depth and report.get('group_by') == key,
                f'memtrace {" ".join(args)}: depth {report.get("depth")!r}, group_by '
                f'{report.get("group_by")!r}, expected {depth} and {key!r}')
        h.check(report.get('lost_events') == 0, f'lost_events {report.get("lost_events")}')
        h.check_engine(report.get('engine'), f'memtrace {" ".join(args)}')
        h.check_released(t.pid)
    for cmd, opts in HELP.items():
        p = run(h, [cmd, '--help'])
        for opt in opts:
            h.check(opt in p.stdout, f'memtrace {cmd} --help does not mention {opt}')
    t.send('go')
    t.collect()
    t.send('exit')
    t.wait_exit(0)


stackcheck.main(test)
