#!/usr/bin/env python3
"""malloc_bench untraced, under memtrace and under heaptrack, and the time
a 50-thread target is kept stopped to attach and to detach.

One invocation measures, for each thread count (default 1 and 2), the
configs of --configs; by default

    untraced                      malloc_bench THREADS CALLS
    default                       memtrace histo PID --duration 0 (no
                                  --engine: memtrace's default engine; the
                                  agent accounts every call itself)
    default+sample=524288         ... --sample-bytes 524288
    heaptrack                     heaptrack -o TMP malloc_bench THREADS CALLS

and on demand, among others,

    default+lossless              ... --lossless (the same as the default,
                                  but with --sample-bytes or --depth 1)

    breakpoint                    ... --engine breakpoint
    inject:1                      ... --engine inject --depth 1 (caller sites)
    inject+onecpu                 (one thread only) the benchmark and
                                  memtrace both kept on CPU 0, so that
                                  memtrace's draining competes with the
                                  benchmark's thread for its one CPU

each memtrace run as

    malloc_bench --wait T CALLS        prints `ready PID`, waits
    memtrace histo PID --engine E ...  until `memtrace: tracing ...`
    go -> malloc_bench                 it runs, prints its result line
    SIGINT -> memtrace                 detaches, prints its report, exits 0
    exit -> malloc_bench               it exits 0

and heaptrack in launch mode: it preloads its hooks into malloc_bench,
the same hooks its `-p PID` injects with gdb (which cannot inject on
every kernel), and malloc_bench times its own loops, so heaptrack's start
and its writing of the trace do not count.  heaptrack's output file goes
to a temporary directory, removed after the run.

The runs go in rounds: each round makes one untraced run (while fewer
than --untraced-runs, default 3, were made) and one run of each config
(while fewer than --traced-runs, default 3), so that a slow spell of this
noisy machine falls on all of them alike.  A row shows the median ns/call
and the ratio of the median to the untraced median of the same call
count, with the range of the runs' ratios.  ns/call is the mean time of
one malloc or free as a thread sees it.  The other columns are those of
the median run: "calls recorded" is the share of the benchmark's calls
that memtrace's report counted (its JSON `events`; with --sample-bytes,
the calls that reached memtrace), "lost events" what the agent dropped
while memtrace fell behind (its `lost_events`); for heaptrack, which
waits and so never drops, the allocations its statistics counted over
malloc_bench's mallocs.  "tracer CPU s" is memtrace's own CPU time, user
and system, from its start to its exit (wait4); for heaptrack, that of
its script and the processes it runs (heaptrack_interpret, the
compressor) less malloc_bench's own.  "run s" is the wall time of the
benchmark's loops.  The breakpoint engine costs tens of microseconds per
call, so it runs --breakpoint-calls calls per thread (default 100000),
the others --calls (default 20000000: about a second untraced, long
enough that attach and detach do not weigh in).

Then, --stop-runs times per memtrace engine of the configs (default 3),
malloc_bench with --stop-threads threads (default 50) is started and
told to go, and

    memtrace attach PID --engine E --verbose --duration 1

reports `threads were stopped X ms to attach and hook` and `... to
detach`: the median and range are shown.  malloc_bench is then killed.

Then, --paced-runs times (default 3), malloc_bench's 2 threads are paced
to --paced calls a second in all (default 200000, a busy service's rate)
for --paced-seconds (default 20) under memtrace's default: the table
shows memtrace's CPU seconds over the run's time, its share of one CPU.

Output is markdown: three tables (see print_tables()); progress goes to
stderr as HTML comments.

Usage: run.py [--build DIR] [--memtrace PATH] [--bench PATH]
              [--heaptrack PATH] [--calls N] [--breakpoint-calls N]
              [--threads 1,2] [--configs CONFIG,...] [--untraced-runs N]
              [--traced-runs N] [--stop-threads N] [--stop-runs N]
              [--paced N] [--paced-seconds N] [--paced-runs N]
A config is heaptrack or ENGINE[:DEPTH][+lossless][+onecpu][+sample=BYTES];
ENGINE `default` passes no --engine (memtrace's default engine);
+onecpu configs run with one thread only (rows for more threads are left
out).  Paths default to $MEMTRACE and $MT_MALLOC_BENCH (set by `meson
test --benchmark`), else to src/memtrace and bench/malloc_bench in the
build directory: --build, else $MT_BUILD_DIR, else build/ beside this
script's directory; heaptrack to the one on PATH (tools/setup --bench
installs it; without it the default configs leave it out).  Exit 0 if every run worked, 1 otherwise.  Timing is
reported, never judged.
"""

import argparse
import collections
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

START_TIMEOUT = 60.0    # memtrace attach and hook installation
RUN_TIMEOUT = 900.0     # one traced benchmark run
STOP_TIMEOUT = 120.0    # memtrace detach and report after SIGINT
# memtrace's default, --sample-bytes, today's exact mode, and heaptrack.
DEFAULT_CONFIGS = 'default,default+sample=524288,heaptrack'


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


def engine_args(config):
    """memtrace options of one config: --engine unless its engine is
    'default', --depth, --lossless and --sample-bytes when given."""
    args = [] if config.engine == 'default' else ['--engine', config.engine]
    args += [] if config.depth is None else ['--depth', str(config.depth)]
    args += ['--lossless'] if config.lossless else []
    return args + ([] if config.sample is None else ['--sample-bytes', str(config.sample)])


def on_cpu0():
    os.sched_setaffinity(0, {0})


def proc_cpu_s(pid):
    """The CPU seconds (user and system) process PID has used so far."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def run_traced(memtrace, bench, threads, calls, config, rate=0):
    """One run of malloc_bench under `memtrace histo` (each thread paced
    to RATE calls a second when RATE is not 0): its result line's fields,
    and engine (named by memtrace), events, lost and tracer_cpu_s
    (memtrace's CPU seconds over its whole life, from wait4)."""
    target = tracer = None
    pin = on_cpu0 if config.onecpu else None
    try:
        paced = ['--rate', str(rate)] if rate else []
        target = subprocess.Popen([bench, '--wait', *paced, str(threads), str(calls)],
                                  stdin=subprocess.PIPE, preexec_fn=pin,
                                  stdout=subprocess.PIPE, text=True)
        target_out = LineReader(target.stdout, 'malloc_bench')
        pid = int(target_out.wait_for('ready ', START_TIMEOUT).split()[1])

        tracer = subprocess.Popen([memtrace, 'histo', *engine_args(config),
                                   str(pid), '--duration', '0', '--json'],
                                  stdin=subprocess.DEVNULL, preexec_fn=pin,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        tracer_out = LineReader(tracer.stdout, 'memtrace')
        tracer_err = LineReader(tracer.stderr, 'memtrace')
        tracing = tracer_err.wait_for('memtrace: tracing', START_TIMEOUT)

        cpu_at_go = proc_cpu_s(tracer.pid)
        target.stdin.write('go\n')
        target.stdin.flush()
        result = parse_result(target_out.wait_for('result ', RUN_TIMEOUT))
        result['tracer_run_cpu_s'] = proc_cpu_s(tracer.pid) - cpu_at_go

        tracer.send_signal(signal.SIGINT)
        status, result['tracer_cpu_s'] = wait_cpu(tracer, STOP_TIMEOUT)
        report = tracer_out.text(10)
        tracer_err.thread.join(timeout=10)
        if status != 0:
            raise BenchError(f'memtrace exited {status}: {tracer_err.lines}')

        target.stdin.write('exit\n')
        target.stdin.close()
        if target.wait(timeout=STOP_TIMEOUT) != 0:
            raise BenchError(f'malloc_bench exited {target.returncode} '
                             'after memtrace detached')
        result['engine'] = tracing.rsplit(' ', 1)[-1]
        try:
            rep = json.loads(report)
            result['events'] = rep['events']
            result['lost'] = rep['lost_events']
        except (ValueError, KeyError) as e:
            raise BenchError(f'memtrace printed no JSON report: {e}')
        return result
    finally:
        stop(tracer)
        stop(target)


HEAPTRACK_ALLOCS_RE = re.compile(r'^\s*allocations:\s*(\d+)\s*$', re.M)


def run_heaptrack(heaptrack, bench, threads, calls):
    """One run of `heaptrack -o TMP malloc_bench THREADS CALLS` (launch
    mode: heaptrack preloads its hooks, which is also what its -p would
    inject with gdb): the result line's fields, engine 'heaptrack',
    heaptrack_allocs (the allocations its statistics at the end counted)
    and tracer_cpu_s (the CPU seconds of heaptrack's script and of the
    processes it reaped, heaptrack_interpret and the compressor among
    them, less malloc_bench's own)."""
    with tempfile.TemporaryDirectory(prefix='mt-bench-heaptrack-') as tmp, \
            tempfile.TemporaryFile(mode='w+') as out:
        proc = subprocess.Popen([heaptrack, '-o', os.path.join(tmp, 'trace'),
                                 bench, str(threads), str(calls)],
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, text=True)
        try:
            status, cpu = wait_cpu(proc, RUN_TIMEOUT)
        finally:
            stop(proc)
        out.seek(0)
        said = out.read()
    if status != 0:
        raise BenchError(f'heaptrack exited {status}: {said.strip()[-500:]}')
    lines = [l for l in said.splitlines() if l.startswith('result ')]
    result = parse_result(lines[-1] if lines else '')
    m = HEAPTRACK_ALLOCS_RE.search(said)
    if not m:
        raise BenchError(f'heaptrack printed no allocation count: {said.strip()[-500:]}')
    result['engine'] = 'heaptrack'
    result['heaptrack_allocs'] = int(m.group(1))
    result['tracer_cpu_s'] = max(cpu - result['cpu_s'], 0.0)
    return result


STOP_RE = re.compile(r'^memtrace: threads were stopped (\d+(?:\.\d+)?) ms to '
                     r'(attach and hook|detach)$')


def run_stop_times(memtrace, bench, threads, engine):
    """malloc_bench with THREADS busy threads; `memtrace attach PID --engine
    ENGINE --verbose --duration 1`: (attach ms, detach ms, engine named by
    the tracing line, whether the threads still ran at the end)."""
    target = tracer = None
    try:
        # Enough calls that the threads are still busy when memtrace is done.
        target = subprocess.Popen([bench, '--wait', str(threads), '100000000'],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        target_out = LineReader(target.stdout, 'malloc_bench')
        pid = int(target_out.wait_for('ready ', START_TIMEOUT).split()[1])
        target.stdin.write('go\n')
        target.stdin.flush()
        tracer = subprocess.Popen([memtrace, 'attach', *engine_args(Config(engine)),
                                   str(pid), '--verbose', '--duration', '1'],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        tracer_err = LineReader(tracer.stderr, 'memtrace')
        try:
            status = tracer.wait(timeout=START_TIMEOUT + STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError('memtrace attach --duration 1 still running after '
                             f'{START_TIMEOUT + STOP_TIMEOUT:g} s')
        tracer_err.thread.join(timeout=10)
        if status != 0:
            raise BenchError(f'memtrace exited {status}: {tracer_err.lines}')
        times = {}
        used = '?'
        for line in tracer_err.lines:
            m = STOP_RE.match(line)
            if m:
                times[m.group(2)] = float(m.group(1))
            if line.startswith('memtrace: tracing'):
                used = line.rsplit(' ', 1)[-1]
        if len(times) != 2:
            raise BenchError(f'no stop times in memtrace --verbose: {tracer_err.lines}')
        busy = target.poll() is None and not any(
            line.startswith('result ') for line in target_out.lines)
        return times['attach and hook'], times['detach'], used, busy
    finally:
        stop(tracer)
        stop(target)


class Config(collections.namedtuple(
        'Config', 'engine depth lossless onecpu sample',
        defaults=(None, False, False, None))):
    """What one row traces with: ENGINE (a memtrace --engine, 'default'
    for none, or 'heaptrack'), --depth, --lossless, memtrace and the
    benchmark both on CPU 0, --sample-bytes."""


def parse_configs(text):
    """'default,inject:1+lossless,default+sample=524288,heaptrack' ->
    [Config]."""
    configs = []
    for item in text.split(','):
        item, *flags = item.strip().split('+')
        engine, _, depth = item.partition(':')
        if not engine:
            raise ValueError(f'empty config in {text!r}')
        sample = None
        for flag in flags:
            name, eq, value = flag.partition('=')
            if name == 'sample' and eq and value.isdigit() and int(value) > 0:
                sample = int(value)
            elif flag not in ('lossless', 'onecpu'):
                raise ValueError(f'unknown +{flag} in {text!r}: +lossless, +onecpu '
                                 'or +sample=BYTES')
        if engine == 'heaptrack' and (depth or flags):
            raise ValueError(f'heaptrack takes no :DEPTH nor +FLAG in {text!r}')
        configs.append(Config(engine, int(depth) if depth else None, 'lossless' in flags,
                              'onecpu' in flags, sample))
    return configs


def config_name(config):
    if config.engine == 'heaptrack':
        return 'heaptrack (launch mode)'
    return ('memtrace ' + config.engine + ' '.join([''] + engine_args(config)[
                0 if config.engine == 'default' else 2:]) +
            (', memtrace on the benchmark\'s one CPU' if config.onecpu else ''))


def find_paths(args):
    """--memtrace and --bench: the options, the environment, else the build
    directory (--build, $MT_BUILD_DIR, build/ at the top of the tree)."""
    build = args.build or os.environ.get('MT_BUILD_DIR') or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'build')
    if not args.memtrace:
        args.memtrace = os.path.join(build, 'src', 'memtrace')
    if not args.bench:
        args.bench = os.path.join(build, 'bench', 'malloc_bench')


def cell(text, width=160):
    """TEXT as one markdown table cell: one line, no '|', at most WIDTH."""
    text = ' '.join(str(text).split()).replace('|', '/')
    return text if len(text) <= width else text[:width - 3] + '...'


def fmt_ms(values):
    if not values:
        return 'failed'
    med = statistics.median(values)
    if len(values) == 1:
        return f'{med:.1f}'
    return f'{med:.1f} ({min(values):.1f}-{max(values):.1f})'


def recorded(config, mid, threads, calls):
    """The 'calls recorded' and 'lost events' cells of the median run MID."""
    if config.engine == 'heaptrack':
        # heaptrack counts allocations (malloc_bench's mallocs, plus its
        # main thread's few), not frees; it waits, so it never drops any.
        return f'{100 * mid["heaptrack_allocs"] / mid["allocs"]:.1f}% of mallocs', 'none (waits)'
    shown = f'{100 * mid["events"] / (threads * calls):.1f}%'
    if config.sample is not None:
        shown += ' (sampled)'
    return shown, f'{mid["lost"]:,}'


def print_tables(rows, stops, args):
    """Markdown.  Overhead rows: (threads, Config or None for untraced,
    engine named by memtrace, calls per thread, [run dicts sorted by
    ns/call] or None, the untraced median ns/call, error).  Stop rows:
    (config, engine named, [attach ms], [detach ms], errors)."""
    print('### malloc_bench: ns per allocator call (random 16 B - 4 KiB malloc+free)')
    print()
    print(f'Median of {args.traced_runs} runs per row ({args.untraced_runs} untraced), '
          'interleaved; the range in brackets.  calls recorded, lost events, '
          'tracer CPU s and run s are those of the median run (run s: its '
          'wall time from go to the last thread\'s end).')
    print()
    print('| threads | tracing | calls/thread | ns/call | ratio to untraced | calls recorded '
          '| lost events | tracer CPU s | run s |')
    print('|--------:|:--------|-------------:|--------:|------------------:|---------------:'
          '|------------:|-------------:|------:|')
    for threads, config, used, calls, runs, base, err in rows:
        name = 'untraced' if config is None else config_name(config)
        if runs is None:
            print(f'| {threads} | {name} | {calls} | failed: {cell(err)} | | | | | |')
            continue
        if used and config and config.engine not in (used, 'heaptrack'):
            name += f' (engine {used})'
        ns_runs = [r['ns_per_call'] for r in runs]
        mid = runs[(len(runs) - 1) // 2]
        ns = statistics.median(ns_runs)
        ratio = f'{ns / base:.2f}'
        if len(runs) > 1:
            ratio += f' ({min(ns_runs) / base:.2f}-{max(ns_runs) / base:.2f})'
        shown, lost, cpu = '', '', ''
        if config is not None:
            shown, lost = recorded(config, mid, threads, calls)
            cpu = f'{mid["tracer_cpu_s"]:.2f}'
        wall = mid['wall_ns_per_call'] * mid['calls'] / 1e9
        print(f'| {threads} | {name} | {calls} | {ns:.1f} | {ratio} | {shown} | {lost} '
              f'| {cpu} | {wall:.2f} |')
    print()
    print('tracer CPU s: memtrace\'s own CPU seconds (user and system, from wait4) '
          'from its start to its exit, attach and report included; for heaptrack, '
          'those of its script, heaptrack_interpret and its compressor (the '
          'process\'s own time in heaptrack\'s hooks is in ns/call).')
    print()
    if not stops:
        sys.stdout.flush()
        return
    print(f'### threads kept stopped, {args.stop_threads}-thread malloc_bench, '
          f'`memtrace attach --verbose --duration 1`, ms: median (min-max) of '
          f'{args.stop_runs}')
    print()
    print('| engine | attach and hook | detach | runs failed |')
    print('|:-------|----------------:|-------:|------------:|')
    for name, used, attach, detach, errors in stops:
        if used and not name.startswith(used):
            name += f' (engine {used})'
        failed = f'{len(errors)}' + (f': {cell(errors[0])}' if errors else '')
        print(f'| {name} | {fmt_ms(attach)} | {fmt_ms(detach)} | {failed} |')
    print()
    sys.stdout.flush()


def calls_of(args, config):
    return args.breakpoint_calls if config.engine == 'breakpoint' else args.calls


def run_config(args, threads, config):
    """One run of CONFIG: its result dict (run_traced(), run_heaptrack())."""
    calls = calls_of(args, config)
    if config.engine == 'heaptrack':
        return run_heaptrack(args.heaptrack, args.bench, threads, calls)
    return run_traced(args.memtrace, args.bench, threads, calls, config)


def brief(got):
    """A run's figures for the progress comments on stderr."""
    keys = ('ns_per_call', 'events', 'lost', 'heaptrack_allocs', 'tracer_cpu_s', 'engine')
    return ' '.join(f'{k}={got[k]}' for k in keys if k in got)


def measure(args, configs, threads):
    """The overhead rows of one thread count (print_tables()), and whether
    every run worked.  Runs are interleaved, round after round: the
    untraced runs of a round, then one run of each config, so that a
    slow spell of the machine falls on all of them alike."""
    configs = [c for c in configs if threads == 1 or not c.onecpu]
    counts = sorted({calls_of(args, c) for c in configs} | {args.calls})
    untraced = {calls: [] for calls in counts}
    traced = {c: [] for c in configs}
    errors = {}
    rounds = max(args.untraced_runs, args.traced_runs)
    for r in range(rounds):
        for calls in counts:
            if r >= args.untraced_runs:
                continue
            try:
                untraced[calls].append(run_untraced(args.bench, threads, calls))
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                errors[('untraced', calls)] = str(e)
        for config in configs if r < args.traced_runs else []:
            try:
                traced[config].append(run_config(args, threads, config))
                said = brief(traced[config][-1])
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                errors[config] = said = str(e)
            print(f'<!-- round {r + 1}: {threads} threads, {config_name(config)}: '
                  f'{said} -->', file=sys.stderr, flush=True)
    rows = []
    base = {}
    by_ns = lambda runs: sorted(runs, key=lambda got: got['ns_per_call'])
    for calls in counts:
        if untraced[calls]:
            base[calls] = statistics.median(got['ns_per_call'] for got in untraced[calls])
            rows.append((threads, None, None, calls, by_ns(untraced[calls]), base[calls], None))
        else:
            rows.append((threads, None, None, calls, None, None,
                         errors.get(('untraced', calls), 'no run')))
    for config in configs:
        calls = calls_of(args, config)
        runs = by_ns(traced[config])
        if not runs or calls not in base:
            err = errors.get(config) or 'no untraced run to compare with'
            rows.append((threads, config, None, calls, None, None, err))
            continue
        rows.append((threads, config, runs[(len(runs) - 1) // 2]['engine'], calls, runs,
                     base[calls], errors.get(config)))
    good = not errors
    return rows, good


def measure_paced(args):
    """memtrace's default at a service's pace: 2 threads of malloc_bench,
    --paced calls a second in all, for --paced-seconds; rows of (result
    dict or None, error)."""
    threads = 2
    per_thread = args.paced // threads
    calls = per_thread * args.paced_seconds
    runs = []
    for r in range(args.paced_runs):
        try:
            got = run_traced(args.memtrace, args.bench, threads, calls,
                             parse_configs('default')[0], rate=per_thread)
            runs.append((got, None))
            said = brief(got)
        except (BenchError, subprocess.TimeoutExpired, OSError) as e:
            runs.append((None, str(e)))
            said = str(e)
        print(f'<!-- paced run {r + 1}: {said} -->', file=sys.stderr, flush=True)
    return runs


def print_paced(runs, args):
    """Markdown: memtrace's share of one CPU at the paced rate."""
    print(f'### memtrace at a service\'s pace: malloc_bench, 2 threads, {args.paced:,} '
          f'calls/s in all, {args.paced_seconds} s, memtrace default')
    print()
    print('| run | calls | events | lost events | memtrace CPU s, run (life) | run s '
          '| share of one CPU |')
    print('|----:|------:|-------:|------------:|---------------------------:|------:'
          '|-----------------:|')
    for i, (got, err) in enumerate(runs, 1):
        if got is None:
            print(f'| {i} | failed: {cell(err)} | | | | | |')
            continue
        wall = got['wall_ns_per_call'] * got['calls'] / 1e9
        print(f'| {i} | {int(got["calls"])} | {got["events"]} | {got["lost"]} '
              f'| {got["tracer_run_cpu_s"]:.2f} ({got["tracer_cpu_s"]:.2f}) | {wall:.1f} '
              f'| {100 * got["tracer_run_cpu_s"] / wall:.1f}% |')
    print()
    print('share of one CPU: memtrace\'s CPU seconds from "go" to the benchmark\'s '
          'result line (/proc/PID/stat), over that run time; in brackets its CPU '
          'seconds over its whole life, attach, census and report included.')
    print()
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--build', help='the build directory (default $MT_BUILD_DIR or build/)')
    ap.add_argument('--memtrace', default=os.environ.get('MEMTRACE'))
    ap.add_argument('--bench', default=os.environ.get('MT_MALLOC_BENCH'))
    ap.add_argument('--heaptrack', default=shutil.which('heaptrack'),
                    help='heaptrack, for the heaptrack config (default: on PATH)')
    ap.add_argument('--calls', type=int, default=20000000,
                    help='allocator calls per thread, untraced and traced '
                         'but for the breakpoint engine (default %(default)s)')
    ap.add_argument('--breakpoint-calls', type=int, default=100000,
                    help='allocator calls per thread with the breakpoint '
                         'engine (default %(default)s)')
    ap.add_argument('--threads', default='1,2',
                    help='comma-separated thread counts (default %(default)s)')
    ap.add_argument('--configs', default=DEFAULT_CONFIGS,
                    help='comma-separated ENGINE[:DEPTH][+lossless][+onecpu]'
                         '[+sample=BYTES] to trace with, or heaptrack; ENGINE default: '
                         'no --engine; +onecpu: the benchmark and memtrace both on '
                         'CPU 0, one thread only (default %(default)s)')
    ap.add_argument('--untraced-runs', type=int, default=3,
                    help='untraced runs per thread count and call count; the '
                         'median is shown (default %(default)s)')
    ap.add_argument('--traced-runs', type=int, default=3,
                    help='runs per config and thread count, interleaved with the '
                         'untraced runs; the median is shown, and the range '
                         '(default %(default)s)')
    ap.add_argument('--stop-threads', type=int, default=50,
                    help='threads of the stop-time target (default %(default)s)')
    ap.add_argument('--stop-runs', type=int, default=3,
                    help='stop-time runs per engine; 0 skips them '
                         '(default %(default)s)')
    ap.add_argument('--paced', type=int, default=200000,
                    help='calls a second (2 threads) of the paced runs, which '
                         'show memtrace\'s CPU at a service\'s pace; 0 skips them '
                         '(default %(default)s)')
    ap.add_argument('--paced-seconds', type=int, default=20,
                    help='length of a paced run (default %(default)s)')
    ap.add_argument('--paced-runs', type=int, default=3,
                    help='paced runs (default %(default)s)')
    args = ap.parse_args()
    find_paths(args)
    try:
        configs = parse_configs(args.configs)
    except ValueError as e:
        ap.error(f'--configs: {e}')
    for what in ('memtrace', 'bench'):
        path = getattr(args, what)
        if not path or not os.access(path, os.X_OK):
            ap.error(f'--{what}: {path!r} is not an executable (build first, or '
                     'give --build DIR)')
    if any(c.engine == 'heaptrack' for c in configs) and not args.heaptrack:
        if args.configs != DEFAULT_CONFIGS:
            ap.error('heaptrack is not on PATH: give --heaptrack, leave it out of '
                     '--configs, or install it (tools/setup --bench)')
        print('run.py: heaptrack is not on PATH (tools/setup --bench installs it): '
              'measuring without it', file=sys.stderr)
        configs = [c for c in configs if c.engine != 'heaptrack']

    ok = True
    rows = []
    for threads in (int(t) for t in args.threads.split(',')):
        rows_t, good = measure(args, configs, threads)
        rows += rows_t
        ok = ok and good

    stops = []
    engines = []
    for config in configs:
        if config.engine not in engines + ['heaptrack']:
            engines.append(config.engine)
    for engine in engines if args.stop_runs > 0 else []:
        attach, detach, errors, used = [], [], [], None
        for _ in range(args.stop_runs):
            try:
                a, d, used, busy = run_stop_times(args.memtrace, args.bench,
                                                  args.stop_threads, engine)
                if not busy:
                    raise BenchError('malloc_bench finished before memtrace did: '
                                     'its threads were not all busy')
                attach.append(a)
                detach.append(d)
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                errors.append(str(e))
                ok = False
                print(f'<!-- stop times {engine}: {e} -->', file=sys.stderr, flush=True)
        stops.append((engine, used, attach, detach, errors))

    paced = measure_paced(args) if args.paced > 0 else []
    ok = ok and all(got is not None for got, _ in paced)
    print_tables(rows, stops, args)
    if paced:
        print_paced(paced, args)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
