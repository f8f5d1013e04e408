#!/bin/bash
# containerd-shim-podvm-v2 under a real containerd 1.6 started by this test (its own config,
# root, state and sockets under a temp dir), driven with ctr: one microVM per task.
. "$(dirname "$0")/lib.sh"
SHIM_DIR=$(dirname "${SHIM:-$ROOT/build/release/src/shim/containerd-shim-podvm-v2}")
CTD=$TMP/containerd
mkdir -p "$CTD"
cat >"$CTD/config.toml" <<EOC
version = 2
root = "$CTD/root"
state = "$CTD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTD/c.sock"
[ttrpc]
  address = "$CTD/c.sock.ttrpc"
EOC
start_containerd() {
	PATH="$SHIM_DIR:$PATH" containerd --config "$CTD/config.toml" >>"$CTD/log" 2>&1 &
	CTD_PID=$!
	for i in $(seq 100); do [ -S "$CTD/c.sock" ] && break; sleep 0.1; done
}
start_containerd
stop_containerd() {
	kill "$CTD_PID" 2>/dev/null
	wait "$CTD_PID" 2>/dev/null
	# containerd's snapshot mounts live under its root in the temp dir.
	awk -v t="$CTD" '$2 ~ t {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l
	cleanup_tmp
}
trap stop_containerd EXIT
C="ctr -a $CTD/c.sock -n podvm-test"
RT="--runtime io.containerd.podvm.v2"
IMG=docker.io/library/podvm-test:latest

t "images: import a docker archive (no registry)" $C images import "$FIX/docker.tar"

out=$(timeout 120 $C run $RT --rm $IMG run1 sh -c 'echo hello from a podvm task; uname -r')
expect_match "ctr run: output through containerd's FIFOs" "^hello from a podvm task" "$out"
guest=$(echo "$out" | tail -1)
[ -n "$guest" ] && [ "$guest" != "$(uname -r)" ]
t_result "ctr run: the task runs on the guest kernel ($guest)" $?

timeout 120 $C run $RT --rm $IMG run2 sh -c 'exit 3'
expect_eq "ctr run: exit code" 3 $?

expect_eq "ctr run: env and cwd from the image" "from-image /home/app" \
	"$(timeout 120 $C run $RT --rm $IMG run3 sh -c 'echo $PODVM_IMAGE_ENV $(pwd)')"

# A terminal through containerd: ctr's console, its size, and a resize (ResizePty).
out=$(script -qc "stty rows 20 cols 70; T=\$(tty); (sleep 4; stty -F \$T rows 31 cols 101) & timeout --foreground 120 $C run $RT -t --rm $IMG tty1 sh -c 'tty; stty size; sleep 7; stty size; exit 4'; echo rc=\$?" /dev/null </dev/null | tr -d '\r\0')
expect_match "terminal: the task has a pty" "/dev/pts/0" "$out"
expect_match "terminal: the initial size" "20 70" "$out"
expect_match "terminal: a resize reaches the task" "31 101" "$out"
expect_match "terminal: the exit code" "rc=4" "$out"

# seccomp from config.json: containerd's default profile (ctr run --seccomp), in the guest.
out=$(timeout 120 $C run $RT --rm --seccomp $IMG sec1 grep -E "^Seccomp" /proc/self/status 2>&1)
expect_match "seccomp: the default profile is in force (filter mode)" "Seccomp:[[:space:]]+2" "$out"
expect_match "seccomp: exactly the profile's one filter" "Seccomp_filters:[[:space:]]+1" "$out"
expect_match "seccomp: none without a profile" "Seccomp:[[:space:]]+0" \
	"$(timeout 120 $C run $RT --rm $IMG sec2 grep -E '^Seccomp:' /proc/self/status 2>&1)"

timeout 120 $C run $RT -d $IMG svc sh -c 'trap "exit 143" TERM; while :; do sleep 0.1; done' >/dev/null
expect_match "ctr run -d: the task is RUNNING" "svc +[0-9]+ +RUNNING" "$($C task ls)"
out=$(timeout 60 $C task exec --exec-id e1 svc sh -c 'echo exec-out; echo exec-err >&2; exit 5' 2>&1)
rc=$?
expect_eq "exec: exit code" 5 $rc
expect_match "exec: stdout and stderr" "exec-out" "$out"
expect_match "exec: stderr" "exec-err" "$out"
expect_eq "exec: stdin, ended by CloseIO" "piped-in" "$(echo piped-in | timeout 60 $C task exec --exec-id e2 svc cat)"
expect_eq "exec: sees the task's processes (same pid namespace)" "1" \
	"$(timeout 60 $C task exec --exec-id e3 svc sh -c 'test -d /proc/1 && grep -q trap /proc/1/cmdline && echo 1')"
expect_match "pids: the task's init" "^[0-9]+" "$($C task ps svc | tail -1)"
t "pause: the task freezes" $C task pause svc
expect_match "pause: the task is PAUSED" "svc +[0-9]+ +PAUSED" "$($C task ls)"
t "resume: the task thaws" $C task resume svc
expect_match "resume: the task is RUNNING again" "svc +[0-9]+ +RUNNING" "$($C task ls)"
metrics=$($C task metrics svc 2>&1)
expect_match "stats: cgroup v2 metrics from the guest" "memory.usage +[1-9][0-9]*" "$metrics"
expect_match "stats: CPU time of the task" "cpu.usage_usec +[1-9][0-9]*" "$metrics"
$C task kill -s TERM svc
for i in $(seq 100); do $C task ls | grep -q 'svc.*STOPPED' && break; sleep 0.1; done
expect_match "kill: SIGTERM reaches the task, which stops" "svc +[0-9]+ +STOPPED" "$($C task ls)"
t "delete: the task" $C task delete svc
t "delete: the container" $C container delete svc

# The guest's OOM killer reaches containerd as a /tasks/oom event.
$C events >"$TMP/events" 2>&1 &
events_pid=$!
sleep 0.5
timeout 120 $C run $RT --rm --memory-limit 33554432 $IMG oom sh -c 'head -c 200000000 /dev/zero | tail >/dev/null' >/dev/null 2>&1
sleep 1
kill $events_pid 2>/dev/null
expect_match "OOM: an OOM kill in the guest is a /tasks/oom event" '/tasks/oom \{"container_id":"oom"\}' "$(cat "$TMP/events")"

# The shim outlives a containerd restart: the task is found again and still served.
timeout 120 $C run $RT -d $IMG keep sh -c 'trap "exit 9" TERM; while :; do sleep 0.1; done' >/dev/null
kill "$CTD_PID"
wait "$CTD_PID" 2>/dev/null
start_containerd
expect_match "containerd restart: the task is still RUNNING" "keep +[0-9]+ +RUNNING" "$($C task ls)"
expect_eq "containerd restart: exec still works" "after-restart" "$(timeout 60 $C task exec --exec-id r1 keep echo after-restart)"
$C task kill keep
for i in $(seq 100); do $C task ls | grep -q 'keep.*STOPPED' && break; sleep 0.1; done
expect_match "containerd restart: its exit is still reported" "keep +[0-9]+ +STOPPED" "$($C task ls)"
$C task delete keep >/dev/null && $C container delete keep
t_result "containerd restart: delete" $?

# The VMM dies under a running task: the task exits, and --rm cleans up.
timeout 120 $C run $RT --rm $IMG doomed sh -c 'echo running; sleep 300' >"$TMP/doomed" 2>&1 &
pid=$!
wait_for_text "$TMP/doomed" running
pkill -KILL -f -- "qemu-system.*$PODVM_STATE_DIR/doomed/"
wait $pid
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ]
t_result "a killed VMM ends its task (ctr run exited $rc)" $?

# The shim itself dies (SIGKILL): containerd's `delete` kills its VMM (checked to be that
# QEMU) and removes its mounts, state and socket.
timeout 120 $C run $RT -d $IMG crash sh -c 'echo running; sleep 300' >/dev/null
shim=$(pgrep -f -- "containerd-shim-podvm-v2 -namespace podvm-test .*-id crash")
sock=$(ls "$PODVM_STATE_DIR/shim/"*.sock 2>/dev/null)
t "a crashed shim: its socket exists before" test -S "$sock"
expect_eq "the shim's listening socket is the shim's alone (its QEMU does not inherit it)" \
	"containerd-shim" "$(ss -xlp | grep -F "$sock" | grep -o '(("[^"]*"' | tr -d '("' ; ss -xlp | grep -F "$sock" | grep -o '),("[^"]*"' | tr -d '),("')"
kill -KILL $shim
for i in $(seq 100); do $C task ls | grep -q 'crash.*RUNNING' || break; sleep 0.1; done
expect_eq "a crashed shim: its task no longer runs" "" "$($C task ls | grep 'crash.*RUNNING')"
$C task delete crash >/dev/null 2>&1; $C container delete crash >/dev/null 2>&1
for i in $(seq 50); do pgrep -f -- "qemu-system.*$PODVM_STATE_DIR/crash/" >/dev/null || break; sleep 0.1; done
expect_eq "a crashed shim: its VMM is gone" "" "$(pgrep -af -- "qemu-system.*$PODVM_STATE_DIR/crash/")"
t "a crashed shim: its socket is gone" test ! -e "$sock"

sleep 1
expect_eq "no task left" "" "$($C task ls -q)"
pgrep -f -- "containerd-shim-podvm-v2 -namespace podvm-test" >/dev/null
t_result "no shim left" $((! $?))
leftovers "containerd tasks"
