#!/bin/sh
# protoc-flat.sh OUTDIR PROTO...: compiles containerd's published .proto files (Debian's
# golang-github-containerd-containerd-dev) with protoc-c into one flat directory, since
# Meson outputs cannot have subdirectories. A file's flat name is its path below
# github.com/ (or google/) with '/' as '_'; includes are rewritten to match. The gogoproto
# headers (under either name) and the fieldpath plugin header (weak imports, options only) are empty files.
set -eu
out=$1
shift
G=/usr/share/gocode/src
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/gogoproto"
: >"$tmp/gogoproto/gogo.pb-c.h"
# One file at a time: some import gogo.proto as gogoproto/..., others by its full path, and
# protoc refuses one file loaded under two names.
for p in "$@"; do
	protoc-c -I$G -I$G/github.com/gogo/protobuf -I/usr/include --c_out="$tmp" "$p" 2>&1 | grep -v 'is unused' >&2 || true
done
flat() { echo "$1" | sed -e 's|^github.com/||' -e 's|/|_|g'; }
for f in $(cd "$tmp" && find . -name '*.pb-c.[ch]' | sed 's|^\./||'); do
	sed -E 's|#include "([^"]+\.pb-c\.h)"|#include "@@\1@@"|' "$tmp/$f" >"$tmp/flat.tmp"
	for inc in $(grep -o '@@[^@]*@@' "$tmp/flat.tmp" | sort -u); do
		p=${inc#@@}; p=${p%@@}
		sed -i "s|$inc|$(flat "$p")|" "$tmp/flat.tmp"
	done
	mv "$tmp/flat.tmp" "$out/$(flat "$f")"
done
: >"$out/gogoproto_gogo.pb-c.h"
: >"$out/gogo_protobuf_gogoproto_gogo.pb-c.h"
: >"$out/containerd_containerd_protobuf_plugin_fieldpath.pb-c.h"  # a weak import, options only
