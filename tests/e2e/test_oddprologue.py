#!/usr/bin/env python3
"""histo on target_oddprologue, whose calloc and free are its own, with
prologues the inject engine's jump cannot take (a branch back into the
bytes it would cover): with the inject engine they keep breakpoints while
malloc and realloc take trampolines.  Exact counts per site with blocks
handed between two threads across the two engines, and calloc's own call
to malloc counted once, as the calloc.

With the inject engine: memtrace warns about each of the two functions,
the report names the engine of each hook (breakpoint for calloc and free,
inject for malloc), and the rest of the report says inject.  With the
breakpoint engine every hook says breakpoint and nothing is warned."""
import harness

ODD = ('calloc', 'free')


def check_hooks(h, report):
    engine = harness.test_engine() or report['engine']
    by_name = {hk['symbol']: hk for hk in report['hooks']}
    for name in ('malloc', 'realloc') + ODD:
        hk = by_name.get(name)
        if not h.check(hk is not None, f'no hook for {name}: {sorted(by_name)}'):
            continue
        want = 'breakpoint' if name in ODD or engine == 'breakpoint' else 'inject'
        h.check(hk.get('engine') == want,
                f'hook {name} ({hk["module"]}): engine {hk.get("engine")!r}, expected {want!r}')
        if name in ODD:
            h.check(hk['module'].endswith('/target_oddprologue'),
                    f'hook {name} is in {hk["module"]}, not the program')
    h.check(report['lost_events'] == 0, f'{report["lost_events"]} events lost')
    # calloc's own malloc is nested: counted once, as the calloc.  Counted
    # twice, its 200-odd blocks would make a site of their own (the caller
    # inside calloc); besides the target's functions, only a few blocks of
    # libc's own (the worker thread's TLS) may be seen.
    mine = {'make_malloc', 'make_calloc', 'worker_alloc', 'grow'}
    others = [s for s in report['sites'] if s['function'] not in mine]
    h.check(sum(s['allocs'] for s in others) <= 5,
            f'blocks at sites outside the target\'s functions: {others}')


def check_warnings(h, m):
    engine = harness.test_engine()
    for name in ODD:
        line = m.saw(f'memtrace: warning: {name} at ')
        if engine == 'breakpoint':
            h.check(line is None, f'unexpected warning with the breakpoint engine: {line}')
            continue
        h.check(line is not None and 'is traced by the breakpoint engine' in line
                and 'SIGKILL' in line and 'patched bytes' in line,
                f'no warning that {name} is traced by the breakpoint engine, and why: {line}')


def test(h):
    h.scenario('target_oddprologue',
               report_check=lambda r, res: check_hooks(h, r),
               memtrace_check=lambda m: check_warnings(h, m))


harness.main(test)
