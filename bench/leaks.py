#!/usr/bin/env python3
"""The leak check of a big heap: how long the target is paused, how long
the check takes (census and marking), and memtrace's peak memory.

For each shape (--modes, default lost,list,array) bench/leaks_heap fills
--mib MiB (default 1024) of its heap with 64-byte chunks (16.7 million for
1 GiB) held as the shape says (leaks_heap.c: none held, one list, an array
of pointers) and waits; then, --runs times (default 3):

    memtrace leaks PID --json            paused_ms, took_ms, the classes;
                                         memtrace's peak RSS (ru_maxrss)
    memtrace census PID --json           the census alone (took_ms): the
                                         marking is the difference

and, once, the check's figures against the shape's (every block lost, or
every block reachable).  A row shows the median and range of the runs.
The issue's goal for 1 GiB of 64-byte blocks: marked in <= 5 s with the
process paused <= 100 ms.  Timing is reported, never judged: exit 0 if
every run worked and the figures were right, 1 otherwise.

Usage: leaks.py [--memtrace PATH] [--target PATH] [--mib MIB] [--modes M,...]
                [--runs N]
Paths default to $MEMTRACE and $MT_LEAKS_HEAP (set by `meson test
--benchmark`), else to src/memtrace and bench/leaks_heap in build/.
"""
import argparse
import os
import subprocess
import sys

from benchlib import BenchError, json_of, median_range, start_target, stop_target


def check_figures(mode, report, blocks):
    """The shape's blocks in the class the shape puts them in."""
    lost = report['definitely_lost']['blocks'] + report['indirectly_lost']['blocks']
    reach = report['reachable']['blocks']
    if mode == 'lost' and lost != blocks:
        raise BenchError(f'lost: {lost} blocks lost, the target dropped {blocks}')
    # list/array: the target's blocks (and its array) reachable, with a
    # few of libc's (stdio buffers)
    if mode != 'lost' and (lost != 0 or reach < blocks):
        raise BenchError(f'{mode}: {lost} blocks lost and {reach} reachable, the target '
                         f'holds {blocks}')
    if not report['complete']:
        raise BenchError(f'{mode}: the check says it is incomplete: {report["warnings"]}')


def bench_mode(args, mode):
    t, pid, fields = start_target([args.target, str(args.mib), mode])
    blocks = int(fields['blocks'])
    try:
        rows = {'paused': [], 'took': [], 'census': [], 'peak': []}
        for run in range(args.runs):
            report, peak = json_of([args.memtrace, 'leaks', str(pid), '--json'])
            if run == 0:
                check_figures(mode, report, blocks)
            rows['paused'].append(report['paused_ms'])
            rows['took'].append(report['took_ms'])
            rows['peak'].append(peak)
            census, _ = json_of([args.memtrace, 'census', str(pid), '--json'])
            rows['census'].append(census['census']['took_ms'])
        return blocks, rows
    finally:
        stop_target(t)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.path.join(os.path.dirname(here), 'build')
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--memtrace', default=os.environ.get('MEMTRACE') or
                    os.path.join(build, 'src', 'memtrace'))
    ap.add_argument('--target', default=os.environ.get('MT_LEAKS_HEAP') or
                    os.path.join(build, 'bench', 'leaks_heap'))
    ap.add_argument('--mib', type=int, default=1024, help='heap size (default %(default)s)')
    ap.add_argument('--modes', default='lost,list,array')
    ap.add_argument('--runs', type=int, default=3, help='runs per shape (default %(default)s)')
    args = ap.parse_args()
    table = []
    try:
        for mode in args.modes.split(','):
            table.append((mode, *bench_mode(args, mode)))
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        print(f'leaks.py: {e}', file=sys.stderr)
        return 1
    ms = lambda v: f'{v:.0f} ms'          # noqa: E731
    mb = lambda v: f'{v / (1 << 20):.0f} MiB'  # noqa: E731
    print(f'leak check of {args.mib} MiB of 64-byte chunks, median (range) of '
          f'{args.runs} runs\n')
    print('| shape | blocks | paused | leaks (all) | census alone | marking | '
          'memtrace peak RSS |')
    print('|---|---|---|---|---|---|---|')
    for mode, blocks, r in table:
        marking = [a - b for a, b in zip(r['took'], r['census'])]
        print(f'| {mode} | {blocks} | {median_range(r["paused"], ms)} '
              f'| {median_range(r["took"], ms)} | {median_range(r["census"], ms)} '
              f'| {median_range(marking, ms)} | {median_range(r["peak"], mb)} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
