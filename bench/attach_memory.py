#!/usr/bin/env python3
"""memtrace's own memory over a long attach on a steady target.

A 1-hour attach at a 1 s interval is 3600 intervals: this runs those 3600
intervals on a shortened clock (--interval 0.05 by default, so 3 minutes)
against bench/steady (SITES call sites, a steady heap), sampling
memtrace's resident memory (VmRSS) after the first 5% of the intervals and
at the end, and its peak (VmHWM).  The bound documented in memtrace(1),
MEMORY, comes from this run: memory must flatten once every site's series
is full (256 points), whatever the number of intervals.

Usage: attach_memory.py [--memtrace PATH] [--steady PATH] [--intervals N]
                        [--interval SECONDS] [--sites N]
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def status_kb(pid, field):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--memtrace', default=os.environ.get('MEMTRACE'))
    ap.add_argument('--steady', default=os.environ.get('MT_STEADY'))
    ap.add_argument('--intervals', type=int, default=3600)
    ap.add_argument('--interval', type=float, default=0.05)
    ap.add_argument('--sites', type=int, default=50)
    args = ap.parse_args()
    target = subprocess.Popen([args.steady, str(args.sites)], stdout=subprocess.PIPE, text=True)
    tracer = None
    try:
        pid = int(target.stdout.readline().split()[1])
        duration = args.intervals * args.interval
        tracer = subprocess.Popen([args.memtrace, 'attach', str(pid), '--interval',
                                   str(args.interval), '--duration', str(duration),
                                   '--json', '--top', '0'],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = 0
        early = None
        t0 = time.monotonic()
        for line in tracer.stdout:
            lines += 1
            if early is None and lines >= args.intervals // 20:
                early = status_kb(tracer.pid, 'VmRSS')
            if '"final":true' in line:
                late = status_kb(tracer.pid, 'VmRSS')
                peak = status_kb(tracer.pid, 'VmHWM')
                break
        else:
            print('memtrace ended without a final report', file=sys.stderr)
            return 1
        tracer.wait(timeout=120)
        elapsed = time.monotonic() - t0
        print(f'intervals   {lines - 1} in {elapsed:.0f} s (interval {args.interval} s), '
              f'{args.sites} sites')
        print(f'VmRSS       after {args.intervals // 20} intervals: {early} KiB, '
              f'at the end: {late} KiB')
        print(f'VmHWM       {peak} KiB')
        return 0
    finally:
        for p in (tracer, target):
            if p and p.poll() is None:
                p.send_signal(signal.SIGINT if p is tracer else signal.SIGKILL)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == '__main__':
    sys.exit(main())
