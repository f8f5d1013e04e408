#!/bin/bash
# The whole test suite (what `make check` and .ci/run run): unit tests from the ASan/UBSan
# build, then the integration tests (real QEMU, real guest, real containerd where needed).
# Every TAP line counts; the last line is "N passed, N failed"; any failure exits 1.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ASAN=${ASAN_BUILD:-build/asan}
LOG=$(mktemp -d /tmp/podvm-tests.XXXXXX)
trap 'rm -rf "$LOG"' EXIT
passed=0
failed=0
skipped=0

count() {  # count FILE: adds its TAP results; "# SKIP" checks are neither pass nor fail
	local p f k
	p=$(grep '^ok ' "$1" | grep -vc '# SKIP')
	k=$(grep '^ok ' "$1" | grep -c '# SKIP')
	f=$(grep -c '^not ok ' "$1")
	passed=$((passed + p))
	skipped=$((skipped + k))
	failed=$((failed + f))
}

run_unit() {
	echo "== unit tests ($ASAN, AddressSanitizer + UBSan)"
	local rc=0
	meson test -C "$ASAN" --print-errorlogs >"$LOG/unit.txt" 2>&1 || rc=$?
	grep -E '^ *[0-9]+/[0-9]+ ' "$LOG/unit.txt" | sed 's/^ */   /'
	# Every TAP check counts; a program that failed without a "not ok" (a crash, a
	# sanitizer report) counts as one failure more.
	local log="$ROOT/$ASAN/meson-logs/testlog.txt" checks bad programs_failed
	checks=$(grep -c '^ok ' "$log" 2>/dev/null || true)
	bad=$(grep -c '^not ok ' "$log" 2>/dev/null || true)
	programs_failed=$(grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' "$LOG/unit.txt" || true)
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=$((programs_failed > 0 ? programs_failed : 1))
		tail -40 "$LOG/unit.txt"
	fi
	[ "$bad" -gt 0 ] && grep -E -B2 -A10 '^not ok' "$log" | head -80
	echo "   $checks passed, $bad failed"
	passed=$((passed + checks))
	failed=$((failed + bad))
}

run_integration() {
	export PODVM_TEST_FIXTURES="$LOG/fixtures"
	tests/fixtures/make-images.sh "$PODVM_TEST_FIXTURES" >/dev/null
	local t
	for t in tests/integration/test_*.sh; do
		run_script "$(basename "$t" .sh)" "$t"
	done
	# VMs restore from templates by default: the podvm run tests once more on cold boots.
	run_script "test_run (cold boot, PODVM_TEMPLATES=0)" tests/integration/test_run.sh PODVM_TEMPLATES=0
}

run_script() {  # run_script NAME FILE [VAR=VALUE...]
	local name=$1 file=$2 log
	shift 2
	log="$LOG/$(echo "$name" | tr -c 'a-zA-Z0-9_\n' _).txt"
	echo "== $name"
	timeout 1200 env "$@" bash "$file" 2>&1 | tee "$log" | grep -E '^(not ok|#)|# SKIP' | head -60
	local rc=${PIPESTATUS[0]}
	echo "   $(grep '^ok ' "$log" | grep -vc '# SKIP') passed, $(grep -c '^not ok ' "$log") failed"
	count "$log"
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$log"; then
		echo "not ok - $name exited with status $rc"
		failed=$((failed + 1))
	fi
}

[ "${1:-}" = "--integration-only" ] || run_unit
run_integration
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
