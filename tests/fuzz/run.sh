#!/bin/bash
# run.sh BUILDDIR [SECONDS]: what `make fuzz` runs. Configures BUILDDIR if it is not yet
# (clang, -Dfuzz=true, ASan and UBSan), builds the libFuzzer targets of tests/fuzz, replays
# each target's crash inputs of tests/fuzz/regressions/<name>, then fuzzes it for SECONDS
# (default 60) on a copy of its corpus (tests/fuzz/corpus/<name> plus the seeds make_seeds
# writes), with the dictionary tests/fuzz/<name>.dict where there is one. Prints, per
# target, the inputs it ran and whether it crashed (the crashing input is kept under
# BUILDDIR/fuzz-run/<name>/artifacts); exits 1 if any target crashed.
# FUZZ_TARGETS="a b" runs only those targets.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 BUILDDIR [SECONDS]" >&2
	exit 2
fi
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(mkdir -p "$1" && cd "$1" && pwd)
SECONDS_EACH=${2:-60}
FUZZ_DIR=$SRC/tests/fuzz
RUN=$BUILD/fuzz-run

if [ ! -f "$BUILD/build.ninja" ]; then
	CC=clang meson setup "$BUILD" "$SRC" -Dagent=false -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
	targets=$FUZZ_TARGETS
else
	targets=$(cd "$FUZZ_DIR" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
ninja_targets=tests/fuzz/make_seeds
for t in $targets; do
	ninja_targets="$ninja_targets tests/fuzz/fuzz_$t"
done
# shellcheck disable=SC2086
ninja -C "$BUILD" $ninja_targets >/dev/null

rm -rf "$RUN"
mkdir -p "$RUN"
"$BUILD/tests/fuzz/make_seeds" "$RUN/seeds"

# UBSan reports are findings too: stop at the first, so that libFuzzer keeps the input.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1

# Replays the saved crash inputs of target $1; prints the failing log and returns 1 if one
# still crashes.
replay() {
	local t=$1 bin=$BUILD/tests/fuzz/fuzz_$1 dir=$FUZZ_DIR/regressions/$1
	[ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] || return 0
	if ! (cd "$RUN/$t" && "$bin" "$dir"/* >"$RUN/$t/replay.log" 2>&1); then
		tail -n 40 "$RUN/$t/replay.log" >&2
		return 1
	fi
}

# Fuzzes target $1 for SECONDS_EACH; prints its line of the summary, returns 1 on a crash.
fuzz() {
	local t=$1 bin=$BUILD/tests/fuzz/fuzz_$1 work=$RUN/$1 rc=0 dict=()
	mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
	for d in "$FUZZ_DIR/corpus/$t" "$RUN/seeds/$t"; do
		[ -d "$d" ] && cp -r "$d/." "$work/corpus/"
	done
	[ -f "$FUZZ_DIR/$t.dict" ] && dict=(-dict="$FUZZ_DIR/$t.dict")
	(cd "$work" && TMPDIR=$work/tmp timeout $((SECONDS_EACH * 2 + 120)) "$bin" "${dict[@]}" \
		-max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" corpus \
		>"$work/fuzz.log" 2>&1) || rc=$?
	local execs found
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
	found=$(ls "$work/artifacts")
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		printf '%-16s %10s executions  no crash\n' "$t" "${execs:-?}"
		return 0
	fi
	printf '%-16s %10s executions  CRASH (exit %d): %s\n' "$t" "${execs:-?}" "$rc" \
		"$(echo "$found" | sed "s|^|$work/artifacts/|" | tr '\n' ' ')"
	grep -m1 -A25 -E '^==[0-9]+==ERROR|runtime error|ALARM|out-of-memory|deadly signal' \
		"$work/fuzz.log" | sed 's/^/    /' >&2 || true
	return 1
}

failed=0
echo "fuzzing each target for ${SECONDS_EACH}s (logs in $RUN/<target>/)"
for t in $targets; do
	mkdir -p "$RUN/$t"
	if ! replay "$t"; then
		printf '%-16s %10s  CRASH: an input of tests/fuzz/regressions/%s crashes again\n' "$t" "" "$t"
		failed=1
		continue
	fi
	fuzz "$t" || failed=1
done
exit $failed
