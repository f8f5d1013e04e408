#!/bin/bash
# podvm under Kubernetes' CRI: a real containerd 1.6 with its CRI plugin, started by this test
# (its own config, root, state, sockets, CNI config and IPAM state under the temp dir), driven
# by tests/cri/cri.py the way kubelet drives it: RunPodSandbox, CreateContainer x2 in one pod
# (one VM), StartContainer, ExecSync, ContainerStatus, the CRI log files,
# UpdateContainerResources, ContainerStats, StopContainer, StopPodSandbox, RemovePodSandbox;
# then a VMM killed under a running pod. The same flow runs first with runc, as a baseline
# that shows what a Kubernetes user expects of a pod on this machine.
. "$(dirname "$0")/lib.sh"
# A RuntimeClass whose config gives its pods' VMs a TPM (tpm = on).
CRI_EXTRA_RUNTIMES='    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-tpm]
      runtime_type = "io.containerd.podvm.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-tpm.options]
        ConfigPath = "'"$TMP"'/podvm-tpm.conf"'
printf 'tpm = on\npool = 0\n' >"$TMP/podvm-tpm.conf"
# Attested pods: enforce, with the node's secrets for them, and verify (see the checks below).
for rc in podvm-attest podvm-attest-verify podvm-attest-once podvm-attest-pool podvm-secrets-unattested; do
	CRI_EXTRA_RUNTIMES="$CRI_EXTRA_RUNTIMES
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.$rc]
      runtime_type = \"io.containerd.podvm.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.$rc.options]
        ConfigPath = \"$TMP/$rc.conf\""
done
mkdir -p "$TMP/secrets"
ATTEST_TOKEN=token-$RANDOM$RANDOM
printf '%s' "$ATTEST_TOKEN" >"$TMP/secrets/token"
printf 'attestation = enforce\nattestation_period = 2\nsecrets_dir = %s\npool = 0\n' "$TMP/secrets" >"$TMP/podvm-attest.conf"
printf 'attestation = verify\nattestation_period = 2\npool = 0\n' >"$TMP/podvm-attest-verify.conf"
printf 'attestation = enforce\nattestation_period = 0\npool = 0\n' >"$TMP/podvm-attest-once.conf"
printf 'secrets_dir = %s\npool = 0\n' "$TMP/secrets" >"$TMP/podvm-secrets-unattested.conf"
printf 'attestation = enforce\nattestation_period = 0\nsecrets_dir = %s\npool = 1\n' "$TMP/secrets" >"$TMP/podvm-attest-pool.conf"
. "$(dirname "$0")/lib_cri.sh"

HOST_BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
# The container's memory limit and CPU quota, from cgroup v1 (runc here) or v2 (the guest).
CG_LIMITS='cg=$(sed -n "s/^0:://p" /proc/self/cgroup)
if [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
	echo $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
else
	echo $(cat /sys/fs/cgroup$cg/memory.max) $(cat /sys/fs/cgroup$cg/cpu.max)
fi'
LOG_LINE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) '

# cgroup_dirs POD [CGROUP]: the pod's cgroup in every cgroup hierarchy this host mounts; runc
# puts the pause process there. CGROUP: from the sandbox's linux.cgroupsPath, by default the
# cgroup parent and the sandbox id (containerd's cgroupfs form).
cgroup_dirs() {
	findmnt -rn -t cgroup,cgroup2 -o TARGET | sed "s|\$|${2:-$CGROUP_PARENT/$1}|"
}
# expect_in_cgroup WHAT PID POD [CGROUP]: PID is in the pod's cgroup in each hierarchy.
expect_in_cgroup() {
	local d out=""
	for d in $(cgroup_dirs "$3" "${4:-}"); do
		grep -qx "$2" "$d/cgroup.procs" 2>/dev/null || out="$out $d"
	done
	[ -n "$2" ] && [ -n "$(cgroup_dirs "$3")" ] && [ -z "$out" ]
	t_result "$1" $? "pid '$2' not in:$out"
}
# expect_cgroup_gone WHAT POD [CGROUP]
expect_cgroup_gone() {
	expect_eq "$1" "" "$(ls -d $(cgroup_dirs "$2" "${3:-}") 2>/dev/null)"
}

# pod_flow HANDLER: what kubelet does for one pod with this runtime handler.
pod_flow() {
	local h=$1 name=pod-$1 pod c1 c2 c3 st out rc
	local logs=$TMP/logs/$name
	pod=$(cri run-pod "$name" --runtime-handler "$h" --log-dir "$logs" --cgroup-parent "$CGROUP_PARENT" 2>&1)
	t_result "$h: RunPodSandbox" $? "$pod"
	st=$(cri pod-status "$pod" 2>&1)
	expect_eq "$h: PodSandboxStatus: READY" SANDBOX_READY "$(jget "$st" state)"
	expect_eq "$h: PodSandboxStatus: runtime handler" "$h" "$(jget "$st" runtimeHandler)"
	local pod_ip
	pod_ip=$(jget "$st" ip)
	expect_match "$h: PodSandboxStatus: an IP from the CNI bridge" "^$NET\.[0-9]+\$" "$pod_ip"

	# Volumes as kubelet makes them, all host directories bound in: a hostPath (rw), a
	# configMap-style file (ro) and an emptyDir shared by both containers.
	local vol=$TMP/vol-$h
	mkdir -p "$vol/hostpath" "$vol/configmap" "$vol/emptydir"
	echo from-configmap >"$vol/configmap/app.conf"
	c1=$(cri create-container "$pod" c1 "$IMG" --log-path c1.log --mount "$vol/emptydir:/cache" -- \
		sh -c 'echo hello from c1; echo to stderr >&2; exec sleep 300' 2>&1)
	t_result "$h: CreateContainer c1" $? "$c1"
	c2=$(cri create-container "$pod" c2 "$IMG" --log-path c2.log --mount "$vol/hostpath:/data" \
		--mount "$vol/configmap/app.conf:/etc/config/app.conf:ro" --mount "$vol/emptydir:/cache" -- \
		sh -c 'trap "echo c2 got TERM; exit 143" TERM; echo c2 ready; while :; do sleep 0.2; done' 2>&1)
	t_result "$h: CreateContainer c2 in the same pod" $? "$c2"
	expect_eq "$h: ContainerStatus: CREATED before start" CONTAINER_CREATED "$(jget "$(cri status "$c1" 2>&1)" state)"
	t "$h: StartContainer c1" cri start "$c1"
	t "$h: StartContainer c2" cri start "$c2"
	st=$(cri status "$c1" 2>&1)
	expect_eq "$h: ContainerStatus: c1 RUNNING" CONTAINER_RUNNING "$(jget "$st" state)"
	expect_eq "$h: ContainerStatus: log path" "$logs/c1.log" "$(jget "$st" logPath)"
	expect_eq "$h: ContainerStatus: c2 RUNNING" CONTAINER_RUNNING "$(jget "$(cri status "$c2" 2>&1)" state)"

	wait_for_text "$logs/c1.log" "to stderr"
	expect_match "$h: log file: stdout line in CRI format" "${LOG_LINE}stdout F hello from c1\$" "$(cat "$logs/c1.log" 2>&1)"
	expect_match "$h: log file: stderr line in CRI format" "${LOG_LINE}stderr F to stderr\$" "$(cat "$logs/c1.log" 2>&1)"
	wait_for_text "$logs/c2.log" "c2 ready"

	out=$(cri exec-sync "$c1" -- sh -c 'echo exec-out; echo exec-err >&2; exit 5' 2>"$TMP/exec-err")
	rc=$?
	expect_eq "$h: ExecSync: stdout" exec-out "$out"
	expect_eq "$h: ExecSync: exit code" 5 "$rc"
	expect_match "$h: ExecSync: stderr" "exec-err" "$(cat "$TMP/exec-err")"
	expect_eq "$h: ExecSync: the image's env and working dir" "from-image /home/app" \
		"$(cri exec-sync "$c1" -- sh -c 'echo $PODVM_IMAGE_ENV $(pwd)' 2>&1)"

	local b1 b2
	b1=$(cri exec-sync "$c1" -- cat /proc/sys/kernel/random/boot_id 2>&1)
	b2=$(cri exec-sync "$c2" -- cat /proc/sys/kernel/random/boot_id 2>&1)
	if [ "$h" = runc ]; then
		expect_eq "$h: the containers run on the host kernel (boot_id)" "$HOST_BOOT_ID" "$b1"
	else
		[ -n "$b1" ] && [ "$b1" != "$HOST_BOOT_ID" ]
		t_result "$h: c1 runs on its own kernel (boot_id $b1, host $HOST_BOOT_ID)" $?
		expect_eq "$h: c1 and c2 run in one VM (same boot_id)" "$b1" "$b2"
		local how="restored from a template" pidfile=$PODVM_STATE_DIR/$pod/vmm.pid
		if [ "$h" = podvm-pool ]; then
			# A pooled VM keeps the files it was started with, in vm/.
			how="taken from the pool"
			pidfile=$PODVM_STATE_DIR/$pod/vm/vmm.pid
		else
			[ "$(pgrep -fc -- "qemu-system.*$PODVM_STATE_DIR/$pod/")" = 1 ]
			t_result "$h: one VMM process for the pod" $? "$(pgrep -af -- "qemu-system.*$PODVM_STATE_DIR/" | cut -c1-100)"
		fi
		expect_eq "$h: the pod's VMM is a running QEMU" qemu-system-x86 \
			"$(ps -o comm= -p "$(cat "$pidfile" 2>/dev/null)" 2>&1 | cut -c1-15)"
		# Its memory and CPU are the pod's, as a runc pod's pause process's are.
		expect_in_cgroup "$h: the pod's VMM is in the pod's cgroup in every hierarchy" \
			"$(cat "$pidfile" 2>/dev/null)" "$pod"
		expect_match "$h: the pod's VM was $how" "^$how in [0-9]+ ms" "$(cat "$PODVM_STATE_DIR/$pod/boot" 2>&1)"
		# Jailed (test_jail.sh has the details): seccomp, no_new_privs, a uid of its own, 9p's
		# capabilities only, and a root without the host's files.
		local vmm
		vmm=$(cat "$pidfile" 2>/dev/null)
		expect_eq "$h: the pod's VMM is jailed (CapEff NoNewPrivs Seccomp)" "000000000800001b 1 2 own no-etc" \
			"$(awk '$1 == "Seccomp:" || $1 == "NoNewPrivs:" || $1 == "CapEff:" {printf "%s ", $2}' "/proc/$vmm/status")$(
			[ "$(awk '$1 == "Uid:" {print $2}' "/proc/$vmm/status")" -ge $((0x60000000)) ] && echo own) $(
			[ -e "/proc/$vmm/root/etc" ] || echo no-etc)"
	fi
	# What a pod's containers share (kubelet: network, IPC and UTS of the pod; own PID ns).
	expect_eq "$h: c1 and c2 share the pod's IPC namespace" \
		"$(cri exec-sync "$c1" -- readlink /proc/self/ns/ipc 2>&1)" "$(cri exec-sync "$c2" -- readlink /proc/self/ns/ipc 2>&1)"
	expect_eq "$h: hostname is the pod's" "$name" "$(cri exec-sync "$c2" -- hostname 2>&1)"
	expect_match "$h: the container has the pod IP ($pod_ip)" "inet $pod_ip/" "$(cri exec-sync "$c1" -- ip -o -4 addr 2>&1)"
	# A pooled VM rehearsed a pod network on TEST-NET-1 (sandbox_warmup.c): none of it stays.
	expect_eq "$h: no address or route of a pool VM's network rehearsal (192.0.2.x)" "" \
		"$(cri exec-sync "$c1" -- sh -c 'ip -o addr; ip route' 2>&1 | grep '192\.0\.2\.')"
	# The pod is reachable as under runc: the host (the bridge's gateway) pings it and
	# talks TCP to a server in it.
	busybox ping -c 1 -W 10 "$pod_ip" >/dev/null 2>&1
	t_result "$h: the host reaches the pod IP (ping)" $?
	# The pod's MAC is its own (CNI's veth MAC), not that of the VM template it came from.
	local mac
	mac=$(cri exec-sync "$c1" -- cat /sys/class/net/eth0/address 2>&1)
	expect_eq "$h: eth0's MAC is what the host sees for the pod IP" \
		"$(ip neigh show "$pod_ip" | sed -n 's/.* lladdr \([0-9a-f:]*\).*/\1/p')" "$mac"
	[ "$mac" != 02:70:76:00:00:01 ]
	t_result "$h: eth0's MAC is not the template's" $? "$mac"
	cri exec-sync "$c1" -- sh -c 'nc -l -p 7777 -e echo pong-from-pod >/dev/null 2>&1 &' >/dev/null 2>&1
	sleep 1
	expect_eq "$h: TCP from the host to a server in the pod" "pong-from-pod" \
		"$(timeout 20 busybox nc -w 5 "$pod_ip" 7777 </dev/null 2>&1 | tr -d '\r')"
	expect_match "$h: c2 has its own PID namespace (its command is PID 1)" "trap" \
		"$(cri exec-sync "$c2" -- cat /proc/1/cmdline 2>&1 | tr '\0' ' ')"

	expect_eq "$h: volumes: a configMap-style file is readable" "from-configmap" \
		"$(cri exec-sync "$c2" -- cat /etc/config/app.conf 2>&1)"
	cri exec-sync "$c2" -- sh -c 'echo changed > /etc/config/app.conf' >/dev/null 2>&1
	[ $? -ne 0 ] && [ "$(cat "$vol/configmap/app.conf")" = from-configmap ]
	t_result "$h: volumes: a read-only mount cannot be written" $?
	cri exec-sync "$c2" -- sh -c 'echo from-c2 > /data/out' >/dev/null 2>&1
	expect_eq "$h: volumes: a hostPath write reaches the host" "from-c2" "$(cat "$vol/hostpath/out" 2>&1)"
	cri exec-sync "$c1" -- sh -c 'echo from-c1 > /cache/shared' >/dev/null 2>&1
	expect_eq "$h: volumes: an emptyDir is shared by the pod's containers" "from-c1" \
		"$(cri exec-sync "$c2" -- cat /cache/shared 2>&1)"
	expect_eq "$h: CRI mounts: /etc/hostname is the pod's" "$name" "$(cri exec-sync "$c1" -- cat /etc/hostname 2>&1)"
	expect_match "$h: CRI mounts: /etc/hosts names localhost" "localhost" "$(cri exec-sync "$c1" -- cat /etc/hosts 2>&1)"
	cri exec-sync "$c1" -- test -f /etc/resolv.conf >/dev/null 2>&1
	t_result "$h: CRI mounts: /etc/resolv.conf is there" $?

	# A container that exits by itself: exit code and reason, as kubelet reports them.
	c3=$(cri create-container "$pod" c3 "$IMG" --log-path c3.log -- sh -c 'echo done; exit 3' 2>&1)
	t_result "$h: CreateContainer c3" $? "$c3"
	t "$h: StartContainer c3" cri start "$c3"
	st=$(cri wait-state "$c3" exited --within 60 2>&1)
	expect_eq "$h: ContainerStatus: c3 EXITED" CONTAINER_EXITED "$(jget "$st" state)"
	expect_eq "$h: ContainerStatus: exit code 3" 3 "$(jget "$st" exitCode)"
	expect_eq "$h: ContainerStatus: reason Error" Error "$(jget "$st" reason)"
	# (Not ordered: for a container this quick, containerd's exit time can precede its start time.)
	[ "$(jget "$st" startedAt)" -gt 0 ] 2>/dev/null && [ "$(jget "$st" finishedAt)" -gt 0 ] 2>/dev/null
	t_result "$h: ContainerStatus: startedAt and finishedAt" $? "$st"
	expect_match "$h: log file of c3" "${LOG_LINE}stdout F done\$" "$(cat "$logs/c3.log" 2>&1)"
	local list
	list=$(cri list-containers --pod "$pod" 2>&1)
	expect_eq "$h: ListContainers: the pod's three containers" "c1 CONTAINER_RUNNING
c2 CONTAINER_RUNNING
c3 CONTAINER_EXITED" "$(echo "$list" | awk '{print $2, $3}' | sort)"
	t "$h: RemoveContainer c3" cri remove-container "$c3"
	expect_eq "$h: ListContainers: c3 gone" "c1 c2" "$(cri list-containers --pod "$pod" 2>&1 | awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//')"

	# Resources: UpdateContainerResources reaches the container's cgroup; stats come back.
	out=$(cri update "$c1" --memory 200000000 --cpu-quota 50000 --cpu-period 100000 2>&1)
	t_result "$h: UpdateContainerResources" $? "$out"
	expect_eq "$h: update: the container's cgroup (memory, CPU quota and period)" "199999488 50000 100000" \
		"$(cri exec-sync "$c1" -- sh -c "$CG_LIMITS" 2>&1)"
	expect_eq "$h: update: ContainerStatus reports the new memory limit" 200000000 \
		"$(jget "$(cri status "$c1" 2>&1)" resources.memoryLimitInBytes)"
	cri exec-sync "$c1" -- sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done' >/dev/null 2>&1
	st=$(cri stats "$c1" 2>&1)
	[ "$(jget "$st" cpu.usageCoreNanoSeconds)" -gt 0 ] 2>/dev/null
	t_result "$h: ContainerStats: CPU usage" $? "$st"
	[ "$(jget "$st" memory.workingSetBytes)" -gt 0 ] 2>/dev/null
	t_result "$h: ContainerStats: memory working set" $? "$st"

	# StopContainer: SIGTERM first (c2 traps it), within the grace period.
	out=$(cri stop-container "$c2" --grace 20 2>&1)
	t_result "$h: StopContainer c2" $? "$out"
	st=$(cri status "$c2" 2>&1)
	expect_eq "$h: StopContainer: c2 EXITED" CONTAINER_EXITED "$(jget "$st" state)"
	expect_eq "$h: StopContainer: SIGTERM reached c2 (its trap exited 143)" 143 "$(jget "$st" exitCode)"
	expect_match "$h: log file: c2's TERM trap ran" "stdout F c2 got TERM" "$(cat "$logs/c2.log" 2>&1)"

	# The pod goes: its remaining container is forcibly stopped, its network torn down.
	out=$(cri stop-pod "$pod" 2>&1)
	t_result "$h: StopPodSandbox" $? "$out"
	expect_eq "$h: StopPodSandbox: NOTREADY" SANDBOX_NOTREADY "$(jget "$(cri pod-status "$pod" 2>&1)" state)"
	expect_eq "$h: StopPodSandbox: c1 EXITED" CONTAINER_EXITED "$(jget "$(cri status "$c1" 2>&1)" state)"
	out=$(cri remove-pod "$pod" 2>&1)
	t_result "$h: RemovePodSandbox" $? "$out"
	out=$(cri pod-status "$pod" 2>&1)
	expect_match "$h: RemovePodSandbox: the pod is gone" "NotFound|NOT_FOUND" "$out"
	expect_eq "$h: RemovePodSandbox: no container left" "" "$(cri list-containers 2>&1)"
	expect_eq "$h: no veth left on the bridge" "" "$(ip -o link show master "$BRIDGE" 2>/dev/null)"
	expect_eq "$h: no pod netns left" "" "$(ls "$CTD/state/io.containerd.grpc.v1.cri/netns" 2>/dev/null)"
	expect_cgroup_gone "$h: RemovePodSandbox: the pod's cgroup is gone (its parent stays)" "$pod"
}

# conformance_flow HANDLER: what a Kubernetes user expects of any pod, runc's and podvm's
# alike: a failed exec ends at once, a stop right after a start is not lost, a shared PID
# namespace (shareProcessNamespace), HostToContainer mount propagation.
HP=$TMP/hostpath-shared
mkdir -p "$HP" && mount --bind "$HP" "$HP" && mount --make-shared "$HP"
conformance_flow() {
	local h=$1 pod a b c out rc ms start st
	pod=$(cri run-pod "conf-$h" --share-pid --runtime-handler "$h" --log-dir "$TMP/logs/conf-$h" \
		--cgroup-parent "$CGROUP_PARENT" 2>&1)
	t_result "$h conformance: RunPodSandbox (shareProcessNamespace)" $? "$pod"
	a=$(cri create-container "$pod" a "$IMG" --log-path a.log -- sh -c 'exec sleep 301' 2>&1)
	b=$(cri create-container "$pod" b "$IMG" --log-path b.log \
		--mount "$HP:/hp:rw:hostToContainer" -- sh -c 'exec sleep 302' 2>&1)
	t "$h conformance: StartContainer a" cri start "$a"
	t "$h conformance: StartContainer b" cri start "$b"

	# An exec of a command that does not exist ends at once, non-zero; the container lives on.
	start=$(date +%s%N)
	out=$(cri exec-sync --exec-timeout 30 "$a" -- /no/such/command 2>&1)
	rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	t_result "$h conformance: ExecSync of a missing command: non-zero at once (rc $rc, $ms ms)" \
		"$([ "$rc" -ne 0 ] && [ "$ms" -lt 5000 ] && echo 0 || echo 1)" "$out"
	expect_match "$h conformance: ... saying what is missing" '/no/such/command' "$out"
	expect_eq "$h conformance: ... the container still runs execs" still "$(cri exec-sync "$a" -- echo still 2>&1)"

	# The pod's containers see each other's processes; PID 1 is the sandbox's.
	out=$(cri exec-sync "$b" -- ps -o args 2>&1)
	expect_match "$h conformance: shareProcessNamespace: b sees a's process" "sleep 301" "$out"
	expect_eq "$h conformance: shareProcessNamespace: PID 1 is the pause container's" "/bin/sleep 2147483647" \
		"$(cri exec-sync "$b" -- sh -c 'tr "\0" " " </proc/1/cmdline' 2>&1 | sed 's/ $//')"

	# HostToContainer: a mount the host makes under the volume after the start shows inside.
	mkdir -p "$HP/late-$h" && mount -t tmpfs "late-$h" "$HP/late-$h" && echo "mounted later" >"$HP/late-$h/f"
	expect_eq "$h conformance: HostToContainer: a later host mount is seen" "mounted later" \
		"$(cri exec-sync "$b" -- cat "/hp/late-$h/f" 2>&1)"
	umount "$HP/late-$h"

	# kubectl port-forward: CRI PortForward's stream reaches a server in the pod; and what
	# containerd does for it, a connection to localhost:PORT in the pod's network namespace,
	# carries a MiB both ways over IPv4 and IPv6, with half-close.
	local w e ns
	w=$(cri create-container "$pod" web "$IMG" -- sh -c 'mkdir -p /www && echo port-forwarded >/www/index.html &&
		exec httpd -f -p 80 -h /www' 2>&1)
	e=$(cri create-container "$pod" echo "$IMG" -- nc -ll -p 8081 -e /bin/cat 2>&1)
	t "$h conformance: StartContainer web" cri start "$w"
	t "$h conformance: StartContainer echo" cri start "$e"
	for i in $(seq 50); do
		out=$(cri port-forward "$pod" 80 --send 'GET /index.html HTTP/1.0\r\n\r\n' 2>&1 | tr -d '\r' | tr '\n' ' ')
		case $out in *port-forwarded*) break ;; esac
		sleep 0.2
	done
	expect_match "$h conformance: PortForward: an HTTP exchange over the stream" "200 OK.* port-forwarded" "$out"
	ns=$(ls "$CTD/state/io.containerd.grpc.v1.cri/netns")
	expect_eq "$h conformance: PortForward: localhost in the pod's netns, both ways, FIN" \
		"127.0.0.1 ok ::1 ok" "$(nsenter --net="$CTD/state/io.containerd.grpc.v1.cri/netns/$ns" python3 -c '
import hashlib, os, socket, threading
for host in ("127.0.0.1", "::1"):
    data = os.urandom(1 << 20)
    s = socket.create_connection((host, 8081), timeout=30)
    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)  # half-close: the echo goes on
    t = threading.Thread(target=send)
    t.start()
    back = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        back += d
    t.join()
    print(host, "ok" if back == data else "got %d of %d bytes" % (len(back), len(data)), end=" ")
' 2>&1 | sed 's/ $//')"

	# StopContainer right after StartContainer (a pod deleted while it starts): SIGTERM
	# takes effect, as under runc (busybox top exits 143 on it), not the grace period.
	c=$(cri create-container "$pod" c "$IMG" --log-path c.log -- sh -c top 2>&1)
	start=$(date +%s%N)
	out=$(cri start --then-stop 10 "$c" 2>&1)
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	st=$(cri status "$c" 2>&1)
	expect_eq "$h conformance: stop right after start: SIGTERM's exit ($ms ms; grace 10 s)" 143 "$(jget "$st" exitCode)"
	t "$h conformance: ... well within the grace period ($ms ms)" test "$ms" -lt 5000

	t "$h conformance: StopPodSandbox" cri stop-pod "$pod"
	t "$h conformance: RemovePodSandbox" cri remove-pod "$pod"
}

# kernel_flow HANDLER: a privileged pod, and a container with NET_ADMIN, find the kernel a
# node has: bridge, veth, vxlan, tun, iptables (legacy and nft) with NAT, REDIRECT and
# conntrack, ip6tables, overlayfs, fuse (Debian's ip and iptables in the nettools image).
NT=podvm.local/nettools:test
kernel_flow() {
	local h=$1 pod p n
	pod=$(cri run-pod "kern-$h" --privileged --runtime-handler "$h" --log-dir "$TMP/logs/kern-$h" \
		--cgroup-parent "$CGROUP_PARENT" 2>&1)
	t_result "$h kernel: RunPodSandbox (privileged)" $? "$pod"
	p=$(cri create-container "$pod" priv "$NT" --privileged -- sleep 300 2>&1)
	n=$(cri create-container "$pod" netadmin "$NT" --cap-add NET_ADMIN -- sleep 300 2>&1)
	t "$h kernel: StartContainer (privileged)" cri start "$p"
	t "$h kernel: StartContainer (NET_ADMIN)" cri start "$n"
	kx() {  # kx NAME CID SCRIPT: the script prints "ok" last when the feature works
		local out
		out=$(cri exec-sync "$2" -- sh -c "$3" 2>&1)
		expect_match "$h kernel: $1" 'ok$' "$out"
	}
	kx "bridge" "$p" '/usr/sbin/ip link add pvbr0 type bridge && echo ok'
	kx "veth on the bridge" "$p" '/usr/sbin/ip link add pvv0 type veth peer name pvv1 && /usr/sbin/ip link set pvv0 master pvbr0 && echo ok'
	kx "vxlan" "$p" '/usr/sbin/ip link add pvx0 type vxlan id 42 dstport 4789 dev eth0 && echo ok'
	kx "tun (/dev/net/tun)" "$p" '/usr/sbin/ip tuntap add pvt0 mode tun && echo ok'
	kx "iptables-legacy nat REDIRECT carries a connection" "$p" \
		'nc -l -p 8080 >/tmp/got & sleep 0.5
		 iptables-legacy -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 80 -j REDIRECT --to-ports 8080 &&
		 echo via-redirect | nc 127.0.0.1 80; sleep 0.5; grep -q via-redirect /tmp/got && echo ok'
	kx "iptables-nft: conntrack match, nat REDIRECT" "$p" \
		'iptables-nft -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
		 iptables-nft -t nat -A PREROUTING -p tcp --dport 81 -j REDIRECT --to-ports 8081 && echo ok'
	kx "ip6tables (legacy and nft) nat REDIRECT" "$p" \
		'ip6tables-legacy -t nat -A OUTPUT -p tcp -d ::1 --dport 80 -j REDIRECT --to-ports 8080 &&
		 ip6tables-nft -t nat -A OUTPUT -p tcp -d ::1 --dport 81 -j REDIRECT --to-ports 8081 && echo ok'
	kx "conntrack" "$p" 'test -r /proc/sys/net/netfilter/nf_conntrack_max && echo ok'
	kx "overlayfs" "$p" 'mkdir -p /tmp/o && mount -t tmpfs t /tmp/o && mkdir /tmp/o/l /tmp/o/u /tmp/o/w /tmp/o/m &&
		 mount -t overlay o -o lowerdir=/tmp/o/l,upperdir=/tmp/o/u,workdir=/tmp/o/w /tmp/o/m && echo ok'
	kx "fuse (/dev/fuse)" "$p" 'grep -qw fuse /proc/filesystems && test -c /dev/fuse && echo ok'
	kx "NET_ADMIN alone: bridge and iptables" "$n" \
		'/usr/sbin/ip link add pvbr1 type bridge && iptables -t nat -A OUTPUT -p tcp --dport 82 -j REDIRECT --to-ports 8082 && echo ok'
	if [ "$h" != runc ]; then  # this host's runc pods see a cgroup v1/v2 hybrid
		expect_eq "$h kernel: cgroup v2 controllers" "cpuset cpu io memory pids rdma misc" \
			"$(cri exec-sync "$p" -- cat /sys/fs/cgroup/cgroup.controllers 2>&1)"
	fi
	t "$h kernel: StopPodSandbox" cri stop-pod "$pod"
	t "$h kernel: RemovePodSandbox" cri remove-pod "$pod"
}

pod_flow runc
conformance_flow runc
kernel_flow runc
expect_eq "runc: no runc shim left" "" "$(pgrep -af -- "containerd-shim-runc-v2 .*-address $CTD/c.sock")"
expect_eq "runc: no container cgroup left" "" \
	"$(find /sys/fs/cgroup/*"$CGROUP_PARENT" -mindepth 1 -type d 2>/dev/null)"

pod_flow podvm
conformance_flow podvm
kernel_flow podvm
umount "$HP"
sleep 0.5
expect_eq "podvm: no shim left" "" "$(pgrep -af -- "containerd-shim-podvm-v2 .*-address $CTD/c.sock")"
expect_eq "podvm: no VMM left" "" "$(pgrep -af -- "qemu-system.*$PODVM_STATE_DIR/")"
leftovers "a podvm pod through CRI"

# What a VM cannot do is refused, with the field named: hostNetwork, hostPID, hostIPC at
# RunPodSandbox; Bidirectional propagation when the container's task is made (containerd
# 1.6 makes it at StartContainer).
for field in network pid ipc; do
	flag=--host-$field
	name=$(case $field in network) echo hostNetwork ;; pid) echo hostPID ;; ipc) echo hostIPC ;; esac)
	out=$(cri run-pod "host-$field" $flag --runtime-handler podvm --log-dir "$TMP/logs/host-$field" \
		--cgroup-parent "$CGROUP_PARENT" 2>&1)
	t_result "refused: $name: RunPodSandbox fails" "$([ $? -ne 0 ] && echo 0 || echo 1)" "$out"
	expect_match "refused: $name: the error names it" "$name: not supported: a podvm pod has its own kernel" "$out"
done
mkdir -p "$TMP/bidi" && mount --bind "$TMP/bidi" "$TMP/bidi" && mount --make-shared "$TMP/bidi"
pod=$(cri run-pod bidi --runtime-handler podvm --log-dir "$TMP/logs/bidi" --cgroup-parent "$CGROUP_PARENT" 2>&1)
c=$(cri create-container "$pod" bidi "$IMG" --mount "$TMP/bidi:/bidi:rw:bidirectional" -- sleep 300 2>&1)
out=$(cri start "$c" 2>&1)
t_result "refused: Bidirectional: the container does not start" "$([ $? -ne 0 ] && echo 0 || echo 1)" "$out"
expect_match "refused: Bidirectional: the error names the mount and the field" \
	"mount /bidi: mountPropagation Bidirectional: not supported: a podvm pod has its own kernel" "$out"
t "refused: Bidirectional: StopPodSandbox" cri stop-pod "$pod"
t "refused: Bidirectional: RemovePodSandbox" cri remove-pod "$pod"
umount "$TMP/bidi"
sleep 0.5
expect_eq "refused: no shim left" "" "$(pgrep -af -- "containerd-shim-podvm-v2 .*-address $CTD/c.sock")"
leftovers "refused pods"

# The VM is sized from the pod's resources (kubelet's sum of its containers' limits, which
# containerd passes as sandbox annotations): 256 MiB + the 64 MiB guest overhead, 2 vCPUs.
pod=$(cri run-pod sized --runtime-handler podvm --log-dir "$TMP/logs/sized" --cgroup-parent "$CGROUP_PARENT" \
	--memory 268435456 --cpu-quota 200000 --cpu-period 100000 2>&1)
t_result "sized pod: RunPodSandbox with pod resources" $? "$pod"
s1=$(cri create-container "$pod" s1 "$IMG" --log-path s1.log -- sleep 300 2>&1)
t "sized pod: StartContainer" cri start "$s1"
expect_eq "sized pod: vCPUs from the pod's CPU limit" "2" "$(cri exec-sync "$s1" -- nproc 2>&1)"
mem=$(cri exec-sync "$s1" -- awk '/MemTotal/ {print $2}' /proc/meminfo 2>&1)
[ "$mem" -gt 250000 ] 2>/dev/null && [ "$mem" -le 327680 ]
t_result "sized pod: guest memory is the pod's limit plus the overhead (MemTotal $mem kB)" $?
t "sized pod: StopPodSandbox" cri stop-pod "$pod"
t "sized pod: RemovePodSandbox" cri remove-pod "$pod"
leftovers "a sized podvm pod"

# kubelet's systemd cgroup driver: a cgroup parent that is a slice, which containerd makes a
# cgroupsPath "slice:cri-containerd:ID"; the VMM joins the cgroup runc would lay out for it.
pod=$(cri run-pod sd --runtime-handler podvm --log-dir "$TMP/logs/sd" --cgroup-parent "$CGROUP_SLICE" 2>&1)
t_result "systemd cgroup form: RunPodSandbox" $? "$pod"
sd_cgroup=/$CGROUP_SLICE/cri-containerd-$pod.scope
expect_in_cgroup "systemd cgroup form: the VMM is in $CGROUP_SLICE/cri-containerd-<id>.scope in every hierarchy" \
	"$(cat "$PODVM_STATE_DIR/$pod/vmm.pid" 2>/dev/null)" "$pod" "$sd_cgroup"
t "systemd cgroup form: StopPodSandbox" cri stop-pod "$pod"
t "systemd cgroup form: RemovePodSandbox" cri remove-pod "$pod"
expect_cgroup_gone "systemd cgroup form: the pod's scope is gone" "$pod" "$sd_cgroup"
# A slice name systemd would refuse fails the pod's start, naming it, before any VM runs.
out=$(cri run-pod badslice --runtime-handler podvm --log-dir "$TMP/logs/badslice" --cgroup-parent "bad--$CGROUP_SLICE" 2>&1)
t_result "systemd cgroup form: a bad slice fails RunPodSandbox" "$([ $? -ne 0 ] && echo 0 || echo 1)" "$out"
expect_match "systemd cgroup form: ... naming the cgroup path" "cgroup path bad--$CGROUP_SLICE:cri-containerd:[0-9a-f]+: the slice has an empty component" "$out"
cri remove-all-pods >/dev/null 2>&1
leftovers "pods in systemd-form cgroups"

# A RuntimeClass whose runtime options name a config file without templates: cold boots.
# one_container_then_remove POD NAME LABEL WORD WHAT: a sleeping container starts in POD and
# answers ExecSync (echo WORD); then the pod is stopped and removed and nothing is left.
one_container_then_remove() {
	local c
	c=$(cri create-container "$1" "$2" "$IMG" --log-path "$2.log" -- sleep 300 2>&1)
	t "$3 StartContainer" cri start "$c"
	expect_eq "$3 ExecSync" "$4" "$(cri exec-sync "$c" -- echo "$4" 2>&1)"
	t "$3 StopPodSandbox" cri stop-pod "$1"
	t "$3 RemovePodSandbox" cri remove-pod "$1"
	leftovers "$5"
}
pod=$(cri run-pod cold --runtime-handler podvm-cold --log-dir "$TMP/logs/cold" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "runtime options: RunPodSandbox (podvm-cold)" $? "$pod"
expect_match "runtime options: ConfigPath's templates = off: the VM booted cold" "^booted cold in [0-9]+ ms" \
	"$(cat "$PODVM_STATE_DIR/$pod/boot" 2>&1)"
one_container_then_remove "$pod" k1 "runtime options:" cold-ok "a cold-booted podvm pod"

# A RuntimeClass whose config says tpm = on: the pod's VM has a TPM 2.0 of its own, an swtpm
# of the VM's (test_tpm.sh has the details), and it goes with the pod.
pod=$(cri run-pod tpm --runtime-handler podvm-tpm --log-dir "$TMP/logs/tpm" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "tpm = on: RunPodSandbox (podvm-tpm)" $? "$pod"
expect_eq "tpm = on: the pod's VM has an swtpm of its own" 1 \
	"$(pgrep -fc -- "swtpm socket .*$PODVM_STATE_DIR/$pod/tpm\.log")"
c=$(cri create-container "$pod" tp "$IMG" --log-path tp.log -- sleep 300 2>&1)
t "tpm = on: StartContainer" cri start "$c"
expect_eq "tpm = on: the container sees a TPM 2.0" 2 \
	"$(cri exec-sync "$c" -- cat /sys/class/tpm/tpm0/tpm_version_major 2>&1)"
t "tpm = on: StopPodSandbox" cri stop-pod "$pod"
t "tpm = on: RemovePodSandbox" cri remove-pod "$pod"
expect_eq "tpm = on: no swtpm left" "" "$(pgrep -af -- "swtpm socket .*$PODVM_STATE_DIR/")"
leftovers "a pod with a TPM"

# --- attested pods (begin)
# A RuntimeClass with attestation = enforce (attestation_period = 2) and a secrets_dir: the
# pod's VM is attested before each container starts and every 2 s; an app container (not
# the pause container) finds the node's secret at /run/secrets; `podvm attest POD` passes
# through the shim's attest.sock. A container that runs a binary of no image (busybox copied
# to /tmp/x, one byte added) gets the pod's VM stopped within a few periods: its containers
# exit, the shim's log and a /podvm/attestation/failed event name /tmp/x. Under verify
# (podvm-attest-verify) the same binary is reported and the pod runs on.
# expect_attest_event WHAT POD MODE ACTION: within 30 s, a /podvm/attestation/failed event
# (as `ctr events` decodes it: a google.protobuf.Struct) for POD names /tmp/x, MODE, ACTION.
expect_attest_event() {
	for i in $(seq 300); do grep -q "/podvm/attestation/failed.*$2" "$TMP/events" && break; sleep 0.1; done
	expect_match "$1 a /podvm/attestation/failed event names /tmp/x ($3: $4)" \
		" UTC k8s\.io /podvm/attestation/failed \\{\"fields\":\\{\"action\":.*\"$4\".*\"IMA: /tmp/x .*\"$3\".*\"$2\"" \
		"$(grep -a "/podvm/attestation/failed" "$TMP/events" | grep -a "$2" | tail -1)"
}
# remove_attested WHAT POD LEFTOVERS: stopped, removed, no swtpm, no VMM, nothing else left.
remove_attested() {
	t "$1 StopPodSandbox" cri stop-pod "$2"
	t "$1 RemovePodSandbox" cri remove-pod "$2"
	expect_eq "$1 no swtpm, no VMM left" "" "$(pgrep -af -- "(swtpm|qemu-system).*$PODVM_STATE_DIR/")"
	leftovers "$3"
}
ctr -a "$CTD/c.sock" events >"$TMP/events" 2>&1 &
EVENTS_PID=$!
TAMPER='mkdir -p /tmp && cp /bin/busybox /tmp/x && echo >>/tmp/x && /tmp/x true; echo tampered; exec sleep 300'
pod=$(cri run-pod attested --share-pid --runtime-handler podvm-attest --log-dir "$TMP/logs/attested" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "attestation = enforce: RunPodSandbox (podvm-attest)" $? "$pod"
a1=$(cri create-container "$pod" a1 "$IMG" --log-path a1.log -- sleep 300 2>&1)
start=$(date +%s%N)
out=$(cri start "$a1" 2>&1)
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_result "attestation = enforce: StartContainer, attested first ($ms ms)" $rc "$out"
expect_eq "attestation = enforce: the container reads /run/secrets/token" "$ATTEST_TOKEN" \
	"$(cri exec-sync "$a1" -- cat /run/secrets/token 2>&1)"
expect_eq "attestation = enforce: only app containers get /run/secrets (pause: none; a1: one)" "0 1" \
	"$(cri exec-sync "$a1" -- sh -c 'grep -c " /run/secrets " /proc/1/mountinfo; grep -c " /run/secrets " /proc/self/mountinfo' 2>&1 | tr '\n' ' ' | sed 's/ $//')"
out=$("$PODVM" attest "$pod" 2>&1)
t_result "attestation = enforce: podvm attest POD passes (${out#pass: })" $? "$out"
expect_match "attestation = enforce: ... and says pass" "^pass: [1-9][0-9]* measurements checked" "$out"
bad=$(cri create-container "$pod" bad "$IMG" --log-path bad.log -- sh -c "$TAMPER" 2>&1)
t "attestation = enforce: StartContainer of a container that runs /tmp/x" cri start "$bad"
st=$(cri wait-state "$a1" exited --within 30 2>&1)
expect_eq "attestation = enforce: within a few periods the pod's VM is stopped: a1 EXITED" CONTAINER_EXITED "$(jget "$st" state)"
expect_eq "attestation = enforce: ... and the container that ran /tmp/x" CONTAINER_EXITED \
	"$(jget "$(cri wait-state "$bad" exited --within 10 2>&1)" state)"
expect_match "attestation = enforce: the shim's log names /tmp/x" \
	"attestation of pod VM $pod failed: IMA: /tmp/x sha256:[0-9a-f]{64}: not in the references.*; stopped it" \
	"$(grep -a "attestation of pod VM" "$CTD/log" | tail -3)"
expect_attest_event "attestation = enforce:" "$pod" enforce "stopped the pod's VM"
remove_attested "attestation = enforce:" "$pod" "an attested pod stopped for a failed attestation"

pod=$(cri run-pod verified --runtime-handler podvm-attest-verify --log-dir "$TMP/logs/verified" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "attestation = verify: RunPodSandbox (podvm-attest-verify)" $? "$pod"
v1=$(cri create-container "$pod" v1 "$IMG" --log-path v1.log -- sh -c "$TAMPER" 2>&1)
t "attestation = verify: StartContainer of a container that runs /tmp/x" cri start "$v1"
expect_attest_event "attestation = verify:" "$pod" verify reported
expect_match "attestation = verify: the shim's log names /tmp/x" "attestation of pod VM $pod failed: IMA: /tmp/x " \
	"$(grep -a "attestation of pod VM $pod" "$CTD/log" | tail -3)"
sleep 4
expect_eq "attestation = verify: the pod runs on (v1 RUNNING after 2 more periods)" CONTAINER_RUNNING \
	"$(jget "$(cri status "$v1" 2>&1)" state)"
expect_eq "attestation = verify: ExecSync" still-here "$(cri exec-sync "$v1" -- echo still-here 2>&1)"
v2=$(cri create-container "$pod" v2 "$IMG" --log-path v2.log -- sleep 300 2>&1)
t "attestation = verify: a later container starts, unattested (no secrets here)" cri start "$v2"
expect_match "attestation = verify: ... and the shim's log says so" "container $v2 started unattested" \
	"$(grep -a "attestation of pod VM $pod" "$CTD/log" | tail -3)"
remove_attested "attestation = verify:" "$pod" "an attested pod (verify)"
# attestation_period = 0: attested at each start only. Once a container ran /tmp/x, the
# next StartContainer fails, saying why in one line, and nothing of that container runs.
pod=$(cri run-pod once --runtime-handler podvm-attest-once --log-dir "$TMP/logs/once" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "attestation at start only: RunPodSandbox (podvm-attest-once)" $? "$pod"
o1=$(cri create-container "$pod" o1 "$IMG" --log-path o1.log -- sh -c "$TAMPER" 2>&1)
t "attestation at start only: StartContainer of a container that runs /tmp/x" cri start "$o1"
wait_for_text "$TMP/logs/once/o1.log" tampered
o2=$(cri create-container "$pod" o2 "$IMG" --log-path o2.log -- sh -c 'echo o2-ran; exec sleep 300' 2>&1)
out=$(cri start "$o2" 2>&1)
rc=$?
t_result "attestation at start only: the next StartContainer fails" "$([ $rc -ne 0 ] && echo 0 || echo 1)" "$out"
expect_match "attestation at start only: ... with the finding" "attestation of pod VM $pod failed: IMA: /tmp/x sha256:[0-9a-f]{64}: not in the references" "$out"
sleep 1
expect_eq "attestation at start only: nothing of that container ran" "" "$(cat "$TMP/logs/once/o2.log" 2>/dev/null)"
expect_eq "attestation at start only: the pod runs on (o1 answers ExecSync)" still-here "$(cri exec-sync "$o1" -- echo still-here 2>&1)"
remove_attested "attestation at start only:" "$pod" "an attested pod that refused a start"
# From the pool (pool = 1): the pool VM was attested while it warmed up (its AK activated);
# the pod taking it is attested at each start, gets its secret, and its VM (moved to
# <state>/<pod>/vm) has an EK of its own.
pod=$(cri run-pod filler --runtime-handler podvm-attest-pool --log-dir "$TMP/logs/filler" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "attested pool: a first pod (fills the pool)" $? "$pod"
cri remove-pod "$pod" >/dev/null 2>&1
for i in $(seq 600); do [ "$("$PODVM" template ls 2>/dev/null | grep -c 'pooled VM$')" -ge 1 ] && break; sleep 0.1; done
pod=$(cri run-pod pooled --runtime-handler podvm-attest-pool --log-dir "$TMP/logs/pooled" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "attested pool: RunPodSandbox" $? "$pod"
expect_match "attested pool: the pod's VM was taken from the pool" "taken from the pool" "$(cat "$PODVM_STATE_DIR/$pod/boot" 2>&1)"
p1=$(cri create-container "$pod" p1 "$IMG" --log-path p1.log -- sleep 300 2>&1)
t "attested pool: StartContainer, attested first" cri start "$p1"
expect_eq "attested pool: the container reads /run/secrets/token" "$ATTEST_TOKEN" "$(cri exec-sync "$p1" -- cat /run/secrets/token 2>&1)"
out=$("$PODVM" attest "$pod" 2>&1)
expect_match "attested pool: podvm attest POD passes" "^pass: [1-9][0-9]* measurements checked" "$out"
[ -s "$PODVM_STATE_DIR/$pod/vm/attest/ek.der" ] && [ -s "$PODVM_STATE_DIR/$pod/vm/attest/ak.pub" ]
t_result "attested pool: the VM's EK certificate and pinned AK moved with it" $?
t "attested pool: StopPodSandbox" cri stop-pod "$pod"
t "attested pool: RemovePodSandbox" cri remove-pod "$pod"
"$PODVM" template rm >/dev/null 2>&1  # the refilled pool VM too
for i in $(seq 100); do [ -z "$(pgrep -f -- "(swtpm|qemu-system).*$PODVM_STATE_DIR/")" ] && break; sleep 0.1; done
expect_eq "attested pool: no swtpm, no VMM left" "" "$(pgrep -af -- "(swtpm|qemu-system).*$PODVM_STATE_DIR/")"
leftovers "an attested pod from the pool, the pool emptied"
# A secrets_dir without attestation is a config error: the pod does not start, and the
# error (from the shim's `start`, passed on by containerd) names the setting.
out=$(cri run-pod unattested --runtime-handler podvm-secrets-unattested --log-dir "$TMP/logs/unattested" --cgroup-parent "$CGROUP_PARENT" 2>&1)
rc=$?
t_result "secrets_dir without attestation: RunPodSandbox fails" "$([ $rc -ne 0 ] && echo 0 || echo 1)" "$out"
expect_match "secrets_dir without attestation: ... naming the setting" \
	"podvm-secrets-unattested\.conf: secrets_dir = $TMP/secrets: needs attestation = verify or enforce" "$out"
cri remove-all-pods >/dev/null 2>&1
leftovers "a RuntimeClass whose secrets_dir has no attestation"
kill "$EVENTS_PID" 2>/dev/null
wait "$EVENTS_PID" 2>/dev/null
# --- attested pods (end)

# A RuntimeClass whose config says accel = kvm, where KVM cannot run the guest (the verdict
# lib.sh's podvm check made for this state directory): RunPodSandbox fails in seconds, not
# at the boot timeout, saying why; nothing is left.
if [ -e /dev/kvm ] && [ "$(sed -n 2p "$(ls "$PODVM_STATE_DIR"/accel/* | grep -v '\.lock$' | head -1)")" = tcg ]; then
	start=$(date +%s%N)
	out=$(cri run-pod kvm --runtime-handler podvm-kvm --log-dir "$TMP/logs/kvm" --cgroup-parent "$CGROUP_PARENT" 2>&1)
	rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	t_result "accel = kvm: RunPodSandbox fails" "$([ $rc -ne 0 ] && echo 0 || echo 1)" "$out"
	expect_match "accel = kvm: the error says why" "(guest stopped while booting|VMM exited while the guest booted)" "$out"
	t "accel = kvm: RunPodSandbox failed fast ($ms ms; the boot timeout is 60 s)" test "$ms" -lt 20000
	cri remove-all-pods >/dev/null 2>&1
	expect_eq "accel = kvm: no VMM left" "" "$(pgrep -af -- "qemu-system.*$PODVM_STATE_DIR/")"
	leftovers "a pod whose RuntimeClass says accel = kvm where KVM cannot run the guest"
else
	t_skip "accel = kvm where KVM cannot run the guest" "no /dev/kvm, or KVM runs the guest here"
fi

# A pool of VMs restored and paused ahead of pods (runtime options name a config file with
# `pool = 1`). The first pod finds the pool empty and restores; after it, the pool is filled.
pool_vms() { "$PODVM" template ls 2>/dev/null | grep -c 'pooled VM$'; }
pool_filled() {
	local i
	for i in $(seq 300); do
		[ "$(pool_vms)" -ge 1 ] && ! "$PODVM" template ls 2>/dev/null | grep -q 'being restored' && return 0
		sleep 0.1
	done
	return 1
}
pod=$(cri run-pod prime --runtime-handler podvm-pool --log-dir "$TMP/logs/prime" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "pool: RunPodSandbox of a first pod" $? "$pod"
expect_match "pool: the first pod's VM was restored (the pool was empty)" "^restored from a template in [0-9]+ ms" \
	"$(cat "$PODVM_STATE_DIR/$pod/boot" 2>&1)"
t "pool: StopPodSandbox" cri stop-pod "$pod"
t "pool: RemovePodSandbox" cri remove-pod "$pod"
pool_filled
t_result "pool: a VM was restored into the pool, paused" $? "$("$PODVM" template ls 2>&1)"
expect_eq "pool: the pooled VM's NIC has a tap on the host" 1 "$(ip -o link show | grep -c ': pvp[0-9a-f]*:')"
# The pooled pod passes what a restored one passes.
pod_flow podvm-pool
pool_filled
t_result "pool: refilled after a pod took its VM" $? "$("$PODVM" template ls 2>&1)"
# The refill waits for the pod's first container to start (a VM restoring beside a starting
# pod slows it down), or for a few seconds when none starts.
pod=$(cri run-pod refill --runtime-handler podvm-pool --log-dir "$TMP/logs/refill" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "pool: RunPodSandbox (refill order)" $? "$pod"
expect_eq "pool: no refill while the pod starts (before its first container)" "0 " \
	"$(pool_vms) $(pgrep -f -- "--podvm-pool-fill $PODVM_STATE_DIR " | tr '\n' ' ')"
r1=$(cri create-container "$pod" r1 "$IMG" --log-path r1.log -- sleep 300 2>&1)
t "pool: StartContainer (refill order)" cri start "$r1"
pool_filled
t_result "pool: refilled once the pod's first container started" $? "$("$PODVM" template ls 2>&1)"
t "pool: StopPodSandbox (refill order)" cri stop-pod "$pod"
t "pool: RemovePodSandbox (refill order)" cri remove-pod "$pod"
pod=$(cri run-pod lonely --runtime-handler podvm-pool --log-dir "$TMP/logs/lonely" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "pool: RunPodSandbox of a pod without containers" $? "$pod"
expect_eq "pool: ... which took the pooled VM" "taken from the pool" \
	"$(sed 's/ in [0-9]* ms$//' "$PODVM_STATE_DIR/$pod/boot" 2>&1)"
pool_filled
t_result "pool: refilled a few seconds after a pod that starts no container" $? "$("$PODVM" template ls 2>&1)"
t "pool: StopPodSandbox (no containers)" cri stop-pod "$pod"
t "pool: RemovePodSandbox (no containers)" cri remove-pod "$pod"
# A pooled VM that died is skipped (and removed) with a warning; the pod restores instead.
dead=$("$PODVM" template ls 2>/dev/null | sed -n 's|.*/pool/\([^ ]*\)  pooled VM$|\1|p' | head -1)
pkill -KILL -f -- "qemu-system.*$PODVM_STATE_DIR/pool/"
t_result "pool: kill -9 the pooled VM" $?
sleep 0.5
pod=$(cri run-pod afterdeath --runtime-handler podvm-pool --log-dir "$TMP/logs/afterdeath" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "pool: RunPodSandbox with a dead VM in the pool" $? "$pod"
expect_match "pool: the dead VM was not used (restored instead)" "^restored from a template in [0-9]+ ms" \
	"$(cat "$PODVM_STATE_DIR/$pod/boot" 2>&1)"
expect_match "pool: a warning names the dead VM" "warning: pool VM $dead: .*removed it" "$(grep -a "pool VM" "$CTD/log" | tail -3)"
a1=$(cri create-container "$pod" a1 "$IMG" --log-path a1.log -- sleep 300 2>&1)
t "pool: StartContainer after the dead VM" cri start "$a1"
expect_eq "pool: ExecSync after the dead VM" pool-ok "$(cri exec-sync "$a1" -- echo pool-ok 2>&1)"
t "pool: StopPodSandbox (after the dead VM)" cri stop-pod "$pod"
t "pool: RemovePodSandbox (after the dead VM)" cri remove-pod "$pod"
pool_filled
t_result "pool: refilled after the dead VM" $? "$("$PODVM" template ls 2>&1)"
[ -n "$dead" ] && ! "$PODVM" template ls 2>/dev/null | grep -q -- "$dead"
t_result "pool: the dead VM's entry is gone" $? "dead=$dead; $("$PODVM" template ls 2>&1)"
t "pool: podvm template rm stops the pooled VMs" "$PODVM" template rm
expect_eq "pool: no pooled VMM left" "" "$(pgrep -af -- "qemu-system.*$PODVM_STATE_DIR/pool/")"
expect_eq "pool: no pool tap left" "" "$(ip -o link show | grep -o ': pvp[0-9a-f]*:')"
leftovers "a pool of VMs, drained"

# The VMM dies under a running pod: its containers exit, and the pod can still be removed.
pod=$(cri run-pod doomed --runtime-handler podvm --log-dir "$TMP/logs/doomed" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "killed VMM: RunPodSandbox" $? "$pod"
d1=$(cri create-container "$pod" d1 "$IMG" --log-path d1.log -- sh -c 'echo running; exec sleep 300' 2>&1)
d2=$(cri create-container "$pod" d2 "$IMG" --log-path d2.log -- sleep 300 2>&1)
t "killed VMM: StartContainer d1" cri start "$d1"
t "killed VMM: StartContainer d2" cri start "$d2"
wait_for_text "$TMP/logs/doomed/d1.log" running
pkill -KILL -f -- "qemu-system.*$PODVM_STATE_DIR/$pod/"
t_result "killed VMM: kill -9 the pod's QEMU" $?
st=$(cri wait-state "$d1" exited --within 60 2>&1)
expect_eq "killed VMM: d1 EXITED" CONTAINER_EXITED "$(jget "$st" state)"
st2=$(cri wait-state "$d2" exited --within 30 2>&1)
expect_eq "killed VMM: d2 EXITED" CONTAINER_EXITED "$(jget "$st2" state)"
[ -n "$(jget "$st" exitCode)" ] && [ "$(jget "$st" exitCode)" != 0 ]
t_result "killed VMM: a non-zero exit code ($(jget "$st" exitCode), $(jget "$st" reason))" $? "$st"
expect_eq "killed VMM: the sandbox is NOTREADY" SANDBOX_NOTREADY "$(jget "$(cri pod-status "$pod" 2>&1)" state)"
t "killed VMM: StopPodSandbox" cri stop-pod "$pod"
t "killed VMM: RemovePodSandbox" cri remove-pod "$pod"
sleep 0.5
expect_eq "killed VMM: no shim left" "" "$(pgrep -af -- "containerd-shim-podvm-v2 .*-address $CTD/c.sock")"
expect_eq "killed VMM: no veth left on the bridge" "" "$(ip -o link show master "$BRIDGE" 2>/dev/null)"
leftovers "a killed VMM under a CRI pod"
# rerun NAME WHAT: a later RunPodSandbox of the same pod (name, namespace, uid) works.
rerun() {
	local again c
	again=$(cri run-pod "$1" --runtime-handler podvm --log-dir "$TMP/logs/$1-again" --cgroup-parent "$CGROUP_PARENT" 2>&1)
	t_result "$2: a later RunPodSandbox of the same pod works" $? "$again"
	one_container_then_remove "$again" again "$2: ..." again-ok "$2, then the same pod again"
}
rerun doomed "killed VMM"

# The shim dies under a running pod (SIGKILL): containerd's `shim delete` kills the VMM and
# removes the pod's cgroup, which no shim is left to remove.
pod=$(cri run-pod crashed --runtime-handler podvm --log-dir "$TMP/logs/crashed" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "killed shim: RunPodSandbox" $? "$pod"
vmm=$(cat "$PODVM_STATE_DIR/$pod/vmm.pid" "$PODVM_STATE_DIR/$pod/vm/vmm.pid" 2>/dev/null | head -1)
expect_in_cgroup "killed shim: the VMM is in the pod's cgroup" "$vmm" "$pod"
pkill -KILL -f -- "containerd-shim-podvm-v2 .*-id $pod .*-address $CTD/c.sock"
t_result "killed shim: kill -9 the pod's shim" $?
for i in $(seq 100); do [ "$(jget "$(cri pod-status "$pod" 2>&1)" state)" = SANDBOX_NOTREADY ] && break; sleep 0.1; done
expect_eq "killed shim: the sandbox is NOTREADY" SANDBOX_NOTREADY "$(jget "$(cri pod-status "$pod" 2>&1)" state)"
gone() { ! ps -o stat= -p "$1" | grep -q '^[^Z]'; }  # exited (a zombie has left its cgroups)
for i in $(seq 50); do gone "$vmm" && break; sleep 0.1; done
t "killed shim: its VMM is gone (or a zombie)" gone "$vmm"
for i in $(seq 50); do [ -z "$(ls -d $(cgroup_dirs "$pod") 2>/dev/null)" ] && break; sleep 0.1; done
expect_cgroup_gone "killed shim: the pod's cgroup is gone" "$pod"
t "killed shim: StopPodSandbox" cri stop-pod "$pod"
t "killed shim: RemovePodSandbox" cri remove-pod "$pod"
leftovers "a killed shim under a CRI pod"
rerun crashed "killed shim"

# A container's init dies by SIGKILL (here from a sibling in the pod's shared PID namespace,
# as an OOM kill or a crash would end it): its status says 137, the pod goes on.
pod=$(cri run-pod victim --share-pid --runtime-handler podvm --log-dir "$TMP/logs/victim" --cgroup-parent "$CGROUP_PARENT" 2>&1)
t_result "killed init: RunPodSandbox" $? "$pod"
v=$(cri create-container "$pod" v "$IMG" --log-path v.log -- sh -c 'echo up; exec sleep 301' 2>&1)
k=$(cri create-container "$pod" k "$IMG" --log-path k.log -- tail -f /dev/null 2>&1)
t "killed init: StartContainer v" cri start "$v"
t "killed init: StartContainer k" cri start "$k"
wait_for_text "$TMP/logs/victim/v.log" up
t "killed init: kill -9 v's init from k" cri exec-sync "$k" -- killall -9 sleep
st=$(cri wait-state "$v" exited --within 60 2>&1)
expect_eq "killed init: v EXITED, 137, Error" "CONTAINER_EXITED 137 Error" \
	"$(jget "$st" state) $(jget "$st" exitCode) $(jget "$st" reason)"
expect_eq "killed init: k still answers ExecSync" still-here "$(cri exec-sync "$k" -- echo still-here 2>&1)"
n=$(cri create-container "$pod" n "$IMG" --log-path n.log -- sleep 300 2>&1)
t "killed init: a new container starts in the pod" cri start "$n"
t "killed init: StopPodSandbox" cri stop-pod "$pod"
t "killed init: RemovePodSandbox" cri remove-pod "$pod"
leftovers "a container's init killed by SIGKILL"

# Host interfaces: only the test's bridge was added (no veth, no tap left behind).
HOST_LINKS_AFTER=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)
expect_eq "no host interface left but the test's bridge" "$BRIDGE" \
	"$(comm -13 <(echo "$HOST_LINKS_BEFORE") <(echo "$HOST_LINKS_AFTER") | tr '\n' ' ' | sed 's/ $//')"

if [ "$FAILED" -gt 0 ]; then
	echo "# $FAILED failed; containerd's errors ($CTD/log):"
	grep -E 'level=(error|fatal)' "$CTD/log" | grep -v 'msg="PodSandboxStatus for' | tail -12 | sed -E 's/&TaskExit\{[^}]*\}/\&TaskExit{...}/' |
		cut -c1-400 | sed 's/^/#   /'
fi
