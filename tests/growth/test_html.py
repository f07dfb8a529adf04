#!/usr/bin/env python3
"""The HTML report (--format html, memtrace report) in a real browser.

grow_steps plants K blocks at planted_grow on every "step".  One
`memtrace attach --format html` session traces it from before its first
allocation; after each of three rounds of steps, `memtrace snapshot PID -o`
takes a snapshot from that session.  Then:

  - `memtrace report S1 S2 S3 -o report.html` (given out of order): its
    data holds planted_grow's live bytes in each snapshot, exactly what
    grow_steps said it held after each round, in time order;
  - attach's page (its stdout at SIGINT) holds planted_grow with what the
    target holds at the end;
  - headless Chromium (Debian's chromium) loads each page from the file:
    no message on its console (errors and uncaught exceptions are logged
    there, --enable-logging=stderr), and the DOM it renders has the sites
    table naming planted_grow, a chart (a uPlot <canvas> per site with a
    series) and the flame graph (an <svg> with a planted_grow box);
  - a screenshot of the report lands beside the test's build directory,
    its path in the log.

Skipped (77) without chromium, which tools/setup installs.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import growthcheck
import harness
from growthcheck import Fail, log

ROUNDS = 3
STEPS = 2
BROWSER_TIMEOUT = 180


def page_data(html, what):
    """The JSON document the page renders, parsed."""
    m = re.search(r'<script type="application/json" id="memtrace-data">(.*?)</script>', html,
                  re.S)
    if not m:
        raise Fail(f'{what}: no memtrace-data element')
    return json.loads(m.group(1))


def browse(h, path, screenshot=None):
    """Chromium, headless, on PATH: (DOM after the scripts ran, console
    lines).  A SCREENSHOT path also takes a screenshot there."""
    exe = shutil.which('chromium')
    profile = tempfile.mkdtemp(prefix='mt-chromium-')
    argv = [exe, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
            f'--user-data-dir={profile}', '--enable-logging=stderr', '--v=0',
            '--window-size=1280,2000', '--virtual-time-budget=10000']
    argv += [f'--screenshot={screenshot}'] if screenshot else ['--dump-dom']
    argv.append('file://' + path)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=BROWSER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise Fail(f'chromium did not finish with {path} within {BROWSER_TIMEOUT} s') from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    err = err.decode('utf-8', 'replace')
    if p.returncode != 0:
        log(err)
        raise Fail(f'chromium exited {p.returncode} on {path}')
    console = [line for line in err.splitlines() if ':CONSOLE' in line]
    return out.decode('utf-8', 'replace'), console


def check_dom(h, path, what):
    dom, console = browse(h, path)
    h.check(not console, f'{what}: the browser console says {console}')
    sites = re.search(r'<table id="sites">(.*?)</table>', dom, re.S)
    h.check(sites and re.search(r'<td class="n">planted_grow\+0x[0-9a-f]+ ', sites.group(1)),
            f'{what}: the sites table names no planted_grow row')
    charts = re.search(r'<div id="charts" class="charts">(.*?)<h2>', dom, re.S)
    h.check(charts and '<canvas' in charts.group(1) and 'planted_grow' in charts.group(1),
            f'{what}: no chart (canvas) for planted_grow')
    flame = re.search(r'<div id="flame">(.*?)<h2>', dom, re.S)
    h.check(flame and '<svg' in flame.group(1) and 'planted_grow' in flame.group(1),
            f'{what}: no flame graph (svg) with planted_grow')
    if h.failures:
        log(f'{what}: DOM was {len(dom)} bytes: {dom[:2000]}')


def planted(data):
    return [s for s in data['sites'] if s['function'] == 'planted_grow']


def test(h):
    if not shutil.which('chromium'):
        h.skip('no chromium (Debian package chromium, installed by tools/setup)')
    tmp = tempfile.mkdtemp(prefix='mt-html-')
    try:
        run(h, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(h, tmp):
    t = growthcheck.start_steps(h)
    m = h.start_memtrace(['attach', str(t.pid), '--interval', '60', '--format', 'html'])
    m.wait_tracing()
    growthcheck.go(t)
    snaps, held = [], []
    for i in range(ROUNDS):
        fields = growthcheck.step(t, STEPS)
        path = os.path.join(tmp, f's{i}.mtsnap')
        r = growthcheck.run_mt(h, ['snapshot', t.pid, '-o', path])
        if not growthcheck.check_ok(h, r) or not os.path.isfile(path):
            m.dump()
            raise Fail(f'`memtrace snapshot {t.pid} -o {path}` while attach runs: no snapshot')
        snaps.append(path)
        held.append(fields['planted_bytes'])
    rc = growthcheck.sigint(m)
    if not h.check(rc == 0, f'memtrace attach exited {rc} after SIGINT, expected 0'):
        m.dump()
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)
    log(f'planted_grow held {held} bytes after each round')
    h.check(held[0] < held[1] < held[2], f'grow_steps did not grow: {held}')

    # memtrace report over the snapshots, given newest first
    out = os.path.join(tmp, 'report.html')
    r = growthcheck.run_mt(h, ['report', *reversed(snaps), '-o', out], engine=False)
    if not growthcheck.check_ok(h, r, '`memtrace report`') or not os.path.isfile(out):
        raise Fail('memtrace report wrote no page')
    h.check(r.out == '', f'memtrace report -o printed {len(r.out)} bytes on stdout')
    with open(out, encoding='utf-8') as f:
        html = f.read()
    # self-contained: nothing for the browser to fetch
    h.check(not re.search(r'<(script|img|iframe)[^>]* src=|<link ', html),
            'report: the page loads something from elsewhere')
    data = page_data(html, 'report')
    rows = planted(data)
    if h.check(rows and all(s['series'] for s in rows), 'report: no planted_grow series'):
        got = [sum(s['series']['bytes'][k] for s in rows) for k in range(ROUNDS)]
        h.check(got == held, f'report: planted_grow series {got}, grow_steps held {held}')
        ts = rows[0]['series']['t']
        h.check(ts == sorted(ts), f'report: series times not in order: {ts}')
    h.check(data['header']['lost_events'] == 0, 'report: lost events')
    check_dom(h, out, 'report')

    # attach's page
    page = os.path.join(tmp, 'attach.html')
    with open(page, 'w', encoding='utf-8') as f:
        f.write(m.out.text())
    data = page_data(m.out.text(), 'attach')
    rows = planted(data)
    h.check(rows and sum(s['live_bytes'] for s in rows) == held[-1],
            f'attach: planted_grow live bytes {[s["live_bytes"] for s in rows]}, '
            f'grow_steps held {held[-1]}')
    h.check(rows and all(s['series'] and s['series']['bytes'][-1] == s['live_bytes']
                         for s in rows), 'attach: planted_grow series does not end at its bytes')
    check_dom(h, page, 'attach')

    engine = os.environ.get('MT_TEST_ENGINE', 'inject')
    shot = os.path.join(os.environ.get('GROWTH_TARGETS', tmp), f'html_report_{engine}.png')
    browse(h, out, screenshot=shot)
    h.check(os.path.getsize(shot) > 10000, f'screenshot {shot} is nearly empty')
    log(f'screenshot of the report: {shot}')


growthcheck.main(test)
