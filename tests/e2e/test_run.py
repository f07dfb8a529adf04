#!/usr/bin/env python3
"""memtrace run --json -- target_basic --run-mode: the target never waits
on stdin, prints its expectations and exits 3 without freeing, so its leaks
at exit are exactly the expectations; memtrace must exit 3 too and say
`memtrace: target exited with status 3`.

memtrace's stdout carries the target's protocol lines (the target inherits
it) followed by the JSON report, which starts at the first line that
starts with '{'."""
import harness


def test(h):
    exe = h.target_path('target_basic')
    m = h.start_memtrace(['run', '--json', '--', exe, '--run-mode'])
    rc = m.wait(what='end with its command')
    h.check(rc == 3, f'memtrace run exited with status {rc}, the command exited with 3')
    h.check(m.saw('memtrace: target exited with status 3'),
            "no 'memtrace: target exited with status 3' line")

    result = harness.Result()
    pid = None
    lines = m.out.lines
    start = next((i for i, line in enumerate(lines) if line.startswith('{')), None)
    if start is None:
        h.fail('no JSON report on memtrace stdout:\n' + m.out.text())
    for line in lines[:start]:
        if line.startswith('ready '):
            pid = int(line.split()[1])
        else:
            result.parse(line)
    if pid is None or result.done is None:
        h.fail("the target's protocol lines are missing from memtrace stdout:\n"
               + '\n'.join(lines[:start]))
    report = harness.parse_json('\n'.join(lines[start:]), 'memtrace run --json report')
    h.check_report(report, result, pid=pid, exe=exe, end_reason='target_exited')

    t = h.start_target('target_basic', ['--run-mode'])
    untraced = t.collect()
    t.wait_exit(3)
    h.check(result.done == untraced.done,
            f'done line traced:   {result.done}\n      done line untraced: {untraced.done}')


harness.main(test)
