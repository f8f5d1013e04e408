#!/bin/bash
# Bad input to podvm run: one clear error line naming the thing at fault, a non-zero exit,
# and nothing left behind (state, unpacked rootfs, VMM process, mounts).
. "$(dirname "$0")/lib.sh"
IMG=$FIX/oci

fails "missing image" 125 "^podvm: image /nonexistent/image: No such file or directory$" \
	"$PODVM" run /nonexistent/image true
fails "corrupt image (truncated layer)" 125 "^podvm: image .*corrupt.tar: layer 1 .*(Truncated|truncated|EOF)" \
	"$PODVM" run "$FIX/corrupt.tar" true
fails "image with bad JSON" 125 "^podvm: image .*bad-json: index.json: invalid JSON at line 3" \
	"$PODVM" run "$FIX/bad-json" true
fails "image with a bad digest" 125 "digest mismatch" \
	"$PODVM" run "$FIX/bad-digest" true
fails "unknown tag" 125 "^podvm: image .*oci:nope" \
	"$PODVM" run "$FIX/oci:nope" true
fails "unknown command in the image" 127 'exec: "no-such-command": executable file not found in \$PATH' \
	"$PODVM" run "$IMG" no-such-command
fails "unknown user" 125 "user ghost: no such user" \
	"$PODVM" run -u ghost "$IMG" true
fails "missing workdir" 125 'chdir to cwd \("/no/such/dir"\)' \
	"$PODVM" run -w /no/such/dir "$IMG" true
fails "missing volume source" 125 "volume /nonexistent/vol: No such file or directory" \
	"$PODVM" run -v /nonexistent/vol:/data "$IMG" true
fails "malformed volume" 125 "volume" \
	"$PODVM" run -v nocolon "$IMG" true
fails "bad memory size" 125 "memory \"lots\"" \
	"$PODVM" run --memory lots "$IMG" true
fails "missing VMM" 125 "^podvm: VMM /nonexistent/qemu: not found" \
	env PODVM_QEMU=/nonexistent/qemu "$PODVM" run "$IMG" true
fails "missing guest image" 125 "^podvm: guest image: /nonexistent/guest/vmlinuz: No such file or directory$" \
	env PODVM_GUEST_DIR=/nonexistent/guest "$PODVM" run "$IMG" true

# A guest whose init never answers: the real kernel, an initramfs that only sleeps.
mkdir -p "$TMP/mute/root/bin"
cp /bin/busybox "$TMP/mute/root/bin/busybox"
printf '#!/bin/busybox sh\nexec /bin/busybox sleep 1000\n' >"$TMP/mute/root/init"
chmod +x "$TMP/mute/root/init"
(cd "$TMP/mute/root" && find . | cpio --quiet -o -H newc | gzip) >"$TMP/mute/initramfs.cpio.gz"
cp "$PODVM_GUEST_DIR/vmlinuz" "$TMP/mute/vmlinuz"
# (TCG: under auto this other guest image would get a verdict, and a warning, of its own.)
fails "a guest that never answers" 125 "guest agent did not answer within 5000 ms" \
	env PODVM_ACCEL=tcg PODVM_GUEST_DIR="$TMP/mute" "$PODVM" run --boot-timeout 5 "$IMG" true

# The VMM dies under a running container.
"$PODVM" run "$IMG" sh -c 'echo ready; sleep 300' >"$TMP/dead.out" 2>"$TMP/dead.err" &
pid=$!
wait_for_text "$TMP/dead.out" ready
pkill -KILL -f -- "$PODVM_STATE_DIR/.*qmp.sock"
wait $pid
rc=$?
[ $rc -eq 125 ] && [ "$(wc -l <"$TMP/dead.err")" -eq 1 ] && grep -q "VMM exited" "$TMP/dead.err"
t_result "a VMM killed under a running container: exit 125, one line" $? "rc=$rc $(cat "$TMP/dead.err")"
leftovers "a VMM killed under a running container"

# podvm itself killed: the VMM dies with it, the next run removes the stale state.
"$PODVM" run "$IMG" sh -c 'echo ready; sleep 300' >"$TMP/k.out" 2>&1 &
pid=$!
wait_for_text "$TMP/k.out" ready
kill -KILL $pid
wait $pid 2>/dev/null
for i in $(seq 1 50); do pgrep -f -- "$PODVM_STATE_DIR/" >/dev/null || break; sleep 0.1; done
"$PODVM" run "$IMG" true
leftovers "podvm killed by SIGKILL, then another run"

# podvm killed after its state dir went but before its data dir (the unpacked rootfs) did,
# or before it made a state dir at all: the data dir names a dead owner; the next run
# removes it, and leaves one whose owner runs.
mkdir -p "$PODVM_DATA_DIR/orphan/rootfs" "$PODVM_DATA_DIR/busy/rootfs"
echo "1 0" >"$PODVM_DATA_DIR/orphan/owner"  # pid 1, but not started then: gone
printf "%s %s" $$ "$(cut -d' ' -f22 /proc/$$/stat)" >"$PODVM_DATA_DIR/busy/owner"  # this script
"$PODVM" run "$IMG" true
t "an orphaned data dir (its owner gone) is removed by the next run" test ! -e "$PODVM_DATA_DIR/orphan"
t "a data dir whose owner runs is left alone" test -d "$PODVM_DATA_DIR/busy/rootfs"
rm -rf "$PODVM_DATA_DIR/busy"

"$PODVM" run >/dev/null 2>&1
expect_eq "usage error: podvm run without an image exits 125" 125 $?
