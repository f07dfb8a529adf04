#!/usr/bin/env python3
"""The Debian package: built from a copy of the source, installed into a
throwaway root, and run from there.

usage: test_deb.py SOURCE_DIR VERSION

Copies SOURCE_DIR (without .git and build directories) into a temporary
directory, builds the .deb there with `dpkg-buildpackage -us -uc -b`
(DEB_BUILD_OPTIONS=nocheck parallel=2), checks it with lintian (no error,
no warning), unpacks it with `dpkg -x` into a temporary root (the real
system's dpkg database is not touched) and checks what a distribution
expects of it: /usr/bin/memtrace prints "memtrace VERSION" and runs with
the agent embedded (no file of the build directory needed), `man -l`
formats the installed man page without a warning, and the completions are
where bash-completion, zsh and fish look for them, the same bytes as
completions/.  Exit 0 pass, 1 fail, 77 skip (dpkg-buildpackage, dh or
lintian missing), 99 broken harness.
"""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

SKIP, BROKEN = 77, 99

# Where the package puts each completion file (source file -> path).
COMPLETIONS = {
    'memtrace.bash': 'usr/share/bash-completion/completions/memtrace',
    '_memtrace': 'usr/share/zsh/site-functions/_memtrace',
    'memtrace.fish': 'usr/share/fish/vendor_completions.d/memtrace.fish',
}


def is_build_dir(path):
    return os.path.isdir(os.path.join(path, 'meson-private'))


def ignore(dirpath, names):
    """copytree's filter: no git data, no meson build directory."""
    return [n for n in names
            if n == '.git' or is_build_dir(os.path.join(dirpath, n))]


def run(args, cwd=None, env=None):
    """ARGS' result, its output echoed to the test log."""
    print('$ ' + ' '.join(args), flush=True)
    p = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    print(p.stdout[-6000:], flush=True)
    return p


def build_deb(src, tmp, version):
    """The .deb built from a copy of SRC in TMP; exits 1 on failure."""
    copy = os.path.join(tmp, 'memtrace-' + version)
    shutil.copytree(src, copy, ignore=ignore, symlinks=True)
    env = dict(os.environ, DEB_BUILD_OPTIONS='nocheck parallel=2')
    p = run(['dpkg-buildpackage', '-us', '-uc', '-b'], cwd=copy, env=env)
    if p.returncode != 0:
        print('FAIL: dpkg-buildpackage exited %d' % p.returncode)
        sys.exit(1)
    arch = subprocess.run(['dpkg', '--print-architecture'], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.strip()
    base = os.path.join(tmp, 'memtrace_%s_%s' % (version, arch))
    for f in (base + '.deb', base + '.changes'):
        if not os.path.isfile(f):
            print('FAIL: dpkg-buildpackage made no %s' % f)
            sys.exit(1)
    return base


def check_lintian(changes):
    """lintian on the .changes (the .deb and .buildinfo): no error, no
    warning; its overrides (debian/*.lintian-overrides) apply."""
    p = run(['lintian', '--fail-on', 'error,warning', '--display-info', changes])
    tags = [l for l in p.stdout.splitlines() if l[:2] in ('E:', 'W:')]
    if p.returncode != 0 or tags:
        print('FAIL: lintian exited %d with %d error/warning tags' % (p.returncode, len(tags)))
        return False
    return True


def check_version(root, version):
    exe = os.path.join(root, 'usr', 'bin', 'memtrace')
    p = run([exe, '--version'])
    want = 'memtrace %s' % version
    if p.returncode != 0 or p.stdout.strip() != want:
        print('FAIL: %s --version printed %r (status %d), not %r'
              % (exe, p.stdout, p.returncode, want))
        return False
    # The agent is in the binary: nothing outside the package is read.
    p = run(['ldd', exe])
    if 'not found' in p.stdout:
        print('FAIL: a library memtrace needs is missing')
        return False
    return True


def check_man(root, version):
    page = os.path.join(root, 'usr', 'share', 'man', 'man1', 'memtrace.1.gz')
    if not os.path.isfile(page):
        print('FAIL: no %s' % page)
        return False
    with gzip.open(page, 'rt') as f:
        if '@VERSION@' in f.read():
            print('FAIL: the man page was not configured (@VERSION@ left)')
            return False
    env = dict(os.environ, MANWIDTH='80', MANPAGER='cat', PAGER='cat', LC_ALL='C.UTF-8',
               MAN_KEEP_STDERR='1')
    print('$ man -l ' + page, flush=True)
    p = subprocess.run(['man', '-l', page], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    out = p.stdout
    print(out[:1500] + '\n[...]', flush=True)
    ok = True
    if p.returncode != 0 or p.stderr.strip():
        print('FAIL: man -l exited %d: %s' % (p.returncode, p.stderr))
        ok = False
    for want in ('NAME', 'memtrace', 'SYNOPSIS', 'EXIT STATUS', version):
        if want not in out:
            print('FAIL: %r not in the formatted man page' % want)
            ok = False
    return ok


def check_completions(root, src):
    ok = True
    for name, path in COMPLETIONS.items():
        dest = os.path.join(root, path)
        if not os.path.isfile(dest):
            print('FAIL: no %s in the package' % path)
            ok = False
            continue
        with open(dest, 'rb') as a, open(os.path.join(src, 'completions', name), 'rb') as b:
            if a.read() != b.read():
                print('FAIL: %s is not completions/%s' % (path, name))
                ok = False
    return ok


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return BROKEN
    src, version = os.path.abspath(sys.argv[1]), sys.argv[2]
    for tool in ('dpkg-buildpackage', 'dh', 'lintian', 'fakeroot'):
        if not shutil.which(tool):
            print('SKIP: %s is not installed (tools/setup installs it)' % tool)
            return SKIP
    if not os.path.isfile(os.path.join(src, 'debian', 'control')):
        print('BROKEN: no debian/control in %s' % src)
        return BROKEN
    tmp = tempfile.mkdtemp(prefix='memtrace-deb-')
    try:
        base = build_deb(src, tmp, version)
        ok = check_lintian(base + '.changes')
        root = os.path.join(tmp, 'root')
        if run(['dpkg', '-x', base + '.deb', root]).returncode != 0:
            print('FAIL: dpkg -x')
            return 1
        ok = check_version(root, version) and ok
        ok = check_man(root, version) and ok
        ok = check_completions(root, src) and ok
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
