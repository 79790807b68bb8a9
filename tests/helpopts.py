# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a program's --help lists: its options and (folioctl) its commands.

Shared by the tests that keep the manual pages and the shell completion in
step with --help.  Options come back as "-x", "--long", and "o:NAME" for
"-o NAME" mount options.
"""
import re


def tokens(column):
    """Options named in one option column: -x, --long, and -o NAME as o:NAME."""
    found = set('o:' + m for m in re.findall(r'-o\s+([a-z_]+)', column))
    column = re.sub(r'-o\s+[a-z_]+', '', column)
    found |= set(re.findall(r'(?<![\w/^-])(--?[A-Za-z][\w-]*)', column))
    return found


def help_options(text):
    opts, cmds = set(), set()
    for line in text.splitlines():
        m = re.match(r'^(\s+)(\S.*?)(\s{2,}|$)', line)
        if not m:
            continue
        col = m.group(2)
        if col.startswith('-'):
            opts |= tokens(col)
        elif len(m.group(1)) == 2 and re.match(r'^[a-z]+\b', col):
            cmds.add(col.split()[0])        # folioctl: "  status MOUNT ..."
            opts |= tokens(' '.join(re.findall(r'\[([^]]*)\]', col)))
    return opts, cmds
