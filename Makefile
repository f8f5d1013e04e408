# podvm: the two entry points of the README's Quick start are `make demo` and `make check`.
PREFIX      ?= /usr/local
BUILD       ?= build
RELEASE     := $(BUILD)/release
ASAN        := $(BUILD)/asan
GUEST       := $(BUILD)/guest
FUZZ        := $(BUILD)/fuzz
FUZZ_SECONDS ?= 60
SHAREDIR    := $(PREFIX)/share/podvm

.PHONY: all deps build asan guest install demo check unit integration bench fuzz clean

all: build guest

deps:
	@scripts/install-deps.sh

$(RELEASE)/build.ninja:
	meson setup $(RELEASE) --buildtype=debugoptimized

# The sanitizer build runs the unit tests; the static guest agent cannot link with ASan.
$(ASAN)/build.ninja:
	meson setup $(ASAN) -Dagent=false -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(RELEASE)/build.ninja
	ninja -C $(RELEASE)

asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN)

# Kernel (cached by guest/build-kernel.sh, ~8 min the first time) + initramfs with the agent.
guest: build
	guest/build-kernel.sh $(BUILD)/guest-kernel
	mkdir -p $(GUEST)
	cp $(BUILD)/guest-kernel/bzImage $(GUEST)/vmlinuz
	guest/build-initramfs.sh $(RELEASE)/src/agent/podvm-agent $(GUEST)/initramfs.cpio.gz
	# Reference values for attestation, made from the image just built (never at
	# verification time: a changed image would be its own reference).
	$(RELEASE)/src/podvm/podvm reference --write $(GUEST)/vmlinuz $(GUEST)/initramfs.cpio.gz

install: build guest
	install -D -m 0755 $(RELEASE)/src/podvm/podvm $(DESTDIR)$(PREFIX)/bin/podvm
	install -D -m 0755 $(RELEASE)/src/shim/containerd-shim-podvm-v2 $(DESTDIR)$(PREFIX)/bin/containerd-shim-podvm-v2
	install -D -m 0644 $(GUEST)/vmlinuz $(DESTDIR)$(SHAREDIR)/vmlinuz
	install -D -m 0644 $(GUEST)/initramfs.cpio.gz $(DESTDIR)$(SHAREDIR)/initramfs.cpio.gz
	install -D -m 0644 $(GUEST)/reference.json $(DESTDIR)$(SHAREDIR)/reference.json
	# The node's CA, which certifies each VM's vTPM (not when staging a package).
	[ -n "$(DESTDIR)" ] || $(PREFIX)/bin/podvm ca init

demo: install
	tests/fixtures/make-images.sh $(BUILD)/demo-images >/dev/null
	$(PREFIX)/bin/podvm check
	@echo '$$ podvm run $(BUILD)/demo-images/oci sh -c "echo Hello from a podvm microVM; uname -sr"'
	@$(PREFIX)/bin/podvm run $(BUILD)/demo-images/oci sh -c 'echo Hello from a podvm microVM; uname -sr'

check: build asan guest
	tests/run-all.sh

unit: asan
	meson test -C $(ASAN) --print-errorlogs

integration: build guest
	tests/run-all.sh --integration-only

bench: build guest
	@scripts/install-deps.sh bench
	bench/run-latency
	bench/run-pod-latency
	bench/run-net-throughput

# libFuzzer targets (tests/fuzz: ttrpc, the agent's requests and answers, OCI specs, images,
# layers, CNI results, podvm.conf, attestation's measurement logs and TPM structures),
# FUZZ_SECONDS each, in a clang build of their own. Not part of check.
fuzz:
	@scripts/install-deps.sh fuzz
	tests/fuzz/run.sh $(FUZZ) $(FUZZ_SECONDS)

clean:
	rm -rf $(RELEASE) $(ASAN) $(GUEST) $(FUZZ)
