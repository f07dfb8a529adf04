#!/usr/bin/env python3
"""Check that the documentation keeps up with memtrace.

Every option, long or short, that `memtrace --help` or `memtrace COMMAND
--help` prints, for every command, must be an item of the man page's OPTIONS
section and must be offered for that very command by every completion file,
and the man page's EXIT STATUS section must list exactly the exit statuses of
src/util/errors.h.  The --help texts come from cli.c's one option table, which
is also what the parser accepts.

The bash completion is asked what it offers after `memtrace COMMAND -`; the
zsh and fish files are read per command (zsh: the `_arguments` of the
command's case, with the arrays it names; fish: the `complete` lines whose
condition names the command), and fish, when installed, is asked as well.

Exit status: 0 all documented, 1 something is missing, 99 the check itself
could not run (meson's "hard error").
"""

import argparse
import re
import shlex
import shutil
import subprocess
import sys

COMMANDS = ("histo", "attach", "top", "run", "snapshot", "diff", "detach", "census", "leaks",
            "report")

# "--duration" but not the "--" of "-- COMMAND" nor the tail of "a--b"
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# "-o" of "-o FILE" or "-v, --verbose", not the "-5" of "x86-64"
SHORT_OPTION = re.compile(r"(?<![\w-])-[a-zA-Z](?![\w-])")
# both, in a completion file
ANY_OPTION = re.compile(r"(?<![\w-])--?[a-zA-Z][a-zA-Z0-9-]*")


def fail_hard(msg):
    print(f"check_docs: {msg}", file=sys.stderr)
    sys.exit(99)


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        fail_hard(f"cannot read {path}: {e.strerror}")


def run(argv, what):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail_hard(f"cannot run {what}: {e}")


def help_options(memtrace, cmd, problems):
    """The options in the help text of `memtrace [CMD] --help`."""
    argv = [memtrace, *cmd, "--help"]
    where = " ".join(["memtrace", *cmd, "--help"])
    p = run(argv, where)
    if p.returncode != 0:
        problems.append(f"`{where}` exited with status {p.returncode}, not 0")
    # the options section: the general help's list of commands names
    # snapshot's -o, which is no option of memtrace itself
    text = (p.stdout + p.stderr).partition("\noptions:\n")[2]
    options = set(LONG_OPTION.findall(text)) | set(SHORT_OPTION.findall(text))
    if not any(o.startswith("--") for o in options):
        problems.append(f"`{where}` lists no long options")
    return options


def roff_to_text(roff):
    """Man page source as a reader sees it: \\- is -, font changes vanish."""
    text = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", roff)
    return text.replace("\\-", "-").replace("\\&", "")


def man_section(roff, title):
    """Lines of the man page section TITLE, up to the next .SH."""
    lines, inside = [], False
    for line in roff.splitlines():
        if line.startswith(".SH"):
            inside = line[3:].strip().strip('"') == title
        elif inside:
            lines.append(line)
    return lines


def item_tags(section):
    """The tag lines of the section's .TP items, as text."""
    return [roff_to_text(line) for prev, line in zip(section, section[1:])
            if prev.strip() == ".TP"]


def man_options(roff):
    return {opt for tag in item_tags(man_section(roff, "OPTIONS"))
            for opt in LONG_OPTION.findall(tag) + SHORT_OPTION.findall(tag)}


def man_statuses(roff):
    """The .TP items of EXIT STATUS tagged by a number: `.B 3` or `3`."""
    return {int(m.group(1)) for tag in item_tags(man_section(roff, "EXIT STATUS"))
            if (m := re.fullmatch(r'(?:\.BR?\s+)?"?(\d+)"?', tag.strip()))}


def error_list_statuses(header):
    m = re.search(r"#define\s+MT_ERROR_LIST\(X\)(.*?)\n\s*\n", header + "\n\n", re.S)
    if not m:
        fail_hard("no MT_ERROR_LIST in the errors header")
    entries = re.findall(r"\bX\(\s*(\w+)\s*,\s*(\d+)\s*,", m.group(1))
    if not entries:
        fail_hard("MT_ERROR_LIST has no X(NAME, STATUS, ...) entries")
    return {int(code): name for name, code in entries}


def bash_offers(path, cmd):
    """What the bash completion offers for `memtrace [CMD] -<TAB>`."""
    words = " ".join(["memtrace", *cmd, "-"])
    script = (f"source {shlex.quote(path)}; COMP_WORDS=({words}); "
              "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=\"${COMP_WORDS[*]}\"; "
              "COMP_POINT=${#COMP_LINE}; _memtrace; printf '%s\\n' \"${COMPREPLY[@]}\"")
    p = run(["bash", "--norc", "--noprofile", "-c", script], f"bash on {path}")
    if p.returncode != 0:
        fail_hard(f"bash could not run {path}: {p.stderr.strip()}")
    return set(p.stdout.split())


def fish_offers(fish, path, cmd):
    """What the fish completion offers for `memtrace [CMD] -<TAB>`."""
    line = " ".join(["memtrace", *cmd, "-"])
    p = run([fish, "--no-config", "-c",
             f"source {shlex.quote(path)}; complete -C {shlex.quote(line)}"],
            f"fish on {path}")
    if p.returncode != 0:
        fail_hard(f"fish could not run {path}: {p.stderr.strip()}")
    return {entry.split("\t")[0] for entry in p.stdout.splitlines()}


def fish_lines(path, cmd):
    """What the fish file offers for `memtrace [CMD] -`, read as text: its
    `complete -c memtrace` lines whose condition is `__fish_use_subcommand`
    (no command yet) or `__memtrace_using ... CMD ...`."""
    offered = set()
    for line in read(path).splitlines():
        if not re.match(r"complete\s+-c\s+memtrace\b", line):
            continue
        m = re.search(r"-n\s+(?:'__memtrace_using\s+([a-z ]+)'|(__fish_use_subcommand)\b)",
                      line)
        if not m:
            continue
        using, top = m.group(1), m.group(2)
        if (cmd and not (using and cmd[0] in using.split())) or (not cmd and not top):
            continue
        offered |= {f"--{n}" for n in re.findall(r"\s(?:-l|--long)\s+['\"]?([\w-]+)", line)}
        offered |= {f"-{n}" for n in re.findall(r"\s(?:-s|--short)\s+['\"]?(\w)\b", line)}
    return offered


def zsh_arrays(text):
    """The arrays the zsh function sets, `name=(...)` on one line or more,
    as their text."""
    arrays = {}
    for m in re.finditer(r"^\s*(\w+)=\((.*)$", text, re.M):
        body = m.group(2)
        if not body.strip():
            end = re.compile(r"^\s*\)\s*$", re.M).search(text, m.end())
            if not end:
                fail_hard(f"zsh array {m.group(1)}=( has no closing line")
            body = text[m.end():end.start()]
        arrays[m.group(1)] = body
    return arrays


def zsh_lines(path, cmd):
    """What zsh's `_memtrace` offers for `memtrace [CMD] -`, read as text:
    the `_arguments` of the command's case (or the first one, before any
    command), with the arrays it names put in, descriptions left out."""
    text = read(path)
    if cmd:
        m = re.search(rf"^\s*{re.escape(cmd[0])}\)\n(.*?)^\s*;;", text, re.M | re.S)
    else:
        m = re.search(r"_arguments -C(.*?)&& ret=0", text, re.S)
    if not m:
        return set()
    block = m.group(1)
    arrays = zsh_arrays(text)
    block = re.sub(r"\$(\w+)", lambda v: arrays.get(v.group(1), ""), block)
    block = re.sub(r"\[[^]]*\]", "", block)   # [descriptions]
    return set(ANY_OPTION.findall(block))


def completion_readers(path, fish):
    """Functions CMD -> options offered: asked of the shell where it can
    run here, read from the file where it can be."""
    readers = []
    if path.endswith(".bash"):
        readers.append(("asked", lambda cmd: bash_offers(path, cmd)))
    if path.endswith(".fish"):
        readers.append(("read", lambda cmd: fish_lines(path, cmd)))
        if fish:
            readers.append(("asked", lambda cmd: fish_offers(fish, path, cmd)))
    if path.endswith("_memtrace"):
        readers.append(("read", lambda cmd: zsh_lines(path, cmd)))
    if not readers:
        fail_hard(f"{path}: not a completion file this check knows (bash, zsh, fish)")
    return readers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memtrace", required=True)
    ap.add_argument("--man", required=True, help="the generated memtrace.1")
    ap.add_argument("--errors", required=True, help="src/util/errors.h")
    ap.add_argument("completions", nargs="+",
                    help="completion files: *.bash, *.fish, or zsh's _memtrace")
    args = ap.parse_args()

    problems = []
    commands = [[], *([c] for c in COMMANDS)]
    options = {tuple(cmd): help_options(args.memtrace, cmd, problems)
               for cmd in commands}

    roff = read(args.man)
    in_man = man_options(roff)
    fish = shutil.which("fish")
    readers = {path: completion_readers(path, fish) for path in args.completions}

    for cmd in commands:
        where = " ".join(["memtrace", *cmd, "--help"])
        typed = " ".join(["memtrace", *cmd, "-"])
        for opt in sorted(options[tuple(cmd)]):
            if opt not in in_man:
                problems.append(f"{opt} (in `{where}`) is not an item of "
                                f"OPTIONS in {args.man}")
        for path, kinds in readers.items():
            for how, offers in kinds:
                offered = offers(cmd)
                for opt in sorted(options[tuple(cmd)] - offered):
                    problems.append(f"{opt} (in `{where}`) is not offered by {path} "
                                    f"after `{typed}` ({how})")

    statuses = error_list_statuses(read(args.errors))
    documented = man_statuses(roff)
    for code in sorted(set(statuses) - documented):
        problems.append(f"exit status {code} (MT_E_{statuses[code]}) is not in "
                        f"the EXIT STATUS section of {args.man}")
    for code in sorted(documented - set(statuses)):
        problems.append(f"exit status {code} is in the EXIT STATUS section of "
                        f"{args.man} but not in MT_ERROR_LIST")

    n = sum(len(o) for o in options.values())
    print(f"{n} options of {len(commands)} --help texts checked against the man page and "
          + ", ".join(f"{p} ({' and '.join(how for how, _ in r)})"
                      for p, r in readers.items())
          + f"; {len(statuses)} exit statuses checked")
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
