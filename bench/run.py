#!/usr/bin/env python3
"""Compare malloc_bench untraced and under `memtrace histo PID --duration 0`
at each --depth (full stacks, 32 frames by default, and the caller only).

For each thread count the same number of calls runs untraced (the median
of --untraced-runs runs) and once with memtrace attached:

    malloc_bench --wait T CALLS        prints `ready PID`, waits
    memtrace histo PID --duration 0    until `memtrace: tracing ...`
    go -> malloc_bench                 it runs, prints its result line
    SIGINT -> memtrace                 detaches, prints its report, exits 0
    exit -> malloc_bench               it exits 0

and prints one table:

    threads  untraced ns/call  memtrace ns/call  ratio  calls

ns/call is the mean time of one malloc or free as a thread sees it.  The
breakpoint engine costs tens of microseconds per call: the default of
200000 calls per thread keeps the traced runs to about a minute.  The
untraced runs use the same count.

Usage: run.py [--memtrace PATH] [--bench PATH] [--calls N] [--threads 1,2]
Paths default to $MEMTRACE and $MT_MALLOC_BENCH.  Exit 0 if every run
worked, 1 otherwise.  Timing is reported, never judged.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading

START_TIMEOUT = 60.0    # memtrace attach and hook installation
RUN_TIMEOUT = 900.0     # one traced benchmark run
STOP_TIMEOUT = 120.0    # memtrace detach and report after SIGINT


class BenchError(Exception):
    pass


def parse_result(line):
    """`result threads=1 calls=N ns_per_call=X ...` -> dict of floats."""
    words = line.split()
    if not words or words[0] != 'result':
        raise BenchError(f'malloc_bench printed {line!r}, not a result line')
    return {k: float(v) for k, v in (w.split('=', 1) for w in words[1:])}


def run_untraced(bench, threads, calls):
    proc = subprocess.run([bench, str(threads), str(calls)],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if proc.returncode != 0:
        raise BenchError(f'malloc_bench exited {proc.returncode}: '
                         f'{proc.stderr.strip()}')
    lines = proc.stdout.splitlines()
    return parse_result(lines[-1] if lines else '')


class LineReader:
    """Reads a pipe line by line on a thread; wait_for() a matching line."""

    def __init__(self, stream, name):
        self.lines = []
        self.closed = False
        self.name = name
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, args=(stream,),
                                       daemon=True)
        self.thread.start()

    def _run(self, stream):
        for raw in stream:
            with self.cond:
                self.lines.append(raw.rstrip('\n'))
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait_for(self, prefix, timeout):
        def found():
            return next((l for l in self.lines if l.startswith(prefix)),
                        None)
        with self.cond:
            if not self.cond.wait_for(lambda: found() or self.closed,
                                      timeout):
                raise BenchError(f'no {prefix!r} from {self.name} within '
                                 f'{timeout:g} s; it said {self.lines}')
            line = found()
            if line is None:
                raise BenchError(f'{self.name} closed without {prefix!r}; '
                                 f'it said {self.lines}')
            return line


def stop(proc):
    if proc and proc.poll() is None:
        proc.kill()
    if proc:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def run_traced(memtrace, bench, threads, calls, depth):
    target = tracer = None
    try:
        target = subprocess.Popen([bench, '--wait', str(threads), str(calls)],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        target_out = LineReader(target.stdout, 'malloc_bench')
        pid = int(target_out.wait_for('ready ', START_TIMEOUT).split()[1])

        tracer = subprocess.Popen([memtrace, 'histo', str(pid),
                                   '--duration', '0', '--depth', str(depth)],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        tracer_err = LineReader(tracer.stderr, 'memtrace')
        tracer_err.wait_for('memtrace: tracing', START_TIMEOUT)

        target.stdin.write('go\n')
        target.stdin.flush()
        result = parse_result(target_out.wait_for('result ', RUN_TIMEOUT))

        tracer.send_signal(signal.SIGINT)
        try:
            status = tracer.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(f'memtrace still running {STOP_TIMEOUT:g} s '
                             'after SIGINT')
        tracer_err.thread.join(timeout=10)
        if status != 0:
            raise BenchError(f'memtrace exited {status}: {tracer_err.lines}')

        target.stdin.write('exit\n')
        target.stdin.close()
        if target.wait(timeout=STOP_TIMEOUT) != 0:
            raise BenchError(f'malloc_bench exited {target.returncode} '
                             'after memtrace detached')
        return result
    finally:
        stop(tracer)
        stop(target)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--memtrace', default=os.environ.get('MEMTRACE'))
    ap.add_argument('--bench', default=os.environ.get('MT_MALLOC_BENCH'))
    ap.add_argument('--calls', type=int, default=200000,
                    help='allocator calls per thread (default %(default)s)')
    ap.add_argument('--threads', default='1,2',
                    help='comma-separated thread counts (default %(default)s)')
    ap.add_argument('--depths', default='32,1',
                    help='comma-separated --depth values to trace with: 32 '
                         'is the default full stack, 1 the caller only '
                         '(default %(default)s)')
    ap.add_argument('--untraced-runs', type=int, default=5,
                    help='untraced runs per thread count; the median is '
                         'shown (default %(default)s)')
    args = ap.parse_args()
    for what in ('memtrace', 'bench'):
        path = getattr(args, what)
        if not path or not os.access(path, os.X_OK):
            ap.error(f'--{what}: {path!r} is not an executable')

    print(f'{"threads":>7}  {"depth":>5}  {"untraced ns/call":>16}  '
          f'{"memtrace ns/call":>16}  {"ratio":>8}  {"calls":>9}')
    ok = True
    for threads in (int(t) for t in args.threads.split(',')):
        try:
            untraced = statistics.median(
                run_untraced(args.bench, threads, args.calls)['ns_per_call']
                for _ in range(args.untraced_runs))
        except (BenchError, subprocess.TimeoutExpired, OSError) as e:
            print(f'{threads:>7}  failed untraced: {e}')
            ok = False
            continue
        for depth in (int(d) for d in args.depths.split(',')):
            try:
                traced = run_traced(args.memtrace, args.bench, threads,
                                    args.calls, depth)
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                print(f'{threads:>7}  {depth:>5}  failed: {e}')
                ok = False
                continue
            print(f'{threads:>7}  {depth:>5}  {untraced:>16.1f}  '
                  f'{traced["ns_per_call"]:>16.1f}  '
                  f'{traced["ns_per_call"] / untraced:>8.1f}  '
                  f'{int(traced["calls"]):>9}')
            sys.stdout.flush()
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
