# Shared helpers of the integration tests: each test script sources this, runs `t NAME
# COMMAND...` checks, and prints TAP lines ("ok N - NAME" / "not ok N - NAME") that
# tests/run-all.sh counts. Every script gets its own state and data dirs under a temp dir,
# so the leftover checks see only what that script created; the EXIT trap kills whatever
# a failed test left running there and removes the temp dir.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PODVM=${PODVM:-$ROOT/build/release/src/podvm/podvm}
export PODVM_GUEST_DIR=${PODVM_GUEST_DIR:-$ROOT/build/guest}
TMP=$(mktemp -d /tmp/podvm-it.XXXXXX)
export PODVM_STATE_DIR=$TMP/state PODVM_DATA_DIR=$TMP/data
FIX=${PODVM_TEST_FIXTURES:-}
if [ -z "$FIX" ]; then
	FIX=$TMP/fixtures
	"$ROOT/tests/fixtures/make-images.sh" "$FIX" >/dev/null
fi
T_NUM=0
# The tests of other features run without pools of VMs: pools are on by default (`pool =
# auto`), and their background fills and keepers would make timings and leftovers depend on
# what ran before. A runtime's own config (ConfigPath) or PODVM_CONFIG set by a test wins;
# test_pool.sh tests the default.
if [ -z "${PODVM_CONFIG:-}" ]; then
	printf '# lib.sh: tests of other features than pools\npool = 0\n' >"$TMP/podvm.conf"
	export PODVM_CONFIG=$TMP/podvm.conf
fi
# The accelerator verdict (src/libpodvm/accel.h) is made once per state directory, with a
# warning line when it is TCG: made here, so that the one-line error checks below see only
# their own lines. test_accel.sh tests the verdict itself, in state directories of its own.
"$PODVM" check >/dev/null 2>&1 || true

cleanup_tmp() {
	# Only processes whose command line names this script's temp dir: never anyone else's.
	pkill -KILL -f -- "$TMP/" 2>/dev/null || true
	sleep 0.2
	awk -v t="$TMP" '$2 ~ t {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup_tmp EXIT

t_result() {  # t_result NAME STATUS [DETAIL]
	T_NUM=$((T_NUM + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $T_NUM - $1"
	else
		echo "not ok $T_NUM - $1"
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
	fi
	return 0
}

# t_skip NAME REASON: a check not run, said so (TAP "# SKIP"); counted apart from passes.
t_skip() {
	T_NUM=$((T_NUM + 1))
	echo "ok $T_NUM - $1 # SKIP $2"
}

# t NAME CMD...: passes when CMD exits 0.
t() {
	local name=$1
	shift
	local out
	out=$("$@" 2>&1)
	t_result "$name" $? "$out"
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
	[ "$2" = "$3" ]
	t_result "$1" $? "expected: [$2]
actual:   [$3]"
}

# expect_match NAME REGEX ACTUAL
expect_match() {
	printf '%s' "$3" | grep -Eq -- "$2"
	t_result "$1" $? "wanted /$2/ in: [$3]"
}

# Nothing of podvm's may remain: state dirs, unpacked rootfs, VMM processes, mounts.
leftovers() {
	local found=""
	# The shims' socket directory may stay (as containerd's /run/containerd/s), empty; so
	# does the accelerator verdict, for this boot of the host.
	local state
	state=$(ls -A "$PODVM_STATE_DIR" 2>/dev/null | grep -vx -e shim -e accel -e pool)
	# A pool left with nothing in it but its locks and demand records is empty.
	local pooled
	pooled=$(ls -A "$PODVM_STATE_DIR/pool" 2>/dev/null | grep -v -e '\.lock$' -e '\.starts$' -e '\.keeper$' -e '^filler\.log$')
	[ -n "$pooled" ] && state="$state pool:$pooled"
	[ -n "$state" ] && found="$found state:$state"
	[ -n "$(ls -A "$PODVM_STATE_DIR/shim" 2>/dev/null)" ] && found="$found sockets:$(ls "$PODVM_STATE_DIR/shim")"
	# VM templates are meant to stay; a half-made one (.tmp) is not.
	local data
	# So are unpacked images kept for reuse; a half-made one (.tmp-) is not; and the node's
	# CA of vTPMs (made on first use where `podvm ca init` did not) and the cached reference
	# values of image snapshots (attest-cache), as node-wide as images.
	data=$(ls -A "$PODVM_DATA_DIR" 2>/dev/null | grep -vx -e templates -e pool -e images -e ca -e attest-cache)
	ls "$PODVM_DATA_DIR/images" 2>/dev/null | grep -q -- '\.tmp-' && data="$data images:$(ls "$PODVM_DATA_DIR/images")"
	[ -n "$(ls -A "$PODVM_DATA_DIR/pool" 2>/dev/null)" ] && data="$data pool:$(ls "$PODVM_DATA_DIR/pool")"
	[ -n "$data" ] && found="$found data:$data"
	ls -d "$PODVM_DATA_DIR"/templates/*.tmp >/dev/null 2>&1 && found="$found template:$(ls "$PODVM_DATA_DIR/templates")"
	pgrep -f -- "$PODVM_STATE_DIR/" >/dev/null && found="$found processes:$(pgrep -af -- "$PODVM_STATE_DIR/" | cut -c1-80)"
	# The data dir itself may be a mount: bound onto itself and shared, once, so that the
	# jailed VMMs see the mounts made later in their shares (pv_mount_make_shared).
	local mounts
	mounts=$(awk -v t="$TMP" -v d="$PODVM_DATA_DIR" 'index($2, t) == 1 && $2 != d {print $2}' /proc/self/mounts | head -3)
	[ -n "$mounts" ] && found="$found mounts:$mounts"
	[ -z "$found" ]
	t_result "no leftovers after: $1" $? "$found"
}

# fails NAME EXPECTED_RC REGEX CMD...: exit code, exactly one stderr line matching REGEX,
# then the leftover check ($LEFTOVER_CHECK NAME: leftovers unless a script adds to it).
fails() {
	local name=$1 want_rc=$2 regex=$3
	shift 3
	"$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$? lines
	lines=$(wc -l <"$TMP/err")
	[ $rc -eq "$want_rc" ] && [ "$lines" -eq 1 ] && grep -Eq -- "$regex" "$TMP/err"
	t_result "$name: exit $want_rc, one line /$regex/" $? "rc=$rc stderr=$(cat "$TMP/err")"
	${LEFTOVER_CHECK:-leftovers} "$name"
}

# Waits until FILE contains TEXT (the guest is slow under TCG).
wait_for_text() {
	local i
	for i in $(seq 1 600); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
