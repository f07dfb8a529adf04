#!/usr/bin/env python3
"""malloc_bench untraced and under memtrace with each hook engine, and the
time a 50-thread target is kept stopped to attach and to detach.

One invocation measures, for each thread count (default 1 and 2):

    untraced                      malloc_bench THREADS CALLS
    breakpoint                    memtrace histo PID --duration 0 --engine breakpoint
    inject --depth 1              ... --engine inject --depth 1 (caller sites)
    inject                        ... --engine inject (the default depth)
    inject ... --lossless         the same with --lossless (the agent waits
                                  for room instead of dropping events)
    inject ... on one CPU         (one thread only, not by default) the
                                  benchmark and memtrace both kept on CPU 0,
                                  so that memtrace's draining competes with
                                  the benchmark's thread for its one CPU

each traced run as

    malloc_bench --wait T CALLS        prints `ready PID`, waits
    memtrace histo PID --engine E ...  until `memtrace: tracing ...`
    go -> malloc_bench                 it runs, prints its result line
    SIGINT -> memtrace                 detaches, prints its report, exits 0
    exit -> malloc_bench               it exits 0

in rounds: each round makes one untraced run (while fewer than
--untraced-runs, default 3, were made) and one run of each config (while
fewer than --traced-runs, default 3), so that a slow spell of this noisy
machine falls on all of them alike.  A row shows the median ns/call and
the ratio of the median to the untraced median of the same call count,
with the range of the runs' ratios.  ns/call is the mean time of one
malloc or free as a thread sees it.  "calls recorded" is the share of the
benchmark's calls that memtrace's report counted (its JSON `events`) in
the median run; the rest were dropped while memtrace fell behind (its
`lost_events`).  The breakpoint engine costs tens of microseconds per
call, so it runs --breakpoint-calls calls per thread (default 100000),
the others --calls (default 20000000: about a second untraced, long
enough that attach and detach do not weigh in).

Then, --stop-runs times per engine (default 3), malloc_bench with
--stop-threads threads (default 50) is started and told to go, and

    memtrace attach PID --engine E --verbose --duration 1

reports `threads were stopped X ms to attach and hook` and `... to
detach`: the median and range are shown.  malloc_bench is then killed.

Output is markdown: two tables (see print_tables()).

Usage: run.py [--build DIR] [--memtrace PATH] [--bench PATH] [--calls N]
              [--breakpoint-calls N] [--threads 1,2]
              [--configs CONFIG,...] [--untraced-runs N] [--traced-runs N]
              [--stop-threads N] [--stop-runs N]
A config is ENGINE[:DEPTH][+lossless][+onecpu] (default: breakpoint,
inject:1, inject, inject:1+lossless, inject+lossless); ENGINE `default`
passes no --engine (memtrace's default engine); +onecpu configs run with
one thread only (rows for more threads are left out).  Paths default to $MEMTRACE and
$MT_MALLOC_BENCH (set by `meson test --benchmark`), else to
src/memtrace and bench/malloc_bench in the build directory: --build, else
$MT_BUILD_DIR, else build/ beside this script's directory.  Exit 0 if
every run worked, 1 otherwise.  Timing is reported, never judged.
"""

import argparse
import json
import os
import re
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


def engine_args(engine, depth):
    """memtrace options of one config: --engine unless ENGINE is
    'default', --depth when DEPTH is given."""
    args = [] if engine == 'default' else ['--engine', engine]
    return args + ([] if depth is None else ['--depth', str(depth)])


def on_cpu0():
    os.sched_setaffinity(0, {0})


def run_traced(memtrace, bench, threads, calls, engine, depth, lossless, onecpu=False):
    target = tracer = None
    pin = on_cpu0 if onecpu else None
    try:
        target = subprocess.Popen([bench, '--wait', str(threads), str(calls)],
                                  stdin=subprocess.PIPE, preexec_fn=pin,
                                  stdout=subprocess.PIPE, text=True)
        target_out = LineReader(target.stdout, 'malloc_bench')
        pid = int(target_out.wait_for('ready ', START_TIMEOUT).split()[1])

        tracer = subprocess.Popen([memtrace, 'histo', *engine_args(engine, depth),
                                   *(['--lossless'] if lossless else []),
                                   str(pid), '--duration', '0', '--json'],
                                  stdin=subprocess.DEVNULL, preexec_fn=pin,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        tracer_err = LineReader(tracer.stderr, 'memtrace')
        tracing = tracer_err.wait_for('memtrace: tracing', START_TIMEOUT)

        target.stdin.write('go\n')
        target.stdin.flush()
        result = parse_result(target_out.wait_for('result ', RUN_TIMEOUT))

        tracer.send_signal(signal.SIGINT)
        try:
            report, _ = tracer.communicate(timeout=STOP_TIMEOUT)
            status = tracer.returncode
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
        tracer = subprocess.Popen([memtrace, 'attach', *engine_args(engine, None),
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


def parse_configs(text):
    """'breakpoint,inject:1,inject+lossless+onecpu' -> [(engine, depth or
    None, lossless, onecpu)]."""
    configs = []
    for item in text.split(','):
        item, *flags = item.strip().split('+')
        for flag in flags:
            if flag not in ('lossless', 'onecpu'):
                raise ValueError(f'unknown +{flag} in {text!r}: +lossless or +onecpu')
        engine, _, depth = item.partition(':')
        if not engine:
            raise ValueError(f'empty config in {text!r}')
        configs.append((engine, int(depth) if depth else None, 'lossless' in flags,
                        'onecpu' in flags))
    return configs


def config_name(engine, depth, lossless, onecpu=False):
    return (engine + (f' --depth {depth}' if depth is not None else '') +
            (' --lossless' if lossless else '') +
            (', memtrace on the benchmark\'s one CPU' if onecpu else ''))


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


def print_tables(rows, stops, args):
    """Markdown.  Overhead rows: (threads, config, engine named by memtrace,
    calls per thread, [ns/call of each run] or None, the untraced median
    ns/call, the share of calls memtrace recorded in the median run or
    None, error).  Stop rows: (config, engine named,
    [attach ms], [detach ms], errors)."""
    print('### malloc_bench: ns per allocator call (random 16 B - 4 KiB malloc+free)')
    print()
    print(f'Median of {args.traced_runs} runs per row ({args.untraced_runs} untraced), '
          'interleaved; the range in brackets.')
    print()
    print('| threads | tracing | calls/thread | ns/call | ratio to untraced | calls recorded |')
    print('|--------:|:--------|-------------:|--------:|------------------:|---------------:|')
    for threads, name, used, calls, runs, base, seen, err in rows:
        if runs is None:
            print(f'| {threads} | {name} | {calls} | failed: {cell(err)} | | |')
            continue
        if used and not name.startswith(used) and name != 'untraced':
            name += f' (engine {used})'
        shown = '' if seen is None else f'{100 * seen:.1f}%'
        ns = statistics.median(runs)
        ratio = f'{ns / base:.2f}'
        if len(runs) > 1:
            ratio += f' ({min(runs) / base:.2f}-{max(runs) / base:.2f})'
        print(f'| {threads} | {name} | {calls} | {ns:.1f} | {ratio} | {shown} |')
    print()
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


def measure(args, configs, threads):
    """The overhead rows of one thread count (print_tables()), and whether
    every run worked.  Runs are interleaved, round after round: the
    untraced runs of a round, then one run of each config, so that a
    slow spell of the machine falls on all of them alike."""
    configs = [c for c in configs if threads == 1 or not c[3]]
    counts = sorted({args.breakpoint_calls if c[0] == 'breakpoint' else args.calls
                     for c in configs} | {args.calls})
    untraced = {calls: [] for calls in counts}
    traced = {c: [] for c in configs}
    errors = {}
    rounds = max(args.untraced_runs, args.traced_runs)
    for r in range(rounds):
        for calls in counts:
            if r >= args.untraced_runs:
                continue
            try:
                untraced[calls].append(run_untraced(args.bench, threads, calls)['ns_per_call'])
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                errors[('untraced', calls)] = str(e)
        for config in configs if r < args.traced_runs else []:
            engine, depth, lossless, onecpu = config
            calls = args.breakpoint_calls if engine == 'breakpoint' else args.calls
            try:
                got = run_traced(args.memtrace, args.bench, threads, calls,
                                 engine, depth, lossless, onecpu)
                traced[config].append((got['ns_per_call'],
                                       got['events'] / (threads * calls), got['engine']))
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                errors[config] = str(e)
            print(f'<!-- round {r + 1}: {threads} threads, {config_name(*config)}: '
                  f'{traced[config][-1] if traced[config] else errors.get(config)} -->',
                  file=sys.stderr, flush=True)
    rows = []
    base = {}
    for calls in counts:
        if untraced[calls]:
            base[calls] = statistics.median(untraced[calls])
            rows.append((threads, 'untraced', None, calls, untraced[calls], base[calls],
                         None, None))
        else:
            rows.append((threads, 'untraced', None, calls, None, None, None,
                         errors.get(('untraced', calls), 'no run')))
    for config in configs:
        engine, depth, lossless, onecpu = config
        calls = args.breakpoint_calls if engine == 'breakpoint' else args.calls
        name = config_name(engine, depth, lossless, onecpu)
        runs = traced[config]
        if not runs or calls not in base:
            err = errors.get(config) or 'no untraced run to compare with'
            rows.append((threads, name, None, calls, None, None, None, err))
            continue
        # the share recorded of the run whose time is the median
        runs = sorted(runs)
        mid = runs[(len(runs) - 1) // 2]
        rows.append((threads, name, mid[2], calls, [ns for ns, _, _ in runs], base[calls],
                     mid[1], errors.get(config)))
    good = not errors
    return rows, good


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--build', help='the build directory (default $MT_BUILD_DIR or build/)')
    ap.add_argument('--memtrace', default=os.environ.get('MEMTRACE'))
    ap.add_argument('--bench', default=os.environ.get('MT_MALLOC_BENCH'))
    ap.add_argument('--calls', type=int, default=20000000,
                    help='allocator calls per thread, untraced and inject '
                         '(default %(default)s)')
    ap.add_argument('--breakpoint-calls', type=int, default=100000,
                    help='allocator calls per thread with the breakpoint '
                         'engine (default %(default)s)')
    ap.add_argument('--threads', default='1,2',
                    help='comma-separated thread counts (default %(default)s)')
    ap.add_argument('--configs',
                    default='breakpoint,inject:1,inject,inject:1+lossless,inject+lossless',
                    help='comma-separated ENGINE[:DEPTH][+lossless][+onecpu] to trace '
                         'with; ENGINE default: no --engine; +onecpu: the benchmark '
                         'and memtrace both on CPU 0, one thread only '
                         '(default %(default)s)')
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

    ok = True
    rows = []
    for threads in (int(t) for t in args.threads.split(',')):
        rows_t, good = measure(args, configs, threads)
        rows += rows_t
        ok = ok and good

    stops = []
    engines = []
    for engine, *_ in configs:
        if engine not in engines:
            engines.append(engine)
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

    print_tables(rows, stops, args)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
