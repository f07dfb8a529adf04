#!/usr/bin/env python3
"""debuginfod with DEBUGINFOD_URLS: a debuginfod server on 127.0.0.1 (this
script, no network) for stk_fanout_stripped, whose functions have no
symbols here.

  test_debuginfod.py serve   the server has the debug file (objcopy
                             --only-keep-debug of the unstripped twin, same
                             build-id): memtrace asks for it by build-id and
                             names the functions (pool_alloc, the callers),
                             exact counts; no missing-symbols hint
  test_debuginfod.py silent  the server accepts and never answers, with
                             DEBUGINFOD_TIMEOUT=1: memtrace still ends with
                             its report (names from .eh_frame), the server
                             was asked, and the hint says its servers had
                             nothing

The client's cache goes to a temporary DEBUGINFOD_CACHE_PATH."""
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import stackcheck
from stackcheck import module_is, site_text


def build_id(h, path):
    out = subprocess.run(['readelf', '-n', path], capture_output=True, text=True).stdout
    m = re.search(r'Build ID: ([0-9a-f]+)', out)
    if not m:
        h.broken(f'{path} has no build-id note')
    return m.group(1)


class Server:
    """A debuginfod stand-in: GET /buildid/ID/debuginfo serves FILES[ID];
    with silent, every request waits until the server is closed."""

    def __init__(self, files, silent):
        self.requests = []
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                if silent:
                    outer.release.wait(120)
                    return
                m = re.fullmatch(r'/buildid/([0-9a-f]+)/debuginfo', self.path)
                path = files.get(m.group(1)) if m else None
                if not path:
                    self.send_error(404)
                    return
                with open(path, 'rb') as f:
                    data = f.read()
                self.send_response(200)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in ('serve', 'silent'):
        h.broken('usage: test_debuginfod.py serve|silent')
    mode = sys.argv[1]
    if not shutil.which('objcopy') or not shutil.which('readelf'):
        h.skip('objcopy or readelf (binutils) is missing')
    if not any(os.path.exists(os.path.join(d, 'libdebuginfod.so.1'))
               for d in ('/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64',
                         '/usr/lib')):
        h.skip('libdebuginfod.so.1 (libdebuginfod1) is missing: libdw cannot ask servers')
    exe = h.target_path('stk_fanout_stripped')
    full = h.target_path('stk_fanout')
    bid = build_id(h, exe)
    if build_id(h, full) != bid:
        h.broken(f'{exe} and {full} have different build-ids')
    tmp = tempfile.mkdtemp(prefix='stk_debuginfod_')
    server = None
    try:
        debug = os.path.join(tmp, 'stk_fanout.debug')
        p = subprocess.run(['objcopy', '--only-keep-debug', full, debug], capture_output=True,
                           text=True)
        if p.returncode != 0:
            h.broken(f'objcopy --only-keep-debug: {p.stderr.strip()}')
        server = Server({bid: debug}, mode == 'silent')
        os.environ['DEBUGINFOD_URLS'] = server.url
        os.environ['DEBUGINFOD_CACHE_PATH'] = os.path.join(tmp, 'cache')
        if mode == 'silent':
            os.environ['DEBUGINFOD_TIMEOUT'] = '1'
        else:
            os.environ.pop('DEBUGINFOD_TIMEOUT', None)
        seen = {}
        t, result, report = stackcheck.traced(
            h, 'stk_fanout_stripped', (), ['--group-by', 'function'], check=False,
            memtrace_check=lambda m, r: seen.update(err=list(m.err.lines)))
        stackcheck.check_report(h, report, t.pid, [exe], group_by='function')
        err = seen.get('err', [])
        asked = [r for r in server.requests if r == f'/buildid/{bid}/debuginfo']
        h.check(asked, f'the server was not asked for /buildid/{bid}/debuginfo: '
                f'{server.requests}')
        mine = [s for s in report['sites'] if module_is(s.get('module'), exe)]
        want = result.expects['pool_alloc']
        nosym = [line for line in err if 'has no symbols' in line]
        if mode == 'serve':
            rows = [s for s in mine if s.get('function') == 'pool_alloc']
            got = stackcheck.sum_sites(rows)
            if not h.check(len(mine) == 1 and got == want,
                           'with the debug file served: expected one row pool_alloc'):
                stackcheck.log_counts(want, got)
                for s in mine:
                    stackcheck.log('    ' + site_text(s))
            callers = {fr.get('function') for s in mine for fr in (s.get('stack') or [])[2:3]}
            h.check(callers and all(re.fullmatch(r'caller\d+', c or '') for c in callers),
                    f'callers named {sorted(map(str, callers))}, expected callerN')
            h.check(not nosym, f'missing-symbols hint although debuginfod served them: {nosym}')
        else:
            base = os.path.basename(exe)
            h.check(len(mine) == 1 and mine[0].get('function', '').startswith(base + '+0x')
                    and stackcheck.sum_sites(mine) == want,
                    f'expected one row named {base}+0x... with every block: '
                    + '; '.join(site_text(s) for s in mine))
            h.check(len(nosym) == 1 and 'its servers had none' in nosym[0],
                    f'expected the hint to say the debuginfod servers had nothing: {nosym}')
    finally:
        if server:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


stackcheck.main(test)
