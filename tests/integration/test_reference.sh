#!/bin/bash
# `podvm reference` (src/podvm/cmd_reference.c): --write computes the reference values of a
# guest image (a copy of the one under test, in a temp dir) beside its initramfs; without
# arguments it shows those of the image in PODVM_GUEST_DIR; a missing or garbled reference
# file is one line of error and a non-zero exit. Boots nothing.
. "$(dirname "$0")/lib.sh"
LEFTOVER_CHECK=true
IMG=$TMP/guest
mkdir -p "$IMG"
if ! cp "$PODVM_GUEST_DIR/vmlinuz" "$PODVM_GUEST_DIR/initramfs.cpio.gz" "$IMG/" 2>/dev/null; then
	t_skip "podvm reference" "no guest image in $PODVM_GUEST_DIR"
	exit 0
fi

t "reference --write KERNEL INITRAMFS" "$PODVM" reference --write "$IMG/vmlinuz" "$IMG/initramfs.cpio.gz"
t "reference.json beside the initramfs" test -s "$IMG/reference.json"
out=$(PODVM_GUEST_DIR=$IMG "$PODVM" reference 2>&1)
rc=$?
expect_eq "reference: exit 0" 0 "$rc"
kernel_sum=$(sha256sum <"$IMG/vmlinuz" | cut -d' ' -f1)
initrd_sum=$(sha256sum <"$IMG/initramfs.cpio.gz" | cut -d' ' -f1)
expect_match "shows the kernel's digest" "kernel +sha256:$kernel_sum" "$out"
expect_match "shows the initramfs's digest" "initramfs +sha256:$initrd_sum" "$out"
expect_eq "shows four command lines" 4 "$(grep -c '^cmdline ' <<<"$out")"
init_sum=$(cd "$TMP" && mkdir x && cd x && zcat "$IMG/initramfs.cpio.gz" | cpio -id --quiet 2>/dev/null; sha256sum <init | cut -d' ' -f1)
expect_match "shows /init among the initramfs files, with its digest" "file +sha256:$init_sum +/init" "$out"
expect_match "counts the initramfs files" "initramfs files: [1-9]" "$out"
t "reference --write (PODVM_GUEST_DIR's image) writes the same file" \
	sh -c "cp '$IMG/reference.json' '$TMP/before' && PODVM_GUEST_DIR='$IMG' '$PODVM' reference --write && cmp '$TMP/before' '$IMG/reference.json'"

printf '{"version": 1, "kernel":' >"$IMG/reference.json"
PODVM_GUEST_DIR=$IMG fails "garbled reference" 1 "^podvm: reference $IMG/reference.json: line 1: " "$PODVM" reference
rm "$IMG/reference.json"
PODVM_GUEST_DIR=$IMG fails "missing reference" 1 "^podvm: reference: open $IMG/reference.json: No such file" "$PODVM" reference
out=$("$PODVM" reference --write only-one 2>&1)
expect_eq "bad usage: exit 125" 125 "$?"
expect_match "bad usage: the usage" "^Usage: podvm reference" "$out"
