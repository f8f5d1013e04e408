#!/bin/bash
# Attested VMs (src/libpodvm/attest/verifier.h) through `podvm run`: a secret reaches
# /run/secrets only after the VM's attestation passed; a tampered initramfs or kernel
# command line is refused before any secret is sent or the container runs; a binary
# written and executed at run time is detected within one period (enforce: the VM is
# stopped; verify: reported); cold, restored and pooled VMs each attest with a TPM identity
# of their own; `podvm attest ID` asks a running VM's owner; bad input is one line.
# (A replayed quote and forged or truncated logs: tests/unit/test_verifier.c, against a
# hostile agent over a real swtpm.)
. "$(dirname "$0")/lib.sh"
IMG=$FIX/oci
printf 'the secret\n' >"$TMP/token"
HOLD='trap "exit 0" TERM; echo ready; sleep 60 & wait'
EVIL='cp /bin/busybox /tmp/evil && echo x >>/tmp/evil; /tmp/evil true 2>/dev/null; sleep 30; echo survived'

swtpms() { pgrep -f -- "swtpm socket.*$TMP/"; }
ids_running() { ls "$PODVM_STATE_DIR"/*/attest.sock 2>/dev/null | xargs -r -n1 dirname | xargs -r -n1 basename; }
stop_run() {
	local i
	kill -TERM "$1"
	for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
}

# ---- a secret, once attested: cold boot, then a template's restore ----
out=$(PODVM_TEMPLATES=0 "$PODVM" run --secret token="$TMP/token" "$IMG" sh -c 'cat /run/secrets/token; stat -c %a /run/secrets/token' 2>&1)
expect_eq "cold boot: attested, the secret in /run/secrets" "the secret
444" "$out"
out=$("$PODVM" run --secret token="$TMP/token" "$IMG" cat /run/secrets/token 2>&1)
expect_eq "template made and restored: attested, the secret delivered" "the secret" "$out"
out=$("$PODVM" run --secret token="$TMP/token" "$IMG" cat /run/secrets/token 2>&1)
expect_eq "restored again: attested, the secret delivered" "the secret" "$out"
out=$("$PODVM" run --attest "$IMG" sh -c 'ls /run/secrets 2>&1; echo done' 2>&1)
expect_match "--attest without secrets: runs, no /run/secrets" "No such file.*done" "$(echo $out)"
expect_eq "no swtpm left after the runs" "" "$(swtpms)"
leftovers "attested runs"

# ---- podvm attest ID, and two VMs with identities of their own ----
"$PODVM" run --attest "$IMG" sh -c "$HOLD" >"$TMP/a.out" 2>&1 &
a=$!
"$PODVM" run --attest "$IMG" sh -c "$HOLD" >"$TMP/b.out" 2>&1 &
b=$!
wait_for_text "$TMP/a.out" ready && wait_for_text "$TMP/b.out" ready
ids=$(ids_running)
expect_eq "two attested VMs: two attestation sockets" 2 "$(echo "$ids" | grep -c .)"
for id in $ids; do
	out=$("$PODVM" attest "$id" 2>&1)
	rc=$?
	expect_match "podvm attest $id: pass" "^pass: [0-9]+ measurements checked" "$out (rc=$rc)"
	sha256sum "$PODVM_STATE_DIR/$id/attest/ek.der" | cut -d' ' -f1 >>"$TMP/eks"
	openssl x509 -inform der -in "$PODVM_STATE_DIR/$id/attest/ek.der" -noout 2>/dev/null
	t_result "VM $id: its EK certificate is X.509" $?
	openssl verify -CAfile "$PODVM_DATA_DIR/ca/ca.pem" <(openssl x509 -inform der -in "$PODVM_STATE_DIR/$id/attest/ek.der") >/dev/null 2>&1
	t_result "VM $id: its EK certificate chains to the node CA" $?
done
expect_eq "two restored VMs: two EKs" 2 "$(sort -u "$TMP/eks" | grep -c .)"
stop_run $a
stop_run $b
fails "podvm attest of no such sandbox" 125 "sandbox nope: not running" "$PODVM" attest nope
"$PODVM" attest >/dev/null 2>"$TMP/err"
expect_eq "podvm attest without an id: usage, exit 125" "125 Usage: podvm attest ID" "$? $(head -1 "$TMP/err")"

# ---- tampering, refused before the secret or the container ----
cp -r "$PODVM_GUEST_DIR" "$TMP/guest"
printf 'tampered' >>"$TMP/guest/initramfs.cpio.gz"
PODVM_GUEST_DIR="$TMP/guest" "$PODVM" check >/dev/null 2>&1  # its accelerator verdict (a warning line)
fails "tampered initramfs: refused" 125 "attestation of VM [0-9a-f]+ failed: boot: initramfs .* sha256:[0-9a-f]{64}: not the installed guest image's" \
	env PODVM_GUEST_DIR="$TMP/guest" "$PODVM" run --secret token="$TMP/token" "$IMG" sh -c 'echo RAN; cat /run/secrets/token'
expect_eq "tampered initramfs: the container never ran" "" "$(cat "$TMP/out")"
# A debug VM's command line (podvm.debug=1: its guest logs to the console, which podvm
# then shows on stderr) is no reference.
PODVM_DEBUG=1 PODVM_TEMPLATES=0 "$PODVM" run --secret token="$TMP/token" "$IMG" sh -c 'echo RAN; cat /run/secrets/token' >"$TMP/out" 2>"$TMP/err"
expect_eq "a kernel command line not in the references: exit 125" 125 "$?"
expect_match "a kernel command line not in the references: refused, named" "attestation of VM [0-9a-f]+ failed: boot: cmdline .*podvm.debug=1.*: not the installed guest image's" "$(tail -1 "$TMP/err")"
expect_eq "tampered command line: the container never ran" "" "$(cat "$TMP/out")"
leftovers "a kernel command line not in the references"
# A reference made from another image: what this image boots is not in it.
cp "$PODVM_GUEST_DIR/reference.json" "$TMP/guest/reference.json"
cp "$PODVM_GUEST_DIR/initramfs.cpio.gz" "$TMP/guest/"
printf 'x' >>"$TMP/guest/vmlinuz"
PODVM_GUEST_DIR="$TMP/guest" "$PODVM" check >/dev/null 2>&1
fails "tampered kernel: refused" 125 "failed: boot: kernel .*: not the installed guest image's" \
	env PODVM_GUEST_DIR="$TMP/guest" PODVM_TEMPLATES=0 "$PODVM" run --attest "$IMG" echo RAN

# ---- a binary written at run time ----
start=$(date +%s)
fails "enforce: a binary written at run time stops the VM" 125 "VM [0-9a-f]+ stopped: attestation failed: IMA: /tmp/evil sha256:[0-9a-f]{64}: not in the references" \
	env PODVM_ATTESTATION_PERIOD=2 "$PODVM" run --attest "$IMG" sh -c "$EVIL"
took=$(($(date +%s) - start))
[ $took -lt 25 ]
t_result "enforce: stopped within a few periods, not at the command's end (${took} s)" $?
expect_eq "enforce: the container was stopped before it went on" "" "$(grep survived "$TMP/out")"
out=$(PODVM_ATTESTATION=verify PODVM_ATTESTATION_PERIOD=2 "$PODVM" run "$IMG" sh -c 'cp /bin/busybox /tmp/evil && echo x >>/tmp/evil; /tmp/evil true 2>/dev/null; sleep 8; echo survived' 2>"$TMP/err")
rc=$?
expect_eq "verify: the container ran to its end" "survived/0" "$out/$rc"
expect_match "verify: the finding reported" "warning: attestation of VM [0-9a-f]+ failed: IMA: /tmp/evil sha256" "$(cat "$TMP/err")"
expect_eq "verify: reported once" 1 "$(grep -c 'attestation of VM' "$TMP/err")"
leftovers "attestation failures"

# ---- bad input ----
fails "a secret file that is missing" 125 "secret token: open $TMP/nope" "$PODVM" run --secret token="$TMP/nope" "$IMG" true
fails "a secret name that is a path" 125 "secret \"a/b\": not a file name" "$PODVM" run --secret a/b="$TMP/token" "$IMG" true
fails "a secret without a file" 125 "secret \"token\": want NAME=FILE" "$PODVM" run --secret token "$IMG" true
fails "a secret with attestation off" 125 "secrets are released only to an attested VM" \
	env PODVM_ATTESTATION=off "$PODVM" run --secret token="$TMP/token" "$IMG" true
fails "attestation = sometimes" 125 "PODVM_ATTESTATION=sometimes: not off, verify or enforce" \
	env PODVM_ATTESTATION=sometimes "$PODVM" run "$IMG" true

# ---- from the pool: its own identity, attested ----
printf 'pool = 1\nattestation = enforce\n' >"$TMP/pool.conf"
PODVM_CONFIG=$TMP/pool.conf "$PODVM" run "$IMG" true 2>/dev/null
for i in $(seq 600); do [ "$("$PODVM" template ls 2>/dev/null | grep -c 'pooled VM$')" -ge 1 ] && break; sleep 0.1; done
PODVM_CONFIG=$TMP/pool.conf "$PODVM" run --secret token="$TMP/token" "$IMG" sh -c "cat /run/secrets/token; $HOLD" >"$TMP/p.out" 2>&1 &
p=$!
wait_for_text "$TMP/p.out" ready
id=$(ids_running)
expect_eq "pooled VM: attested, the secret delivered" "the secret" "$(head -1 "$TMP/p.out")"
expect_match "pooled VM: it was taken from the pool" "taken from the pool" "$(cat "$PODVM_STATE_DIR/$id/boot" 2>&1)"
out=$("$PODVM" attest "$id" 2>&1)
expect_match "pooled VM: podvm attest passes" "^pass: " "$out"
sha256sum "$PODVM_STATE_DIR/$id/vm/attest/ek.der" | cut -d' ' -f1 >>"$TMP/eks"
expect_eq "pooled VM: an EK of its own" 3 "$(sort -u "$TMP/eks" | grep -c .)"
stop_run $p
"$PODVM" template rm >/dev/null 2>&1
for i in $(seq 100); do [ -z "$(swtpms)" ] && break; sleep 0.1; done
expect_eq "pool emptied: no swtpm left" "" "$(swtpms)"
leftovers "pooled attested VM"

# ---- podvm check ----
out=$(PODVM_ATTESTATION=enforce "$PODVM" check 2>&1)
expect_match "podvm check: attestation's mode, period, CA and references" \
	"attestation: +enforce \(every 60 s; node CA $PODVM_DATA_DIR/ca/ca.pem; references .*/reference.json\)" "$out"
mkdir "$TMP/noref" && cp "$PODVM_GUEST_DIR/vmlinuz" "$PODVM_GUEST_DIR/initramfs.cpio.gz" "$TMP/noref/"
out=$(PODVM_GUEST_DIR=$TMP/noref PODVM_ATTESTATION=verify "$PODVM" check 2>&1)
rc=$?
expect_match "podvm check: references missing, said, exit 1" "reference.json: missing \(podvm reference --write\).*rc=1" "$(echo $out) rc=$rc"
out=$("$PODVM" check 2>&1)
expect_match "podvm check: attestation off" "attestation: +off" "$out"
