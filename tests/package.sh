#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package, as a user gets it: build it from a clean clone with
# dpkg-buildpackage, check it with lintian (no errors, no warnings), install
# it with apt-get, run the main job against the installed programs (mkfs,
# mount -t foliofs, umount, fsck, folioctl), check that the manual pages
# and the bash completion are where man and bash-completion look, then
# remove it and check that every file it installed is gone.  Root only: it
# installs into the system.  Run by tests/run.sh after the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to install the package"; exit 77; }

T=$(mktemp -d /tmp/foliofs-pkg.XXXXXX)
trap 'dpkg -s foliofs > /dev/null 2>&1 && apt-get purge -y -qq foliofs > /dev/null; rm -rf "$T"' EXIT
git clone -q . "$T/foliofs"
(cd "$T/foliofs" && dpkg-buildpackage -us -uc -b > "$T/build.log" 2>&1) ||
	{ tail -30 "$T/build.log"; echo "FAIL: dpkg-buildpackage"; exit 1; }
deb=$(ls "$T"/foliofs_*.deb)
echo "built $(basename "$deb")"

lintian --fail-on error,warning --display-level ">=warning" "$T"/foliofs_*.changes 2>&1 |
	grep -v "running with root privileges" | tee "$T/lintian.log" || true
lintian --fail-on error,warning "$T"/foliofs_*.changes > /dev/null 2>&1 ||
	{ echo "FAIL: lintian reports errors or warnings"; exit 1; }
echo "lintian: no errors, no warnings"

apt-get install -y -qq "$deb" > "$T/apt.log" 2>&1 || { cat "$T/apt.log"; echo "FAIL: apt-get install"; exit 1; }
dpkg -L foliofs > "$T/files"
for f in /usr/sbin/foliofs /usr/sbin/mkfs.foliofs /usr/sbin/fsck.foliofs /usr/bin/folioctl \
	 /usr/sbin/mount.foliofs /usr/sbin/umount.foliofs /usr/sbin/fsck.fuse.foliofs; do
	[ -x "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
for p in foliofs.8 mkfs.foliofs.8 fsck.foliofs.8 folioctl.8 foliofs.5 mount.foliofs.8; do
	man -w "${p##*.}" "${p%.*}" > /dev/null || { echo "FAIL: man ${p%.*} finds nothing"; exit 1; }
done
for c in folioctl mkfs.foliofs fsck.foliofs; do
	bash -c ". /usr/share/bash-completion/bash_completion; _completion_loader $c; complete -p $c" \
		> /dev/null 2>&1 || { echo "FAIL: bash-completion does not load $c's completion"; exit 1; }
done
echo "installed: $(grep -c . "$T/files") paths; man pages and completion found"

INSTALLED=1 SIZE_MB=256 RUNTIME=4 bash bench/main-job.sh > "$T/main.log" 2>&1 ||
	{ cat "$T/main.log"; echo "FAIL: the main job against the installed package"; exit 1; }
tail -8 "$T/main.log"
grep -q "clean," "$T/main.log" || { echo "FAIL: main job's fsck"; exit 1; }

apt-get remove -y -qq foliofs > /dev/null 2>&1
left=$(while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done < "$T/files")
[ -z "$left" ] || { echo "FAIL: left after removal: $left"; exit 1; }
for p in foliofs mkfs.foliofs fsck.foliofs folioctl; do
	if command -v "$p"; then echo "FAIL: $p still on PATH"; exit 1; fi
done
echo "PASS: package builds, is lintian-clean, installs, runs the main job, and removes cleanly"
