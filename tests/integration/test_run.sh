#!/bin/bash
# podvm run end to end: real QEMU (KVM or TCG), the real guest image, local images.
. "$(dirname "$0")/lib.sh"
IMG=$FIX/oci

out=$("$PODVM" run "$IMG" echo hello from the guest)
expect_eq "output reaches stdout" "hello from the guest" "$out"

"$PODVM" run "$IMG" sh -c 'exit 42'
expect_eq "exit status is the container's" 42 $?

# PID 1 of a pid namespace ignores signals it has no handler for (as under runc); the
# third SIGTERM is sent as SIGKILL, and a signal death exits 128+N.
"$PODVM" run "$IMG" sh -c 'echo ready; exec sleep 300' >"$TMP/k" 2>&1 &
pid=$!
wait_for_text "$TMP/k" ready
for i in 1 2 3; do kill -TERM $pid; sleep 0.5; done
wait $pid
expect_eq "the third SIGTERM kills an unresponsive PID 1: exit 128+9" 137 $?

"$PODVM" run "$IMG" sh -c 'echo to-out; echo to-err >&2' >"$TMP/o" 2>"$TMP/e"
expect_eq "stdout stays stdout" "to-out" "$(cat "$TMP/o")"
expect_eq "stderr stays stderr" "to-err" "$(cat "$TMP/e")"

n=$("$PODVM" run "$IMG" sh -c 'head -c 3000000 /dev/zero | od -An -v -tx1 | head -c 2000000' | wc -c)
expect_eq "large output arrives whole" 2000000 "$n"

out=$("$PODVM" run -e FOO=bar -e 'SPACED=a b' "$IMG" sh -c 'echo "$FOO|$SPACED|$PODVM_IMAGE_ENV|$PATH"')
expect_eq "env: -e and the image's Env" "bar|a b|from-image|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$out"
out=$(PODVM_PASSED=through "$PODVM" run -e PODVM_PASSED "$IMG" sh -c 'echo $PODVM_PASSED')
expect_eq "env: -e KEY copies podvm's value" "through" "$out"

expect_eq "cwd: the image's WorkingDir" "/home/app" "$("$PODVM" run "$IMG" pwd)"
expect_eq "cwd: -w" "/tmp" "$("$PODVM" run -w /tmp "$IMG" pwd)"

expect_eq "user: image default is root" "uid=0(root) gid=0(root) groups=0(root)" "$("$PODVM" run "$IMG" id)"
expect_eq "user: -u name (with /etc/group membership)" "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)" "$("$PODVM" run -u app "$IMG" id)"
expect_eq "user: -u uid:gid" "1000 2000" "$("$PODVM" run -u 1000:2000 "$IMG" sh -c 'echo $(id -u) $(id -g)')"
expect_match "user: non-root has no effective capabilities" "CapEff:[[:space:]]+0+$" \
	"$("$PODVM" run -u app "$IMG" grep CapEff /proc/self/status)"
expect_match "user: root has runc's default capabilities" "CapEff:[[:space:]]+00000000a80425fb" \
	"$("$PODVM" run "$IMG" grep CapEff /proc/self/status)"

expect_eq "stdin: -i forwards it, EOF included" "2" "$(printf 'a\nb\n' | "$PODVM" run -i "$IMG" sh -c 'wc -l')"
expect_eq "stdin: without -i it is /dev/null" "" "$(echo ignored | "$PODVM" run "$IMG" cat)"

out=$(script -qc "stty rows 21 cols 77; '$PODVM' run -t '$IMG' sh -c 'tty; stty size; test -t 0 && echo isatty'" /dev/null </dev/null | tr -d '\r')
expect_match "tty: -t gives a pty in the container's devpts" "^/dev/pts/0" "$out"
expect_match "tty: window size reaches the guest" "21 77" "$out"
expect_match "tty: stdin is a terminal" "isatty" "$out"

# A resize of the user's terminal (SIGWINCH) reaches the container's pty.
out=$(script -qc "stty rows 20 cols 70; T=\$(tty); (sleep 4; stty -F \$T rows 30 cols 100) & '$PODVM' run -t '$IMG' sh -c 'stty size; sleep 7; stty size'" /dev/null </dev/null | tr -d '\r')
expect_eq "tty: a terminal resize reaches the container" "20 70
30 100" "$out"

for sig in TERM INT HUP; do
	"$PODVM" run "$IMG" sh -c "trap 'echo got-$sig; exit 7' $sig; echo ready; while :; do sleep 0.1; done" >"$TMP/sig" 2>&1 &
	pid=$!
	wait_for_text "$TMP/sig" ready
	kill -$sig $pid
	wait $pid
	rc=$?
	expect_eq "signals: SIG$sig reaches the container" "7 got-$sig" "$rc $(grep got "$TMP/sig")"
done

host=$(uname -r)
guest=$("$PODVM" run "$IMG" uname -r)
[ -n "$guest" ] && [ "$guest" != "$host" ]
t_result "the guest runs its own kernel ($guest, host $host)" $?

expect_eq "hostname: --hostname" "web-1" "$("$PODVM" run --hostname web-1 "$IMG" hostname)"
expect_eq "pid namespace: the command is PID 1" "1" "$("$PODVM" run "$IMG" sh -c 'echo $$')"

expect_eq "resources: --cpus sizes the VM" "2" "$("$PODVM" run --cpus 1.5 "$IMG" nproc)"
expect_eq "resources: --cpus limits the container cgroup" "150000 100000" "$("$PODVM" run --cpus 1.5 "$IMG" cat /sys/fs/cgroup/cpu.max)"
expect_eq "resources: --memory limits the container cgroup" "67108864" "$("$PODVM" run --memory 64m "$IMG" cat /sys/fs/cgroup/memory.max)"
mem=$("$PODVM" run --memory 64m "$IMG" awk '/MemTotal/ {print $2}' /proc/meminfo)
[ "$mem" -gt 90000 ] && [ "$mem" -lt 140000 ]
t_result "resources: the VM gets the limit plus the guest overhead (MemTotal ${mem} kB)" $?

mkdir -p "$TMP/vol"
echo original >"$TMP/vol/file"
"$PODVM" run -v "$TMP/vol:/data:ro" "$IMG" sh -c 'echo changed > /data/file' 2>"$TMP/e"
rc=$?
[ $rc -ne 0 ] && [ "$(cat "$TMP/vol/file")" = original ] && grep -q "Read-only file system" "$TMP/e"
t_result "volumes: a read-only volume cannot be written" $? "rc=$rc $(cat "$TMP/e")"
expect_eq "volumes: a read-only volume can be read" "original" "$("$PODVM" run -v "$TMP/vol:/data:ro" "$IMG" cat /data/file)"
"$PODVM" run -v "$TMP/vol:/data" "$IMG" sh -c 'echo from-guest > /data/new'
expect_eq "volumes: a read-write volume writes through to the host" "from-guest" "$(cat "$TMP/vol/new" 2>&1)"
expect_eq "volumes: a single file" "original" "$("$PODVM" run -v "$TMP/vol/file:/etc/single.conf:ro" "$IMG" cat /etc/single.conf)"

check_image() {  # every present/absent path of expected.txt, in the container
	local script="" kind path
	while read -r kind path; do
		if [ "$kind" = present ]; then script="$script test -e /$path || echo missing:$path;"
		else script="$script test -e /$path && echo unexpected:$path;"; fi
	done <"$FIX/expected.txt"
	"$PODVM" run "$1" sh -c "$script echo checked"
}
for img in oci oci.tar docker.tar docker.tar.gz oci-multi:nested; do
	expect_eq "image formats: $img unpacks with whiteouts and opaque dirs" "checked" "$(check_image "$FIX/$img")"
done
expect_eq "image formats: a plain rootfs directory" "checked-rootfs" "$("$PODVM" run "$FIX/rootfs" sh -c 'test -e /etc/motd && echo checked-rootfs')"
expect_eq "image formats: the image's Cmd runs by default" "other" "$("$PODVM" run "$FIX/oci-multi:other")"

# --- the image cache (as root): an image is unpacked once; each run writes into an overlay
# of its own; a changed image gets a new copy and the old one goes once nothing uses it.
CACHE=$PODVM_DATA_DIR/images
if [ "$(id -u)" -eq 0 ]; then
	cp "$FIX/oci.tar" "$TMP/cached.tar"
	"$PODVM" run "$TMP/cached.tar" sh -c 'echo scribble >/etc/scribble'
	entry=$(grep -lx "$TMP/cached.tar" "$CACHE"/*/key 2>/dev/null | head -1)
	entry=$(dirname "${entry:-/nonexistent/key}" 2>/dev/null)
	t "image cache: the first run keeps an unpacked copy" test -d "$entry/rootfs"
	t "image cache: a run's writes stay out of the copy" test ! -e "$entry/rootfs/etc/scribble"
	expect_eq "image cache: ... and out of the next run" "clean" \
		"$("$PODVM" run "$TMP/cached.tar" sh -c 'test -e /etc/scribble && echo dirty || echo clean')"
	before=$(stat -c %i "$entry/rootfs")
	"$PODVM" run "$TMP/cached.tar" true
	expect_eq "image cache: the next run uses the copy (not unpacked again)" "$before" "$(stat -c %i "$entry/rootfs" 2>&1)"
	# A run that holds the old copy while the image changes: the copy stays until it ends.
	"$PODVM" run "$TMP/cached.tar" sh -c 'trap "exit 0" TERM; echo up; sleep 60 & wait' >"$TMP/holder.out" 2>&1 &
	holder=$!
	wait_for_text "$TMP/holder.out" up
	touch -d '2001-01-01' "$TMP/cached.tar"
	"$PODVM" run "$TMP/cached.tar" true
	t "image cache: a changed image gets a new copy" test "$(grep -lx "$TMP/cached.tar" "$CACHE"/*/key | wc -l)" -eq 2
	t "image cache: the old copy stays while a run uses it" test -d "$entry/rootfs"
	kill -TERM $holder
	wait $holder
	"$PODVM" run "$TMP/cached.tar" true
	t "image cache: ... and goes after" test ! -e "$entry"
	# Two first runs of one image at once agree on one copy.
	cp "$FIX/docker.tar" "$TMP/twice.tar"
	"$PODVM" run "$TMP/twice.tar" echo one >"$TMP/one.out" 2>&1 &
	first=$!
	"$PODVM" run "$TMP/twice.tar" echo two >"$TMP/two.out" 2>&1
	wait $first
	expect_eq "image cache: two first runs at once both run" "one two" "$(cat "$TMP/one.out" "$TMP/two.out" | tr '\n' ' ' | sed 's/ $//')"
	expect_eq "image cache: ... with one copy" 1 "$(grep -lx "$TMP/twice.tar" "$CACHE"/*/key | wc -l)"
	expect_eq "image cache: nothing half-made" "" "$(ls "$CACHE" | grep -- '\.tmp-')"
else
	t_skip "image cache" "not root: each run unpacks its own copy"
fi

leftovers "successful runs"
