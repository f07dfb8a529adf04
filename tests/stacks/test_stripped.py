#!/usr/bin/env python3
"""histo on stk_chain_stripped: stk_chain with no symbol table and no debug
info (objcopy --strip-all; .eh_frame stays, so it still unwinds).  The
site and the frames in the binary have the binary as module, with a
"module_offset", and are named after the .eh_frame FDE of their function,
"stk_chain_stripped+0xSTART"; compared with the unstripped stk_chain (the
same code): START is the function's address in its symbol table, the
site's offset is f3's call of malloc (the call instruction or its return
address, as an ELF virtual address or a file offset), and the next frames'
offsets lie in f2, f1, f0 and main."""
import os
import re
import shutil
import struct
import subprocess

import stackcheck
from stackcheck import module_is, site_text

CHAIN = ['f3', 'f2', 'f1', 'f0', 'main']


def load_segments(path):
    """[(p_offset, p_vaddr, p_filesz)] of the PT_LOAD headers of an ELF64
    little-endian file."""
    with open(path, 'rb') as f:
        ident = f.read(64)
        if ident[:4] != b'\x7fELF' or ident[4] != 2 or ident[5] != 1:
            raise stackcheck.harness.Broken(f'{path} is not a 64-bit little-endian ELF file')
        phoff, = struct.unpack_from('<Q', ident, 0x20)
        phentsize, phnum = struct.unpack_from('<HH', ident, 0x36)
        segs = []
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = \
                struct.unpack('<IIQQQQ', f.read(40))
            if p_type == 1:
                segs.append((p_offset, p_vaddr, p_filesz))
        return segs


def symbols(h, path):
    """name -> (start, end) of the functions in PATH's symbol table (nm)."""
    try:
        out = subprocess.run(['nm', '-S', '--defined-only', path], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        h.skip(f'cannot run nm on {path}: {e}')
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in 'tT':
            start, size = int(parts[0], 16), int(parts[1], 16)
            syms[parts[3]] = (start, start + size)
    return syms


def malloc_call(h, path, func):
    """(call instruction, return address) of FUNC's call of malloc."""
    try:
        out = subprocess.run(['objdump', '-d', '--no-show-raw-insn', f'--disassemble={func}',
                              path], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        h.skip(f'cannot run objdump on {path}: {e}')
    insns = [(int(m.group(1), 16), m.group(2))
             for m in re.finditer(r'^\s*([0-9a-f]+):\s*(.*)$', out, re.M)]
    for i, (addr, text) in enumerate(insns):
        if text.startswith('call') and 'malloc' in text and i + 1 < len(insns):
            return addr, insns[i + 1][0]
    h.broken(f'no call of malloc found in {func} of {path}:\n{out}')


def to_vaddr(segs, file_offset):
    for p_offset, p_vaddr, p_filesz in segs:
        if p_offset <= file_offset < p_offset + p_filesz:
            return p_vaddr + file_offset - p_offset
    return None


def maps_vaddr(pid, exe, segs, addr):
    """The ELF virtual address and the file offset of ADDR in the target,
    from /proc/PID/maps (None, None when no mapping of EXE holds it)."""
    for m in stackcheck.harness._maps(pid):
        start, end, offset, path, _range = m
        if start <= addr < end and module_is(path, exe):
            off = offset + addr - start
            return to_vaddr(segs, off), off
    return None, None


def test(h):
    if not shutil.which('nm') or not shutil.which('objdump'):
        h.skip('nm or objdump (binutils) is missing')
    exe = h.target_path('stk_chain_stripped')
    full = h.target_path('stk_chain')
    if symbols(h, exe):
        h.broken(f'{exe} still has a symbol table')
    syms = symbols(h, full)
    for name in CHAIN:
        if name not in syms:
            h.broken(f'{full} has no symbol {name}')
    segs = load_segments(exe)
    call, ret = malloc_call(h, full, 'f3')

    t = stackcheck.start(h, 'stk_chain_stripped')
    m = h.attach(t)
    t.send('go')
    result = t.collect()
    report = stackcheck.finish(h, t, m)
    stackcheck.check_report(h, report, t.pid, [exe])

    path = result.paths[0]
    mine = [s for s in report['sites'] if module_is(s.get('module'), exe)]
    got = stackcheck.sum_sites(mine)
    if not h.check(got == path.counts, 'the binary\'s sites do not hold what f3 allocated'):
        stackcheck.log_counts(path.counts, got)
        for s in report['sites']:
            stackcheck.log('    ' + site_text(s))
    base = os.path.basename(exe)
    fde = {name: f'{base}+{syms[name][0]:#x}' for name in CHAIN}
    for s in mine:
        h.check(s.get('function') == fde['f3'] and isinstance(s.get('module_offset'), int),
                f'site in the stripped binary without function {fde["f3"]!r} and a '
                'module_offset:\n    ' + site_text(s))
        frames = stackcheck.user_frames(s)
        if not h.check(len(frames) >= len(CHAIN),
                       f'fewer than {len(CHAIN)} frames above malloc:\n    ' + site_text(s)):
            continue
        for name, fr in zip(CHAIN, frames):
            where = f'frame for {name}'
            off = fr.get('module_offset')
            if not h.check(module_is(fr.get('module'), exe) and fr.get('function') == fde[name]
                           and isinstance(off, int),
                           f'{where}: expected function {fde[name]!r} in {exe} with a '
                           'module_offset:\n    ' + site_text(s)):
                continue
            h.check(not fr.get('file') and not fr.get('line'),
                    f'{where}: file:line {fr.get("file")}:{fr.get("line")} without debug info')
            vaddr, foff = maps_vaddr(t.pid, exe, segs, int(fr['address'], 16))
            h.check(off in (vaddr, foff),
                    f'{where}: module_offset {off:#x}, its address {fr["address"]} is at ELF '
                    f'address {vaddr and hex(vaddr)} / file offset {foff and hex(foff)}')
            lo, hi = syms[name]
            # The offset may be a file offset: convert it when it is not in
            # the function as a virtual address.
            cands = {off, to_vaddr(segs, off)}
            h.check(any(c is not None and lo <= c < hi for c in cands),
                    f'{where}: module_offset {off:#x} is not in {name} '
                    f'[{lo:#x}, {hi:#x}) of {full}')
            if name == 'f3':
                h.check(bool(cands & {call, ret, ret - 1}),
                        f'site module_offset {off:#x}: f3 calls malloc at {call:#x}, '
                        f'returning to {ret:#x}')
        h.check(s.get('module_offset') == frames[0].get('module_offset'),
                'the site\'s module_offset is not its frame\'s:\n    ' + site_text(s))
    t.send('exit')
    t.wait_exit(0)
    plain = stackcheck.run_untraced(h, 'stk_chain')
    h.check(result.done == plain.done,
            f'done line stripped: {result.done}\n      done line unstripped: {plain.done}')


stackcheck.main(test)
