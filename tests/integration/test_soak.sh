#!/bin/bash
# Long-lived pods: what days of exec probes, concurrent requests and signals do to a pod, in a
# few minutes. Through containerd's CRI, one podvm pod gets SOAK_EXECS (default 5000)
# ExecSync calls with output on both streams, an exec with stdin and one with a TTY every 25,
# UpdateContainerResources, ContainerStats and `ctr task ps` (Pids) every 50; afterwards the
# agent's and the shim's fds, threads and RSS are where they were after the first 100, no
# exec took a second, and the shim exits once the pod is removed. Then races: Deletes racing
# exec Starts, a Wait racing a Delete; a shim asked about a task before its VM exists, and
# for a Create after its pod's last Delete; a guest that stops answering; signals to
# `podvm run` while it starts and while it tears down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"
SHIM_CALL=${SHIM_CALL:-$ROOT/build/release/tests/unit/shim-call}
SHIM_BIN=$SHIM_DIR/containerd-shim-podvm-v2

shim_pids() { pgrep -f -- "containerd-shim-podvm-v2 .*-address $CTD/c.sock"; }
# field NAME LINE: the value of NAME=VALUE in a line of name=value pairs
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# --- the soak
pod=$(cri run-pod soak --runtime-handler podvm --log-dir "$TMP/logs/soak" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "soak: RunPodSandbox" $? "$pod"
c=$(cri create-container "$pod" probed "$IMG" -- sleep 3000 2>&1)
t "soak: StartContainer" cri start "$c"
shim=$(shim_pids | head -1)
sock=$(ls "$PODVM_STATE_DIR"/shim/*.sock)
sample="echo shim_fds=\$(ls /proc/$shim/fd | wc -l) shim_threads=\$(awk '/^Threads/{print \$2}' /proc/$shim/status)"
sample="$sample shim_rss_kib=\$(awk '/^VmRSS/{print \$2}' /proc/$shim/status) \$($SHIM_CALL agent-status $sock)"
out=$(timeout 1200 "$CRI_PY" --sock "$CTD/c.sock" --timeout 60 soak "$c" --execs "${SOAK_EXECS:-5000}" --every 50 --stream-every 25 \
	--every-cmd "$C task ps $c >/dev/null" --sample "$sample" --sample-at 100 2>&1)
expect_eq "soak: ${SOAK_EXECS:-5000} ExecSync (+ stdin and TTY execs, Update, Stats, Pids): none failed" 0 \
	"$(jget "$out" failed)"
max=$(jget "$out" max_ms)
t "soak: every exec well under a second (median $(jget "$out" median_ms) ms, p99 $(jget "$out" p99_ms) ms, max $max ms)" \
	test "${max:-99999}" -lt 1000
at=$(jget "$out" samples.at)
end=$(jget "$out" samples.end)
echo "# after exec 100: $at"
echo "# at the end:     $end"
for k in shim_fds shim_threads open_fds threads processes port_connections; do
	expect_eq "soak: $k after the last exec as after the 100th" "$(field $k "$at")" "$(field $k "$end")"
done
grew() { echo $(( $(field "$1" "$end") - $(field "$1" "$at") )); }
t "soak: the shim's RSS grew by at most 1 MiB ($(grew shim_rss_kib) KiB)" test "$(grew shim_rss_kib)" -le 1024
t "soak: the agent's RSS grew by at most 512 KiB ($(grew rss_kib) KiB)" test "$(grew rss_kib)" -le 512

# --- Deletes racing exec Starts: a container stopped and removed while execs start in it
r=$(cri create-container "$pod" racer "$IMG" -- sleep 3000 2>&1)
t "race: StartContainer" cri start "$r"
racers=""
for i in $(seq 10); do
	(cri exec-sync --exec-timeout 30 "$r" -- sleep 0.2 >/dev/null 2>&1; echo $? >"$TMP/race$i") &
	racers="$racers $!"
done
sleep 0.1
t "race: StopContainer while execs start" cri stop-container --grace 0 "$r"
t "race: RemoveContainer while execs start" cri remove-container "$r"
wait $racers
expect_eq "race: every racing exec has ended" 10 "$(cat "$TMP"/race* | wc -l)"
expect_eq "race: the pod still serves execs" alive "$(cri exec-sync "$c" -- echo alive 2>&1)"

# --- a Wait racing a Delete (containerd's Wait on the task, as ctr makes it)
w=$(cri create-container "$pod" waited "$IMG" -- sleep 3000 2>&1)
t "wait race: StartContainer" cri start "$w"
timeout 60 $C task wait "$w" >/dev/null 2>&1 &
waiter=$!
sleep 0.2
t "wait race: StopContainer" cri stop-container --grace 0 "$w"
t "wait race: RemoveContainer" cri remove-container "$w"
wait $waiter
rc=$?
t_result "wait race: the Wait has ended (status $rc; 124 would be its timeout)" "$([ $rc -ne 124 ] && echo 0 || echo 1)"

t "soak: StopPodSandbox" cri stop-pod "$pod"
t "soak: RemovePodSandbox" cri remove-pod "$pod"
for i in $(seq 50); do [ -z "$(shim_pids)" ] && break; sleep 0.1; done
expect_eq "soak: the shim exits once the pod is removed" "" "$(shim_pids)"
leftovers "the soaked pod"

# --- a shim asked about a task before its pod's VM exists (was a segfault)
mkdir -p "$TMP/lone" && echo '{"ociVersion":"1.0.2","annotations":{}}' >"$TMP/lone/config.json"
addr=$(cd "$TMP/lone" && "$SHIM_BIN" -namespace soak -id lone -address "$CTD/none.sock" -publish-binary /bin/true start)
lone=${addr#unix://}
expect_match "no VM yet: ResizePty of an unknown task is an error" "container lone: not found" \
	"$("$SHIM_CALL" resize "$lone" lone 2>&1)"
t "no VM yet: the shim still answers (Shutdown)" "$SHIM_CALL" shutdown "$lone"
for i in $(seq 50); do pgrep -f -- "-id lone " >/dev/null || break; sleep 0.1; done
expect_eq "no VM yet: the shim is gone" "" "$(pgrep -af -- "containerd-shim-podvm-v2 -namespace soak")"
leftovers "a shim without a VM"

# --- a Create after the pod's last task was deleted: the pod is gone, and says so (was a
# NULL pod booted); the shim goes on answering
mkdir -p "$TMP/gone"
(cd "$TMP/gone" && runc spec && cp -a "$FIX/rootfs" rootfs) >/dev/null 2>&1
python3 - "$TMP/gone/config.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
s["process"].update(args=["true"], terminal=False)
s["process"].pop("capabilities", None)
s["root"] = {"path": "rootfs"}
json.dump(s, open(sys.argv[1], "w"))
EOF
addr=$(cd "$TMP/gone" && "$SHIM_BIN" -namespace soak -id gone -address "$CTD/none.sock" -publish-binary /bin/true start)
gone=${addr#unix://}
t "pod gone: Create of its one task" "$SHIM_CALL" create "$gone" gone "$TMP/gone"
t "pod gone: Delete of it" "$SHIM_CALL" delete "$gone" gone
expect_match "pod gone: a later Create is refused, naming the pod" "pod gone: gone with its last container" \
	"$("$SHIM_CALL" create "$gone" again "$TMP/gone" 2>&1)"
t "pod gone: the shim still answers (Shutdown)" "$SHIM_CALL" shutdown "$gone"
for i in $(seq 50); do pgrep -f -- "-id gone " >/dev/null || break; sleep 0.1; done
expect_eq "pod gone: the shim is gone" "" "$(pgrep -af -- "containerd-shim-podvm-v2 -namespace soak")"
rm -rf "$TMP/gone"
leftovers "a Create after the pod's last Delete"

# --- a guest that stops answering while QEMU runs: the watchdog ends the run
"$PODVM" check >/dev/null 2>&1
PODVM_AGENT_TIMEOUT=3 "$PODVM" run "$FIX/oci" sh -c 'echo ready; sleep 300' >"$TMP/hung.out" 2>"$TMP/hung.err" &
pid=$!
wait_for_text "$TMP/hung.out" ready
qmp=$(ls "$PODVM_STATE_DIR"/*/qmp.sock | head -1)
start=$(date +%s%N)
python3 - "$qmp" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "stop"):  # the guest stops: its agent can no longer answer
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while "return" not in json.loads(f.readline()):
        pass
EOF
wait $pid
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "a stopped guest: podvm run ends, exit 125" 125 "$rc"
expect_match "a stopped guest: one line saying so" \
	"^podvm: sandbox [0-9a-f]+: the guest stopped answering \(no answer from its agent for 3 s\); its VM was killed$" \
	"$(cat "$TMP/hung.err")"
t "a stopped guest: found within ~agent_timeout ($ms ms)" test "$ms" -lt 15000
leftovers "a guest that stopped answering"

# --- signals to podvm run while it starts (SIGTERM: the start is given up) and while it
# tears down (SIGUSR1, forwarded while the container runs: a teardown must not crash on it)
# (In a subshell: its children are reaped there, not by this script's exit trap.)
codes=$(for i in 1 2 3; do
	"$PODVM" run "$FIX/oci" true >/dev/null 2>&1 &
	pid=$!
	while kill -TERM $pid 2>/dev/null; do sleep 0.005; done
	wait $pid
	printf ' %s' $?
done)
# 143: SIGTERM ended the start (or podvm before it blocked signals); 137: the container ran
# first and the third SIGTERM went to it as SIGKILL; 0: it ran to its end first.
expect_match "signals while podvm run starts: 143, 137 or 0 each time, never a crash:$codes" '^( (143|137|0))+$' "$codes"
leftovers "signals while podvm run starts"
codes=$(for i in 1 2 3; do
	"$PODVM" run "$FIX/oci" sh -c 'echo ready; sleep 0.3' >"$TMP/td.out" 2>&1 &
	pid=$!
	wait_for_text "$TMP/td.out" ready
	while kill -USR1 $pid 2>/dev/null; do sleep 0.002; done
	wait $pid
	printf ' %s' $?
done)
expect_eq "signals while podvm run tears down: exit 0 each time, never a crash" " 0 0 0" "$codes"
leftovers "signals while podvm run tears down"
