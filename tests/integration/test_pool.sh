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
