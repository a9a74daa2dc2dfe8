# Kernel-matrix tests under QEMU; `include vmtest/vmtest.mk` from the root
# Makefile. Host packages: qemu-system-x86 qemu-system-arm busybox-static (see
# vmtest/README.md).
#
#   make vmtest                                   all kernels, ./vmtest/guestprobe
#   make vmtest VMTEST_PKGS='./bpf/... ./probe/...' VMTEST_KERNELS=6.1
#   make vmtest VMTEST_KERNELS=arm64-6.12         arm64 kernels are labelled arm64-SERIES
#   make vmtest VMTEST_FLAGS='-v -parallel 2' VMTEST_ARGS='-test.v -test.run Kprobe'
#
# amd64 and arm64 kernels boot in separate runs of the harness, each with its
# own binaries, flags and test arguments (VMTEST_*_ARM64, by default the same);
# a run boots the VMTEST_KERNELS of its binaries' architecture.

# Evaluated at include time, while this file is the last one read.
GO ?= go
VMTEST_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

VMTEST_PKGS ?= ./vmtest/guestprobe
VMTEST_KERNELS ?= all
VMTEST_ARGS ?= -test.v
VMTEST_FLAGS ?=
VMTEST_CACHE ?= $(or $(KRETSPAN_VMTEST_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kretspan-vmtest)
VMTEST_BINS := $(VMTEST_CACHE)/testbins
VMTEST_BINS_ARM64 := $(VMTEST_CACHE)/testbins-arm64
VMTEST_PKGS_ARM64 ?= $(VMTEST_PKGS)
VMTEST_ARGS_ARM64 ?= $(VMTEST_ARGS)
VMTEST_FLAGS_ARM64 ?= $(VMTEST_FLAGS)
comma := ,
# The architectures VMTEST_KERNELS names: "all" is both; arm64 labels start with arm64-.
vmtest_labels = $(subst $(comma), ,$(VMTEST_KERNELS))
vmtest_amd64 = $(filter-out arm64-%,$(vmtest_labels))
vmtest_arm64 = $(filter all arm64-%,$(vmtest_labels))
# The harness with the cache and the pinned kernels; other targets add -tests, -kernels and the rest.
VMTEST_RUN = $(VMTEST_CACHE)/bin/vmtest -cache $(VMTEST_CACHE) -lock $(VMTEST_DIR)/kernels.lock

.PHONY: vmtest vmtest-fetch vmtest-bins vmtest-tool

vmtest: vmtest-fetch vmtest-bins vmtest-tool
	$(if $(vmtest_amd64),$(VMTEST_RUN) -tests $(VMTEST_BINS) -kernels $(VMTEST_KERNELS) $(VMTEST_FLAGS) -- $(VMTEST_ARGS))
	$(if $(vmtest_arm64),$(VMTEST_RUN) -tests $(VMTEST_BINS_ARM64) -kernels $(VMTEST_KERNELS) $(VMTEST_FLAGS_ARM64) -- $(VMTEST_ARGS_ARM64))

vmtest-tool:
	$(GO) build -o $(VMTEST_CACHE)/bin/vmtest ./$(VMTEST_DIR)/cmd/vmtest

vmtest-fetch:
	KRETSPAN_VMTEST_CACHE=$(VMTEST_CACHE) $(VMTEST_DIR)/fetch-kernels.sh $(filter-out all,$(subst $(comma), ,$(VMTEST_KERNELS)))

# Static (CGO_ENABLED=0) because the guest has no libc; one NAME.test per
# package that has tests, for each architecture VMTEST_KERNELS names (arm64's
# cross-built: Go needs no emulator for that). Rebuilt from scratch so removed
# packages drop out.
vmtest-bins:
	$(if $(vmtest_amd64),rm -rf $(VMTEST_BINS) && mkdir -p $(VMTEST_BINS) && CGO_ENABLED=0 GOARCH=amd64 $(GO) test -c -o $(VMTEST_BINS)/ $(VMTEST_PKGS))
	$(if $(vmtest_arm64),rm -rf $(VMTEST_BINS_ARM64) && mkdir -p $(VMTEST_BINS_ARM64) && CGO_ENABLED=0 GOARCH=arm64 $(GO) test -c -o $(VMTEST_BINS_ARM64)/ $(VMTEST_PKGS_ARM64))

