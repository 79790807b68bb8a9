#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite from a fresh Debian 12 machine, as root: install what
# the build and the tests need, build with gcc (-Werror) and run every test,
# build with clang (-Werror), run the whole suite again under ASan/UBSan,
# the unit tests and the concurrent mounts under TSan, fuzz briefly, then
# build, lint, install, use and remove the Debian package.  This is what
# .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="meson ninja-build pkg-config gcc clang libfuse3-dev fuse3 libxxhash-dev
      libcmocka-dev fio attr util-linux python3 libclang-rt-14-dev clang-format git
      mandoc man-db python3-prometheus-client librsvg2-bin bash-completion
      debhelper dpkg-dev lintian"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $PKGS > /dev/null
fi

echo "== style: house rules and clang-format (tests/style.py)"
python3 tests/style.py

echo "== gcc build, full suite"
rm -rf build-gcc build-clang build-asan build-tsan build-fuzz
CC=gcc meson setup build-gcc -Dwerror=true > /dev/null
meson compile -C build-gcc
meson test -C build-gcc --print-errorlogs

echo "== clang build"
CC=clang meson setup build-clang -Dwerror=true > /dev/null
meson compile -C build-clang

echo "== ASan/UBSan: the whole suite again"
CC=clang meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false > /dev/null
meson compile -C build-asan
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs

echo "== TSan: the unit tests and the concurrent mounts (stress, caches, group commit)"
CC=clang meson setup build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false > /dev/null
meson compile -C build-tsan
export TSAN_OPTIONS=halt_on_error=1:report_signal_unsafe=0
meson test -C build-tsan --print-errorlogs --suite unit
meson test -C build-tsan --print-errorlogs stress stress_fallback stress_classic \
	stress_uring_fallback cache cache_fallback fsynclog fsynclog_fallback manyfiles \
	manyfiles_fallback posix posix_fallback
unset TSAN_OPTIONS

echo "== fuzzing: a short libFuzzer run of each harness on the kept corpus"
CC=clang meson setup build-fuzz -Dfuzz=true > /dev/null
meson compile -C build-fuzz tests/fuzz/fuzz_meta tests/fuzz/fuzz_image > /dev/null
for f in meta image; do
	work=$(mktemp -d)
	cp -r tests/fuzz/corpus/$f/. "$work"
	rc=0
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		build-fuzz/tests/fuzz/fuzz_$f -max_total_time=${FUZZ_SECONDS:-30} \
		-max_len=131072 -rss_limit_mb=4096 "$work" > "$work.log" 2>&1 || rc=$?
	grep -E "DONE|ERROR|runtime error" "$work.log" || true
	[ "$rc" = 0 ] || { tail -40 "$work.log"; echo "fuzz_$f failed"; exit 1; }
	rm -rf "$work" "$work.log"
done

echo "== Debian package: dpkg-buildpackage, lintian, apt-get install, main job, removal"
rc=0; bash tests/package.sh || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 77 ] || exit "$rc"
