#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Permission checks for a non-root caller match tmpfs: access, sticky
# directories, chmod/chown by non-owners, trusted.* xattrs, setgid dirs.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "setpriv missing"
U="setpriv --reuid=65534 --regid=65534 --clear-groups"

prepare() {	# prepare DIR: the same tree, as root
	local d=$1
	chmod 755 "$d"
	mkdir "$d/pub" "$d/priv" "$d/sticky" "$d/sg"
	chmod 777 "$d/pub"; chmod 700 "$d/priv"; chmod 1777 "$d/sticky"
	chown 0:100 "$d/sg"; chmod 2777 "$d/sg"
	echo secret > "$d/priv/s"
	echo root > "$d/sticky/rootfile"; chmod 666 "$d/sticky/rootfile"
	echo ro > "$d/pub/rofile"; chmod 644 "$d/pub/rofile"
	for f in suid1 suid2 suid3; do echo x > "$d/pub/$f"; chmod 6777 "$d/pub/$f"; done
}

trace() {	# trace DIR: each step's exit status, as nobody
	local d=$1 cmd
	while IFS= read -r cmd; do
		printf '%-55s ' "$cmd"
		( cd "$d" && $U sh -c "$cmd" >/dev/null 2>&1 ) && echo ok || echo "fail"
	done <<'STEPS'
cat priv/s
ls priv
touch priv/new
touch pub/mine
echo x >> pub/rofile
chmod 777 pub/rofile
chown 65534 pub/rofile
rm sticky/rootfile
mv sticky/rootfile sticky/moved
echo y > sticky/mine
rm sticky/mine
setfattr -n user.a -v 1 pub/mine
setfattr -n user.a -v 1 pub/rofile
setfattr -n trusted.a -v 1 pub/mine
getfattr -n user.a pub/mine
mkdir sg/d
stat -c %g:%A sg/d | grep -qx 100:drwxr-sr-x
touch sg/f
stat -c %g sg/f | grep -qx 100
chmod 4755 pub/mine
stat -c %a pub/suid1 | grep -qx 6777
echo y >> pub/suid1 && stat -c %a pub/suid1 | grep -qx 777
truncate -s 1 pub/suid2 && stat -c %a pub/suid2 | grep -qx 777
sh -c 'echo z > pub/suid3' && stat -c %a pub/suid3 | grep -qx 777
rm pub/rofile
STEPS
}

mkdir "$T/tmpfs"
mount -t tmpfs tmpfs "$T/tmpfs"
prepare "$T/tmpfs"
trace "$T/tmpfs" > "$T/tmpfs.out"
umount "$T/tmpfs"

mkfs_img 64M
mount_img -o allow_other
prepare "$MNT"
trace "$MNT" > "$T/foliofs.out"
umount_img
diff -u "$T/tmpfs.out" "$T/foliofs.out" || fail "permissions differ from tmpfs"
grep -q fail "$T/tmpfs.out" && grep -q ok "$T/tmpfs.out" || fail "trace is degenerate"
fsck_clean
pass "$(wc -l < "$T/tmpfs.out") permission checks as nobody match tmpfs"
