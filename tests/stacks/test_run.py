#!/usr/bin/env python3
"""memtrace run --json --depth 16 -- stk_chain --run-mode: traced from
before main, the leaks at exit carry the whole stack f3, f2, f1, f0, main
with files and lines; memtrace exits with the command's status 3."""
import stackcheck


def test(h):
    exe = h.target_path('stk_chain')
    m = h.start_memtrace(['run', '--json', '--depth', '16', '--', exe, '--run-mode'])
    rc = m.wait(what='end with its command')
    h.check(rc == 3, f'memtrace run exited with status {rc}, the command exited with 3')
    lines = m.out.lines
    start = next((i for i, line in enumerate(lines) if line.startswith('{')), None)
    if start is None:
        h.fail('no JSON report on memtrace stdout:\n' + m.out.text())
    result = stackcheck.StackResult()
    pid = None
    for line in lines[:start]:
        if line.startswith('ready '):
            pid = int(line.split()[1])
        else:
            result.parse(line)
    if pid is None or result.done is None:
        h.fail("the target's protocol lines are missing from memtrace stdout")
    report = stackcheck.harness.parse_json('\n'.join(lines[start:]), 'memtrace run --json')
    stackcheck.check_report(h, report, pid, [exe], depth=16, end_reason='target_exited')
    stackcheck.check_paths(h, report, result, [exe])


stackcheck.main(test)
