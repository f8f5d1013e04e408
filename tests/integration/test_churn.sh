#!/bin/bash
# Pod churn, short: bench/pod-churn with CHURN_N (default 20) podvm pods in waves of 10, each
# RunPodSandbox, a sleeping container, an ExecSync, StopPodSandbox and RemovePodSandbox
# through a containerd of the bench's own, with podvm's defaults (pools auto); then the
# bench's leak report: no process, mount, veth or tap, netns, cgroup, podvm state, held lock
# or IP allocation left, the pools drained, containerd's and the shims' RSS not grown. Its
# verdicts become checks here; and the bench leaves nothing of its own behind.
. "$(dirname "$0")/lib.sh"

# The bench makes its own temp dir (state, data, containerd); the defaults, not lib.sh's
# pool = 0, are what it measures.
out=$(cd "$ROOT" && timeout 600 env -u PODVM_CONFIG N="${CHURN_N:-20}" W=10 HANDLERS=podvm SETTLE_S=60 \
	PODVM_TEST_FIXTURES="$FIX" bench/pod-churn 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
n=${CHURN_N:-20}
expect_match "pod-churn ran: $n pods, a rate" "^pod-churn: $n pods, [0-9.]+ pods/s" "$out"
expect_match "pod-churn: every ExecSync answered ok" "ExecSync \`echo ok\`: $n/$n ok; failed pods: 0" "$out"
expect_match "pod-churn: no leak" "^pod-churn: leaks: none$" "$out"
expect_match "pod-churn: the pools drained" "^pools when the churn was over: .* drained in" "$out"
expect_match "pod-churn: containerd's RSS has not grown by 20 MiB" "containerd RSS: .*MiB\)$" "$out"
expect_match "pod-churn: the shims' RSS per pod has not grown by 2 MiB" "podvm shim RSS per pod: .*MiB\)$" "$out"
expect_match "pod-churn: verdict ok" "^pod-churn: ok$" "$out"
expect_eq "pod-churn: exit status 0" 0 "$rc"
tmp=$(printf '%s\n' "$out" | sed -n 's/^pod-churn: temp dir //p')
t_result "pod-churn: its temp dir, processes, bridge and cgroups are gone" \
	"$([ -n "$tmp" ] && [ ! -e "$tmp" ] && ! pgrep -f -- "$tmp/" >/dev/null &&
		! ip -o link show | grep -q "pvbn$(printf '%s' "${tmp##*.}" | md5sum | cut -c1-8)" &&
		! ls -d /sys/fs/cgroup/*/podvm-bench-"${tmp##*.}" >/dev/null 2>&1 && echo 0 || echo 1)" "temp dir: [$tmp]"
leftovers "pod churn"
