#!/bin/sh
# Build the podvm guest kernel from Debian's linux-source-6.12 with guest/kernel.config
# applied on top of allnoconfig. The result is cached in OUTDIR, keyed by the fragment and
# the source package version, and also in PODVM_KERNEL_CACHE (default /var/cache/podvm/kernel)
# so a fresh clone on the same machine does not rebuild it (~8 min on 2 cores).
# Usage: build-kernel.sh OUTDIR   -> OUTDIR/vmlinux (PVH-bootable, stripped), OUTDIR/bzImage
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
fragment="$here/kernel.config"
tarball=/usr/src/linux-source-6.12.tar.xz
cache_root=${PODVM_KERNEL_CACHE:-/var/cache/podvm/kernel}

[ -r "$tarball" ] || { echo "build-kernel: $tarball missing (apt-get install linux-source-6.12)" >&2; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
key=$( (cat "$fragment" "$0"; echo "$srcver") | sha256sum | cut -c1-16)

have() { [ -s "$1/vmlinux" ] && [ -s "$1/bzImage" ] && [ "$(cat "$1/key" 2>/dev/null)" = "$key" ]; }

if have "$out"; then exit 0; fi
if have "$cache_root/$key"; then
	cp "$cache_root/$key/vmlinux" "$cache_root/$key/bzImage" "$cache_root/$key/key" "$out/"
	echo "build-kernel: reused cached kernel $key"
	exit 0
fi

src="$out/src"
if [ ! -f "$src/Makefile" ]; then
	rm -rf "$src.tmp" && mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
	mv "$src.tmp" "$src"
fi
obj="$out/obj"
mkdir -p "$obj"
make -s -C "$src" O="$obj" KCONFIG_ALLCONFIG="$fragment" allnoconfig >/dev/null

# allnoconfig silently drops symbols whose dependencies are unmet: refuse that.
missing=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=*) ;; *) continue ;; esac
	grep -qxF "$line" "$obj/.config" || { echo "build-kernel: $line not applied" >&2; missing=1; }
done < "$fragment"
[ "$missing" -eq 0 ] || exit 1

make -s -C "$src" O="$obj" -j"$(nproc)" vmlinux bzImage
strip -o "$out/vmlinux" "$obj/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
echo "$key" > "$out/key"
if mkdir -p "$cache_root/$key" 2>/dev/null; then
	cp "$out/vmlinux" "$out/bzImage" "$out/key" "$cache_root/$key/" 2>/dev/null || true
fi
