#!/bin/bash
# A vTPM per VM (`tpm = on`, src/libpodvm/vmm/swtpm.h): a cold boot, a template restore and
# a pooled VM each show the guest a TPM 2.0 that answers (a PCR read through sysfs is a
# TPM2_PCR_Read); each VM has its own jailed swtpm; restored VMs get their own TPM state,
# never the template's; no swtpm outlives its VM; a missing swtpm is one clear line.
. "$(dirname "$0")/lib.sh"
IMG=$FIX/oci
export PODVM_TPM=1
PROBE='cat /sys/class/tpm/tpm0/tpm_version_major /sys/class/tpm/tpm0/pcr-sha256/0'
WANT='^2 0{64}$'
HOLD='trap "exit 0" TERM; echo ready; sleep 60 & wait'

swtpms() { pgrep -f -- "swtpm socket.*$TMP/"; }
status_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
stop_run() {  # stop_run PID: ends a HOLD run and waits for it
	local i
	kill -TERM "$1"
	for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
}

out=$(PODVM_TEMPLATES=0 "$PODVM" run "$IMG" sh -c "$PROBE" 2>&1)
expect_match "cold boot: the guest has a TPM 2.0 that answers" "$WANT" "$(echo $out)"
out=$("$PODVM" run "$IMG" sh -c "$PROBE" 2>&1)
expect_match "template made, VM restored: a TPM 2.0 that answers" "$WANT" "$(echo $out)"
out=$("$PODVM" run "$IMG" sh -c "$PROBE" 2>&1)
expect_match "restored again: a TPM 2.0 that answers" "$WANT" "$(echo $out)"
expect_eq "no swtpm left after the runs" "" "$(swtpms)"
leftovers "runs with a TPM"

# Two restored VMs at once: two swtpms, each jailed, each with a TPM state of its own, and
# neither the template's (its permanent blob, from the template's stream, is in neither).
"$PODVM" run "$IMG" sh -c "$HOLD" >"$TMP/a.out" 2>&1 &
a=$!
"$PODVM" run "$IMG" sh -c "$HOLD" >"$TMP/b.out" 2>&1 &
b=$!
wait_for_text "$TMP/a.out" ready && wait_for_text "$TMP/b.out" ready
pids=$(swtpms)
expect_eq "two VMs: two swtpms" 2 "$(echo "$pids" | grep -c .)"
for p in $pids; do
	expect_eq "swtpm $p: no_new_privs" 1 "$(status_field "$p" NoNewPrivs)"
	uid=$(status_field "$p" Uid)
	[ "$uid" -ge $((0x60000000)) ]
	t_result "swtpm $p: its own uid ($uid)" $?
	[ "$(readlink "/proc/$p/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && [ "$(readlink "/proc/$p/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
	t_result "swtpm $p: its own mount and PID namespaces" $?
	expect_eq "swtpm $p: its root holds no more than its files" "" "$(ls /proc/$p/root/ | grep -vx -e usr -e lib -e lib64 -e dev -e proc -e tmp -e run)"
	expect_eq "swtpm $p: seccomp filter" 2 "$(status_field "$p" Seccomp)"
done
hashes=$(for p in $pids; do sha256sum "/proc/$p/cwd/tpm2-00.permall" | cut -d' ' -f1; done | sort -u | grep -c .)
expect_eq "two restored VMs: two TPM permanent states" 2 "$hashes"
template_blob() {  # the tail of the template's permanent blob, hex
	python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
i = d.find(b"\x0ctpm-emulator") + 13 + 8
size = struct.unpack(">I", d[i + 4:i + 8])[0]
print(d[i + 8:i + 8 + size][-512:].hex())
PY
}
tblob=$(template_blob "$(ls "$PODVM_DATA_DIR"/templates/*/state | head -1)")
[ ${#tblob} -eq 1024 ]
t_result "the template's stream holds its TPM state" $? "[$tblob]"
for p in $pids; do
	xxd -p "/proc/$p/cwd/tpm2-00.permall" | tr -d '\n' | grep -q "$tblob"
	[ $? -ne 0 ]
	t_result "swtpm $p: its state is not the template's" $?
done
stop_run $a
stop_run $b
for i in $(seq 30); do [ -z "$(swtpms)" ] && break; sleep 0.1; done
expect_eq "VMs stopped: no swtpm left" "" "$(swtpms)"
leftovers "two VMs with TPMs"

# From the pool (pool = 1 for this shape). PODVM_DEBUG (which says how a VM started) makes a
# shape of its own: every run of this part has it.
printf 'pool = 1\n' >"$TMP/pool.conf"
export PODVM_DEBUG=1
PODVM_CONFIG=$TMP/pool.conf "$PODVM" run "$IMG" true 2>/dev/null
for i in $(seq 600); do [ "$("$PODVM" template ls 2>/dev/null | grep -c 'pooled VM$')" -ge 1 ] && break; sleep 0.1; done
out=$(PODVM_CONFIG=$TMP/pool.conf PODVM_DEBUG=1 "$PODVM" run "$IMG" sh -c "$PROBE" 2>"$TMP/pool.err")
expect_match "pool: the VM was taken from the pool" "taken from the pool" "$(cat "$TMP/pool.err")"
expect_match "pool: a TPM 2.0 that answers" "$WANT" "$(echo $out)"
# The refill parks another pooled VM, with its swtpm; emptied here.
PODVM_CONFIG=$TMP/pool.conf "$PODVM" template rm >/dev/null 2>&1
unset PODVM_DEBUG
for i in $(seq 50); do [ -z "$(swtpms)" ] && break; sleep 0.1; done
expect_eq "pool emptied: no swtpm left" "" "$(swtpms)"

# Without a usable swtpm: one line naming it, nothing left.
PODVM_SWTPM=/nonexistent/swtpm fails "swtpm missing" 125 "swtpm /nonexistent/swtpm: not found" "$PODVM" run "$IMG" true
expect_match "podvm check: says the TPM is on and which swtpm" "^vtpm: +on \(tpm = on: a TPM 2.0 per VM, swtpm /" "$("$PODVM" check 2>/dev/null | grep vtpm)"
expect_match "podvm check: off" "^vtpm: +off" "$(PODVM_TPM=0 "$PODVM" check 2>/dev/null | grep vtpm)"
