#!/bin/bash
# Pools of VMs by default (`pool = auto`), through containerd's CRI with the podvm-auto
# runtime (the default pool, with pool_idle = 6 s and pool_max = 2 for the test): no pooled
# VM before the first pod of a shape; after it, one; more while pods keep starting, never
# past the cap; pods then start from the pool; once no pod of the shape started for
# pool_idle, the pool is empty and its keeper gone: an idle node pays nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

pooled() { "$PODVM" template ls 2>/dev/null | grep -c 'pooled VM$'; }
keepers() { pgrep -f -- "--podvm-pool-fill $PODVM_STATE_DIR " | wc -l; }
wait_pooled() {  # wait_pooled N: until N pooled VMs are ready (fills run at idle priority)
	local i
	for i in $(seq 600); do [ "$(pooled)" -eq "$1" ] && return 0; sleep 0.1; done
	return 1
}
start_pod() {  # start_pod NAME: a pod of the auto runtime with one container; prints the pod id
	local pod c
	pod=$(cri run-pod "$1" --runtime-handler podvm-auto --log-dir "$TMP/logs/$1" --cgroup-parent "$CGROUP_PARENT") &&
		c=$(cri create-container "$pod" c "$IMG" -- sleep 300) && cri start "$c" && echo "$pod"
}
boot_of() { sed 's/ in .*//' "$PODVM_STATE_DIR/$1/boot" 2>/dev/null; }

expect_eq "auto: no pooled VM before the first pod" 0 "$(pooled)"
p1=$(start_pod one)
t_result "auto: the first pod starts" $? "$p1"
expect_eq "auto: the first pod is restored from a template (no pool yet)" "restored from a template" "$(boot_of "$p1")"
t "auto: after it, a pool of one" wait_pooled 1
p2=$(start_pod two)
expect_eq "auto: the next pod is taken from the pool" "taken from the pool" "$(boot_of "$p2")"
t "auto: two starts in the window: the pool grows to two" wait_pooled 2
p3=$(start_pod three)
p4=$(start_pod four)
expect_eq "auto: pods keep starting from the pool" "taken from the pool taken from the pool" \
	"$(boot_of "$p3") $(boot_of "$p4")"
t "auto: refilled" wait_pooled 2
t "auto: never past the cap (pool_max = 2)" test "$(pooled)" -le 2
expect_eq "auto: one keeper for the shape" 1 "$(keepers)"
for p in "$p1" "$p2" "$p3" "$p4"; do cri stop-pod "$p" >/dev/null && cri remove-pod "$p" >/dev/null; done

# Quiet: pool_idle (6 s) after the last start, the pool empties and its keeper goes.
t "auto: after the quiet period, no pooled VM" wait_pooled 0
for i in $(seq 100); do [ "$(keepers)" -eq 0 ] && break; sleep 0.1; done
expect_eq "auto: ... and no keeper" 0 "$(keepers)"
expect_eq "auto: ... and no pooled VMM" "" "$(pgrep -af -- "qemu-system.*$PODVM_STATE_DIR/pool/")"
expect_eq "auto: ... and no pool tap" "" "$(ip -o link show | grep -o ': pvp[0-9a-f]*:')"
leftovers "an auto pool after its quiet period"

# --- podvm run from the pool: as root, a run's VM has one share, empty while it starts (the
# pod shape's), and the rootfs and volumes are bound into it once the VM runs.
printf 'pool_idle = 6\npool_max = 2\n' >"$TMP/auto.conf"
mkdir -p "$TMP/vol" && echo in-volume >"$TMP/vol/f" && echo one-file >"$TMP/one.txt"
run_auto() {  # run_auto ARGS...: podvm run with the auto pool; stderr (how the VM started) in $TMP/run.err
	PODVM_CONFIG=$TMP/auto.conf PODVM_DEBUG=1 "$PODVM" run "$@" 2>"$TMP/run.err"
}
how_started() { sed -n 's/^podvm: sandbox [0-9a-f]*: \(.*\) in [0-9]* ms$/\1/p' "$TMP/run.err"; }
vols=(-v "$TMP/vol:/vol" -v "$TMP/one.txt:/etc/one:ro")
probe='cat /vol/f /etc/one; echo w >/vol/new; echo x >/etc/one 2>/dev/null || echo ro; ls /'
out=$(run_auto "${vols[@]}" "$FIX/oci.tar" sh -c "$probe")
t_result "run: the first run of a shape" $? "$out $(cat "$TMP/run.err")"
expect_match "run: ... is not from the pool (there is none yet)" "^(booted|restored from a template)" "$(how_started)"
t "run: after it, a pool of one" wait_pooled 1
rm -f "$TMP/vol/new"
out=$(run_auto "${vols[@]}" "$FIX/oci.tar" sh -c "$probe")
expect_eq "run: the next run is taken from the pool" "taken from the pool" "$(how_started)"
expect_match "run: ... its rootfs, volume, read-only file volume" \
	"^in-volume one-file ro .*bin.*etc.*vol" "$(echo $out)"
expect_eq "run: ... wrote through the volume" "w" "$(cat "$TMP/vol/new" 2>&1)"
expect_eq "run: ... the read-only file is unchanged" "one-file" "$(cat "$TMP/one.txt")"
expect_eq "run: ... nothing stays bound" "" "$(grep -- "$PODVM_DATA_DIR/" /proc/self/mounts)"
t "run: refilled" wait_pooled 1
for i in $(seq 300); do [ "$(keepers)" -eq 1 ] && break; sleep 0.1; done  # refills end
expect_eq "run: one keeper for the shape" 1 "$(keepers)"
# The keeper outlives the run that started it (pool_idle = 6 s): it must not hold the run's
# stderr, or a pipeline reading it would wait for the keeper.
out=$(timeout 4 sh -c "PODVM_CONFIG='$TMP/auto.conf' '$PODVM' run '$FIX/oci.tar' echo piped 2>&1 | cat")
expect_eq "run: a pipeline of a run's output ends with the run (the keeper holds none of it)" "piped" "$out"

# A killed run leaves its binds: the next run unmounts them, and its removal of the dead
# run's data never reaches into a volume.
PODVM_CONFIG=$TMP/auto.conf "$PODVM" run "${vols[@]}" "$FIX/oci.tar" sleep 300 >/dev/null 2>&1 &
killed=$!
for i in $(seq 300); do grep -q -- "$PODVM_DATA_DIR/.*/shared/v0 " /proc/self/mounts && break; sleep 0.1; done
t "run: a run's volume is bound while it runs" grep -q -- "$PODVM_DATA_DIR/.*/shared/v0 " /proc/self/mounts
kill -KILL $killed
wait $killed 2>/dev/null
out=$(run_auto "$FIX/oci.tar" echo after)
expect_eq "run: after a killed run, the next runs" "after" "$out"
expect_eq "run: ... and unmounted the dead run's binds" "" "$(grep -- "$PODVM_DATA_DIR/" /proc/self/mounts)"
expect_eq "run: ... the volume intact" "in-volume one-file" "$(cat "$TMP/vol/f" "$TMP/one.txt" | tr '\n' ' ' | sed 's/ $//')"

# Without root there is nothing to bind: the rootfs and volumes are shares of their own, and
# the VM is never a pooled one. The user gets its own copy of podvm and the guest (the
# checkout may be in a directory only root can enter). The volume goes on a directory the
# image has: an unprivileged QEMU cannot give a new mount point in the rootfs to root.
nb=$TMP/nobody
mkdir -p "$nb/guest" && cp "$PODVM" "$nb/podvm" && cp "$PODVM_GUEST_DIR"/* "$nb/guest/" &&
	cp "$FIX/oci.tar" "$nb/" && cp -r "$TMP/vol" "$nb/vol" && chown -R nobody "$nb" && chmod a+x "$TMP"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$nb" PODVM_STATE_DIR="$nb/state" \
	PODVM_DATA_DIR="$nb/data" PODVM_GUEST_DIR="$nb/guest" PODVM_CONFIG="$TMP/auto.conf" PODVM_ACCEL=tcg \
	PODVM_DEBUG=1 "$nb/podvm" run -v "$nb/vol:/tmp:ro" "$nb/oci.tar" sh -c 'cat /tmp/f; id -u' 2>"$TMP/run.err")
t_result "run: without root" $? "$out $(cat "$TMP/run.err")"
expect_eq "run: ... sees its volume" "in-volume 0" "$(echo $out)"
expect_match "run: ... and is never pooled" "^(booted|restored from a template)" "$(how_started)"
expect_eq "run: ... its data removed" "" "$(ls -A "$nb/data" 2>/dev/null | grep -v templates)"

t "run: after the quiet period, no pooled VM" wait_pooled 0
for i in $(seq 100); do [ "$(keepers)" -eq 0 ] && break; sleep 0.1; done
expect_eq "run: ... and no keeper" 0 "$(keepers)"
leftovers "runs from an auto pool"
