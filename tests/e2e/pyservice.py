"""What the Python e2e tests share (test_pyframes.py, test_pycext.py,
test_pyasyncio.py): Debian's interpreter, a service script it runs and
that is spoken to like a target, and the checks that skip (77) when the
interpreter is missing or is not the CPython version the test needs."""
import os
import subprocess

import harness

PYTHON = '/usr/bin/python3'   # Debian's, not a python found on PATH


class Service(harness.Target):
    """SCRIPT run by PYTHON, spoken to like a target."""

    def __init__(self, h, script):
        self.exe = PYTHON
        harness._Proc.__init__(self, h, [PYTHON, script], 'python3', subprocess.PIPE,
                               None, harness.TARGET_PREEXEC)
        self.result = harness.Result()


def query(code):
    """What PYTHON -c CODE prints (stripped), None when it fails."""
    try:
        r = subprocess.run([PYTHON, '-c', code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def version():
    return query('import sys; print(sys.version_info[:2])')


def need_311(h):
    """Skips unless PYTHON is CPython 3.11."""
    if not os.access(PYTHON, os.X_OK):
        h.skip(f'{PYTHON} is not installed (tools/setup installs it)')
    v = version()
    if v != '(3, 11)':
        h.skip(f'{PYTHON} is not CPython 3.11 ({v})')
