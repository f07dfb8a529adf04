"""What the benchmarks share: running memtrace measured, reading its JSON,
a target that prints "ready PID ..." and waits on stdin, a pipe read line
by line, the CPU time of a process that ended, medians."""
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time


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
        """The first line that starts with PREFIX."""
        return self._wait(lambda l: l.startswith(prefix), repr(prefix), timeout)

    def wait_for_match(self, regex, timeout):
        """The first line REGEX (compiled) finds a match in."""
        return self._wait(regex.search, repr(regex.pattern), timeout)

    def _wait(self, test, what, timeout):
        def found():
            return next((l for l in self.lines if test(l)), None)
        with self.cond:
            if not self.cond.wait_for(lambda: found() or self.closed,
                                      timeout):
                raise BenchError(f'no {what} from {self.name} within '
                                 f'{timeout:g} s; it said {self.lines}')
            line = found()
            if line is None:
                raise BenchError(f'{self.name} closed without {what}; '
                                 f'it said {self.lines}')
            return line

    def text(self, timeout):
        """All it read, once the pipe closed (within TIMEOUT seconds)."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise BenchError(f'{self.name} kept its pipe open {timeout:g} s')
        return '\n'.join(self.lines)


def stop(proc):
    """SIGKILL PROC (a Popen) if it still runs, and reap it."""
    if proc and proc.poll() is None:
        proc.kill()
    if proc:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def wait_cpu(proc, timeout):
    """Reap PROC (a Popen) within TIMEOUT seconds: (exit status, the CPU
    seconds, user and system, that it and the children it reaped used,
    from wait4).  BenchError if it still runs then."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, ru.ru_utime + ru.ru_stime
        if time.monotonic() > deadline:
            raise BenchError(f'{proc.args[0]} still running after {timeout:g} s')
        time.sleep(0.02)
