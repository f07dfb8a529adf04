#!/usr/bin/env python3
"""The census of the heap that was there before memtrace attached
(memtrace census, and the census histo and attach take at attach).

The target, census_heap (tests/targets/census_heap.cc), builds its heap
before memtrace attaches: objects of three classes with virtual functions
(cen::Gamma from two threads of its own, so two non-main arenas hold
them), untyped blocks of its own sizes, six 1 MiB mmapped blocks, and a
batch freed again (tcache, fastbins and bins hold chunks), while two churn
threads keep allocating and freeing blocks of a size nothing else uses.  It
prints what a census must find ("census type=... / size=... blocks=N
bytes=N", bytes being chunk sizes) and answers commands on stdin (park the
churn threads and print mallinfo2(), grow a class, free pre-attach blocks,
corrupt a chunk header and restore it).

One scenario per argument:

  census       memtrace census PID --json while the churn runs: exact
               blocks and bytes per class and per size of the target's own
               blocks (freed blocks not counted); the table names them;
               then, with the churn parked, the census adds up to the
               target's own mallinfo2(): census bytes + tcache_bytes +
               overhead_bytes == uordblks + hblkhd, fastbin_bytes ==
               fsmblks, fastbin_bytes + bin_bytes + top_bytes == fordblks
  histo        the census of histo --json, churn running: the same rows
  freed        histo: pre-attach blocks freed after attach are matched,
               not unknown frees (unknown_frees 0, census.freed_blocks and
               freed_bytes as the target freed); the census at attach adds
               up to mallinfo2() taken just before
  freed-attach the same with memtrace attach --json (its final object)
  diff         census --snapshot A, N more cen::Beta, census --snapshot B: diff --json
               shows delta_blocks N for cen::Beta, 0 for the other classes
               and the target's own sizes
  corrupt      a live chunk's size field overwritten (the target's 8-byte
               "overflow" of its neighbour): the census is printed, with a
               warning naming the chunk, complete false; the target keeps
               running, restores the header, checks its blocks, exits 0
  corrupt-histo the same through histo's census
  jemalloc     the target under LD_PRELOAD=libjemalloc.so.2: census null
               with the reason, and one line saying so (census and histo)
  retention    census_retention (400 MiB of 4 KiB blocks, 15 of 16 freed):
               live ~25 MiB, free-held >= 300 MB, heap.verdict retention

Scenarios that only use `memtrace census` run with one engine (it hooks
nothing); the others with both (tests/e2e/meson.build).
"""
import os
import re
import sys
import tempfile

import harness

TARGET = 'census_heap'
CLASSES = ('cen::Alpha', 'cen::Beta', 'cen::Gamma')
JEMALLOC = ('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib64/libjemalloc.so.2',
            '/usr/lib/libjemalloc.so.2', '/usr/local/lib/libjemalloc.so.2')
GROW = 37
FREE = 100


class Expect:
    """What census_heap printed before "armed"."""

    def __init__(self, lines):
        self.types = {}    # class -> (blocks, bytes)
        self.sizes = {}    # usable size -> (blocks, bytes)
        self.churn = None
        self.glibc = None
        for line in lines:
            m = re.match(r'^census (type|size)=(\S+) blocks=(\d+) bytes=(\d+)$', line)
            if m:
                row = (int(m.group(3)), int(m.group(4)))
                if m.group(1) == 'type':
                    self.types[m.group(2)] = row
                else:
                    self.sizes[int(m.group(2))] = row
            m = re.match(r'^churn size=(\d+)$', line)
            if m:
                self.churn = int(m.group(1))
            m = re.match(r'^glibc=([01])$', line)
            if m:
                self.glibc = m.group(1) == '1'
        if sorted(self.types) != sorted(CLASSES) or not self.sizes or self.churn is None \
                or self.glibc is None:
            raise harness.Broken(f'{TARGET} printed no complete expectations: {lines}')


def start(h, name=TARGET, args=()):
    """The target, told to go, up to "armed": (Target, Expect)."""
    t = h.start_target(name, args)
    t.send('go')
    t.expect_line(r'^armed$', "'armed'")
    return t, Expect(t.result.lines) if name == TARGET else None


def fields(line, what):
    got = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', line)}
    if not got:
        raise harness.Broken(f'no fields in {what}: {line!r}')
    return got


def park(t):
    """Park the churn threads: the target's mallinfo2() fields."""
    t.send('park')
    m = t.expect_line(r'^mallinfo (.*)$', "the 'mallinfo' line")
    t.expect_line(r'^parked$', "'parked'")
    return fields(m.group(1), 'the mallinfo line')


def rounds(t):
    """The churn threads' batches so far."""
    t.send('rounds')
    return int(t.expect_line(r'^rounds (\d+)$', "the 'rounds' line").group(1))


def check_churned(h, t, before, what):
    """The churn threads made batches while WHAT ran."""
    after = rounds(t)
    h.check(after > before, f'{what}: the churn threads made no batch while it ran '
            f'({before} before, {after} after)')


def census(h, pid, *args, want_rc=0):
    """memtrace census PID --json ARGS: the parsed report."""
    m = h.start_memtrace(['census', str(pid), '--json', *args])
    return m.finish(want_rc)


def census_text(h, pid, *args, want_rc=0):
    """memtrace census PID ARGS (the table): (stdout, stderr)."""
    m = h.start_memtrace(['census', str(pid), *args])
    rc = m.wait()
    h.check(rc == want_rc, f'memtrace census exited {rc}, expected {want_rc}')
    return m.out.text(), m.err.text()


def census_of(h, report, what):
    """REPORT's census object (which must be there)."""
    c = report.get('census')
    if not isinstance(c, dict):
        raise harness.Fail(f'{what}: no census object (census {c!r}, census_unavailable '
                           f'{report.get("census_unavailable")!r})')
    for key in ('allocator', 'complete', 'blocks', 'bytes', 'paused_ms', 'types', 'sizes',
                'warnings'):
        if key not in c:
            raise harness.Fail(f'{what}: census has no "{key}": {sorted(c)}')
    return c


def heap_of(report, what):
    heap = report.get('heap')
    if heap is None and isinstance(report.get('census'), dict):
        heap = report['census'].get('heap')
    if not isinstance(heap, dict):
        raise harness.Fail(f'{what}: no heap object')
    return heap


def rows(c, key, field):
    return {r[field]: (r['blocks'], r['bytes']) for r in c[key]}


def check_rows(h, c, exp, what, skip_sizes=()):
    """The census C's rows for the target's classes and sizes are exactly
    the target's expectations."""
    h.check(str(c['allocator']).startswith('glibc'),
            f'{what}: census allocator {c["allocator"]!r}, expected glibc ...')
    types = rows(c, 'types', 'type')
    sizes = rows(c, 'sizes', 'size')
    for name, want in exp.types.items():
        got = types.get(name)
        h.check(got == want, f'{what}: class {name}: census (blocks, bytes) {got}, the target '
                f'holds {want}')
    for size, want in exp.sizes.items():
        if size in skip_sizes:
            continue
        got = sizes.get(size)
        h.check(got == want, f'{what}: usable size {size}: census (blocks, bytes) {got}, the '
                f'target holds {want}')
    # The totals are the sum of the rows; every row is sorted largest first.
    for key in ('types', 'sizes'):
        h.check(c['blocks'] >= sum(r['blocks'] for r in c[key]),
                f'{what}: census blocks {c["blocks"]} below the sum of its {key} rows')
        got = [r['bytes'] for r in c[key]]
        h.check(got == sorted(got, reverse=True), f'{what}: {key} rows not largest first')
    h.check(c['blocks'] == sum(r['blocks'] for r in c['types'] + c['sizes'])
            and c['bytes'] == sum(r['bytes'] for r in c['types'] + c['sizes']),
            f'{what}: census blocks {c["blocks"]} and bytes {c["bytes"]} are not the sums of '
            f'its rows')
    harness.log(f'{what}: {len(c["types"])} classes, {len(c["sizes"])} sizes, '
                f'{c["blocks"]} blocks, {c["bytes"]} bytes, paused {c["paused_ms"]} ms')


def check_mallinfo(h, c, mi, what):
    """With the churn parked, the census adds up to mallinfo2() (the
    definitions of census_report.h and glheap.h): the live chunks, the
    tcache's (in use for mallinfo) and the arenas' own headers are the
    allocator's in-use bytes; fastbins, bins and top its free bytes."""
    for key in ('tcache_bytes', 'fastbin_bytes', 'bin_bytes', 'top_bytes', 'overhead_bytes'):
        if not isinstance(c.get(key), int):
            h.check(False, f'{what}: census has no integer {key}: {c.get(key)!r}')
            return
    inuse = c['bytes'] + c['tcache_bytes'] + c['overhead_bytes']
    h.check(inuse == mi['uordblks'] + mi['hblkhd'],
            f'{what}: census bytes {c["bytes"]} + tcache_bytes {c["tcache_bytes"]} + '
            f'overhead_bytes {c["overhead_bytes"]} = {inuse}, mallinfo2 uordblks '
            f'{mi["uordblks"]} + hblkhd {mi["hblkhd"]} = {mi["uordblks"] + mi["hblkhd"]} '
            f'(off by {inuse - mi["uordblks"] - mi["hblkhd"]})')
    h.check(c['fastbin_bytes'] == mi['fsmblks'],
            f'{what}: census fastbin_bytes {c["fastbin_bytes"]}, mallinfo2 fsmblks '
            f'{mi["fsmblks"]}')
    free = c['fastbin_bytes'] + c['bin_bytes'] + c['top_bytes']
    h.check(free == mi['fordblks'],
            f'{what}: census fastbin + bin + top bytes {free}, mallinfo2 fordblks '
            f'{mi["fordblks"]}')
    # The target froze a batch in each place: none may be empty.
    for key in ('tcache_bytes', 'fastbin_bytes', 'bin_bytes', 'top_bytes'):
        h.check(c[key] > 0, f'{what}: census {key} is 0, the target left chunks there')


def check_no_child(h, t, what):
    """The copy was killed and reaped: the target has no child left."""
    left = harness.children(t.pid)
    h.check(not left, f'{what}: the target has children left (pid, state): {left}')


def finish_target(t):
    t.send('exit')
    t.wait_exit(0)


def histo(h, t):
    """histo PID --json --duration 0 up to its tracing line: Memtrace."""
    return h.attach(t)


# -- scenarios ---------------------------------------------------------------

def scenario_census(h):
    t, exp = start(h)
    before = rounds(t)
    c = census_of(h, census(h, t.pid), 'census (churn running)')
    check_churned(h, t, before, 'census')
    h.check(c['complete'] is True, f'census (churn running): complete {c["complete"]!r}, '
            f'warnings {c["warnings"]}')
    check_rows(h, c, exp, 'census (churn running)')

    out, err = census_text(h, t.pid)
    for name, (blocks, nbytes) in exp.types.items():
        h.check(re.search(rf'^\s*\d+\s+{blocks}\s+{nbytes}\s+{re.escape(name)}\s*$', out, re.M),
                f'the census table has no row "RANK {blocks} {nbytes} {name}":\n{out}')

    mi = park(t)
    c = census_of(h, census(h, t.pid), 'census (churn parked)')
    check_rows(h, c, exp, 'census (churn parked)')
    check_mallinfo(h, c, mi, 'census (churn parked)')
    check_no_child(h, t, 'census')
    t.send('unpark')
    t.expect_line(r'^unparked$', "'unparked'")
    finish_target(t)


def scenario_histo(h):
    t, exp = start(h)
    before = rounds(t)
    m = histo(h, t)
    check_churned(h, t, before, 'histo')
    report = m.stop()
    c = census_of(h, report, 'histo')
    h.check(c['complete'] is True, f'histo: census complete {c["complete"]!r}, warnings '
            f'{c["warnings"]}')
    check_rows(h, c, exp, 'histo')
    h.check_released(t.pid)
    check_no_child(h, t, 'histo')
    finish_target(t)


def scenario_freed(h, command):
    t, exp = start(h)
    mi = park(t)      # the churn holds nothing: its frees are not ours
    if command == 'attach':
        m = h.start_memtrace(['attach', str(t.pid), '--json', '--interval', '3600'])
        m.wait_tracing()
    else:
        m = histo(h, t)
    t.send(f'free {FREE}')
    freed = fields(t.expect_line(r'^freed (.*)$', "the 'freed' line").group(1), 'freed')
    report = m.stop()
    if command == 'attach':
        finals = [harness.parse_json(line, 'attach line') for line in m.out.lines
                  if line.startswith('{')]
        if not finals or not finals[-1].get('final'):
            raise harness.Fail(f'attach --json printed no final object: {m.out.lines[-3:]}')
        report = finals[-1]
    c = census_of(h, report, command)
    check_rows(h, c, exp, f'{command} (census at attach)')
    check_mallinfo(h, c, mi, f'{command} (census at attach, mallinfo2 just before)')
    h.check(report.get('unknown_frees') == 0,
            f'{command}: unknown_frees {report.get("unknown_frees")}, expected 0: the '
            f'{FREE} blocks freed after attach were censused')
    h.check(c.get('freed_blocks') == freed['blocks'] and c.get('freed_bytes') == freed['bytes'],
            f'{command}: census freed_blocks {c.get("freed_blocks")} freed_bytes '
            f'{c.get("freed_bytes")}, the target freed {freed["blocks"]} blocks of '
            f'{freed["bytes"]} bytes')
    h.check_released(t.pid)
    t.send('unpark')
    t.expect_line(r'^unparked$', "'unparked'")
    finish_target(t)


def scenario_diff(h):
    t, exp = start(h)
    with tempfile.TemporaryDirectory(prefix='mt-census-') as tmp:
        a, b = os.path.join(tmp, 'a.mtsnap'), os.path.join(tmp, 'b.mtsnap')
        census(h, t.pid, '--snapshot', a)
        t.send(f'grow {GROW}')
        grown = fields(t.expect_line(r'^grown (.*)$', "the 'grown' line").group(1), 'grown')
        census(h, t.pid, '--snapshot', b)
        for path in (a, b):
            h.check(os.path.getsize(path) > 0, f'{path} is empty')
        m = h.start_memtrace(['diff', a, b, '--json'])
        report = m.finish()
        text = h.start_memtrace(['diff', a, b])
        h.check(text.wait() == 0, 'memtrace diff A B (the table) failed')
    for key in ('types', 'sizes'):
        if not isinstance(report.get(key), list):
            raise harness.Fail(f'diff --json has no "{key}" list: {sorted(report)}')
    types = {r['type']: r for r in report['types']}
    for name in CLASSES:
        r = types.get(name)
        want = (GROW, grown['bytes']) if name == 'cen::Beta' else (0, 0)
        got = (r['delta_blocks'], r['delta_bytes']) if r else (0, 0)
        h.check(got == want, f'diff: class {name}: (delta_blocks, delta_bytes) {got}, '
                f'expected {want}: {r}')
        if r:
            h.check(r['blocks_a'] == exp.types[name][0] and r['bytes_a'] == exp.types[name][1]
                    and r['blocks_b'] - r['blocks_a'] == r['delta_blocks']
                    and r['bytes_b'] - r['bytes_a'] == r['delta_bytes'],
                    f'diff: class {name}: row {r}, the target held {exp.types[name]} in A')
    sizes = {r['size']: r for r in report['sizes']}
    for size in exp.sizes:
        r = sizes.get(size)
        h.check(r is None or (r['delta_blocks'] == 0 and r['delta_bytes'] == 0),
                f'diff: usable size {size} changed, the target did not: {r}')
    h.check('cen::Beta' in text.out.text(),
            f'the diff table does not name cen::Beta:\n{text.out.text()}')
    finish_target(t)


def scenario_corrupt(h, command):
    t, exp = start(h)
    if not exp.glibc:
        raise harness.Broken(f'{TARGET}: malloc is not glibc\'s')
    t.send('corrupt')
    m = t.expect_line(r'^corrupted chunk=(0x[0-9a-f]+) block=(0x[0-9a-f]+)$',
                      "the 'corrupted' line")
    chunk, block = int(m.group(1), 16), int(m.group(2), 16)
    names = (f'{chunk:#x}', f'{block:#x}')

    def names_it(text):
        return any(n in text for n in names)

    if command == 'histo':
        mt = histo(h, t)
        report = mt.stop()
        text = mt.err.text()
    else:
        report = census(h, t.pid)
        out, err = census_text(h, t.pid)
        text = out + err
        h.check(any(names_it(line) and 'warning' in line for line in text.splitlines()),
                f'the census table names no warning for chunk {names[0]} (block '
                f'{names[1]}):\n{text}')
    c = census_of(h, report, command)
    h.check(c['complete'] is False, f'{command}: census complete {c["complete"]!r} over a '
            f'corrupted chunk')
    h.check(any(names_it(w) for w in c['warnings']),
            f'{command}: no census warning names chunk {names[0]} (block {names[1]}): '
            f'{c["warnings"]}')
    # The two threads' arenas are not the corrupted one: walked whole.
    want = exp.types['cen::Gamma']
    got = rows(c, 'types', 'type').get('cen::Gamma')
    h.check(got == want, f'{command}: cen::Gamma (other arenas) {got}, the target holds {want}')
    h.check(t.running(), f'{TARGET} died while the census looked at its corrupted heap')
    if command == 'histo':
        h.check_released(t.pid)
    t.send('restore')
    t.expect_line(r'^restored$', "'restored'")
    finish_target(t)


def scenario_jemalloc(h):
    lib = next((p for p in JEMALLOC if os.path.exists(p)), None)
    if not lib:
        h.skip('libjemalloc.so.2 is not installed (tools/setup installs it)')
    h.target_env = dict(os.environ, LD_PRELOAD=lib)
    h.allocator = 'libjemalloc.so'
    t, exp = start(h)
    if exp.glibc:
        raise harness.Broken(f'{TARGET} under {lib} says its malloc is glibc\'s')

    def unavailable(report, what):
        h.check('census' in report and report['census'] is None,
                f'{what}: census {report.get("census")!r}, expected null')
        why = report.get('census_unavailable')
        h.check(isinstance(why, str) and 'jemalloc' in why,
                f'{what}: census_unavailable {why!r} does not name jemalloc')

    # memtrace census: no census is its failure, exit status 15 (and the
    # JSON object all the same); the reason is its one error line.
    m = h.start_memtrace(['census', str(t.pid), '--json'])
    h.check(m.wait() == 15, f'memtrace census --json exited {m.popen.returncode}, '
            f'expected 15 (no census)')
    unavailable(harness.parse_json(m.out.text(), 'memtrace census --json'), 'census --json')
    out, err = census_text(h, t.pid, want_rc=15)
    said = [line for line in (out + err).splitlines() if line.strip()]
    h.check(len(said) == 1 and 'census' in said[0] and 'jemalloc' in said[0],
            f'memtrace census: {len(said)} lines, expected one saying there is no census '
            f'for jemalloc:\n{out}{err}')
    m = histo(h, t)
    unavailable(m.stop(), 'histo --json')
    said = [line for line in m.err.lines if 'census:' in line]
    h.check(len(said) == 1 and 'jemalloc' in said[0],
            f'histo: {len(said)} lines about the census on stderr, expected one naming '
            f'jemalloc: {said}')
    finish_target(t)


def mem_available():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
    return 0


def scenario_retention(h):
    need = 1 << 30   # the target's 400 MiB, memtrace's walk, and room to spare
    if mem_available() < need:
        h.skip(f'MemAvailable {mem_available() >> 20} MiB: the retention target needs '
               f'{need >> 20} MiB free')
    t, _ = start(h, 'census_retention')
    live = fields(next(ln for ln in t.result.lines if ln.startswith('census size=')), 'live')
    size = live['size']
    freed = fields(next(ln for ln in t.result.lines if ln.startswith('freed ')), 'freed')
    report = census(h, t.pid)
    c = census_of(h, report, 'census')
    heap = heap_of(report, 'census')
    got = rows(c, 'sizes', 'size').get(size)
    h.check(got == (live['blocks'], live['bytes']),
            f'usable size {size}: census (blocks, bytes) {got}, the target holds '
            f'{(live["blocks"], live["bytes"])}')
    # Live: the target's 25 MiB and the C library's few blocks.
    h.check(live['bytes'] <= c['bytes'] <= live['bytes'] + (1 << 20),
            f'census bytes {c["bytes"]}, the target holds {live["bytes"]} (+ <= 1 MiB)')
    h.check(heap.get('live_bytes') == c['bytes'],
            f'heap.live_bytes {heap.get("live_bytes")}, census bytes {c["bytes"]}')
    h.check(heap.get('free_bytes', 0) >= 300_000_000,
            f'heap.free_bytes {heap.get("free_bytes")}, the target freed {freed["bytes"]}')
    h.check(heap.get('free_bytes', 0) >= freed['bytes'],
            f'heap.free_bytes {heap.get("free_bytes")} below the {freed["bytes"]} bytes freed')
    h.check(heap.get('verdict') == 'retention', f'heap.verdict {heap.get("verdict")!r}, '
            f'expected retention: {heap}')
    trim = heap.get('trimmable_bytes', -1)
    h.check(300_000_000 <= trim <= heap.get('free_bytes', 0),
            f'heap.trimmable_bytes {trim}: 60 KiB free runs of resident pages, '
            f'{freed["bytes"]} bytes freed, free_bytes {heap.get("free_bytes")}')
    h.check(heap.get('rss_bytes', 0) >= freed['bytes'] + live['bytes'],
            f'heap.rss_bytes {heap.get("rss_bytes")}, the target wrote every page of '
            f'{freed["bytes"] + live["bytes"]} bytes')
    h.check(heap.get('mapped_bytes', 0) >= freed['bytes'] + live['bytes'],
            f'heap.mapped_bytes {heap.get("mapped_bytes")} below what the target allocated')
    out, err = census_text(h, t.pid)
    h.check('retention' in out + err, f'the census table does not say retention:\n{out}{err}')
    finish_target(t)


SCENARIOS = {
    'census': scenario_census,
    'histo': scenario_histo,
    'freed': lambda h: scenario_freed(h, 'histo'),
    'freed-attach': lambda h: scenario_freed(h, 'attach'),
    'diff': scenario_diff,
    'corrupt': lambda h: scenario_corrupt(h, 'census'),
    'corrupt-histo': lambda h: scenario_corrupt(h, 'histo'),
    'jemalloc': scenario_jemalloc,
    'retention': scenario_retention,
}


def test(h):
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        h.broken(f'usage: test_census.py {"|".join(SCENARIOS)}')
    SCENARIOS[sys.argv[1]](h)


harness.main(test)
