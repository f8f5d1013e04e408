#!/bin/bash
# The jailed VMM (src/libpodvm/vmm/jail.h): every QEMU podvm starts (cold boot, template
# maker, restore, pooled VM; as root and without) runs in a mount namespace of its own whose
# root holds only what its VM needs, with no_new_privs, QEMU's seccomp filter, its own uid
# and gid (as root) and the few capabilities 9p passthrough needs. Read from the host side:
# /proc/<qemu>/status and /proc/<qemu>/root.
. "$(dirname "$0")/lib.sh"
IMG=$FIX/oci
# CHOWN DAC_OVERRIDE FOWNER FSETID MKNOD
VMM_CAPS=000000000800001b
echo "not for the VMM's eyes" >"$TMP/secret"
# A container that ends on SIGTERM (as PID 1 it has to handle it).
HOLD='trap "exit 0" TERM; echo ready; sleep 60 & wait'


stop_run() {  # stop_run PID: ends a HOLD run and waits for it (10 s at most)
	local i
	kill -TERM "$1"
	for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
}

qemu_of() {  # qemu_of PATTERN: the pid of the QEMU whose command line matches
	pgrep -f -- "qemu-system.*$1" | head -1
}

status_field() {  # status_field PID FIELD
	awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# jailed NAME PID WANT_UID WANT_CAPS: the checks every jailed QEMU passes.
jailed() {
	local name=$1 pid=$2 want_uid=$3 want_caps=$4
	[ -n "$pid" ] && [ -d "/proc/$pid" ]
	t_result "$name: a QEMU runs" $? "pid=[$pid]"
	[ -n "$pid" ] || return 0
	expect_eq "$name: seccomp filter" 2 "$(status_field "$pid" Seccomp)"
	expect_eq "$name: no_new_privs" 1 "$(status_field "$pid" NoNewPrivs)"
	expect_eq "$name: effective capabilities" "$want_caps" "$(status_field "$pid" CapEff)"
	expect_eq "$name: bounding set" "$want_caps" "$(status_field "$pid" CapBnd)"
	local uid
	uid=$(status_field "$pid" Uid)
	if [ "$want_uid" = own ]; then
		[ "$uid" -ge $((0x60000000)) ] && [ "$(status_field "$pid" Gid)" = "$uid" ]
		t_result "$name: a uid and gid of its own" $? "uid=$uid gid=$(status_field "$pid" Gid)"
	else
		expect_eq "$name: runs as its caller" "$want_uid" "$uid"
	fi
	local root=/proc/$pid/root
	[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
	t_result "$name: a mount namespace of its own" $?
	[ -e "$root$PODVM_GUEST_DIR/vmlinuz" ] && [ -e "$root$PODVM_STATE_DIR" ] && [ -e "$root/dev/urandom" ]
	t_result "$name: sees the guest image, its state and /dev/urandom" $? "$(ls "$root" 2>&1)"
	local seen=""
	for f in "$TMP/secret" /etc/passwd /etc /root /home /proc/sys /proc/kcore /sys/kernel /bin/sh /usr/bin/env /var/lib \
		/dev/kvm /dev/mem /dev/sda "$PODVM" "$FIX"; do
		[ -e "$root$f" ] && seen="$seen $f"
	done
	expect_eq "$name: sees nothing else of the host" "" "$seen"
	expect_match "$name: its /proc shows itself alone, as PID 1" "^1 [^ ]*qemu-system" \
		"$(ls "$root/proc" | grep -c '^[0-9]') $(tr '\0' ' ' <"$root/proc/1/cmdline")"
	expect_eq "$name: its root is a read-only tmpfs" "tmpfs ro" \
		"$(awk '$5 == "/" {split($6, o, ","); print $9, o[1]}' "/proc/$pid/mountinfo" | tail -1)"
	expect_eq "$name: its root and QEMU's files are read-only" "Read-only file system Read-only file system" \
		"$(for f in new usr/share/qemu/new; do touch "$root/$f" 2>&1 | sed 's/.*: //'; done | tr '\n' ' ' | sed 's/ $//')"
}

# 1. Cold boot: podvm run as root, templates off.
PODVM_TEMPLATES=0 "$PODVM" run "$IMG" sh -c "$HOLD" >"$TMP/cold.out" 2>&1 &
cold=$!
wait_for_text "$TMP/cold.out" ready
jailed "cold boot" "$(qemu_of "$PODVM_STATE_DIR/")" own $VMM_CAPS
pid=$(qemu_of "$PODVM_STATE_DIR/")
expect_match "cold boot: its shares hold the container's rootfs (mounted after it started)" "bin" \
	"$(ls "/proc/$pid/root$PODVM_DATA_DIR"/*/shared/rootfs 2>&1 | tr '\n' ' ')"
stop_run $cold
leftovers "a jailed cold boot"

# 2. The template maker (memory shared with its template file), then a restore from it.
PODVM_CONFIG=/dev/null PODVM_POOL=0 "$PODVM" run "$IMG" sh -c "$HOLD" >"$TMP/t.out" 2>&1 &
run=$!
maker=""
for i in $(seq 300); do
	maker=$(qemu_of "mem-path=$PODVM_DATA_DIR/templates/.*share=on")
	[ -n "$maker" ] && [ "$(status_field "$maker" Seccomp 2>/dev/null)" = 2 ] && break
	sleep 0.05
done
jailed "template maker" "$maker" own $VMM_CAPS
wait_for_text "$TMP/t.out" ready
stop_run $run
PODVM_CONFIG=/dev/null PODVM_POOL=0 "$PODVM" run "$IMG" sh -c "$HOLD" >"$TMP/r.out" 2>&1 &
run=$!
wait_for_text "$TMP/r.out" ready
jailed "restored from a template" "$(qemu_of "-incoming defer.*$PODVM_STATE_DIR/")" own $VMM_CAPS
stop_run $run

# 3. A pooled VM (pool = 1 keeps one restored and paused).
printf 'pool = 1\n' >"$TMP/pool1.conf"
PODVM_CONFIG=$TMP/pool1.conf "$PODVM" run "$IMG" true
for i in $(seq 300); do [ -n "$(qemu_of "$PODVM_STATE_DIR/pool/")" ] && break; sleep 0.1; done
jailed "pooled VM" "$(qemu_of "$PODVM_STATE_DIR/pool/")" own $VMM_CAPS
out=$(PODVM_CONFIG=$TMP/pool1.conf "$PODVM" run "$IMG" ls /bin/sh 2>&1 >/dev/null; echo rc=$?)
expect_eq "pooled VM: a run takes it (its rootfs reaches the jail)" "rc=0" "$out"
t "pooled VM: podvm template rm stops the pool" "$PODVM" template rm
leftovers "jailed VMs from a template and a pool"

# 4. Without root: a user namespace of its own, the caller's uid, no capabilities.
nb=$TMP/nobody
mkdir -p "$nb/guest" && cp "$PODVM" "$nb/podvm" && cp "$PODVM_GUEST_DIR"/* "$nb/guest/" && cp -r "$IMG" "$nb/img" &&
	chown -R nobody "$nb" && chmod a+x "$TMP"
setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$nb" PODVM_STATE_DIR="$nb/state" \
	PODVM_DATA_DIR="$nb/data" PODVM_GUEST_DIR="$nb/guest" PODVM_TEMPLATES=0 PODVM_ACCEL=tcg \
	"$nb/podvm" run "$nb/img" sh -c "$HOLD" >"$TMP/nb.out" 2>&1 &
run=$!
wait_for_text "$TMP/nb.out" ready
pid=$(qemu_of "$nb/state/")
PODVM_GUEST_DIR=$nb/guest PODVM_STATE_DIR=$nb/state jailed "without root" "$pid" "$(id -u nobody)" 0000000000000000
[ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]
t_result "without root: a user namespace of its own" $?
stop_run $run

# 5. jail = off: QEMU runs as its caller, unconfined (for debugging).
PODVM_JAIL=off PODVM_TEMPLATES=0 "$PODVM" run "$IMG" sh -c "$HOLD" >"$TMP/off.out" 2>&1 &
run=$!
wait_for_text "$TMP/off.out" ready
pid=$(qemu_of "$PODVM_STATE_DIR/")
expect_eq "jail = off: no seccomp filter, root, the host's mounts" "0 0 same" \
	"$(status_field "$pid" Seccomp) $(status_field "$pid" Uid) $([ "$(readlink "/proc/$pid/ns/mnt")" = "$(readlink /proc/self/ns/mnt)" ] && echo same)"
stop_run $run

# 6. A VMM the jail cannot be made for: one line naming it, nothing left behind.
printf '#!/bin/sh\nexec qemu-system-x86_64 "$@"\n' >"$TMP/qemu-script" && chmod +x "$TMP/qemu-script"
PODVM_QEMU=$TMP/qemu-script PODVM_TEMPLATES=0 fails "a VMM that is not an ELF executable" 125 \
	"VMM jail: $TMP/qemu-script: not a 64-bit ELF executable" "$PODVM" run "$IMG" true
