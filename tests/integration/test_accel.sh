#!/bin/bash
# The accelerator: `accel = auto` uses KVM only where a probe VM reached its agent under it
# (a kvm_pvm /dev/kvm, as on these machines, cannot run the guest), caches the verdict per
# state directory and host boot, probes once for concurrent first starts, warns once when it
# falls back to TCG; `accel = tcg | kvm` in the config and PODVM_ACCEL; a VM whose guest
# stops, or whose VMM dies, fails the boot at once with one line; podvm check; templates
# keyed by the accelerator; a state directory too long for unix sockets; SIGPIPE. Real QEMU,
# real guest. Each part uses a state directory of its own (lib.sh made a verdict in the
# default one).
source "$(dirname "$0")/lib.sh"
IMG=$FIX/oci
STATES=$TMP/st
# The VMMs here are wrapper scripts that log outside any jail: unjailed (test_jail.sh tests
# the jail, which takes an ELF executable).
export PODVM_JAIL=off

# A VMM that notes its command lines, to count the probe VMs.
cat >"$TMP/qemu" <<EOF
#!/bin/sh
echo "\$*" >>"$TMP/qemu.calls"
exec qemu-system-x86_64 "\$@"
EOF
chmod +x "$TMP/qemu"
kvm_calls() { grep -c -- "-accel kvm" "$TMP/qemu.calls" 2>/dev/null; }
verdict_file() {  # the verdict, not the lock
	local f
	for f in "$PODVM_STATE_DIR"/accel/*; do
		case ${f##*/} in *.*) ;; *) [ -f "$f" ] && echo "$f" && return ;; esac
	done
}
verdict() { sed -n 2p "$(verdict_file)" 2>/dev/null; }
fresh_state() { export PODVM_STATE_DIR=$STATES/$1; rm -f "$TMP/qemu.calls"; }

# run NAME ARGS...: podvm run; output in $TMP/NAME.out, .err, .rc
run() {
	local name=$1
	shift
	"$PODVM" run "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	echo $? >"$TMP/$name.rc"
}

# --- auto, the first start on a fresh state directory: probe, verdict, warning if TCG
fresh_state auto
PODVM_QEMU=$TMP/qemu run first "$IMG" echo hello
expect_eq "auto: the first run works" "0 hello" "$(cat "$TMP/first.rc") $(cat "$TMP/first.out")"
v=$(verdict)
t "auto: a verdict is cached (kvm or tcg)" test "$v" = kvm -o "$v" = tcg
if [ ! -e /dev/kvm ]; then
	expect_eq "no /dev/kvm: TCG, one warning saying why" \
		"podvm: warning: /dev/kvm: No such file or directory; using TCG" "$(cat "$TMP/first.err")"
	expect_eq "no /dev/kvm: no probe VM" 0 "$(kvm_calls)"
else
	expect_eq "/dev/kvm: one probe VM under KVM" 1 "$(kvm_calls)"
	if [ "$v" = tcg ]; then
		expect_match "a /dev/kvm that cannot run the guest: one warning line saying why" \
			'^podvm: warning: /dev/kvm \(kvm[a-z_]*\) cannot run the guest \(.+\); using TCG$' "$(cat "$TMP/first.err")"
		expect_eq "... and nothing else on stderr" 1 "$(wc -l <"$TMP/first.err")"
	else
		expect_eq "a /dev/kvm that runs the guest: no warning" "" "$(cat "$TMP/first.err")"
	fi
fi
if [ -e /sys/module/kvm_pvm ] && [ -e /dev/kvm ]; then
	expect_eq "kvm_pvm: TCG chosen" tcg "$v"
	expect_eq "kvm_pvm: the failure named KVM: no TCG probe VM to tell" 0 \
		"$(grep -- '-accel tcg' "$TMP/qemu.calls" | grep -c -- '-m 128M')"
	expect_match "kvm_pvm: the reason names it" "^/dev/kvm \(kvm_pvm\) cannot run the guest" \
		"$(sed -n 3p "$(verdict_file)")"
fi
expect_match "auto: the template is keyed by the accelerator used" "accel=$v " "$("$PODVM" template ls)"

# --- the cached verdict is reused: no second probe VM, no second warning
PODVM_QEMU=$TMP/qemu run second "$IMG" echo again
expect_eq "cached: the second run works" "0 again" "$(cat "$TMP/second.rc") $(cat "$TMP/second.out")"
expect_eq "cached: nothing on stderr" "" "$(cat "$TMP/second.err")"
expect_eq "cached: no second probe VM" "$([ -e /dev/kvm ] && echo 1 || echo 0)" "$(kvm_calls)"

# --- podvm check: the accelerator, the verdict and why; the device
PODVM_QEMU=$TMP/qemu "$PODVM" check >"$TMP/check.out" 2>&1
reason=$(sed -n 3p "$(verdict_file)")
name=$([ "$v" = kvm ] && echo kvm || echo "tcg (software emulation)")
expect_eq "check: the accelerator, from the verdict, and why" "accelerator:  $name (accel = auto: $reason)" \
	"$(grep '^accelerator:' "$TMP/check.out")"
expect_match "check: what /dev/kvm is" '^kvm device:   /dev/kvm' "$(grep '^kvm device:' "$TMP/check.out")"
expect_eq "check: no second probe VM" "$([ -e /dev/kvm ] && echo 1 || echo 0)" "$(kvm_calls)"
leftovers "auto"

# --- concurrent first starts: one probe, one warning
fresh_state many
for i in 1 2 3; do PODVM_QEMU=$TMP/qemu run "many$i" "$IMG" echo "n$i" & done
wait
expect_eq "concurrent first starts: all work" "0 n1 0 n2 0 n3" \
	"$(for i in 1 2 3; do printf '%s %s ' "$(cat "$TMP/many$i.rc")" "$(cat "$TMP/many$i.out")"; done | sed 's/ $//')"
expect_eq "concurrent first starts: one probe VM" "$([ -e /dev/kvm ] && echo 1 || echo 0)" "$(kvm_calls)"
expect_eq "concurrent first starts: at most one warning" "$([ "$(verdict)" = tcg ] && echo 1 || echo 0)" \
	"$(cat "$TMP"/many?.err | grep -c '^podvm: warning:')"
leftovers "concurrent first starts"

# --- a VMM that runs no guest at all, under either accelerator: not KVM's fault; no verdict,
# no warning, the boot's own error
if [ -e /dev/kvm ]; then
	fresh_state novmm
	fails "a VMM that cannot start: the boot's own error, no warning" 125 "^podvm: .*VMM exited during start" \
		env PODVM_QEMU=/bin/false "$PODVM" run "$IMG" true
	t "a VMM that cannot start: no verdict cached" test -z "$(verdict_file)"
else
	t_skip "a VMM that cannot start" "no /dev/kvm: the verdict needs no probe"
fi

# --- accel = tcg in the config: no probe, no warning; PODVM_ACCEL overrides the file
fresh_state tcg
printf '# no KVM here (and no pool: test_pool.sh)\naccel = tcg\npool = 0\n' >"$TMP/tcg.conf"
PODVM_CONFIG=$TMP/tcg.conf PODVM_QEMU=$TMP/qemu run tcg "$IMG" echo tcg
expect_eq "accel = tcg: works, nothing on stderr" "0 tcg " "$(cat "$TMP/tcg.rc") $(cat "$TMP/tcg.out") $(cat "$TMP/tcg.err")"
expect_eq "accel = tcg: no probe VM" 0 "$(kvm_calls)"
t "accel = tcg: no verdict needed" test ! -e "$PODVM_STATE_DIR/accel"
expect_match "accel = tcg: the template says tcg" "accel=tcg " "$("$PODVM" template ls)"
expect_eq "accel = tcg: check says so" "accelerator:  tcg (software emulation) (accel = tcg: as configured)" \
	"$(PODVM_CONFIG=$TMP/tcg.conf "$PODVM" check | grep '^accelerator:')"
printf 'accel = quick\n' >"$TMP/badaccel.conf"
fails "a bad accel in the config" 125 "^podvm: $TMP/badaccel.conf:1: accel = \"quick\": not auto, kvm or tcg$" \
	env PODVM_CONFIG="$TMP/badaccel.conf" "$PODVM" run "$IMG" true
fails "a bad PODVM_ACCEL" 125 "^podvm: PODVM_ACCEL=quick: not auto, kvm or tcg$" \
	env PODVM_ACCEL=quick "$PODVM" run "$IMG" true

# --- accel = kvm where KVM cannot run the guest: fails in seconds, one line, nothing left
if [ ! -e /dev/kvm ]; then
	fails "accel = kvm without /dev/kvm" 125 "^podvm: accel = kvm: /dev/kvm: No such file or directory$" \
		env PODVM_CONFIG="$TMP/tcg.conf" PODVM_ACCEL=kvm "$PODVM" run "$IMG" true
elif [ "$v" = tcg ]; then
	start=$(date +%s%N)
	fails "accel = kvm (PODVM_ACCEL over the file's tcg) where KVM cannot run the guest" 125 \
		"^podvm: make VM template: (guest stopped while booting|VMM exited while the guest booted)" \
		env PODVM_CONFIG="$TMP/tcg.conf" PODVM_ACCEL=kvm "$PODVM" run --boot-timeout 60 "$IMG" true
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	t "accel = kvm: failed fast ($ms ms, the boot timeout is 60 s)" test "$ms" -lt 15000
	t "accel = kvm: no half-made template" sh -c "! ls '$PODVM_DATA_DIR/templates' | grep -q tmp"
else
	t_skip "accel = kvm where KVM cannot run the guest" "KVM runs the guest on this host"
fi

# --- a /dev/kvm that opens but does not speak KVM (here: /dev/null in its place)
if [ -e /dev/kvm ]; then
	fresh_state nullkvm
	unshare -m sh -c "mount --bind /dev/null /dev/kvm && exec '$PODVM' run '$IMG' echo fine" >"$TMP/nullkvm.out" 2>"$TMP/nullkvm.err"
	expect_eq "an unusable /dev/kvm: the run works under TCG" "0 fine" "$? $(cat "$TMP/nullkvm.out")"
	expect_match "an unusable /dev/kvm: one warning saying why" \
		'^podvm: warning: /dev/kvm \(kvm[a-z_]*\): API version -1, want 12; using TCG$' "$(cat "$TMP/nullkvm.err")"
	leftovers "an unusable /dev/kvm"
else
	t_skip "an unusable /dev/kvm" "no /dev/kvm to stand in for"
fi

# --- a guest that stops at start (its kernel panics: no /init) fails fast, saying so
fresh_state panic
mkdir -p "$TMP/panic/root/dev"
(cd "$TMP/panic/root" && find . | cpio --quiet -o -H newc | gzip) >"$TMP/panic/initramfs.cpio.gz"
cp "$PODVM_GUEST_DIR/vmlinuz" "$TMP/panic/vmlinuz"
start=$(date +%s%N)
fails "a guest kernel that panics at start" 125 \
	"^podvm: VMM exited while the guest booted: the guest reset \(a kernel panic reboots it\); console: Kernel panic - not syncing: " \
	env PODVM_ACCEL=tcg PODVM_TEMPLATES=0 PODVM_GUEST_DIR="$TMP/panic" "$PODVM" run "$IMG" true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t "a guest kernel that panics: failed fast ($ms ms, the boot timeout is 60 s)" test "$ms" -lt 20000
fails "a guest kernel that panics, while making a template" 125 \
	"^podvm: make VM template: VMM exited while the guest booted: the guest reset .*; console: Kernel panic - not syncing: " \
	env PODVM_ACCEL=tcg PODVM_GUEST_DIR="$TMP/panic" "$PODVM" run "$IMG" true

# --- a VMM that stays paused when its guest stops: the watch ends it at once
cat >"$TMP/qemu-pause" <<'EOF'
#!/bin/sh
exec qemu-system-x86_64 "$@" -action shutdown=pause
EOF
chmod +x "$TMP/qemu-pause"
start=$(date +%s%N)
fails "a VMM paused on its stopped guest" 125 \
	"^podvm: guest stopped while booting: the guest reset \(a kernel panic reboots it\); console: Kernel panic - not syncing: " \
	env PODVM_ACCEL=tcg PODVM_TEMPLATES=0 PODVM_QEMU="$TMP/qemu-pause" PODVM_GUEST_DIR="$TMP/panic" \
	"$PODVM" run "$IMG" true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t "a VMM paused on its stopped guest: failed fast ($ms ms, the boot timeout is 60 s)" test "$ms" -lt 20000

# --- a state directory too long for the VM's unix sockets: podvm's own line, naming it
fresh_state "$(printf 'long%.0s' $(seq 1 22))"
fails "a state directory too long for unix sockets" 125 \
	"^podvm: .*state directory $PODVM_STATE_DIR/[^ ]*: too long for the VM's unix sockets \([0-9]+ bytes, at most 107\)$" \
	"$PODVM" run "$IMG" true

# --- SIGPIPE: a reader that goes away is no death of podvm's: the container ends, as a
# pipeline's writer would, 141, and the VM with it
export PODVM_STATE_DIR=$STATES/auto
sigpipe() {  # sigpipe ARGS...: podvm with stdout a pipe whose reader is gone; its status
	python3 - "$PODVM" "$@" <<'EOF'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.Popen(sys.argv[1:], stdout=w, stderr=subprocess.DEVNULL)
os.close(w)
try:
    print(p.wait(timeout=60))  # negative: killed by that signal
except subprocess.TimeoutExpired:
    p.kill()
    print("hung")
EOF
}
expect_eq "stdout closed: podvm not killed by SIGPIPE; the container ended as a pipeline writer (141)" 141 \
	"$(sigpipe run "$IMG" yes)"
expect_eq "stdout closed after some output: the same" 141 "$(sigpipe run "$IMG" sh -c 'echo once; sleep 300')"
expect_eq "a container that writes nothing is not ended" 7 "$(sigpipe run "$IMG" sh -c 'sleep 1; exit 7')"
leftovers "SIGPIPE"
