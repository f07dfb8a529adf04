#!/usr/bin/env python3
"""histo --sample-bytes on target_threads: 8 threads making 262,144
allocator calls of 16 B - 4 KiB, traced with sampling (one allocation per
~8 KiB, Poisson by bytes) and --lossless, so that only the sampling makes
the numbers estimates.

What it checks, against the target's exact expectations:
  - the report says it is sampled (sampling.mean_bytes); with the
    breakpoint engine it counts the frees of blocks that were not sampled
    (unsampled_frees > 0), with the inject engine there are none: the
    agent keeps the set of its sampled live blocks and sends no free of
    another block (issue 20);
  - per churning site (churn_alloc, churn_realloc), the estimated allocs
    and frees are within 10% of what the target did (about 80,000
    allocations at each: the estimate's standard error is well under 1%),
    and the estimated live blocks and bytes are exactly 0, as the threads
    free every block of theirs (a sampled block's free is always seen),
    and so are the blocks really recorded that are still live
    (sampled_live_blocks);
  - each site's sampled_allocs (what was really recorded) is at most its
    estimate, and over both churning sites about the share a Poisson
    process by bytes takes (one allocation of the mean size 2056 B in
    about 4.5), within 20%;
  - fewer events were recorded than the threads made calls; with the inject
    engine far fewer (under 40%, about 25% expected: a sampled block's
    allocation and free, where every free used to be sent), and at most
    two per recorded allocation and a few more: nor the unsampled
    allocations nor their frees reached memtrace;
  - the restored code bytes, the released threads, and the target's
    checksum against an untraced run, as in every scenario."""
import math

import harness

MEAN = 8192
CALLS = 262144
CHURN = ('churn_alloc', 'churn_realloc')


def p_sampled(size):
    """The chance that an allocation of SIZE bytes is sampled."""
    return 1 - math.exp(-size / MEAN)


def check_events(h, report, calls):
    """The inject engine: only sampled blocks' allocations and frees."""
    events = report['events']
    recorded = sum(s.get('sampled_allocs', 0) for s in report['sites'])
    harness.log(f'{events} events for {calls} calls, {recorded} recorded allocations')
    h.check(events < 0.40 * calls,
            f'report counts {events} events for {calls} calls: the frees of unsampled '
            f'blocks should not reach memtrace')
    h.check(events <= 2 * recorded + 100,
            f'report counts {events} events for {recorded} recorded allocations: more '
            f'than their allocations and frees')
    h.check(report.get('unsampled_frees') == 0,
            f'report unsampled_frees {report.get("unsampled_frees")!r}, expected 0: the '
            f'agent sends no free of a block it did not record')


def check(h, report, result):
    sampling = report.get('sampling')
    h.check(isinstance(sampling, dict) and sampling.get('mean_bytes') == MEAN,
            f'report sampling {sampling!r}, expected {{"mean_bytes": {MEAN}}}')
    inject = report.get('engine') == 'inject'
    if not inject:
        h.check(report.get('unsampled_frees', 0) > 0,
                f'report unsampled_frees {report.get("unsampled_frees")!r}, expected > 0')
    calls = int(result.info.get('calls', '0'))
    h.check(calls >= CALLS, f'the target made only {calls} allocator calls')
    # An allocation left unsampled is not an event, with either engine (the
    # agent never sends it; the breakpoint engine stops at it but drops it).
    h.check(0 < report['events'] < calls,
            f'report counts {report["events"]} events for {calls} calls: the unsampled '
            f'allocations should not count')
    h.check(report['lost_events'] == 0, f'report lost_events {report["lost_events"]}')
    if inject:
        check_events(h, report, calls)

    sites = report['sites']
    for s in sites:
        for key in ('sampled_allocs', 'sampled_live_blocks'):
            h.check(key in s, f'sampled report: site without "{key}": {s}')
        h.check(s.get('sampled_allocs', 0) <= s['allocs'],
                f'site {s["function"]}: {s.get("sampled_allocs")} sampled allocations, '
                f'estimate {s["allocs"]}')

    # Uniform sizes 16 .. 4096: the expected share of allocations sampled.
    share = sum(p_sampled(n) for n in range(16, 4097)) / (4096 - 16 + 1)
    recorded = estimated = 0
    for name in CHURN:
        want = result.expects.get(name)
        if not h.check(want is not None, f'the target gave no expectation for {name}'):
            continue
        mine = [s for s in sites if s['function'] == name]
        if not h.check(mine, f'no site reported for {name}'):
            continue
        got = {k: sum(s[k] for s in mine) for k in ('allocs', 'frees', 'live_blocks',
                                                    'live_bytes', 'sampled_live_blocks')}
        for k in ('allocs', 'frees'):
            h.check(abs(got[k] - want[k]) <= 0.10 * want[k],
                    f'{name}: estimated {k} {got[k]}, the target made {want[k]} '
                    f'(more than 10% apart)')
        for k in ('live_blocks', 'live_bytes'):
            h.check(got[k] == 0 and want[k] == 0,
                    f'{name}: estimated {k} {got[k]}, the target has {want[k]} live')
        h.check(got['sampled_live_blocks'] == 0,
                f'{name}: {got["sampled_live_blocks"]} recorded blocks still live, the '
                f'target freed every block')
        recorded += sum(s['sampled_allocs'] for s in mine)
        estimated += want['allocs']
        harness.log(f'{name}: estimated allocs {got["allocs"]} frees {got["frees"]}, '
                    f'made {want["allocs"]}/{want["frees"]}')
    if estimated:
        got_share = recorded / estimated
        h.check(abs(got_share - share) <= 0.20 * share,
                f'{recorded} of {estimated} churning allocations sampled ({got_share:.3f}); '
                f'a Poisson process by bytes with mean {MEAN} takes {share:.3f}')
        harness.log(f'sampled {recorded} of {estimated} allocations ({got_share:.3f}, '
                    f'expected {share:.3f})')


def test(h):
    t = h.start_target('target_threads', [str(CALLS)])
    m = h.attach(t, ['--sample-bytes', str(MEAN), '--lossless'])
    t.send('go')
    result = t.collect()
    report = m.stop()
    h.check(m.saw(f'memtrace: detached from pid {t.pid}') is not None,
            f"no 'memtrace: detached from pid {t.pid}' line on memtrace's stderr")
    h.check_engine(report.get('engine'), 'the report')
    h.check_tracing_line(m, report)
    check(h, report, result)
    h.check_hooks(t.pid, report)
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)
    untraced = h.run_untraced('target_threads', [str(CALLS)])
    h.check(result.done == untraced.done,
            f'done line traced:   {result.done}\n      done line untraced: {untraced.done}')


harness.main(test)
