#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# folioctl: every read command's --json output parses and has the documented
# keys and types; doctor describes this machine; elfcheck tells a relinked
# binary from an ordinary one; collapse/policy/remap drive the daemon.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed to check JSON"
FC="$HELPERS/../tools/folioctl"
schema() {	# schema FILE PYTHON-EXPR: the expression must hold for j
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert $2, j" "$1" ||
		fail "JSON schema: $2"
}

mkfs_img 128M
mount_img -o scan_sleep_ms=0	# only explicit collapses: the trace must see ours
dd if=/dev/urandom of="$MNT/f" bs=1M count=6 status=none
"$FC" --json status "$MNT" > "$T/status.json"
schema "$T/status.json" "isinstance(j['daemon_pid'], int) and j['data_path'] in ('passthrough', 'daemon') and all(isinstance(j[k], int) for k in ('collapsed', 'splits', 'keep_off_regions', 'huge_regions', 'bytes_resident', 'commits', 'cache_size'))"
"$FC" policy "$MNT/f" always
"$FC" --json trace --count 1 > "$T/trace.json" & tracer=$!
sleep 0.5
"$FC" collapse "$MNT/f" || fail "collapse"
"$FC" --json status "$MNT" > "$T/status2.json"
schema "$T/status2.json" "j['bytes_in_huge_pages'] == 6 << 20 and j['huge_share_pct'] == 100"
"$FC" map --json "$MNT/f" > "$T/map.json"
schema "$T/map.json" "j['size'] == 6 << 20 and len(j['regions']) == 3 and all(r['state'] == 'huge' and r['resident_pages'] == 512 and isinstance(r['last_result'], str) and isinstance(r['failed_attempts'], int) for r in j['regions'])"
if passthrough_on; then
	schema "$T/map.json" "all(r['folios']['thp_pages'] == 512 for r in j['regions'])"
fi
# a byte in each of 1536 regions: more than one map page; the map lists the
# regions that hold something, not the apparent size
python3 -c "
import os
fd = os.open('$MNT/sparse', os.O_WRONLY | os.O_CREAT)
for i in range(1536):
    os.pwrite(fd, b'x', i << 21)
os.ftruncate(fd, 1 << 50)
"
"$FC" map --json "$MNT/sparse" > "$T/sparse.json"
schema "$T/sparse.json" "len(j['regions']) == 1536 and j['regions'][-1]['offset'] == 1535 << 21 and j['size'] == 1 << 50"
if [ -d /sys/kernel/tracing/events/huge_memory ]; then
	for _ in $(seq 30); do kill -0 $tracer 2>/dev/null || break; sleep 0.1; done
	kill $tracer 2>/dev/null && fail "trace saw no collapse"
	schema "$T/trace.json" "j['kernel_result'] in ('succeeded', 'pte_mapped_hugepage', 'page_pmd_mapped') and j['region_offset'] % (2 << 20) == 0 and j['inode'] == $(stat -c %i "$MNT/f")"
	# interrupted, it takes its tracefs instance with it
	"$FC" trace > /dev/null & tracer=$!
	sleep 0.5
	ls -d /sys/kernel/tracing/instances/foliofs-$tracer > /dev/null 2>&1 ||
		fail "trace made no instance"
	kill -INT $tracer; wait $tracer || true
	[ ! -e /sys/kernel/tracing/instances/foliofs-$tracer ] || fail "trace left its tracefs instance"
else
	kill $tracer 2>/dev/null || true
fi
"$FC" --json policy "$MNT/f" > "$T/policy.json"
schema "$T/policy.json" "j['policy'] == 'always'"
"$FC" policy "$MNT/f" sometimes 2>/dev/null && fail "bad policy accepted"
"$FC" policy "$MNT/f" never
rc=0; "$FC" collapse "$MNT/f" 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "Invalid argument" "$T/err" || fail "collapse of a never file: rc $rc"
"$FC" status /tmp > /dev/null 2>&1 && fail "status of a non-foliofs path succeeded"
# nothing outside foliofs is touched, and options may follow the arguments
cp /etc/passwd "$T/passwd"
for c in "policy $T/passwd never" "collapse $T/passwd" "map $T/passwd" "status $T"; do
	rc=0; $FC $c > /dev/null 2> "$T/err" || rc=$?
	[ "$rc" = 1 ] && grep -q "not on a foliofs mount" "$T/err" || fail "folioctl $c: rc $rc, $(cat "$T/err")"
done
[ -z "$(getfattr -d "$T/passwd" 2>/dev/null)" ] || fail "folioctl wrote xattrs outside foliofs"
"$FC" map "$MNT/f" --json | python3 -c "import json,sys; json.load(sys.stdin)" || fail "map FILE --json"
"$FC" status "$MNT" --json | python3 -c "import json,sys; json.load(sys.stdin)" || fail "status MNT --json"
rc=0; "$FC" elfcheck "$T/nonexistent" 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "No such file" "$T/err" || fail "elfcheck of a missing file: $(cat "$T/err")"
rc=0; "$FC" frobnicate > /dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "unknown command not a usage error ($rc)"
"$FC" --help | grep -q "elfcheck BINARY" || fail "help"

"$FC" --json doctor > "$T/doctor.json"
schema "$T/doctor.json" "all(k in j and isinstance(j[k]['ok'], bool) and j[k]['meaning'] for k in ('kernel', 'dev_fuse', 'cap_sys_admin', 'passthrough_possible', 'thp_enabled', 'shmem_enabled', 'tracefs', 'memcg_headroom'))"
schema "$T/doctor.json" "j['kernel']['value'] == '$(uname -r)' and j['dev_fuse']['ok'] and j['cap_sys_admin']['ok']"

if command -v cc >/dev/null; then
	printf 'int main(void){return 0;}\n' > "$T/p.c"
	cc -o "$T/plain" "$T/p.c" -Wl,-z,max-page-size=0x1000
	cc -o "$T/huge" "$T/p.c" -Wl,-z,max-page-size=0x200000 -Wl,-z,common-page-size=0x200000
	rc=0; "$FC" --json elfcheck "$T/plain" > "$T/plain.json" || rc=$?
	[ "$rc" = 1 ] || fail "elfcheck --json of text that cannot be PMD-mapped exits $rc"
	"$FC" --json elfcheck "$T/huge" > "$T/huge.json"
	schema "$T/plain.json" "not all(s['pmd_congruent'] for s in j['segments'])"
	schema "$T/huge.json" "all(s['pmd_congruent'] for s in j['segments'])"
	{ "$FC" elfcheck "$T/plain" || true; } | grep -q "max-page-size=0x200000" || fail "no relink advice"
	{ "$FC" elfcheck "$T/plain" || true; } | grep -q "p_align below 2 MiB" ||
		fail "elfcheck does not name p_align"
	# the answer is the exit status: 1 for a layout that cannot be PMD-mapped
	rc=0; "$FC" elfcheck "$T/plain" > /dev/null || rc=$?
	[ "$rc" = 1 ] || fail "elfcheck of text that cannot be PMD-mapped exits $rc"
fi

# a small file's resident pages are shown, though no collapse visited it
printf 'small' > "$MNT/small"
"$FC" map --json "$MNT/small" > "$T/small.json"
schema "$T/small.json" "len(j['regions']) == 1 and j['regions'][0]['resident_pages'] == 1"

if passthrough_on; then
	"$FC" policy "$MNT/f" always
	dd if=/dev/urandom of="$MNT/h" bs=1M count=4 status=none
	"$HELPERS/mmap_hold" "$MNT/h" "$T/ready" & holder=$!
	for _ in $(seq 40); do [ -e "$T/ready" ] && break; sleep 0.1; done
	"$FC" collapse "$MNT/h"
	"$FC" --json remap $holder "$MNT/h" > "$T/remap.json" || { kill $holder; fail "remap"; }
	kill $holder; wait $holder 2>/dev/null || true
	schema "$T/remap.json" "len(j) == 1 and j[0]['error'] == 0 and j[0]['pmd_kb_after'] == 4096"
fi
umount_img

# Regions loaded as huge pages are huge in the map at once (no scan runs
# here); the effective policy follows -o huge=; madvise files are stored
# without 2 MiB extents, so they come back small.
mount_img -o scan_sleep_ms=0 -o huge=never
"$FC" policy "$MNT/f" always
"$FC" --json policy "$MNT/f" > "$T/pol.json"
schema "$T/pol.json" "j['policy'] == 'always' and j['mount_huge'] == 'never' and j['effective'] == 'never' and j['datapath'] == 'auto'"
setfattr -n user.foliofs.datapath -v tracked "$MNT/f"
"$FC" --json policy "$MNT/f" > "$T/pol.json"
schema "$T/pol.json" "j['datapath'] == 'tracked'"
setfattr -n user.foliofs.datapath -v bogus "$MNT/f" 2>/dev/null && fail "a bad data path was stored"
setfattr -x user.foliofs.datapath "$MNT/f"
"$FC" policy "$MNT/f" | grep -q "^always (effective: never" || fail "policy does not show the effective value"
"$FC" --json status "$MNT" > "$T/st.json"
schema "$T/st.json" "j['huge'] == 'never'"
umount_img
mount_img -o scan_sleep_ms=0
dd if=/dev/urandom of="$MNT/g" bs=1M count=4 status=none
dd if=/dev/urandom of="$MNT/m" bs=1M count=4 status=none
"$FC" policy "$MNT/m" madvise
"$FC" collapse "$MNT/m" || true
umount_img
"$HELPERS/fofs_debug" show "$IMG" > "$T/show"
m_ino=$(awk '/^dirent/ && $3 == "'"'m'"'" {print $5}' "$T/show")
[ -n "$m_ino" ] || { cat "$T/show"; fail "no inode for m"; }
awk -v ino="$m_ino" '/^inode/ {cur = $2} /^  extent/ && cur == ino' "$T/show" | grep -q "order 9" &&
	fail "a madvise file was stored in 2 MiB extents"
mount_img -o scan_sleep_ms=0
cat "$MNT/g" > /dev/null
"$FC" --json status "$MNT" > "$T/st.json"
"$FC" --json map "$MNT/g" > "$T/loaded.json"
python3 -c "
import json, sys
st, m = json.load(open('$T/st.json')), json.load(open('$T/loaded.json'))
huge = sum(r['state'] == 'huge' for r in m['regions'])
assert st['load_collapsed'] == huge and huge >= 1, (st['load_collapsed'], m)
" || fail "regions loaded huge are not huge in the map"
cat "$MNT/m" > /dev/null
"$FC" --json map "$MNT/m" > "$T/mmap.json"
schema "$T/mmap.json" "all(r['state'] == 'small' for r in j['regions'])"
umount_img

# The status of a mount whose image path is 4,000 bytes long.
long=$T
while [ ${#long} -lt 3900 ]; do long=$long/$(printf 'd%.0s' $(seq 200)); done
mkdir -p "$long"
"$MKFS" -q -s 16M "$long/img"
IMG=$long/img mount_img
"$FC" status "$MNT" | grep -q "^image  *$long/img$" || fail "status with a long image path"
umount_img

# The data path of the files open now: a writer is tracked, a reader passes
# through (where the connection has passthrough).
mount_img
echo data > "$MNT/rd"
exec 7> "$MNT/wr" 8< "$MNT/rd"
"$FC" --json status "$MNT" > "$T/paths.json"
exec 7>&- 8<&-
schema "$T/paths.json" "isinstance(j['unseen_write_scans'], int) and isinstance(j['unseen_write_bytes_scanned'], int)"
if passthrough_on; then
	schema "$T/paths.json" "j['files_tracked'] == 1 and j['files_passthrough'] == 1"
else
	schema "$T/paths.json" "j['files_tracked'] == 2 and j['files_passthrough'] == 0"
fi
umount_img

# What other users see, and what a target that changes under folioctl does.
mount_img -o allow_other
mkdir "$MNT/d"
echo secret > "$MNT/d/private"
chmod 600 "$MNT/d/private"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
chmod 755 "$T"
as_nobody "$FC" status "$MNT" > "$T/nobody.st" || fail "status as another user"
grep -Eq "^(daemon_pid|image) " "$T/nobody.st" && fail "status shows another user the daemon and image"
"$FC" status "$MNT" > "$T/root.st"
grep -q "^daemon_pid " "$T/root.st" || fail "status hides the daemon from root"
rc=0; as_nobody "$FC" map "$MNT/d/private" 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "Permission denied" "$T/err" ||
	fail "map of an unreadable file: exit $rc, $(cat "$T/err")"
# the Prometheus label is the mount point, whatever path was typed
# (into a file: grep -q leaving early would fail the pipe with SIGPIPE)
(cd "$MNT/d" && "$FC" status . --prometheus) > "$T/prom.txt"
grep -q "^foliofs_info{mount=\"$MNT\"" "$T/prom.txt" || fail "the mount label is not the mount point"
# the kernel's mode after a remount the daemon was not asked about
mount -i -o remount,ro "$MNT"
"$FC" status "$MNT" > "$T/ro.st"
grep -q "^mount_mode  *ro$" "$T/ro.st" || fail "status does not show a remount,ro"
mount -i -o remount,rw "$MNT"
"$FC" status "$MNT" > "$T/rw.st"
grep -q "^mount_mode  *rw$" "$T/rw.st" || fail "status does not show a remount,rw"
umount_img
pass "folioctl JSON, doctor, elfcheck, collapse, policy and remap; targets checked; loaded huge regions shown; long paths"
