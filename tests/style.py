#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The style check CI runs: the house rules clang-format cannot see, over
the whole tree, and clang-format itself as a ratchet (a file may not gain
lines clang-format would change; tests/style-baseline.txt records what old
files still have, and shrinks as they are touched).

  tests/style.py            check; exit 1 with one line per violation
  tests/style.py --update   rewrite the baseline after improving files
"""
import difflib
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, "tests", "style-baseline.txt")
LIBS = ("img/", "collapse/", "fs/core/", "include/", "tools/")
MAX_COLS = 100


def sources():
    out = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.split() if os.path.exists(os.path.join(ROOT, f))]


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def columns(line):
    return len(line.expandtabs(8))


def check_file(path, text, errs):
    lines = text.split("\n")
    if not re.match(r"(//|/\*) SPDX-License-Identifier: ", lines[0]):
        errs.append(f"{path}:1: first line is not an SPDX line")
    if len(lines) < 2 or not lines[1].startswith("/*"):
        errs.append(f"{path}:2: no comment saying what the file does")
    for n, line in enumerate(lines, 1):
        if line != line.rstrip():
            errs.append(f"{path}:{n}: trailing whitespace")
        if columns(line) > MAX_COLS:
            errs.append(f"{path}:{n}: longer than {MAX_COLS} columns")
        if re.match(r"^ +[^ *]", line):
            errs.append(f"{path}:{n}: indented with spaces")
    if re.search(r"\btypedef\s+struct\b", text):
        errs.append(f"{path}: typedef'd struct")


def check_layers(path, text, errs):
    if path.startswith(LIBS) and re.search(r"#include\s*[<\"]fuse", text):
        errs.append(f"{path}: includes libfuse outside the FUSE front end")
    if re.search(r"\bfuse_reply_\w+\(", text) and not path.startswith("fs/fuse/fsop"):
        errs.append(f"{path}: sends a FUSE reply outside fs/fuse/fsop_*.c")
    if path.startswith("fs/") and path != "fs/core/lock.c" and \
            re.search(r"pthread_(mutex_(un)?lock|cond_(timed)?wait)\(&(fs|d)->", text):
        errs.append(f"{path}: takes a filesystem lock without fs_lock()/fs_cond_wait()")
    if re.search(r"strcmp\(\s*img_errmsg", text):
        errs.append(f"{path}: compares an error message")
    if path.startswith(("fs/", "collapse/", "img/")):
        # (thread-local state is per thread, not process-wide)
        for m in re.finditer(r"^static\s+(?!const\b)(?!inline\b)(?!__thread\b)[\w\s\*]+?\b(\w+)\s*(\[[^\]]*\])?\s*(=[^;]*)?;",
                             text, re.M):
            errs.append(f"{path}: process-wide mutable state '{m.group(1)}'")


FUNC = re.compile(r"(/\*(?:(?!\*/).)*?\*/)\n((?:static )?[a-z][^\n;{]*\([^;{]*\))\n\{\n(.*?)\n\}\n",
                  re.S)


def check_locks(path, text, errs):
    """A function documented "lock held" asserts it; "no lock held", the opposite."""
    if not path.startswith("fs/"):
        return
    for m in FUNC.finditer(text):
        comment, sig, body = m.groups()
        comment = comment.rsplit("/*", 1)[-1]
        name = re.search(r"(\w+)\(", sig).group(1)
        if re.search(r"\b(no|neither) lock held", comment):
            if "fs_assert_unheld" not in body:
                errs.append(f"{path}: {name}() says no lock is held but does not assert it")
        elif "lock held" in comment and not re.search(r"fs_assert_(held|locked|inode|dir|ns|ns_frozen)\b", body):
            errs.append(f"{path}: {name}() says lock held but does not assert it")


def normalize(line):
    """Alignment clang-format cannot express the kernel's way (tabs before
    trailing comments and macro values) is left to the author."""
    line = re.sub(r"\s+(/\*.*\*/)\s*$", r" \1", line)
    line = re.sub(r"\s+\\$", r" \\", line)
    return re.sub(r"^(#\s*define\s+\S+)\s+", r"\1 ", line)


def format_counts(files):
    """Per file, how many runs of lines clang-format would change."""
    fmt = shutil.which("clang-format-14") or shutil.which("clang-format")
    if not fmt:
        return None
    counts = {}
    for f in files:
        r = subprocess.run([fmt, "--style=file", f], cwd=ROOT, capture_output=True,
                           text=True)
        have = [normalize(x) for x in read(f).split("\n")]
        want = [normalize(x) for x in r.stdout.split("\n")]
        ops = difflib.SequenceMatcher(None, have, want, autojunk=False).get_opcodes()
        counts[f] = sum(op != "equal" for op, *_ in ops)
    return counts


def read_baseline():
    base = {}
    if os.path.exists(BASELINE):
        for line in read(BASELINE).split("\n"):
            if line and not line.startswith("#"):
                n, f = line.split(None, 1)
                base[f] = int(n)
    return base


def main():
    try:
        files = sources()
    except (OSError, subprocess.CalledProcessError):
        print("SKIP: the style check needs a git checkout")
        return 77
    errs = []
    for f in files:
        text = read(f)
        check_file(f, text, errs)
        check_layers(f, text, errs)
        check_locks(f, text, errs)
    counts = format_counts(files)
    if counts is None:
        errs.append("clang-format is not installed (apt-get install clang-format)")
    elif "--update" in sys.argv:
        with open(BASELINE, "w", encoding="utf-8") as out:
            out.write("# clang-format changes each file still has; may only shrink\n")
            for f in sorted(counts):
                if counts[f]:
                    out.write(f"{counts[f]} {f}\n")
    else:
        base = read_baseline()
        for f, n in sorted(counts.items()):
            if n > base.get(f, 0):
                errs.append(f"{f}: clang-format would change {n} places (allowed "
                            f"{base.get(f, 0)}); run git clang-format on what you changed")
    for e in errs:
        print(e)
    print(f"style: {len(files)} files, {len(errs)} problems")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
