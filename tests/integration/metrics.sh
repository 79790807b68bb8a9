#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What monitoring and people see: `folioctl status --prometheus` is read by
# the Prometheus client library's own parser (python3-prometheus-client)
# and its figures match what the test did (fsyncs in the latency
# histogram, collapses by result, keep-off regions, commits); `folioctl map
# --svg` draws one cell per region in the colour of its state with a
# legend that counts them, stays small for a 1 PiB sparse file, and --png
# renders it or says in one line that no renderer is installed.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
$PY -c "import prometheus_client" 2>/dev/null ||
	fail "python3-prometheus-client (Debian) is needed; tests/run.sh installs it"
FC="$HELPERS/../tools/folioctl"

mkfs_img 256M
mount_img -o scan_sleep_ms=0	# only the collapses this test asks for
dd if=/dev/urandom of="$MNT/f" bs=1M count=8 status=none
"$FC" collapse "$MNT/f" || fail "collapse"
fallocate -p -o $((2 << 20)) -l 4096 "$MNT/f"	# region 1 becomes keep-off
base=$("$FC" status "$MNT" --json | $PY -c "import json,sys; print(json.load(sys.stdin)['fsyncs'])")
$PY -c "
import os
fd = os.open('$MNT/f', os.O_WRONLY)
for i in range(25):
    os.pwrite(fd, b'y' * 100, i * 4096 + (6 << 20))
    os.fsync(fd)
"

"$FC" status "$MNT" --prometheus > "$T/prom.txt" || fail "status --prometheus"
$PY - "$T/prom.txt" "$MNT" "$base" <<'PYEOF' || fail "Prometheus text: $(cat "$T/prom.txt")"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def one(name, typ):
    f = fams[name]
    assert f.type == typ, (name, f.type)
    assert f.documentation, name
    assert all(s.labels.get('mount') == sys.argv[2] for s in f.samples), name
    return f
def value(name, typ):
    s = [s for s in one(name, typ).samples if not s.name.endswith('_created')]
    assert len(s) == 1, (name, s)
    return s[0].value
assert value('foliofs_resident_bytes', 'gauge') >= 7 << 20
assert value('foliofs_keep_off_regions', 'gauge') == 1
assert value('foliofs_huge_regions', 'gauge') == 3
assert 0 < value('foliofs_huge_share_ratio', 'gauge') <= 1
assert value('foliofs_memory_budget_bytes', 'gauge') > 0
assert value('foliofs_commits', 'counter') >= 1
assert value('foliofs_writeback_errors', 'counter') == 0
assert value('foliofs_splits', 'counter') >= 0
info = one('foliofs_info', 'gauge').samples[0].labels
assert info['data_path'] in ('passthrough', 'daemon') and info['image'].endswith('img'), info
res = {s.labels['result']: s.value for s in one('foliofs_collapses', 'counter').samples}
assert res.get('succeeded', 0) >= 4, res
h = one('foliofs_fsync_duration_seconds', 'histogram')
buckets = [(float(s.labels['le']), s.value) for s in h.samples if s.name.endswith('_bucket')]
count = [s.value for s in h.samples if s.name.endswith('_count')][0]
total = [s.value for s in h.samples if s.name.endswith('_sum')][0]
n = int(sys.argv[3]) + 25	# the ones before, and ours
assert count == n, (count, n)
assert buckets[-1] == (float('inf'), n), buckets
assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
assert 0 < total < 25 * 10, total
PYEOF

# the picture: 4 regions, 3 huge and one keep-off, and the legend says so
"$FC" map "$MNT/f" --svg "$T/f.svg" || fail "map --svg"
$PY - "$T/f.svg" <<'PYEOF' || fail "SVG: $(head -c 3000 "$T/f.svg")"
import sys, xml.etree.ElementTree as ET
ns = {'s': 'http://www.w3.org/2000/svg'}
root = ET.parse(sys.argv[1]).getroot()
cells = [r for r in root.findall('s:rect', ns) if r.find('s:title', ns) is not None]
fills = sorted(r.get('fill') for r in cells)
assert fills == sorted(['#2e7d32'] * 3 + ['#6a1b9a']), fills
text = ' '.join(t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}text'))
assert 'huge (one 2 MiB folio): 3 regions' in text, text
assert 'keep-off (hole punched): 1 region' in text, text
assert 'Huge share: 75.0%' in text, text
PYEOF

# 1 PiB, a byte in 3 places: cells stand for many regions, and the data
# shows (a cell is grey only when none of its regions holds data)
$PY -c "
import os
fd = os.open('$MNT/sparse', os.O_WRONLY | os.O_CREAT)
for off in (0, 1 << 40, (1 << 50) - 1):
    os.pwrite(fd, b'x', off)
"
"$FC" map "$MNT/sparse" --svg "$T/sparse.svg" || fail "map --svg of a 1 PiB file"
$PY - "$T/sparse.svg" <<'PYEOF' || fail "sparse SVG"
import sys, xml.etree.ElementTree as ET
ns = {'s': 'http://www.w3.org/2000/svg'}
root = ET.parse(sys.argv[1]).getroot()
cells = [r for r in root.findall('s:rect', ns) if r.find('s:title', ns) is not None]
assert 0 < len(cells) <= 4096, len(cells)
data = [r for r in cells if r.get('fill') != '#e0e0e0']
assert len(data) == 3, [r.find('s:title', ns).text for r in data]
text = ' '.join(t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}text'))
assert 'not resident: %d regions' % ((1 << 29) - 3) in text, text
PYEOF
[ "$(stat -c %s "$T/sparse.svg")" -lt $((2 << 20)) ] || fail "the picture of a sparse file is big"

if command -v rsvg-convert >/dev/null || command -v convert >/dev/null; then
	"$FC" map "$MNT/f" --png "$T/f.png" || fail "map --png"
	[ "$(head -c 8 "$T/f.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
		fail "--png wrote no PNG"
fi
rc=0; PATH=/nonexistent "$FC" map "$MNT/f" --png "$T/g.png" 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l < "$T/err")" = 1 ] && grep -q "no SVG renderer" "$T/err" ||
	fail "--png without a renderer: rc $rc: $(cat "$T/err")"
rc=0; "$FC" map "$MNT/f" --svg /nonexistent/dir/x.svg 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "No such file" "$T/err" || fail "--svg to a bad path: $(cat "$T/err")"
umount_img
pass "status --prometheus parses with prometheus_client and counts fsyncs, collapses and keep-off; map --svg draws the states and a 1 PiB file in <= 4096 cells; --png"
