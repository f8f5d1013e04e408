# The CRI test rig (test_cri.sh, test_soak.sh): a real containerd 1.6 with its CRI plugin,
# started by the sourcing test (its own config, root, state, sockets, CNI config and IPAM
# state under the temp dir), runtimes runc, podvm, podvm-cold (templates off), podvm-kvm
# (accel = kvm), podvm-auto (the default pool, auto, with pool_idle = 6) and podvm-pool
# (pool = 1), and those the sourcing test adds (CRI_EXTRA_RUNTIMES: more of the runtimes
# table, in TOML); the test, pause and nettools images imported;
# `cri` (tests/cri/cri.py against it), `jget`, and on exit every pod removed, containerd
# stopped, its mounts, cgroups (CGROUP_PARENT, CGROUP_SLICE) and bridge gone. Source lib.sh first.
SHIM_DIR=$(dirname "${SHIM:-$ROOT/build/release/src/shim/containerd-shim-podvm-v2}")
CRI_PY=$ROOT/tests/cri/cri.py
CTD=$TMP/containerd
SUFFIX=${TMP##*.}
BRIDGE=pvcri$(printf '%s' "$SUFFIX" | md5sum | cut -c1-8)  # 13 chars: under IFNAMSIZ
CGROUP_PARENT=/podvm-cri-$SUFFIX
CGROUP_SLICE=podvmcri$SUFFIX.slice  # a parent in systemd's form: no dash, a root slice
IMG=docker.io/library/podvm-test:latest
export PODVM_CRI_STUBS=$TMP/cri
mkdir -p "$CTD/cni" "$TMP/logs"

# A private /24 in 10.0.0.0/8 that no route of this host covers yet.
pick_subnet() {
	local i net
	for i in $(seq 50); do
		net=10.$((200 + RANDOM % 50)).$((RANDOM % 256))
		ip -4 route show | grep -q "^$net\." || { echo "$net"; return 0; }
	done
	return 1
}
NET=$(pick_subnet)
HOST_LINKS_BEFORE=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)

cat >"$CTD/cni/10-podvm-test.conflist" <<EOC
{
  "cniVersion": "1.0.0",
  "name": "podvm-cri-$SUFFIX",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": "$CTD/ipam",
             "ranges": [[{"subnet": "$NET.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}
EOC
cat >"$CTD/config.toml" <<EOC
version = 2
root = "$CTD/root"
state = "$CTD/state"
[grpc]
  address = "$CTD/c.sock"
[ttrpc]
  address = "$CTD/c.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "podvm.local/pause:test"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CTD/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm]
      runtime_type = "io.containerd.podvm.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-cold]
      runtime_type = "io.containerd.podvm.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-cold.options]
        ConfigPath = "$TMP/podvm-cold.conf"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-kvm]
      runtime_type = "io.containerd.podvm.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-kvm.options]
        ConfigPath = "$TMP/podvm-kvm.conf"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-auto]
      runtime_type = "io.containerd.podvm.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-auto.options]
        ConfigPath = "$TMP/podvm-auto.conf"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-pool]
      runtime_type = "io.containerd.podvm.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.podvm-pool.options]
        ConfigPath = "$TMP/podvm-pool.conf"
${CRI_EXTRA_RUNTIMES:-}
EOC
printf 'templates = off\n' >"$TMP/podvm-cold.conf"
printf 'pool = 1\n' >"$TMP/podvm-pool.conf"
printf 'accel = kvm\npool = 0\n' >"$TMP/podvm-kvm.conf"
# The default pool (auto), with a short quiet period for the test.
printf 'pool_idle = 6\npool_max = 2\n' >"$TMP/podvm-auto.conf"
# containerd passes its environment (PODVM_* from lib.sh, PATH) on to the shims it starts.
PATH="$SHIM_DIR:$PATH" containerd --config "$CTD/config.toml" >"$CTD/log" 2>&1 &
CTD_PID=$!

cri() { timeout 150 "$CRI_PY" --sock "$CTD/c.sock" --timeout 120 "$@"; }

# jget JSON KEY[.KEY...]: one field of a JSON object ("" when absent).
# Not JSON (a failed call's error): that text, so that the failing check shows it.
jget() {
	/usr/bin/python3 -c 'import json, sys
try:
    v = json.loads(sys.argv[1])
except ValueError:
    sys.exit(print(sys.argv[1].strip()[-300:]))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1" "$2"
}

# Failed checks are counted: containerd's errors are worth showing with them.
FAILED=0
eval "lib_$(declare -f t_result)"
t_result() {
	[ "$2" -eq 0 ] || FAILED=$((FAILED + 1))
	lib_t_result "$@"
}

# Kills whatever is left in this test's cgroups (runc containers of a failed run), removes them.
remove_cgroups() {
	local d
	find /sys/fs/cgroup/*"$CGROUP_PARENT" /sys/fs/cgroup/*/"$CGROUP_SLICE" -depth -type d 2>/dev/null | while read -r d; do
		xargs -r kill -KILL <"$d/cgroup.procs" 2>/dev/null
		rmdir "$d" 2>/dev/null || { sleep 0.2; rmdir "$d" 2>/dev/null; }
	done
}

stop_all() {
	# As kubelet would on the way out: every pod stopped and removed, then containerd stopped.
	if kill -0 "$CTD_PID" 2>/dev/null && [ -S "$CTD/c.sock" ]; then
		cri remove-all-pods >/dev/null 2>&1
	fi
	kill "$CTD_PID" 2>/dev/null
	wait "$CTD_PID" 2>/dev/null
	awk -v t="$CTD" '$2 ~ t {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l
	cleanup_tmp
	remove_cgroups
	ip link del "$BRIDGE" 2>/dev/null
	return 0
}
trap stop_all EXIT

for i in $(seq 100); do [ -S "$CTD/c.sock" ] && break; sleep 0.1; done
expect_match "containerd with CRI: Version" "^containerd 1\.6" "$(cri version 2>&1)"
C="ctr -a $CTD/c.sock -n k8s.io"
t "images: import the test image into k8s.io" $C images import "$FIX/docker.tar"
t "images: import the pause image into k8s.io" $C images import "$FIX/pause.tar"
t "images: import the nettools image into k8s.io" $C images import "$FIX/nettools.tar"
images=$(cri list-images 2>&1)
expect_match "images: CRI ListImages shows the test image" "^$IMG\$" "$images"
expect_match "images: CRI ListImages shows the sandbox image" "^podvm.local/pause:test\$" "$images"

