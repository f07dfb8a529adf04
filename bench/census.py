#!/usr/bin/env python3
"""The census of a big heap: how long the target is paused, how long the
census takes, and memtrace's own memory per censused block.

For each heap size (--sizes, MiB, default 1024,64) bench/census_heap fills
its heap with 64-byte chunks (16.7 million for 1 GiB) and waits; then,
--runs times (default 3):

    memtrace census PID --json            census.paused_ms, census.took_ms,
                                          census.blocks; memtrace's peak RSS
    memtrace histo PID --json --duration D           (census at attach)
    memtrace histo PID --json --duration D --no-census

memtrace's peak RSS is its VmHWM at exit (ru_maxrss from wait4).  Memory
per censused block is (peak of histo - peak of histo --no-census) / blocks:
what the census adds, its blocks in the live-block table included; the
census command's own peak per block is shown too.  A row shows the median
and the range of the runs.  The issue's goals, for 1 GiB of 64-byte
blocks: paused <= 100 ms, census <= 2 s, <= 16 bytes per block.  Timing
is reported, never judged: exit 0 if every run worked, 1 otherwise.

Usage: census.py [--memtrace PATH] [--target PATH] [--sizes MIB,...]
                 [--runs N] [--duration SECONDS]
Paths default to $MEMTRACE and $MT_CENSUS_HEAP (set by `meson test
--benchmark`), else to src/memtrace and bench/census_heap in build/ beside
this script's directory.
"""
import argparse
import json
import os
import subprocess
import sys

from benchlib import BenchError, median_range, run_measured, start_target, stop_target


def report_of(argv):
    rc, out, err, peak = run_measured(argv)
    if rc != 0:
        raise BenchError(f'{" ".join(argv)} exited {rc}: {err.strip()[-500:]}')
    try:
        report = json.loads(out)
    except ValueError as e:
        raise BenchError(f'{" ".join(argv)}: not one JSON object: {e}') from None
    if not isinstance(report.get('census'), dict):
        raise BenchError(f'{" ".join(argv)}: no census: '
                         f'{report.get("census_unavailable")!r}')
    return report, peak


def bench_size(args, mib):
    t, pid, fields = start_target([args.target, str(mib)])
    blocks = int(fields['blocks'])
    try:
        rows = {'paused': [], 'took': [], 'census_peak': [], 'per_block': [],
                'census_per_block': []}
        for _ in range(args.runs):
            report, peak = report_of([args.memtrace, 'census', str(pid), '--json'])
            c = report['census']
            if c['blocks'] < blocks:
                raise BenchError(f'census found {c["blocks"]} blocks, the target holds '
                                 f'{blocks}')
            rows['paused'].append(c['paused_ms'])
            rows['took'].append(c['took_ms'])
            rows['census_peak'].append(peak)
            rows['census_per_block'].append(peak / c['blocks'])
            histo = [args.memtrace, 'histo', str(pid), '--json', '--duration',
                     str(args.duration)]
            with_census, peak_with = report_of(histo)
            _, _, _, peak_without = run_measured(histo + ['--no-census'])
            rows['per_block'].append((peak_with - peak_without) /
                                     with_census['census']['blocks'])
        return blocks, rows
    finally:
        stop_target(t)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.path.join(os.path.dirname(here), 'build')
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--memtrace', default=os.environ.get('MEMTRACE') or
                    os.path.join(build, 'src', 'memtrace'))
    ap.add_argument('--target', default=os.environ.get('MT_CENSUS_HEAP') or
                    os.path.join(build, 'bench', 'census_heap'))
    ap.add_argument('--sizes', default='1024,64', help='heap sizes in MiB (default %(default)s)')
    ap.add_argument('--runs', type=int, default=3, help='runs per size (default %(default)s)')
    ap.add_argument('--duration', type=float, default=1.0,
                    help='histo --duration, seconds (default %(default)s)')
    args = ap.parse_args()
    table = []
    try:
        for mib in (int(s) for s in args.sizes.split(',')):
            table.append((mib, *bench_size(args, mib)))
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        print(f'census.py: {e}', file=sys.stderr)
        return 1
    ms = lambda v: f'{v:.0f} ms'          # noqa: E731
    mb = lambda v: f'{v / (1 << 20):.0f} MiB'  # noqa: E731
    per = lambda v: f'{v:.1f} B'          # noqa: E731
    print(f'census of a heap of 64-byte chunks, median (range) of {args.runs} runs\n')
    print('| heap | blocks | paused | census | memtrace census peak RSS | per block '
          '| histo: added memory per censused block |')
    print('|---|---|---|---|---|---|---|')
    for mib, blocks, r in table:
        print(f'| {mib} MiB | {blocks} | {median_range(r["paused"], ms)} '
              f'| {median_range(r["took"], ms)} | {median_range(r["census_peak"], mb)} '
              f'| {median_range(r["census_per_block"], per)} '
              f'| {median_range(r["per_block"], per)} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
