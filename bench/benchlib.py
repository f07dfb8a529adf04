"""What the benchmarks share: running memtrace measured, reading its JSON,
a target that prints "ready PID ..." and waits on stdin, medians."""
import json
import os
import signal
import statistics
import subprocess
import tempfile


class BenchError(Exception):
    pass


def run_measured(argv):
    """Run ARGV to its end: (exit status, stdout, stderr, peak RSS in bytes)."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return rc, out.decode(), err.read().decode(), ru.ru_maxrss * 1024


def json_of(argv):
    """ARGV's one JSON object and memtrace's peak RSS; BenchError unless it
    exits 0."""
    rc, out, err, peak = run_measured(argv)
    if rc != 0:
        raise BenchError(f'{" ".join(argv)} exited {rc}: {err.strip()[-500:]}')
    try:
        return json.loads(out), peak
    except ValueError as e:
        raise BenchError(f'{" ".join(argv)}: not one JSON object: {e}') from None


def start_target(argv):
    """Start ARGV, wait for "ready PID key=value...": (process, pid, fields)."""
    t = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    words = (t.stdout.readline() or '').split()
    if len(words) < 2 or words[0] != 'ready':
        t.kill()
        t.wait()
        raise BenchError(f'{" ".join(argv)} printed {" ".join(words)!r}, not ready')
    fields = dict(w.split('=', 1) for w in words[2:] if '=' in w)
    return t, int(words[1]), fields


def stop_target(t):
    """End of stdin ends the target; SIGKILL after a minute."""
    t.stdin.close()
    try:
        t.wait(60)
    except subprocess.TimeoutExpired:
        t.send_signal(signal.SIGKILL)
        t.wait()


def median_range(values, fmt):
    values = sorted(values)
    return (f'{fmt(statistics.median(values))} '
            f'({fmt(values[0])} - {fmt(values[-1])})')
