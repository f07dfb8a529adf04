#!/usr/bin/env python3
"""Check that the documentation keeps up with memtrace.

Every long option that `memtrace --help` or `memtrace COMMAND --help` prints
must be an item of the man page's OPTIONS section and must be in every
completion file, and the man page's EXIT STATUS section must list exactly the
exit statuses of src/util/errors.h.

The bash completion (and the fish one, when fish is installed) is asked what
it offers after `memtrace COMMAND --`, so an option must be offered for the
very command whose --help shows it; the zsh file is searched as text.

Exit status: 0 all documented, 1 something is missing, 99 the check itself
could not run (meson's "hard error").
"""

import argparse
import re
import shlex
import shutil
import subprocess
import sys

COMMANDS = ("histo", "attach", "run", "detach", "census")

# "--duration" but not the "--" of "-- COMMAND" nor the tail of "a--b"
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


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
    """The long options in the help text of `memtrace [CMD] --help`."""
    argv = [memtrace, *cmd, "--help"]
    where = " ".join(["memtrace", *cmd, "--help"])
    p = run(argv, where)
    if p.returncode != 0:
        problems.append(f"`{where}` exited with status {p.returncode}, not 0")
    options = set(LONG_OPTION.findall(p.stdout + p.stderr))
    if not options:
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
            for opt in LONG_OPTION.findall(tag)}


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
    """What the bash completion offers for `memtrace [CMD] --<TAB>`."""
    words = " ".join(["memtrace", *cmd, "--"])
    script = (f"source {shlex.quote(path)}; COMP_WORDS=({words}); "
              "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=\"${COMP_WORDS[*]}\"; "
              "COMP_POINT=${#COMP_LINE}; _memtrace; printf '%s\\n' \"${COMPREPLY[@]}\"")
    p = run(["bash", "--norc", "--noprofile", "-c", script], f"bash on {path}")
    if p.returncode != 0:
        fail_hard(f"bash could not run {path}: {p.stderr.strip()}")
    return set(p.stdout.split())


def fish_offers(fish, path, cmd):
    """What the fish completion offers for `memtrace [CMD] --<TAB>`."""
    line = " ".join(["memtrace", *cmd, "--"])
    p = run([fish, "--no-config", "-c",
             f"source {shlex.quote(path)}; complete -C {shlex.quote(line)}"],
            f"fish on {path}")
    if p.returncode != 0:
        fail_hard(f"fish could not run {path}: {p.stderr.strip()}")
    return {entry.split("\t")[0] for entry in p.stdout.splitlines()}


def completion_asker(path, fish):
    """A function CMD -> options offered, for the completions we can run."""
    if path.endswith(".bash"):
        return lambda cmd: bash_offers(path, cmd)
    if path.endswith(".fish") and fish:
        return lambda cmd: fish_offers(fish, path, cmd)
    return None


def text_mentions(path, option):
    """OPTION written in the file: `--name`, or fish's `-l name`."""
    name = re.escape(option[2:])
    if path.endswith(".fish"):
        pattern = rf"(?:\s-l\s+|\s--long(?:-option)?[=\s]+)['\"]?{name}(?![\w-])"
    else:
        pattern = rf"(?<![\w-])--{name}(?![\w-])"
    return re.search(pattern, read(path)) is not None


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
    askers = {path: completion_asker(path, fish) for path in args.completions}

    for cmd in commands:
        where = " ".join(["memtrace", *cmd, "--help"])
        typed = " ".join(["memtrace", *cmd, "--"])
        offers = {path: ask(cmd) for path, ask in askers.items() if ask}
        for opt in sorted(options[tuple(cmd)]):
            if opt not in in_man:
                problems.append(f"{opt} (in `{where}`) is not an item of "
                                f"OPTIONS in {args.man}")
            for path in args.completions:
                if path in offers:
                    if opt not in offers[path]:
                        problems.append(f"{opt} (in `{where}`) is not offered by "
                                        f"{path} after `{typed}`")
                elif not text_mentions(path, opt):
                    problems.append(f"{opt} (in `{where}`) is not in {path}")

    statuses = error_list_statuses(read(args.errors))
    documented = man_statuses(roff)
    for code in sorted(set(statuses) - documented):
        problems.append(f"exit status {code} (MT_E_{statuses[code]}) is not in "
                        f"the EXIT STATUS section of {args.man}")
    for code in sorted(documented - set(statuses)):
        problems.append(f"exit status {code} is in the EXIT STATUS section of "
                        f"{args.man} but not in MT_ERROR_LIST")

    n = len(set().union(*options.values()))
    print(f"{n} long options checked against the man page and "
          + ", ".join(f"{p} ({'asked' if a else 'searched'})"
                      for p, a in askers.items())
          + f"; {len(statuses)} exit statuses checked")
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
