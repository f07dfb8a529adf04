#!/usr/bin/env python3
"""--sample-bytes across two memtraces (inject engine: the agent keeps the
set of its sampled live blocks in the process, issue 20).

target_resample allocates 20,000 blocks of 4 KiB under a first memtrace
(--sample-bytes 8192: about 39% of them are recorded and put in the
agent's set), which then detaches.  A second memtrace attaches, with the
same mean, and the target frees all 20,000 and churns 50,000 malloc/free
pairs.  Checks:

  - the first report holds most of the kept blocks' recorded share
    (sampled_live_blocks of keep_blocks within 20% of 20,000 x p(4096));
  - the second memtrace, which never saw those blocks allocated, was sent
    none of their frees: unsampled_frees is 0 (it makes the agent's set
    afresh; an agent that kept the first memtrace's entries sends their
    frees, thousands of unsampled frees);
  - its census (of the heap at attach, which holds the kept blocks) says
    that their frees are not followed (frees_followed false);
  - the second report's events are the churn's recorded allocations and
    their frees (at most two per recorded allocation, far below the
    120,000 calls), none lost, and churn ends with no recorded block live,
    its estimates within 10% of what the target made;
  - the target's checksum is that of an untraced run."""
import math

import harness

MEAN = 8192
KEEP_N = 20000
KEEP_SIZE = 4096
CALLS = 2 * KEEP_N + 2 * 50000


def first(h, t):
    m = h.attach(t, ['--sample-bytes', str(MEAN), '--lossless'])
    t.send('go')
    t.expect_line(r'^kept \d+$', "'kept N'")
    report = m.stop()
    kept = sum(s.get('sampled_live_blocks', 0) for s in report['sites']
               if s['function'] == 'keep_blocks')
    want = KEEP_N * (1 - math.exp(-KEEP_SIZE / MEAN))
    harness.log(f'first memtrace: {kept} of the kept blocks recorded (about {want:.0f} expected)')
    h.check(abs(kept - want) <= 0.20 * want,
            f'first memtrace recorded {kept} kept blocks, expected about {want:.0f}')


def second(h, t):
    m = h.attach(t, ['--sample-bytes', str(MEAN), '--lossless'])
    t.send('free')
    result = t.collect()
    report = m.stop()
    h.check_engine(report.get('engine'), 'the report')
    h.check(report.get('unsampled_frees') == 0,
            f'second memtrace: {report.get("unsampled_frees")!r} unsampled frees, expected 0: '
            f'the frees of blocks the first memtrace recorded reached it')
    h.check(report['lost_events'] == 0, f'report lost_events {report["lost_events"]}')
    census = report.get('census')
    h.check(isinstance(census, dict) and census.get('frees_followed') is False,
            f'second memtrace: census {census!r:.200}: the frees of censused (unsampled) '
            f'blocks are not followed, it must say so')
    recorded = sum(s.get('sampled_allocs', 0) for s in report['sites'])
    harness.log(f'second memtrace: {report["events"]} events, {recorded} recorded allocations')
    h.check(0 < report['events'] <= 2 * recorded + 100 and report['events'] < CALLS // 4,
            f'second memtrace: {report["events"]} events for {recorded} recorded allocations '
            f'and {CALLS} calls')
    churn = [s for s in report['sites'] if s['function'] == 'churn']
    want = result.expects.get('churn')
    if h.check(churn and want, f'no churn site ({churn!r}) or expectation ({want!r})'):
        h.check(sum(s['sampled_live_blocks'] for s in churn) == 0,
                f'churn: recorded blocks left live: {churn}')
        for k in ('allocs', 'frees'):
            got = sum(s[k] for s in churn)
            h.check(abs(got - want[k]) <= 0.10 * want[k],
                    f'churn: estimated {k} {got}, the target made {want[k]}')
    return result


def test(h):
    if harness.test_engine() == 'breakpoint':
        raise harness.Skip('the breakpoint engine keeps no set of sampled blocks')
    t = h.start_target('target_resample')
    first(h, t)
    result = second(h, t)
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)
    untraced = h.run_untraced('target_resample', during=lambda u: u.send('free'))
    h.check(result.done == untraced.done,
            f'done line traced:   {result.done}\n      done line untraced: {untraced.done}')


harness.main(test)
