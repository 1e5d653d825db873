# wdscapture — see README.md.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/sbin:/usr/sbin:/sbin
GO    ?= go
BUILD ?= build
BIN   := bin/wdscapture
STORE_BIN := bin/imagestore
APT_PKGS := wimtools p7zip-full ntfs-3g libhivex-bin xz-utils tmux gdisk fdisk dosfstools exfatprogs e2fsprogs slapd ldap-utils \
            qemu-system-x86 cpio binutils ovmf isolinux syslinux-common syslinux-utils mtools
# Commands that prove the packages above are installed.
APT_CMDS := wimcapture 7z mkntfs hivexget xz tmux sgdisk sfdisk mkfs.vfat mkfs.exfat mkfs.ext4 slapd ldapsearch \
            qemu-system-x86_64 cpio as isohybrid mcopy

.PHONY: all build test test-short vet lint fmt-check deps bench demo fuzz clean capture-image lab lab-all

all: build

# Static binaries, as the capture image ships them (a cgo build also maps
# libc: about 1.2 MiB more resident memory for nothing).
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/wdscapture
	CGO_ENABLED=0 $(GO) build -o $(STORE_BIN) ./cmd/imagestore

# deps installs the reference tools the tests use as oracles (Debian).
deps:
	@missing=""; for c in $(APT_CMDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing $(APT_PKGS) (missing:$$missing)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PKGS) >/dev/null; \
	fi
	@# The capture image's kernel and boot loaders come from apt's lists.
	@apt-cache show --no-all-versions linux-image-6.12-cloud-amd64 >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; $$SUDO apt-get update -qq; }
	$(GO) mod download

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# lint runs staticcheck at a pinned version (installed into GOPATH/bin).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
lint:
	@$(STATICCHECK) -version 2>/dev/null | grep -q '$(STATICCHECK_VERSION:v%=%)' || \
	  $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...

# test is the whole suite: formatting, vet, staticcheck, and every test under the race
# detector, with the real tools as oracles. Then, without the race detector (which
# slows the codecs tenfold, so under it the LZX corpus is cut to 4 chunks a file),
# the 4 GiB test and the LZX tests against wimlib on the whole generated corpus.
NORACE_TESTS := TestBigFileOver4GiB|TestDecompressWimlib|TestWimlibAcceptsOurChunks|TestRatioVersusWimlib
test: deps fmt-check vet lint
	$(GO) test -race -timeout 60m ./...
	$(GO) test -timeout 20m -run '^($(NORACE_TESTS))$$' ./images/ ./images/lzx/

test-short: deps
	$(GO) test -short ./...

# fuzz runs every fuzz target for FUZZTIME (a minute: issue 14) each, the
# differential ones with wimverify as the oracle. The fuzz engine shares
# each input with its workers through a memory-mapped file in TMPDIR; on a
# disk file system writeback stalls it (tens of execs a minute instead of
# thousands a second), so a RAM file system is used where there is one.
FUZZTIME ?= 1m
FUZZTMP ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
fuzz:
	@export TMPDIR=$(FUZZTMP); for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s || exit 1; \
	  done; \
	done

# bench compares our capture with wimlib's on the corpus built by
# (BENCHFLAGS passes wimbench options, e.g. BENCHFLAGS="-compress LZX -rounds 1")
# ../shared/bench/make-corpus.sh, in the same run, and prints ratios; with the image
# store: add, export, dedup growth, and the upload over loopback against add.
# The NTFS image of the corpus is made without FUSE: wimlib captures the
# tree, mkntfs formats a file, wimapply writes the tree into it.
# SHARED is the project's shared folder (the corpus script), beside the clone.
SHARED ?= ../shared
CORPUS ?= $(BUILD)/corpus
CORPUS_NTFS ?= $(BUILD)/corpus-ntfs.img
bench: deps build
	@test -e $(CORPUS).manifest || bash $(SHARED)/bench/make-corpus.sh $(CORPUS)
	@if [ ! -e $(CORPUS_NTFS) ]; then \
	  echo "making $(CORPUS_NTFS)"; \
	  wimcapture $(CORPUS) $(BUILD)/corpus-tmp.wim --compress=none --config=/dev/null >/dev/null && \
	  truncate -s 3G $(CORPUS_NTFS).tmp && mkntfs -F -q -f -L corpus $(CORPUS_NTFS).tmp >/dev/null 2>&1 && \
	  wimapply $(BUILD)/corpus-tmp.wim 1 $(CORPUS_NTFS).tmp >/dev/null && \
	  rm -f $(BUILD)/corpus-tmp.wim && mv $(CORPUS_NTFS).tmp $(CORPUS_NTFS); \
	fi
	$(GO) run ./internal/bench/cmd/wimbench -corpus $(CORPUS) -ntfs $(CORPUS_NTFS) -wdscapture $(BIN) -imagestore $(STORE_BIN) -out $(BUILD)/bench $(BENCHFLAGS)

# demo generates a lab disk and captures it unattended (see scripts/demo.sh).
demo: deps build
	BUILD=$(BUILD) BIN=$(BIN) bash scripts/demo.sh

# capture-image builds the bootable capture media (boot/): a Debian kernel,
# the initramfs with wdsinit, wdscapture and the drivers, in $(CAPTURE).
# INF=path bakes a WDSCapture.inf in; FINGERPRINT=sha256 the image store's
# certificate; KERNEL=package picks another Debian kernel.
CAPTURE ?= $(BUILD)/capture
KERNEL ?= linux-image-6.12-amd64
capture-image: deps
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BUILD)/bin/wdsinit ./boot/cmd/wdsinit
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BUILD)/bin/wdscapture ./cmd/wdscapture
	$(GO) run ./boot/cmd/mkcapture -out $(CAPTURE) -kernel $(KERNEL) -init $(BUILD)/bin/wdsinit -agent $(BUILD)/bin/wdscapture \
	  $(if $(INF),-inf $(INF)) $(if $(FINGERPRINT),-fingerprint $(FINGERPRINT)) -version "$$(git describe --always --dirty 2>/dev/null || echo dev)"

# lab boots the capture image in QEMU (TCG) on generated lab disks: an
# unattended capture uploaded to an imagestore on the loopback, checked
# against wimlib on the disk and in the store; an attended capture through
# the wizard on the serial console; a refusal; a full destination; the ISO.
lab: deps
	$(GO) test -count=1 -v -timeout 30m -run 'TestLab' ./boot/vmlab/

# lab-all adds the UEFI, Secure Boot, USB-stick and PXE boots.
lab-all: deps
	WDSCAPTURE_LAB_ALL=1 $(GO) test -count=1 -v -timeout 60m -run 'TestLab' ./boot/vmlab/

clean:
	rm -rf $(BIN) $(STORE_BIN) $(BUILD)
