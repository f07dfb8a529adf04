"""Checks of memtrace's call stacks (issue 3), on top of tests/e2e/harness.py.

The e2e harness runs the protocol (ready / go / expect / done / exit); this
module adds what stacks need:

  - StackResult: also parses "expect stack=F1,F2,... blocks=N bytes=N
    allocs=N frees=N [lines=L1,L2,...] [files=a.c,b.c,...] [inlined=1,0,...]
    [module=NAME]" lines (tests/stacks/stk.h);
  - StackTarget: a target started from any path or argv (a copy in a
    temporary directory, a command under unshare);
  - check_report(): the report's own rules: lost_events 0, "depth" and
    "group_by", every site's "stack" well formed, the site being the first
    frame outside the allocator and the wrappers, no site named after the
    allocator, demangled names, totals;
  - check_paths(): every expectation exact, and no site in the target's own
    modules that no expectation accounts for;
  - traced(): the whole flow, including the restored bytes, the released
    threads and the same checksum as an untraced run.

Environment: MEMTRACE (the memtrace executable), STACK_TARGETS (the build
directory of tests/stacks); E2E_TIMEOUT as in harness.py.
"""

import fnmatch
import json
import os
import re
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, '..', 'e2e'))
if os.environ.get('STACK_TARGETS'):
    # harness.Harness finds targets through TARGETS.
    os.environ['TARGETS'] = os.environ['STACK_TARGETS']

import harness  # noqa: E402
from harness import Fail, log  # noqa: E402,F401

SITE_FIELDS = ('live_blocks', 'live_bytes', 'allocs', 'frees')
FRAME_KEYS = ('function', 'module', 'file', 'line', 'address', 'inlined')
DEFAULT_DEPTH = 32

# Modules of the allocator: glibc's malloc family and the C++ runtimes'
# operator new/delete.  The innermost frame must be in one of them.
ALLOCATOR_MODULES = ('libc.so', 'libstdc++.so', 'libc++.so', 'libc++abi.so')

# The allocator's own functions and the default wrappers (contract: glibc's
# malloc family, operator new/delete variants, strdup/strndup), under the
# names a symbol table may give them (glibc's __libc_malloc, __GI_...).
# Frames so named at the start of a stack are not the site, and no site may
# be so named.
ALLOCATOR_NAME_RE = re.compile(
    r'^(?:__GI_)?(?:__libc_|__)?'
    r'(?:malloc|calloc|realloc|reallocarray|free|memalign|posix_memalign|'
    r'aligned_alloc|valloc|pvalloc|strdup|strndup)$'
    r'|^operator (?:new|delete)'
    r'|^_Z(?:nw|na|dl|da)')

# The C++ standard library's template code between operator new and the
# user (std::__new_allocator<T>::allocate, std::vector<T>::_M_realloc_insert
# and their inlined callers, a template's return type in front): a vector
# that grows in Registry::add(int) is Registry::add(int)'s allocation.
STDLIB_RE = re.compile(r'^(?:[\w:*& ]+ )?(?:std|__gnu_cxx)::')


def strip_deleted(path):
    suffix = ' (deleted)'
    if isinstance(path, str) and path.endswith(suffix):
        return path[:-len(suffix)]
    return path


def module_base(path):
    return os.path.basename(strip_deleted(path or ''))


def module_is(mod, spec):
    """Whether the module string MOD names SPEC: the same path (as the
    target sees it, " (deleted)" aside), or the same file here."""
    mod = strip_deleted(mod)
    if not isinstance(mod, str) or not mod:
        return False
    if mod == spec or mod == os.path.realpath(spec):
        return True
    try:
        return os.path.samefile(mod, spec)
    except OSError:
        return False


def is_allocator_module(mod):
    return module_base(mod).startswith(ALLOCATOR_MODULES)


def wrapper_match(function, wrappers):
    return bool(function) and any(fnmatch.fnmatchcase(function, w) for w in wrappers)


def is_allocator_frame(fr, wrappers=()):
    name = fr.get('function') or ''
    return bool(ALLOCATOR_NAME_RE.search(name) or STDLIB_RE.search(name)) \
        or wrapper_match(name, wrappers)


UNNAMED_RE = re.compile(r'^[^ (]+\+0x[0-9a-f]+$')


def is_unnamed(fr):
    """No symbol's name: unknown, or FILE+0xSTART from .eh_frame."""
    name = fr.get('function') or ''
    return not name or bool(UNNAMED_RE.match(name))


def site_frame_index(stack, wrappers=()):
    """Index of the first frame outside the allocator and the wrappers:
    frames named like the malloc family, operator new/delete, the C++
    standard library or a --wrapper glob at the start of the stack are
    skipped, and so are frames without a name that such a frame called
    (a stripped library's static helpers)."""
    i = 0
    while i < len(stack):
        if is_allocator_frame(stack[i], wrappers):
            i += 1
            continue
        j = i
        while j < len(stack) and is_unnamed(stack[j]):
            j += 1
        if j == i or j == len(stack) or not is_allocator_frame(stack[j], wrappers):
            return i
        i = j
    return len(stack)


def frame_text(fr):
    where = ''
    if fr.get('file'):
        where = f' {os.path.basename(fr["file"])}:{fr.get("line")}'
    name = fr.get('function') or \
        f'[{module_base(fr.get("module"))}+{fr.get("module_offset")} {fr.get("address")}]'
    inl = ' (inlined)' if fr.get('inlined') else ''
    return f'{name}{where}{inl} <{module_base(fr.get("module"))}>'


def site_text(s):
    counts = ' '.join(f'{k}={s.get(k)}' for k in SITE_FIELDS)
    head = f'site {s.get("function")!r} {module_base(s.get("module"))} ' \
           f'{os.path.basename(str(s.get("file")))}:{s.get("line")} {s.get("address")} {counts}'
    stack = s.get('stack')
    if not isinstance(stack, list):
        return head + '\n        (no stack)'
    return head + ''.join('\n        ' + frame_text(fr) for fr in stack)


# -- what the target expects ----------------------------------------------

class PathExpect:
    """One "expect stack=..." line."""

    def __init__(self, fields, line):
        self.text = line
        self.stack = fields['stack'].split(',')
        self.counts = {'live_blocks': int(fields['blocks']), 'live_bytes': int(fields['bytes']),
                       'allocs': int(fields['allocs']), 'frees': int(fields['frees'])}
        self.lines = [int(x) for x in fields['lines'].split(',')] if 'lines' in fields else None
        self.files = fields['files'].split(',') if 'files' in fields else None
        self.inlined = [x == '1' for x in fields['inlined'].split(',')] \
            if 'inlined' in fields else None
        self.module = fields.get('module')


class StackResult(harness.Result):
    def __init__(self):
        super().__init__()
        self.paths = []

    def parse(self, line):
        words = line.split()
        if len(words) > 1 and words[0] == 'expect' and words[1].startswith('stack='):
            self.lines.append(line)
            try:
                fields = dict(w.split('=', 1) for w in words[1:])
                self.paths.append(PathExpect(fields, line))
            except (KeyError, ValueError) as e:
                raise harness.Broken(f'malformed expectation {line!r}: {e}') from None
            return False
        return super().parse(line)


class StackTarget(harness.Target):
    """A target started as EXE (any path) or as ARGV (e.g. under unshare,
    ending in an exec of the target so that the pid stays the same)."""

    def __init__(self, h, name, args=(), exe=None, argv=None):
        self.exe = exe or h.target_path(name)
        harness._Proc.__init__(self, h, list(argv or [self.exe, *args]), name,
                               subprocess.PIPE)
        self.result = StackResult()


def start(h, name, args=(), exe=None, argv=None):
    t = StackTarget(h, name, args, exe, argv)
    t.ready()
    return t


def run_untraced(h, name, args=(), exe=None, argv=None):
    t = start(h, name, args, exe, argv)
    t.send('go')
    result = t.collect()
    t.send('exit')
    t.wait_exit(0)
    return result


# -- matching stacks ------------------------------------------------------

def user_frames(site, wrappers=()):
    stack = site.get('stack') or []
    return stack[site_frame_index(stack, wrappers):]


def path_matches(site, path, wrappers=(), with_lines=True):
    frames = user_frames(site, wrappers)
    if [fr.get('function') for fr in frames[:len(path.stack)]] != path.stack:
        return False
    if with_lines and path.lines:
        got = [fr.get('line') for fr in frames[:len(path.lines)]]
        return got == path.lines
    return True


def sum_sites(sites):
    return {k: sum(s.get(k, 0) for s in sites) for k in SITE_FIELDS}


def log_counts(want, got):
    log(f'    {"field":<12} {"expected":>12} {"reported":>12}')
    for k in SITE_FIELDS:
        mark = '' if want[k] == got[k] else '   <-- differs'
        log(f'    {k:<12} {want[k]:>12} {got[k]:>12}{mark}')


# -- checks ---------------------------------------------------------------

def check_report(h, report, pid, modules, wrappers=(), group_by='site', depth=DEFAULT_DEPTH,
                 end_reason='signal', comm=None):
    """The rules every report with stacks follows.  MODULES: paths of the
    target's own modules (its executable, its plugin), whose frames must
    be symbolized, demangled and consistent with the site."""
    for key in ('pid', 'comm', 'engine', 'allocator', 'events', 'unknown_frees',
                'lost_events', 'end_reason', 'totals', 'hooks', 'sites', 'depth', 'group_by'):
        if key not in report:
            raise Fail(f'report has no "{key}": keys {sorted(report)}')
    h.check(report['pid'] == pid, f'report pid {report["pid"]}, target is {pid}')
    if comm is not None:
        h.check(report['comm'] == comm, f'report comm {report["comm"]!r}, expected {comm!r}')
    h.check(report['lost_events'] == 0, f'report lost_events {report["lost_events"]}, expected 0')
    h.check_engine(report['engine'], 'the report')
    if end_reason:
        h.check(report['end_reason'] == end_reason,
                f'report end_reason {report["end_reason"]!r}, expected {end_reason!r}')
    h.check(report['depth'] == depth, f'report depth {report["depth"]!r}, expected {depth}')
    h.check(report['group_by'] == group_by,
            f'report group_by {report["group_by"]!r}, expected {group_by!r}')

    sites = report['sites']
    for s in sites:
        for key in ('function', 'module', 'file', 'line', 'address', 'stack', *SITE_FIELDS):
            if key not in s:
                raise Fail(f'site without "{key}": {json.dumps(s, sort_keys=True)}')
        stack = s['stack']
        if not isinstance(stack, list) or not stack:
            raise Fail(f'site with an empty or malformed "stack": {json.dumps(s, sort_keys=True)}')
        for fr in stack:
            missing = [k for k in FRAME_KEYS if k not in fr]
            if missing:
                raise Fail(f'stack frame without {missing}: {json.dumps(fr, sort_keys=True)}')
            h.check(isinstance(fr['inlined'], bool), f'frame "inlined" is not a boolean: {fr}')
            if fr['function'] == '' and fr['module'] and fr['module'] != '[jit]':
                h.check(isinstance(fr.get('module_offset'), int),
                        f'frame without a name and without "module_offset": {fr}')
        h.check(physical_frames(stack) <= depth + 1,
                f'stack of {physical_frames(stack)} frames that ran (not inlined) with '
                f'--depth {depth}, expected the allocator\'s entry and at most {depth} more:'
                '\n    ' + site_text(s))

    by_site = group_by in ('site', 'stack')
    for s in sites:
        stack = s['stack']
        k = site_frame_index(stack, wrappers)
        mine = [i for i, fr in enumerate(stack)
                if any(module_is(fr.get('module'), m) for m in modules)]
        if not mine:
            continue
        # Names in the target's modules are symbolized and demangled.
        for i in mine:
            fr = stack[i]
            h.check(not fr['function'].startswith('_Z'),
                    f'mangled name {fr["function"]!r} in the stack of\n    ' + site_text(s))
            if fr['file']:
                h.check(os.path.isabs(fr['file']) and isinstance(fr['line'], int)
                        and fr['line'] > 0,
                        f'frame {frame_text(fr)}: file {fr["file"]!r} line {fr["line"]!r}, '
                        'expected an absolute path and a line')
        if not by_site:
            continue
        if depth == 1:
            # Rows are keyed by the allocator's caller alone: the stack is
            # the frames at that return address, the inlined ones included.
            h.check(physical_frames(stack) == 1,
                    'with --depth 1, a stack of more than the caller\'s frames:\n    '
                    + site_text(s))
        else:
            h.check(k > 0, 'stack does not start with the allocator\'s own frame(s):\n    '
                    + site_text(s))
        if k > 0 and depth > 1:
            hooked = {hk['module'] for hk in report.get('hooks', [])}
            h.check(module_is(stack[0]['module'], report['allocator'])
                    or stack[0]['module'] in hooked
                    or is_allocator_module(stack[0]['module']),
                    f'innermost frame is not in the allocator {report["allocator"]}:\n    '
                    + site_text(s))
        if k >= len(stack):
            h.check(False, 'every frame is the allocator\'s or a wrapper\'s:\n    ' + site_text(s))
            continue
        fr = stack[k]
        diffs = [f'{key} {s.get(key)!r} vs {fr.get(key)!r}'
                 for key in ('function', 'module', 'file', 'line', 'address')
                 if s.get(key) != fr.get(key)]
        h.check(not diffs, f'site is not its first frame outside the allocator and wrappers '
                f'{wrappers or ""} ({"; ".join(diffs)}):\n    ' + site_text(s))

    for s in sites:
        h.check(not is_allocator_frame(s, wrappers),
                'site named after the allocator or a wrapper:\n    ' + site_text(s))
        if s['live_blocks'] != s['allocs'] - s['frees'] or s['live_blocks'] < 0 \
                or s['live_bytes'] < 0:
            h.check(False, 'site with live_blocks != allocs - frees or negative live values:\n    '
                    + site_text(s))
    totals = report['totals']
    for key in ('live_blocks', 'live_bytes', 'allocs'):
        h.check(totals.get(key) == sum(s[key] for s in sites),
                f'totals.{key} {totals.get(key)} != sum over rows {sum(s[key] for s in sites)}')


def physical_frames(stack):
    """The frames of STACK that really ran: --depth N unwinds the
    allocator's entry and N return addresses, and the functions inlined at
    each of them are shown as frames of their own ("inlined": true) that
    --depth does not count (man memtrace, --depth)."""
    return sum(1 for fr in stack if not fr.get('inlined'))


def check_paths(h, report, result, modules, wrappers=()):
    """Each "expect stack=" line exact (sum over the rows it matches) and
    each "expect function=" line exact (sum over rows of that function);
    every row in the target's modules accounted for by one of them."""
    sites = report['sites']
    covered = set()
    for path in result.paths:
        mine = [s for s in sites if path_matches(s, path, wrappers)]
        covered.update(id(s) for s in mine)
        got = sum_sites(mine)
        if not mine or got != path.counts:
            h.check(False, f'expectation {path.text!r}: '
                    + ('no site\'s stack begins so' if not mine else 'counts differ'))
            log_counts(path.counts, got)
            near = [s for s in sites if path_matches(s, path, wrappers, with_lines=False)
                    and s not in mine]
            if not near:
                first = path.stack[0]
                near = [s for s in sites
                        if any(fr.get('function') == first for fr in s.get('stack') or [])
                        or s.get('function') == first]
            for s in mine:
                log('    matched ' + site_text(s))
            for s in near:
                log('    similar ' + site_text(s))
            if not mine and not near:
                log(f'    (no site mentions {path.stack}; {len(sites)} sites in the report)')
                for s in sites[:8]:
                    log('    ' + site_text(s))
        for s in mine:
            frames = user_frames(s, wrappers)
            if path.files:
                got_files = [os.path.basename(fr.get('file') or '')
                             for fr in frames[:len(path.files)]]
                h.check(got_files == path.files,
                        f'files {got_files}, expected {path.files}:\n    ' + site_text(s))
            if path.inlined:
                got_inl = [fr.get('inlined') for fr in frames[:len(path.inlined)]]
                h.check(got_inl == path.inlined,
                        f'inlined flags {got_inl}, expected {path.inlined}:\n    ' + site_text(s))
            if path.module:
                h.check(module_base(s.get('module')) == path.module
                        and module_base(frames[0].get('module')) == path.module,
                        f'module of the site {s.get("module")!r}, expected one named '
                        f'{path.module!r}:\n    ' + site_text(s))

    for name, want in result.expects.items():
        mine = [s for s in sites if s.get('function') == name]
        covered.update(id(s) for s in mine)
        got = sum_sites(mine)
        if got != want:
            h.check(False, f'function {name}: reported values differ from the expectation')
            log_counts(want, got)
            for s in mine:
                log('    ' + site_text(s))
            if not mine:
                for s in sites[:8]:
                    log('    ' + site_text(s))

    for s in sites:
        if id(s) in covered:
            continue
        if any(module_is(s.get('module'), m) for m in modules):
            h.check(False, 'unexpected site in the target:\n    ' + site_text(s))


def finish(h, t, m):
    """SIGINT memtrace; its report; the detach, the restored bytes and the
    released threads checked.  The target is still waiting for "exit"."""
    report = m.stop()
    h.check(m.saw(f'memtrace: detached from pid {t.pid}') is not None,
            f"no 'memtrace: detached from pid {t.pid}' line on memtrace's stderr")
    h.check_tracing_line(m, report)
    h.check_hooks(t.pid, report)
    h.check_released(t.pid)
    return report


def traced(h, name, args=(), mt_args=(), wrappers=(), group_by='site', depth=DEFAULT_DEPTH,
           modules=None, exe=None, argv=None, untraced=True, check=True,
           memtrace_check=None, lossless=True):
    """The standard flow with stacks: start, attach (histo --json with
    MT_ARGS), go, collect, stop memtrace, check the report (unless CHECK
    is false) and, with MEMTRACE_CHECK(memtrace, report), what memtrace
    printed, exit the target, compare the checksum with an untraced run.
    Returns (target, result, report).

    Always with --lossless: without it the agent waits at most 40 ms for
    an unwind rule, and on a loaded machine a stack is then cut short
    (counted in the header's "stacks:" line), which these exact stacks
    cannot allow: stacks_cxx once reported every block at operator new
    (its stacks cut below it) while two full suites ran.  With --lossless the agent waits while
    memtrace lives.  LOSSLESS=False: the default mode's own behaviour is
    under test (how ld.so's notifications are handled)."""
    t = start(h, name, args, exe, argv)
    mt_args = list(mt_args)
    if lossless and '--lossless' not in mt_args:
        mt_args.append('--lossless')
    m = h.attach(t, mt_args)
    t.send('go')
    result = t.collect()
    report = finish(h, t, m)
    mods = modules if modules is not None else [t.exe]
    if check:
        check_report(h, report, t.pid, mods, wrappers, group_by, depth)
        check_paths(h, report, result, mods, wrappers)
    if memtrace_check:
        memtrace_check(m, report)
    t.send('exit')
    t.wait_exit(0)
    if untraced:
        plain = run_untraced(h, name, args, exe, argv)
        h.check(result.done == plain.done,
                f'done line traced:   {result.done}\n      done line untraced: {plain.done}')
    log(f'{name} {" ".join(args)}: {len(result.paths)} stack and {len(result.expects)} '
        f'function expectations, {report.get("events")} events, '
        f'{len(report.get("sites", []))} rows')
    return t, result, report


def main(test):
    harness.main(test)
