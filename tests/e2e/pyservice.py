"""What the Python e2e tests share (test_pyframes.py, test_pycext.py,
test_pyasyncio.py): Debian's interpreter, pyenv's of other versions, a
service script it runs and that is spoken to like a target, and the checks
that skip (77) when the interpreter is missing or is not the CPython
version the test needs."""
import glob
import os
import subprocess
import sys

import harness

PYTHON = '/usr/bin/python3'   # Debian's, not a python found on PATH


class Service(harness.Target):
    """SCRIPT run by PYTHON, spoken to like a target."""

    def __init__(self, h, script, python=PYTHON, env=None):
        self.exe = python
        harness._Proc.__init__(self, h, [python, script], 'python3', subprocess.PIPE,
                               env, harness.TARGET_PREEXEC)
        self.result = harness.Result()


def query(code, python=PYTHON):
    """What PYTHON -c CODE prints (stripped), None when it fails."""
    try:
        r = subprocess.run([python, '-c', code], capture_output=True, text=True, timeout=60)
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


def pyenv(h, minor):
    """pyenv's CPython 3.MINOR (the newest patch release installed under
    $PYENV_ROOT, ~/.pyenv by default); skips when there is none."""
    root = os.environ.get('PYENV_ROOT', os.path.expanduser('~/.pyenv'))
    found = sorted(glob.glob(f'{root}/versions/3.{minor}.*/bin/python3.{minor}'),
                   key=lambda p: [int(x) for x in p.split('/')[-3].split('.') if x.isdigit()])
    if not found or not os.access(found[-1], os.X_OK):
        h.skip(f'no pyenv CPython 3.{minor} under {root}/versions')
    v = query('import sys; print(sys.version_info[:2])', found[-1])
    if v != f'(3, {minor})':
        h.skip(f'{found[-1]} is not CPython 3.{minor} ({v})')
    return found[-1]


def chosen(h):
    """The interpreter an e2e test's argument names and its version "3.N":
    none is Debian's (3.11, skips unless it is), 3.N is pyenv's."""
    arg = sys.argv[1] if len(sys.argv) > 1 else ''
    if not arg:
        need_311(h)
        return PYTHON, '3.11'
    ver = arg.partition('-')[0]
    return pyenv(h, int(ver.split('.')[1])), ver
