#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The manual pages are clean and say what the programs say.

Every page passes `mandoc -T lint` and `man --warnings` without a word.
For each program, the options its --help lists and the options its page
documents (the tags of OPTIONS, and for folioctl the per-command options
under COMMANDS) are the same set, and folioctl's commands are the same in
both.  Usage: man.py MANDIR, with FOLIOFS, MKFS, FSCK and FOLIOCTL set.
"""
import os
import re
import subprocess
import sys

from helpopts import help_options, tokens

MANDIR = sys.argv[1]
PAGES = ['foliofs.8', 'mkfs.foliofs.8', 'fsck.foliofs.8', 'folioctl.8', 'foliofs.5']
PROGS = {'foliofs.8': 'FOLIOFS', 'mkfs.foliofs.8': 'MKFS', 'fsck.foliofs.8': 'FSCK',
         'folioctl.8': 'FOLIOCTL'}
failures = []


def lint(page):
    path = os.path.join(MANDIR, page)
    out = subprocess.run(['mandoc', '-T', 'lint', '-W', 'warning', path],
                         capture_output=True, text=True)
    if out.stdout.strip() or out.stderr.strip():
        failures.append('%s: mandoc: %s%s' % (page, out.stdout, out.stderr))
    env = dict(os.environ, MANWIDTH='80', LC_ALL='C.UTF-8')
    out = subprocess.run(['man', '--warnings', '-l', path], capture_output=True,
                         text=True, env=env)
    if out.returncode or out.stderr.strip():
        failures.append('%s: man --warnings: %s' % (page, out.stderr))


def roff_text(line):
    """A macro line's words as a reader sees them: fonts and quotes gone."""
    line = re.sub(r'^\.[A-Z]{1,2}\s*', '', line)
    line = re.sub(r'\\f[BIRP]', '', line).replace('\\-', '-').replace('\\', '')
    words = re.findall(r'"([^"]*)"|(\S+)', line)
    return ''.join(a or b for a, b in words) if re.match(r'^\.B[IR]|^\.[IR]B', line) \
        else ' '.join(a or b for a, b in words)


def page_options(page):
    """Tags of .TP paragraphs: OPTIONS ones, and under COMMANDS the commands
    (outside .RS) and their options (inside .RS)."""
    opts, cmds = set(), set()
    section, nested, tag_next = None, 0, False
    for line in open(os.path.join(MANDIR, page)):
        line = line.rstrip('\n')
        if line.startswith('.SH'):
            section, nested = line[3:].strip().strip('"'), 0
        elif line.startswith('.RS'):
            nested += 1
        elif line.startswith('.RE'):
            nested -= 1
        elif line.startswith('.TP'):
            tag_next = True
        elif tag_next:
            tag_next = False
            tag = roff_text(line) if line.startswith('.') else line
            tag = re.sub(r'\\f[BIRP]', '', tag).replace('\\-', '-')
            if section == 'OPTIONS' or (section == 'COMMANDS' and nested):
                opts |= tokens(tag)
            elif section == 'COMMANDS':
                cmds.add(tag.split()[0])
    return opts, cmds


for page in PAGES:
    if not os.path.exists(os.path.join(MANDIR, page)):
        failures.append('%s: missing' % page)
        continue
    lint(page)
    if page not in PROGS:
        continue
    prog = os.environ[PROGS[page]]
    out = subprocess.run([prog, '--help'], capture_output=True, text=True)
    hopts, hcmds = help_options(out.stdout + out.stderr)
    popts, pcmds = page_options(page)
    if not hopts:
        failures.append('%s: no options read from --help' % prog)
    if hopts != popts:
        failures.append('%s: --help and %s differ: only in --help %s, only in the page %s'
                        % (os.path.basename(prog), page, sorted(hopts - popts),
                           sorted(popts - hopts)))
    if hcmds != pcmds:
        failures.append('%s: commands differ: only in --help %s, only in the page %s'
                        % (page, sorted(hcmds - pcmds), sorted(pcmds - hcmds)))
    if hopts == popts and hcmds == pcmds:
        print('%s: %d options%s agree with --help' % (page, len(hopts),
              ', %d commands' % len(hcmds) if hcmds else ''))

for f in failures:
    print('FAIL:', f)
sys.exit(1 if failures else 0)
