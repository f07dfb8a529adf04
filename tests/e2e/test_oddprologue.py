#!/usr/bin/env python3
"""histo on target_oddprologue, whose calloc and free are its own, with
prologues the inject engine's jump cannot take (a branch back into the
bytes it would cover).

With the breakpoint engine: all four functions are hooked by breakpoints
and every count is exact (calloc's own call to malloc counted once, as the
calloc), blocks handed between two threads.

With the inject engine (issue 16): memtrace plants nothing it cannot
patch safely, so calloc and free stay unhooked and their bytes in the
running target are the file's while memtrace traces (a breakpoint there
would kill the process at its next call if memtrace were SIGKILLed).
memtrace warns about each, the JSON report lists them under "unhooked"
with why, and the table's header says their calls are unseen.  What is
seen is exact: every allocation at its site (calloc's malloc counted
once, at calloc's caller); frees are not all seen, and the report never
counts more than were made, nor fewer than realloc made (info
worker_regrown)."""
import harness

ODD = ('calloc', 'free')


def check_bp(h, report, result):
    h.check(report['unhooked'] == [], f'unhooked with the breakpoint engine: '
            f'{report["unhooked"]}')
    by_name = {hk['symbol']: hk for hk in report['hooks']}
    for name in ODD:
        hk = by_name.get(name)
        if h.check(hk is not None, f'no hook for {name}: {sorted(by_name)}'):
            h.check(hk['module'].endswith('/target_oddprologue'),
                    f'hook {name} is in {hk["module"]}, not the program')
    mine = {'make_malloc', 'make_calloc', 'worker_alloc', 'grow'}
    others = [s for s in report['sites'] if s['function'] not in mine]
    h.check(sum(s['allocs'] for s in others) <= 5,
            f'blocks at sites outside the target\'s functions: {others}')


def file_bytes(path, offset, n=16):
    with open(path, 'rb') as f:
        f.seek(offset)
        return f.read(n)


def mem_bytes(pid, addr, n=16):
    with open(f'/proc/{pid}/mem', 'rb', buffering=0) as mem:
        mem.seek(addr)
        return mem.read(n)


def program_symbols(t):
    """{name: (address, file offset)} of the program's calloc and free."""
    with open(t.exe, 'rb') as f:
        syms = harness._dynamic_symbols(f.read(), t.exe)
    maps = [mp for mp in harness._maps(t.pid) if harness._same_file(mp[3], t.exe)]
    base = min(mp[0] - mp[2] for mp in maps)
    out = {}
    for name in ODD:
        if name not in syms:
            raise harness.Broken(f'{t.exe} does not define {name}')
        addr = base + syms[name]
        mp = [m for m in maps if m[0] <= addr < m[1]][0]
        out[name] = (addr, mp[2] + addr - mp[0])
    return out


def test_inject(h):
    t = h.start_target('target_oddprologue')
    syms = program_symbols(t)
    m = h.attach(t)
    t.send('go')
    result = t.collect()
    # While traced: nothing planted in the functions memtrace cannot patch.
    for name, (addr, off) in syms.items():
        live, disk = mem_bytes(t.pid, addr), file_bytes(t.exe, off)
        h.check(live == disk, f'{name} at {addr:#x} while traced: memory {live.hex()}, '
                f'file {disk.hex()}')
    report = m.stop()
    h.check_tracing_line(m, report)
    h.check_released(t.pid)
    h.check(report['engine'] == 'inject', f'report engine {report["engine"]!r}')
    h.check(all(hk['engine'] == 'inject' for hk in report['hooks']),
            f'hooks not all inject: {report["hooks"]}')
    hooked = {hk['symbol'] for hk in report['hooks']}
    h.check('malloc' in hooked and 'realloc' in hooked and not hooked & set(ODD),
            f'hooks {sorted(hooked)}: expected malloc and realloc, not {ODD}')
    unhooked = {u['symbol']: u for u in report.get('unhooked', [])}
    h.check(sorted(unhooked) == sorted(ODD), f'unhooked {sorted(unhooked)}, expected {ODD}')
    for name, u in unhooked.items():
        h.check(u['module'].endswith('/target_oddprologue') and 'branch' in u['why']
                and int(u['address'], 16) == syms.get(name, (0,))[0],
                f'unhooked {name}: {u}, expected the program\'s, at {syms.get(name)}, '
                'a branch under the patched bytes')
        line = m.saw(f'memtrace: warning: {name} at ')
        h.check(line is not None and 'not traced, its calls are not seen' in line
                and 'branch' in line, f'no warning that {name} is not traced: {line}')
    h.check(m.saw('memtrace: warning: memtrace\'s agent') is None, 'agent warning')
    h.check(report['lost_events'] == 0, f'{report["lost_events"]} events lost')

    # Every allocation is seen, at its site (calloc's malloc, now an
    # outermost call, is named for calloc's caller, calloc being an
    # allocator's name); frees are not all seen: only realloc's, and those
    # the tracker infers when an address is handed out again, never more
    # than were made.
    want = result.expects
    regrown = int(result.info['worker_regrown'])
    sites = report['sites']

    def got(function):
        mine = [s for s in sites if s['function'] == function]
        return {k: sum(s[k] for s in mine) for k in harness.SITE_FIELDS}

    for function in want:
        g, w = got(function), want[function]
        least = regrown if function == 'worker_alloc' else 0
        h.check(g['allocs'] == w['allocs'] and least <= g['frees'] <= w['frees']
                and g['live_blocks'] == g['allocs'] - g['frees'],
                f'{function}: reported {g}, expected allocs {w["allocs"]} and between '
                f'{least} and {w["frees"]} frees')

    # The table says which calls are unseen.
    m2 = h.start_memtrace(['histo', str(t.pid), '--duration', '0.2'])
    m2.wait_tracing()
    h.check(m2.wait() == 0, 'memtrace histo (table) failed')
    unseen = [ln for ln in m2.out.lines if ln.startswith('unseen: ')]
    h.check(len(unseen) == 1 and 'calloc (target_oddprologue)' in unseen[0]
            and 'free (target_oddprologue)' in unseen[0] and 'not exact' in unseen[0],
            f'table header: {unseen}')
    h.check_released(t.pid)
    t.send('exit')
    t.wait_exit(0)
    untraced = h.run_untraced('target_oddprologue')
    h.check(result.done == untraced.done, f'done line traced: {result.done}, untraced: '
            f'{untraced.done}')


def test(h):
    if harness.test_engine() == 'breakpoint':
        h.scenario('target_oddprologue', report_check=lambda r, res: check_bp(h, r, res))
    else:
        test_inject(h)


harness.main(test)
