#!/usr/bin/env python3
"""glibc's heap as other releases lay it out: tests/unit/glheap_target.c
runs under the loaders of glibc 2.31 (Debian 11) and 2.41 (Debian 13), and
tests/unit/glheap_probe.c finds and walks its heap: every block must have
the kind the target says, and the bytes must reconcile with its mallinfo.

usage: glheap_releases.py PROBE TARGET_SOURCE RELEASES_DIR

RELEASES_DIR (tools/setup fills it; build/glibc-releases) holds the
unpacked packages: 2.31/ (libc6 2.31), 2.41/ (libc6 2.41) and dev-2.31/
(libc6-dev 2.31: crt files to link the target with).  Exit 77 (skip) when
they are missing, 99 when the harness breaks."""
import os
import subprocess
import sys
import tempfile


def libdir(root):
    for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"):
        if os.path.exists(os.path.join(root, d, "ld-linux-x86-64.so.2")):
            return os.path.join(root, d)
    return None


def build_target(src, rel, out):
    dev = os.path.join(rel, "dev-2.31", "usr/lib/x86_64-linux-gnu")
    lib = libdir(os.path.join(rel, "2.31"))
    if not lib or not os.path.exists(os.path.join(dev, "Scrt1.o")):
        return False
    gcc_file = lambda f: subprocess.check_output(["gcc", "-print-file-name=" + f],
                                                 text=True).strip()
    subprocess.check_call(
        ["gcc", "-O1", "-o", out, src, "-nostdlib",
         os.path.join(dev, "Scrt1.o"), os.path.join(dev, "crti.o"), gcc_file("crtbeginS.o"),
         os.path.join(lib, "libpthread.so.0"), os.path.join(lib, "libc.so.6"),
         os.path.join(dev, "libc_nonshared.a"), os.path.join(lib, "ld-linux-x86-64.so.2"),
         gcc_file("crtendS.o"), os.path.join(dev, "crtn.o"),
         "-Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2", "-Wno-deprecated-declarations"])
    return True


def run_release(probe, target, lib, tmp):
    proc = subprocess.Popen([os.path.join(lib, "ld-linux-x86-64.so.2"), "--library-path", lib,
                             target], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:        # the target's own word, not a sleep
            lines.append(line)
            if line.strip() == "ready":
                break
        else:
            print("the target ended before it was ready", file=sys.stderr)
            return 99
        out = os.path.join(tmp, "blocks")
        with open(out, "w") as f:
            f.writelines(lines)
        r = subprocess.run([probe, str(proc.pid), out], text=True, capture_output=True)
        print(r.stdout, end="")
        return 0 if r.returncode == 0 else 1
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 99
    probe, src, rel = sys.argv[1:]
    libs = {v: libdir(os.path.join(rel, v)) for v in ("2.31", "2.41")}
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "glheap_target")
        if not all(libs.values()) or not build_target(src, rel, target):
            print("skip: no glibc 2.31/2.41 packages in %s (tools/setup fetches them)" % rel)
            return 77
        status = 0
        for v, lib in libs.items():
            rc = run_release(probe, target, lib, tmp)
            if rc:
                print("glibc %s: FAILED" % v)
            status = max(status, rc)
        return status


if __name__ == "__main__":
    sys.exit(main())
