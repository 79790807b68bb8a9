#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The daemon's file-level dependencies, read from the built libraries'
symbol tables (nm): which file calls into which.  Fails if any file calls a
file in a higher layer than its own, which also rules out cycles.  The
layers, lowest first, are the ones docs/ARCHITECTURE.md draws.

  tests/layers.py LIB.a...          check
  tests/layers.py --list LIB.a...   also print the dependency list
"""
import re
import subprocess
import sys

# Lowest first; a file may use files of its own or lower layers only, and
# within a layer none may use another.
LAYERS = [
    ["log", "strbuf"],
    ["lock"],
    ["track"],
    ["space"],
    ["shm", "dirty", "damage", "policy"],
    ["data"],
    ["inode"],
    ["dirent", "xattr"],
    ["namei", "collapser"],
    ["ctl", "meta"],
    ["writeback"],
    ["fsync"],
    ["file"],
    ["fs"],
    # the FUSE front end
    ["privs", "fsop_req", "uring"],
    ["passthrough"],
    ["fsop_dir", "fsop_file", "fsop_attr", "fsop_xattr"],
    ["main"],
]
RANK = {f: i for i, layer in enumerate(LAYERS) for f in layer}


def symbols(archives):
    """Which file defines each symbol, and which symbols each file uses."""
    line_re = re.compile(r"([^:/]+)\.c\.o:\s*(?:[0-9a-f]+\s+)?([A-Za-z])\s+(\S+)$")
    defined, wanted = {}, {}
    for a in archives:
        out = subprocess.run(["nm", "-A", a], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            m = line_re.search(line)
            if not m:
                continue
            f, kind, sym = m.groups()
            if kind in "TDBR":
                defined[sym] = f
            elif kind == "U":
                wanted.setdefault(f, set()).add(sym)
    deps = {}
    for f, syms in wanted.items():
        deps[f] = sorted({defined[s] for s in syms if s in defined and defined[s] != f})
    for f in set(defined.values()):
        deps.setdefault(f, [])
    return deps


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    deps = symbols(args)
    errs = []
    for f, uses in sorted(deps.items()):
        if f not in RANK:
            errs.append(f"{f}: in no layer (add it to tests/layers.py and docs/ARCHITECTURE.md)")
            continue
        for u in uses:
            if u in RANK and RANK[u] >= RANK[f]:
                errs.append(f"{f} -> {u}: a call into its own or a higher layer")
    if "--list" in sys.argv:
        for f in sorted(deps, key=lambda x: (RANK.get(x, 99), x)):
            print(f"{f} -> {' '.join(deps[f]) or '-'}")
    for e in errs:
        print(e)
    print(f"layers: {len(deps)} files, {len(errs)} problems")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
