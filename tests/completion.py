#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bash completion offers what the programs take.

Each completion file is sourced into bash and asked as bash would ask it:
an empty word after the program (folioctl: every command of --help), a
"-" (mkfs.foliofs, fsck.foliofs: every option of --help), per-command
options and values (status --prometheus, map --svg/--png, policy values,
-O values), and file names where a file goes.
Usage: completion.py DIR, with MKFS, FSCK and FOLIOCTL set.
"""
import os
import subprocess
import sys
import tempfile

from helpopts import help_options

DIR = os.path.abspath(sys.argv[1])
failures = []


def complete(name, func, words):
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); %s; '
              'printf "%%s\\n" "${COMPREPLY[@]}"' % func)
    out = subprocess.run(['bash', '-c', script, 'bash', os.path.join(DIR, name)] + words,
                         capture_output=True, text=True, cwd=tmp)
    if out.stderr:
        failures.append('%s %s: %s' % (name, words, out.stderr))
    return set(w for w in out.stdout.split('\n') if w)


def expect(name, func, words, want, exact=False):
    got = complete(name, func, words)
    if (got != want) if exact else not want <= got:
        failures.append('%s: completing %s gave %s, wanted %s%s'
                        % (name, words, sorted(got), 'exactly ' if exact else '',
                           sorted(want)))


def helped(env):
    out = subprocess.run([os.environ[env], '--help'], capture_output=True, text=True)
    return help_options(out.stdout)


tmp = tempfile.mkdtemp()
open(os.path.join(tmp, 'weights.bin'), 'w').close()

opts, cmds = helped('FOLIOCTL')
expect('folioctl', '_folioctl', ['folioctl', ''], cmds | {'--json', '--help', '--version', '-h', '-V'},
       exact=True)
expect('folioctl', '_folioctl', ['folioctl', 'status', '/mnt', '--'],
       {'--json', '--prometheus'}, exact=True)
expect('folioctl', '_folioctl', ['folioctl', 'map', 'weights.bin', '--'],
       {'--json', '--svg', '--png'}, exact=True)
expect('folioctl', '_folioctl', ['folioctl', 'map', 'w'], {'weights.bin'}, exact=True)
expect('folioctl', '_folioctl', ['folioctl', 'map', 'x', '--svg', 'w'], {'weights.bin'})
expect('folioctl', '_folioctl', ['folioctl', 'policy', 'weights.bin', ''],
       {'never', 'small', 'madvise', 'always', 'auto'}, exact=True)
expect('folioctl', '_folioctl', ['folioctl', '--json', 'trace', '--'],
       {'--count', '--json'}, exact=True)
offered = set()
for cmd, words in (('status', ['x', '--']), ('map', ['x', '--']), ('trace', ['--'])):
    offered |= complete('folioctl', '_folioctl', ['folioctl', cmd] + words)
offered |= complete('folioctl', '_folioctl', ['folioctl', '-'])
if offered != opts:
    failures.append('folioctl: completion offers %s, --help lists %s'
                    % (sorted(offered), sorted(opts)))

for name, func, env in (('mkfs.foliofs', '_mkfs_foliofs', 'MKFS'),
                        ('fsck.foliofs', '_fsck_foliofs', 'FSCK')):
    opts, _ = helped(env)
    expect(name, func, [name, '-'], opts, exact=True)
    expect(name, func, [name, 'we'], {'weights.bin'}, exact=True)
expect('mkfs.foliofs', '_mkfs_foliofs', ['mkfs.foliofs', '-O', ''], {'log', '^log'}, exact=True)

for f in failures:
    print('FAIL:', f)
if not failures:
    print('completion matches --help for folioctl, mkfs.foliofs and fsck.foliofs')
sys.exit(1 if failures else 0)
