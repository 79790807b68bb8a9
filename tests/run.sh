#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite from a fresh Debian 12 machine, as root: install what
# the build and the tests need, build with gcc (-Werror) and run every test,
# build with clang (-Werror), run the whole suite again under ASan/UBSan,
# the unit tests and the concurrent mounts under TSan, fuzz briefly, then
# build, lint, install, use and remove the Debian package.  Every stage
# runs even after another failed; the end lists each failed stage (and the
# tests that failed in it) and the exit status is non-zero if any did.
# This is what .ci/run runs.
set -uo pipefail
cd "$(dirname "$0")/.."

PKGS="meson ninja-build pkg-config gcc clang libfuse3-dev fuse3 libxxhash-dev
      libcmocka-dev fio attr util-linux python3 libclang-rt-14-dev clang-format git
      mandoc man-db python3-prometheus-client python3-lmdb librsvg2-bin bash-completion
      debhelper dpkg-dev lintian"

FAILED=()
PASSED=0
LOGS=$(mktemp -d /tmp/foliofs-run.XXXXXX)

# stage NAME FUNCTION: run one stage, record whether it passed and how long
# it took; a failed stage does not stop the others.
stage() {
	local name=$1 start=$SECONDS rc=0
	shift
	echo "== $name"
	"$@" || rc=$?
	if [ "$rc" = 0 ]; then
		PASSED=$((PASSED + 1))
		echo "-- $name: ok ($((SECONDS - start)) s)"
	else
		FAILED+=("$name")
		echo "-- $name: FAILED, exit $rc ($((SECONDS - start)) s)"
	fi
}

# mtest NAME BUILD [meson test args]: meson test, its failed tests kept
# for the summary.
mtest() {
	local name=$1 build=$2 rc=0
	shift 2
	meson test -C "$build" --print-errorlogs "$@" 2>&1 | tee "$LOGS/$name.log" || rc=$?
	grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)' "$LOGS/$name.log" |
		sed "s/^/    $name: /" >> "$LOGS/failures"
	return "$rc"
}

install_deps() {
	[ "$(id -u)" = 0 ] && command -v apt-get > /dev/null || return 0
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || return 1
	# shellcheck disable=SC2086
	apt-get install -y -qq $PKGS > /dev/null
}

# setup DIR CC [meson options]: a fresh build tree, compiled
setup() {
	local dir=$1 cc=$2
	shift 2
	rm -rf "$dir"
	CC=$cc meson setup "$dir" -Dwerror=true "$@" > /dev/null && meson compile -C "$dir"
}

gcc_suite() {
	setup build-gcc gcc || return 1
	mtest gcc build-gcc
}

clang_build() { setup build-clang clang; }

asan_suite() {
	setup build-asan clang -Db_sanitize=address,undefined -Db_lundef=false || return 1
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 mtest asan build-asan
}

tsan_suite() {
	local rc=0
	setup build-tsan clang -Db_sanitize=thread -Db_lundef=false || return 1
	export TSAN_OPTIONS=halt_on_error=1:report_signal_unsafe=0
	mtest tsan-unit build-tsan --suite unit || rc=1
	mtest tsan-mounts build-tsan stress stress_fallback stress_classic \
		stress_uring_fallback cache cache_fallback fsynclog fsynclog_fallback \
		manyfiles manyfiles_fallback posix posix_fallback || rc=1
	unset TSAN_OPTIONS
	return "$rc"
}

fuzz() {
	local f work rc=0 one
	rm -rf build-fuzz
	CC=clang meson setup build-fuzz -Dfuzz=true > /dev/null || return 1
	meson compile -C build-fuzz tests/fuzz/fuzz_meta tests/fuzz/fuzz_image > /dev/null ||
		return 1
	for f in meta image; do
		work=$(mktemp -d)
		cp -r tests/fuzz/corpus/$f/. "$work"
		one=0
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			build-fuzz/tests/fuzz/fuzz_$f -max_total_time="${FUZZ_SECONDS:-30}" \
			-max_len=131072 -rss_limit_mb=4096 "$work" > "$work.log" 2>&1 || one=$?
		grep -E "DONE|ERROR|runtime error" "$work.log"
		if [ "$one" != 0 ]; then
			tail -40 "$work.log"
			echo "    fuzz: fuzz_$f found a crash" >> "$LOGS/failures"
			rc=1
		fi
		rm -rf "$work" "$work.log"
	done
	return "$rc"
}

package() {
	local rc=0
	bash tests/package.sh || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 77 ]
}

: > "$LOGS/failures"
stage "install build and test dependencies (apt-get)" install_deps
stage "style: house rules and clang-format (tests/style.py)" python3 tests/style.py
stage "gcc build, full suite" gcc_suite
stage "clang build" clang_build
stage "ASan/UBSan: the whole suite again" asan_suite
stage "TSan: the unit tests and the concurrent mounts" tsan_suite
stage "fuzzing: a short libFuzzer run of each harness on the kept corpus" fuzz
stage "Debian package: dpkg-buildpackage, lintian, apt-get install, main job, removal" package

echo
echo "== summary, $((SECONDS / 60)) min $((SECONDS % 60)) s"
for name in "${FAILED[@]}"; do
	echo "FAILED: $name"
done
if [ -s "$LOGS/failures" ]; then
	echo "failed tests:"
	cat "$LOGS/failures"
fi
rm -rf "$LOGS"
echo "stages: $PASSED passed, ${#FAILED[@]} failed"
[ "${#FAILED[@]}" = 0 ]
