#!/bin/sh
# Enables podvm on a Kubernetes node that runs containerd 1.6: installs podvm, the shim and
# the guest image (make install), adds the "podvm" runtime to /etc/containerd/config.toml
# (once), restarts containerd, and labels the node if kubectl can.
# Usage (as root, in a podvm checkout): deploy/install-node.sh [NODE_NAME]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
config=/etc/containerd/config.toml
make -C "$here/.." install
if [ ! -f "$config" ]; then
	mkdir -p /etc/containerd
	containerd config default > "$config"
fi
if ! grep -q 'io.containerd.podvm.v2' "$config"; then
	cat "$here/containerd-podvm.toml" >> "$config"
	echo "install-node: added the podvm runtime to $config"
fi
systemctl restart containerd
if [ -n "${1:-}" ] && command -v kubectl >/dev/null 2>&1; then
	kubectl label node "$1" podvm.io/runtime=true --overwrite
	kubectl apply -f "$here/runtimeclass.yaml"
fi
podvm check
