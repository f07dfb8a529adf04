#!/usr/bin/env python3
"""redis-benchmark against a fresh redis-server, untraced, under memtrace
and under heaptrack: throughput, memtrace's lost events and CPU time.

Each run starts a fresh redis-server from PATH (no persistence):

    redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no

waits for its `Ready to accept connections`, then, by config:

    untraced    nothing more
    memtrace    memtrace histo PID --duration 0 --json (memtrace's default
                engine and options), until `memtrace: tracing ...`
    heaptrack   the server was started as `heaptrack -o TMP redis-server
                ...` (launch mode: heaptrack preloads its hooks, the same
                ones its -p injects with gdb, which cannot inject on every
                kernel)

and runs

    redis-benchmark -p PORT -t set,get -n REQUESTS -c 20 -P 16 --csv

then SIGINT to memtrace (it detaches and prints its report), and
`redis-cli -p PORT shutdown nosave`.  Debian's redis-server is linked
with jemalloc: memtrace hooks jemalloc's malloc, free and the rest (its
census of glibc's heap is then unavailable); heaptrack's preloaded hooks
come before jemalloc's in the symbol search order.

The runs go in rounds, one run of each config a round, --runs rounds
(default 3), so that a slow spell of the machine falls on all of them
alike.  A row shows, for SET and GET, the median requests per second and
its ratio to the untraced median, with the range of the runs' ratios;
for memtrace, the median of the calls it recorded (its JSON `events`,
and their share of events + lost events), of its lost events
(`lost_events`: calls the agent dropped) and of its
own CPU seconds (user and system, from its start to its exit, from
wait4); for heaptrack, which waits and so never drops, the CPU seconds
of its script and the processes it runs (heaptrack_interpret, the
compressor) less redis-server's own (its INFO used_cpu_*).  When memtrace
cannot trace the server at all, its row says why instead of a number.

Usage: redis.py [--build DIR] [--memtrace PATH] [--heaptrack PATH]
                [--requests N] [--runs N] [--port N] [--configs LIST]
memtrace defaults to $MEMTRACE (set by `meson test --benchmark`), else to
src/memtrace in the build directory: --build, else $MT_BUILD_DIR, else
build/ beside this script's directory.  redis-server, redis-cli,
redis-benchmark and heaptrack are taken from PATH (tools/setup --bench
installs them).  Exit 0 if every run worked, 1 otherwise, 77 (skipped)
without them.  Timing is reported, never judged.
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

from benchlib import BenchError, LineReader, stop, wait_cpu

START_TIMEOUT = 120.0   # redis-server's start (slow under heaptrack); memtrace's attach
STOP_TIMEOUT = 300.0    # memtrace's report; heaptrack's writing of its trace
CONFIGS = ('untraced', 'memtrace', 'heaptrack')
READY = re.compile(r'Ready to accept connections')
PID_RE = re.compile(r'\bpid=(\d+)\b')


def server_argv(args):
    return [args.redis_server, '--port', str(args.port), '--bind', '127.0.0.1',
            '--save', '', '--appendonly', 'no']


def start_server(argv, tmp):
    """Start ARGV in TMP (redis-server, or heaptrack running it), wait
    for the server's `Ready`: (Popen, its output reader, redis-server's
    pid from its `pid=N` log line)."""
    proc = subprocess.Popen(argv, cwd=tmp, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = LineReader(proc.stdout, os.path.basename(argv[0]))
    started = out.wait_for_match(PID_RE, START_TIMEOUT)
    out.wait_for_match(READY, START_TIMEOUT)
    return proc, out, int(PID_RE.search(started).group(1))


def cli(args, *words):
    return subprocess.run([args.redis_cli, '-p', str(args.port), *words],
                          capture_output=True, text=True, timeout=60)


def server_cpu(args):
    """redis-server's own CPU seconds so far, from INFO cpu."""
    info = dict(line.split(':', 1) for line in cli(args, 'info', 'cpu').stdout.split()
                if ':' in line)
    try:
        return float(info['used_cpu_user']) + float(info['used_cpu_sys'])
    except (KeyError, ValueError):
        raise BenchError(f'redis-cli info cpu said {info!r}')


def benchmark(args):
    """Run redis-benchmark: {'SET': requests/s, 'GET': requests/s}."""
    argv = [args.redis_benchmark, '-h', '127.0.0.1', '-p', str(args.port),
            '-t', 'set,get', '-n', str(args.requests), '-c', '20', '-P', '16', '--csv']
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.run_timeout)
    if proc.returncode != 0:
        raise BenchError(f'redis-benchmark exited {proc.returncode}: {proc.stderr.strip()}')
    rps = {row[0]: float(row[1]) for row in csv.reader(proc.stdout.splitlines())
           if len(row) > 1 and row[0] in ('SET', 'GET')}
    if set(rps) != {'SET', 'GET'}:
        raise BenchError(f'redis-benchmark printed {proc.stdout.strip()!r}')
    return rps


def shutdown(args, proc):
    """SHUTDOWN NOSAVE; BenchError unless the server then exits."""
    cli(args, 'shutdown', 'nosave')
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError(f'{proc.args[0]} still running {STOP_TIMEOUT:g} s after SHUTDOWN')


def attach(args, pid):
    """memtrace histo PID --duration 0 --json, once it says `tracing`:
    (Popen, stdout reader, stderr reader).  BenchError with memtrace's
    own words if it cannot trace the server."""
    tracer = subprocess.Popen([args.memtrace, 'histo', str(pid), '--duration', '0', '--json'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    out = LineReader(tracer.stdout, 'memtrace')
    err = LineReader(tracer.stderr, 'memtrace')
    try:
        err.wait_for_match(re.compile('^memtrace: tracing'), START_TIMEOUT)
    except BenchError:
        stop(tracer)
        err.thread.join(10)
        raise BenchError('memtrace cannot trace redis-server: ' +
                         ' / '.join(err.lines or ['(it said nothing)']))
    return tracer, out, err


def detach(tracer, out, err):
    """SIGINT to memtrace: {'events', 'lost', 'tracer_cpu_s'} from its
    JSON report and wait4."""
    tracer.send_signal(signal.SIGINT)
    status, cpu = wait_cpu(tracer, STOP_TIMEOUT)
    report = out.text(10)
    err.thread.join(10)
    if status != 0:
        raise BenchError(f'memtrace exited {status}: {err.lines}')
    try:
        rep = json.loads(report)
        return {'events': rep['events'], 'lost': rep['lost_events'], 'tracer_cpu_s': cpu}
    except (ValueError, KeyError) as e:
        raise BenchError(f'memtrace printed no JSON report: {e}')


def run_once(args, config):
    """One run of CONFIG: {'SET', 'GET'} and, traced, the tracer's figures."""
    server = tracer = None
    with tempfile.TemporaryDirectory(prefix='mt-bench-redis-') as tmp:
        try:
            argv = server_argv(args)
            if config == 'heaptrack':
                argv = [args.heaptrack, '-o', os.path.join(tmp, 'trace'), *argv]
            server, _, pid = start_server(argv, tmp)
            if config == 'memtrace':
                tracer, out, err = attach(args, pid)
            got = benchmark(args)
            if tracer:
                got.update(detach(tracer, out, err))
            redis_cpu = server_cpu(args) if config == 'heaptrack' else 0.0
            cli(args, 'shutdown', 'nosave')
            if config == 'heaptrack':
                status, cpu = wait_cpu(server, STOP_TIMEOUT)
                got['tracer_cpu_s'] = max(cpu - redis_cpu, 0.0)
            else:
                status = server.wait(timeout=STOP_TIMEOUT)
            if status != 0:
                raise BenchError(f'{argv[0]} exited {status} after SHUTDOWN')
            return got
        finally:
            stop(tracer)
            stop(server)


def fmt_rps(runs, base, what):
    values = sorted(r[what] for r in runs)
    med = statistics.median(values)
    ratio = f'{med / base:.2f}'
    if len(values) > 1:
        ratio += f' ({values[0] / base:.2f}-{values[-1] / base:.2f})'
    return f'{med:,.0f}', ratio


def cell(text, width=300):
    text = ' '.join(str(text).split()).replace('|', '/')
    return text if len(text) <= width else text[:width - 3] + '...'


def print_table(args, runs, errors):
    print(f'### redis-benchmark -t set,get -n {args.requests} -c 20 -P 16, '
          'fresh redis-server each run')
    print()
    print(f'Median of {args.runs} interleaved runs per row; the range of the ratios '
          'in brackets.  Recorded, lost events and tracer CPU s: medians.')
    print()
    print('| tracing | SET req/s | ratio | GET req/s | ratio | calls recorded | '
          'lost events | tracer CPU s | runs failed |')
    print('|:--------|----------:|------:|----------:|------:|---------------:|'
          '------------:|-------------:|------------:|')
    base = {}
    if runs.get('untraced'):
        base = {w: statistics.median(r[w] for r in runs['untraced']) for w in ('SET', 'GET')}
    for config in args.configs:
        got = runs.get(config) or []
        failed = len(errors.get(config, []))
        why = f'{failed}' + (f': {cell(errors[config][0])}' if failed else '')
        name = {'untraced': 'untraced', 'memtrace': 'memtrace histo (default)',
                'heaptrack': 'heaptrack (launch mode)'}[config]
        if not got or (config != 'untraced' and not base):
            reason = cell(errors[config][0]) if failed else 'no untraced run to compare with'
            print(f'| {name} | failed: {reason} | | | | | | | {failed} |')
            continue
        set_rps, set_ratio = fmt_rps(got, base['SET'], 'SET')
        get_rps, get_ratio = fmt_rps(got, base['GET'], 'GET')
        seen = lost = cpu = ''
        if config == 'memtrace':
            events = statistics.median(r['events'] for r in got)
            share = statistics.median(r['events'] / max(r['events'] + r['lost'], 1)
                                      for r in got)
            seen = f'{events:,.0f} ({100 * share:.1f}%)'
            lost = f'{statistics.median(r["lost"] for r in got):,.0f}'
        if config == 'heaptrack':
            seen, lost = 'all', 'none (waits)'
        if config != 'untraced':
            cpu = f'{statistics.median(r["tracer_cpu_s"] for r in got):.2f}'
        print(f'| {name} | {set_rps} | {set_ratio} | {get_rps} | {get_ratio} | {seen} '
              f'| {lost} | {cpu} | {why} |')
    print()
    sys.stdout.flush()


def find_tools(ap, args):
    build = args.build or os.environ.get('MT_BUILD_DIR') or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'build')
    args.memtrace = args.memtrace or os.path.join(build, 'src', 'memtrace')
    need = {'redis_server': 'redis-server', 'redis_cli': 'redis-cli',
            'redis_benchmark': 'redis-benchmark'}
    if 'heaptrack' in args.configs:
        need['heaptrack'] = 'heaptrack'
    for attr, name in need.items():
        setattr(args, attr, getattr(args, attr, None) or shutil.which(name))
        if not getattr(args, attr):
            # 77: meson's "skipped", for `meson test --benchmark`
            print(f'redis.py: {name} is not on PATH (tools/setup --bench installs it)',
                  file=sys.stderr)
            sys.exit(77)
    if 'memtrace' in args.configs and not os.access(args.memtrace, os.X_OK):
        ap.error(f'--memtrace: {args.memtrace!r} is not an executable (build first, '
                 'or give --build DIR)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--build', help='the build directory (default $MT_BUILD_DIR or build/)')
    ap.add_argument('--memtrace', default=os.environ.get('MEMTRACE'))
    ap.add_argument('--heaptrack', help='heaptrack (default: on PATH)')
    ap.add_argument('--requests', type=int, default=3000000,
                    help='redis-benchmark -n: requests per test (default %(default)s)')
    ap.add_argument('--runs', type=int, default=3,
                    help='rounds, one run of each config each (default %(default)s)')
    ap.add_argument('--port', type=int, default=6391,
                    help='redis-server\'s port on 127.0.0.1 (default %(default)s)')
    ap.add_argument('--configs', default=','.join(CONFIGS),
                    help='comma-separated, of %(default)s (default: all)')
    ap.add_argument('--run-timeout', type=float, default=1800.0,
                    help='seconds one redis-benchmark may take (default %(default)s)')
    args = ap.parse_args()
    args.configs = [c.strip() for c in args.configs.split(',')]
    bad = [c for c in args.configs if c not in CONFIGS]
    if bad or args.requests <= 0 or args.runs <= 0:
        ap.error(f'--configs: {",".join(bad)} not one of {",".join(CONFIGS)}' if bad else
                 '--requests and --runs must be positive')
    find_tools(ap, args)

    runs, errors = {}, {}
    for r in range(args.runs):
        for config in args.configs:
            try:
                got = run_once(args, config)
                runs.setdefault(config, []).append(got)
                said = ' '.join(f'{k}={v}' for k, v in got.items())
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                errors.setdefault(config, []).append(str(e))
                said = str(e)
            print(f'<!-- round {r + 1}: {config}: {said} -->', file=sys.stderr, flush=True)
    print_table(args, runs, errors)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
