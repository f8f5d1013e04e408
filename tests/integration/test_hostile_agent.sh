#!/bin/bash
# A hostile guest agent against the host side. A guest owns its kernel, so its agent may
# send anything on the agent channel: fake_vmm.py stands in for QEMU, and its agent
# misbehaves as FAKE_AGENT_MODE says (oversize, truncated or malformed frames, garbage,
# silence, a flood). For each: podvm run fails (125) within a bounded time with one line
# that names the sandbox and what was wrong, its memory stays bounded, and nothing is left
# behind. Then the same through containerd (lib_cri.sh): a pod on a runtime handler whose
# VMM is the fake fails RunPodSandbox with a clear error, while pods of the real handler
# started before and after keep working.
. "$(dirname "$0")/lib.sh"
IMG=$FIX/oci
FAKE=$ROOT/tests/integration/fake_vmm.py
BOOT_TIMEOUT=5
MAX_MS=30000
# podvm's peak RSS (/usr/bin/time's, which is the larger of podvm's and the fake's: an
# upper bound). The sanitizer build's shadow memory needs more.
MAX_RSS_KB=${MAX_RSS_KB:-$((64 * 1024))}

# The jail only takes an ELF QEMU; no template or pool: the fake's VM is booted cold, its
# agent reached over virtio-serial, the chardev socket it serves.
FAKE_ENV=(env PODVM_JAIL=off PODVM_QEMU="$FAKE" PODVM_TEMPLATES=0 PODVM_POOL=0 PODVM_ACCEL=tcg PODVM_CHANNEL=serial)

# peak_rss CMD...: runs CMD, its peak RSS in kB in $TMP/rss ("" without /usr/bin/time).
peak_rss() {
	: >"$TMP/rss"
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -o "$TMP/rss" -f %M "$@"
	else
		"$@"
	fi
}

# hostile MODE REGEX: podvm run against an agent in MODE: exit 125 and one stderr line
# matching REGEX, without control characters; within MAX_MS; RSS below MAX_RSS_KB;
# nothing left.
hostile() {
	local mode=$1 regex=$2 t0 ms rc rss
	t0=$(date +%s%N)
	peak_rss timeout 120 "${FAKE_ENV[@]}" FAKE_AGENT_MODE="$mode" "$PODVM" run --boot-timeout $BOOT_TIMEOUT "$IMG" true \
		>"$TMP/out" 2>"$TMP/err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	rss=$(tail -n 1 "$TMP/rss" 2>/dev/null)
	head -n 3 "$TMP/err" | cut -c1-300 | cat -v | sed 's/^/# /'
	[ $rc -eq 125 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -Eq -- "$regex" "$TMP/err" &&
		! LC_ALL=C grep -q '[[:cntrl:]]' "$TMP/err"
	t_result "$mode: exit 125, one line /$regex/" $? "rc=$rc stderr=$(head -c 3000 "$TMP/err" | cat -v)"
	[ $ms -lt $MAX_MS ]
	t_result "$mode: fails within $MAX_MS ms ($ms ms)" $?
	if [ -n "$rss" ]; then
		[ "$rss" -lt "$MAX_RSS_KB" ]
		t_result "$mode: peak RSS $rss kB, below $MAX_RSS_KB kB" $?
	else
		t_skip "$mode: peak RSS" "no /usr/bin/time"
	fi
	leftovers "$mode"
}

# The fake itself: an agent that answers well runs the container.
"${FAKE_ENV[@]}" FAKE_AGENT_MODE=ok "$PODVM" run --boot-timeout $BOOT_TIMEOUT "$IMG" true >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && [ ! -s "$TMP/err" ]
t_result "a fake VMM whose agent answers well: the run succeeds" $? "rc=$rc $(cat "$TMP/err")"
leftovers "a well-behaved fake agent"

SB="^podvm: sandbox [0-9a-f]+:"
hostile oversize "$SB guest agent: .*/Ping: ttrpc: frame of 1073741824 bytes on stream 1 exceeds the 4194304-byte limit\$"
hostile truncated "$SB guest agent: .*/Ping: ttrpc: connection closed inside a frame payload\$"
hostile garbage "$SB guest agent: .*/Ping: ttrpc: (frame of [0-9]+ bytes|unexpected frame|response on stream)"
hostile malformed "$SB guest agent: .*/Ping: malformed ttrpc.Response\$"
hostile wrongstream "$SB guest agent: .*/Ping: ttrpc: response on stream 3, which no call waits for\$"
hostile badstatus "$SB guest agent: agent says \?\[2J\?\]0;pwned\? .{900,1100}\.\.\.\$"
hostile amplify "$SB guest agent: .*/Ping: podvm.agent.v1.PingResponse of [0-9]+ bytes would take over [0-9]+ bytes to decode\$"
hostile silent "$SB guest agent did not answer within 5000 ms\$"
hostile flood "$SB .*/[A-Za-z]+: ttrpc: (response on stream [0-9]+, which no call waits for|unexpected frame)"

# ---- through containerd: one runtime handler's VMM is the fake ----
# Its config names the fake (`qemu`); the fake reads its mode from a file, so that one
# containerd serves all the modes. Virtio-serial for every handler: the fake has no vsock.
printf 'qemu = %s\njail = off\ntemplates = off\npool = 0\naccel = tcg\n' "$FAKE" >"$TMP/podvm-hostile.conf"
export FAKE_AGENT_MODE=$TMP/fake-mode PODVM_CHANNEL=serial
CRI_EXTRA_RUNTIMES="    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.podvm-hostile]
      runtime_type = \"io.containerd.podvm.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.podvm-hostile.options]
        ConfigPath = \"$TMP/podvm-hostile.conf\""
. "$(dirname "$0")/lib_cri.sh"

# good_pod NAME: a pod of the real podvm handler with a running container; its id.
good_pod() {
	local pod c
	pod=$(cri run-pod "$1" --runtime-handler podvm --log-dir "$TMP/logs/$1" --cgroup-parent "$CGROUP_PARENT" 2>&1)
	t_result "cri: $1: RunPodSandbox (podvm)" $? "$pod"
	c=$(cri create-container "$pod" c "$IMG" --log-path c.log -- sleep 300 2>&1)
	t_result "cri: $1: CreateContainer" $? "$c"
	t "cri: $1: StartContainer" cri start "$c"
	echo "$c" >"$TMP/$1.cid"
}

good_pod before
before=$(cat "$TMP/before.cid")
for mode in oversize garbage flood; do
	echo "$mode" >"$TMP/fake-mode"
	t0=$(date +%s%N)
	out=$(cri run-pod "hostile-$mode" --runtime-handler podvm-hostile --log-dir "$TMP/logs/hostile-$mode" \
		--cgroup-parent "$CGROUP_PARENT" 2>&1)
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	printf '# %s\n' "$out"
	t_result "cri: $mode: RunPodSandbox fails" "$([ $rc -ne 0 ] && echo 0 || echo 1)" "$out"
	expect_match "cri: $mode: ... naming the sandbox and what its agent sent" \
		"sandbox [0-9a-f]+: .*ttrpc: (frame of [0-9]+ bytes|unexpected frame|response on stream)" "$out"
	t "cri: $mode: ... within 30 s ($ms ms)" test "$ms" -lt 30000
	expect_eq "cri: $mode: the pod started before still answers ExecSync" before-ok \
		"$(cri exec-sync "$before" -- echo before-ok 2>&1)"
	expect_eq "cri: $mode: no fake VMM left" "" "$(pgrep -af -- "fake_vmm.py.*$PODVM_STATE_DIR/")"
done
good_pod after
expect_eq "cri: a pod started after the hostile ones answers ExecSync" after-ok \
	"$(cri exec-sync "$(cat "$TMP/after.cid")" -- echo after-ok 2>&1)"
expect_eq "cri: the pod started before them too" before-ok "$(cri exec-sync "$before" -- echo before-ok 2>&1)"
cri remove-all-pods >/dev/null 2>&1
leftovers "pods of a hostile runtime handler among pods of the real one"
