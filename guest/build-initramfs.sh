#!/bin/sh
# Pack the guest initramfs: the static podvm-agent as /init and nothing else (the agent
# creates every directory it mounts on).
# Usage: build-initramfs.sh AGENT_BINARY OUTPUT.cpio.gz
set -eu
agent=$1
out=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
strip -o "$root/init" "$agent"
chmod 0755 "$root/init"
mkdir -p "$root/dev"
# Deterministic archive: fixed mtimes, sorted names, root-owned.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -print | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n > "$out.tmp"
mv "$out.tmp" "$out"
