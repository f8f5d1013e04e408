#!/bin/bash
# VM templates: the first VM of a shape makes a template (a cold boot saved paused), later
# ones restore it; restored VMs get their own identity; a corrupt or mismatched template
# falls back to a cold boot with one warning; PODVM_TEMPLATES / the config file turn
# templates off. Real QEMU (TCG here) and the real guest.
source "$(dirname "$0")/lib.sh"
IMG=$FIX/oci
TPL=$PODVM_DATA_DIR/templates

# run_dbg NAME ARGS...: podvm run with PODVM_DEBUG (which says how each VM started);
# stdout to $TMP/NAME.out, stderr to $TMP/NAME.err, status to $TMP/NAME.rc.
run_dbg() {
	local name=$1
	shift
	PODVM_DEBUG=1 "$PODVM" run "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	echo $? >"$TMP/$name.rc"
}

restored() { grep -q "^podvm: sandbox [0-9a-f]*: restored from a template" "$TMP/$1.err"; }
booted_cold() { grep -q "^podvm: sandbox [0-9a-f]*: booted cold" "$TMP/$1.err"; }
# The one template directory whose key has this shape.
template_of() { grep -l -- "$1" "$TPL"/*/key 2>/dev/null | head -1 | xargs -r dirname; }

# --- the first VM makes the template, then restores it
run_dbg first "$IMG" echo first
expect_eq "first run: exit 0" 0 "$(cat "$TMP/first.rc")"
expect_eq "first run: output" first "$(cat "$TMP/first.out")"
t "first run: a template VM booted cold" grep -q "^podvm: sandbox template-[0-9a-f]*.tmp-[0-9]*: booted cold" "$TMP/first.err"
t "first run: restored from the new template" restored first
expect_match "template ls: the shape" "vcpus=1 mem=256M net=0 debug=1 tpm=0 shares=shared" "$("$PODVM" template ls)"
dir=$(template_of "mem=256M net=0 debug=1 tpm=0 shares=shared$")
t "template: device state and RAM files" test -s "$dir/state" -a -s "$dir/mem"

# --- two VMs restored at once from it, each its own
probe='head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"; echo; cat /proc/sys/kernel/random/boot_id; date +%s'
run_dbg id1 "$IMG" sh -c "$probe" &
run_dbg id2 "$IMG" sh -c "$probe" &
wait
host_now=$(date +%s)
t "identity: both restored" sh -c "grep -q restored '$TMP/id1.err' && grep -q restored '$TMP/id2.err'"
line() { sed -n "${2}p" "$TMP/$1.out"; }
t "identity: RNG output differs" test -n "$(line id1 1)" -a "$(line id1 1)" != "$(line id2 1)"
t "identity: boot_id differs" test -n "$(line id1 2)" -a "$(line id1 2)" != "$(line id2 2)"
vm_name() { sed -n 's/^podvm: sandbox \([0-9a-f]*\): restored.*/\1/p' "$TMP/$1.err"; }
t "identity: each VM named after its sandbox (1)" grep -q "AdoptIdentity: hostname $(vm_name id1)," "$TMP/id1.err"
t "identity: each VM named after its sandbox (2)" grep -q "AdoptIdentity: hostname $(vm_name id2)," "$TMP/id2.err"
clock_ok() { local d=$(( host_now - $(line "$1" 3) )); [ "${d#-}" -le 5 ]; }
t "identity: guest clock set to the host's (1)" clock_ok id1
t "identity: guest clock set to the host's (2)" clock_ok id2

# --- restored VMs run containers as booted ones do: volumes, exit codes, stdin
mkdir -p "$TMP/vol" && echo from-host >"$TMP/vol/f"
run_dbg vol -v "$TMP/vol:/data" "$IMG" cat /data/f
expect_eq "restored with a volume: output" from-host "$(cat "$TMP/vol.out")"
t "restored with a volume: restored (its own shape)" restored vol
run_dbg code "$IMG" sh -c 'exit 7'
expect_eq "restored: exit code" 7 "$(cat "$TMP/code.rc")"
expect_eq "restored: stdin" piped "$(echo piped | "$PODVM" run -i "$IMG" cat 2>&1)"

# --- a corrupt device state: one warning, a cold boot, the template removed and remade
"$PODVM" run "$IMG" true  # makes the template of the non-debug shape
dir=$(template_of "mem=256M net=0 debug=0 tpm=0 shares=shared$")
head -c 60000 /dev/urandom >"$dir/state"
out=$("$PODVM" run "$IMG" echo survived 2>"$TMP/corrupt.err")
expect_eq "corrupt state: the container still runs" survived "$out"
expect_eq "corrupt state: one line on stderr" 1 "$(wc -l <"$TMP/corrupt.err")"
expect_match "corrupt state: a warning naming the template" "^podvm: warning: VM template $dir: .*booting cold" "$(cat "$TMP/corrupt.err")"
t "corrupt state: template removed" test ! -e "$dir"
"$PODVM" run "$IMG" true
t "corrupt state: the next run makes it again" test -s "$dir/state"

# --- corrupt RAM: the guest cannot resume; same fallback
dd if=/dev/urandom of="$dir/mem" bs=1M count=200 conv=notrunc status=none
out=$("$PODVM" run --boot-timeout 8 "$IMG" echo survived 2>"$TMP/corruptmem.err")
expect_eq "corrupt RAM: the container still runs" survived "$out"
expect_match "corrupt RAM: a warning" "^podvm: warning: VM template $dir: .*booting cold" "$(cat "$TMP/corruptmem.err")"

# --- a template of another shape under this one's key: QEMU refuses it; same fallback
"$PODVM" run "$IMG" true
"$PODVM" run -m 320m "$IMG" true  # 320 MiB + 64 MiB of guest overhead
other=$(template_of "mem=384M net=0 debug=0 tpm=0 shares=shared$")
t "another shape: its own template" test -n "$other" -a "$other" != "$dir"
cp "$other/state" "$dir/state"
out=$("$PODVM" run "$IMG" echo survived 2>"$TMP/mismatch.err")
expect_eq "mismatched template: the container still runs" survived "$out"
expect_match "mismatched template: a warning" "^podvm: warning: VM template $dir: .*booting cold" "$(cat "$TMP/mismatch.err")"

# --- templates off: by environment, by config file; a bad config file
PODVM_TEMPLATES=0 PODVM_DEBUG=1 "$PODVM" run "$IMG" echo cold >"$TMP/cold.out" 2>"$TMP/cold.err"
expect_eq "PODVM_TEMPLATES=0: output" cold "$(cat "$TMP/cold.out")"
t "PODVM_TEMPLATES=0: booted cold" booted_cold cold
t "PODVM_TEMPLATES=0: no template VM" sh -c "! grep -q 'sandbox template-' '$TMP/cold.err'"
printf '# podvm settings\ntemplates = off\n' >"$TMP/off.conf"
PODVM_CONFIG=$TMP/off.conf PODVM_DEBUG=1 "$PODVM" run "$IMG" true 2>"$TMP/conf.err"
t "config templates = off: booted cold" booted_cold conf
printf 'templates = maybe\n' >"$TMP/bad.conf"
err=$(PODVM_CONFIG=$TMP/bad.conf "$PODVM" run "$IMG" true 2>&1)
rc=$?
t "bad config: non-zero exit" test "$rc" -ne 0
expect_eq "bad config: one line naming file and line" \
	"podvm: $TMP/bad.conf:1: templates = \"maybe\": not a boolean" "$err"

# --- memory merging: ksm = on (the default) marks all of QEMU's memory mergeable for the
# host's KSM (PR_SET_MEMORY_MERGE); ksm = off none of it, guest RAM included.
ksm_of_vm() {  # ksm_of_vm [ENV...]: "merge_any mergeable" of a running VM's QEMU
	env "$@" "$PODVM" run "$IMG" sh -c 'trap "exit 0" TERM; echo up; sleep 30 & wait' >"$TMP/ksm.out" 2>&1 &
	local pid=$! i q
	wait_for_text "$TMP/ksm.out" up
	q=$(pgrep -n -f -- "qemu-system.*$PODVM_STATE_DIR/")
	echo "$(awk '/^ksm_merge_any:/{print $2}' "/proc/$q/ksm_stat") $(awk '/^ksm_mergeable:/{print $2}' "/proc/$q/ksm_stat")"
	kill -TERM $pid 2>/dev/null
	for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	wait $pid 2>/dev/null
}
if grep -qs '^ksm_merge_any:' "/proc/self/ksm_stat"; then
	expect_eq "ksm = on (default): all of the VMM's memory is mergeable" "yes yes" "$(ksm_of_vm)"
	expect_eq "PODVM_KSM=0: none of it" "no no" "$(ksm_of_vm PODVM_KSM=0)"
	printf 'ksm = off\n' >"$TMP/ksm.conf"
	expect_eq "config ksm = off: none of it" "no no" "$(ksm_of_vm PODVM_CONFIG="$TMP/ksm.conf")"
else
	t_skip "memory merging" "this kernel does not show ksm_merge_any in /proc/PID/ksm_stat (Linux < 6.7)"
fi

# --- podvm template rm
t "template rm" "$PODVM" template rm
expect_eq "template ls after rm: nothing" "" "$("$PODVM" template ls)"
leftovers "templates"
