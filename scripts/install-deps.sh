#!/bin/sh
# Installs the Debian bookworm packages podvm needs to build, test and run (only those that
# are missing, so that a second run costs nothing).
set -eu
PACKAGES="
  build-essential meson ninja-build pkg-config
  libprotobuf-c-dev protobuf-c-compiler libjansson-dev libarchive-dev libssl-dev
  libseccomp-dev libmnl-dev openssl
  linux-source-6.12 flex bison bc libelf-dev cpio lz4 xz-utils zstd kmod
  qemu-system-x86 swtpm busybox-static
  crun runc containerd containernetworking-plugins
  golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev libprotobuf-dev
  python3 python3-grpcio python3-grpc-tools
  iproute2 iptables iputils-ping iperf3 procps psmisc util-linux bsdutils time
"
# `install-deps.sh bench`: also what the benchmarks compare podvm with (gVisor's runsc).
[ "${1:-}" = bench ] && PACKAGES="$PACKAGES runsc"
# `install-deps.sh fuzz`: clang, and libFuzzer's runtime (libclang_rt.fuzzer-x86_64.a).
[ "${1:-}" = fuzz ] && PACKAGES="$PACKAGES clang libclang-rt-14-dev"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing
fi
