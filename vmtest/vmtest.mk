# Kernel-matrix tests under QEMU; `include vmtest/vmtest.mk` from the root
# Makefile. Host packages: qemu-system-x86 busybox-static (see vmtest/README.md).
#
#   make vmtest                                   all kernels, ./vmtest/guestprobe
#   make vmtest VMTEST_PKGS='./bpf/... ./probe/...' VMTEST_KERNELS=6.1
#   make vmtest VMTEST_FLAGS='-v -parallel 2' VMTEST_ARGS='-test.v -test.run Kprobe'

# Evaluated at include time, while this file is the last one read.
GO ?= go
VMTEST_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

VMTEST_PKGS ?= ./vmtest/guestprobe
VMTEST_KERNELS ?= all
VMTEST_ARGS ?= -test.v
VMTEST_FLAGS ?=
VMTEST_CACHE ?= $(or $(KRETSPAN_VMTEST_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kretspan-vmtest)
VMTEST_BINS := $(VMTEST_CACHE)/testbins
comma := ,
# The harness with the cache and the pinned kernels; other targets add -tests, -kernels and the rest.
VMTEST_RUN = $(VMTEST_CACHE)/bin/vmtest -cache $(VMTEST_CACHE) -lock $(VMTEST_DIR)/kernels.lock

.PHONY: vmtest vmtest-fetch vmtest-bins vmtest-tool

vmtest: vmtest-fetch vmtest-bins vmtest-tool
	$(VMTEST_RUN) -tests $(VMTEST_BINS) -kernels $(VMTEST_KERNELS) $(VMTEST_FLAGS) -- $(VMTEST_ARGS)

vmtest-tool:
	$(GO) build -o $(VMTEST_CACHE)/bin/vmtest ./$(VMTEST_DIR)/cmd/vmtest

vmtest-fetch:
	KRETSPAN_VMTEST_CACHE=$(VMTEST_CACHE) $(VMTEST_DIR)/fetch-kernels.sh $(filter-out all,$(subst $(comma), ,$(VMTEST_KERNELS)))

# Static (CGO_ENABLED=0) because the guest has no libc; one NAME.test per
# package that has tests. Rebuilt from scratch so removed packages drop out.
vmtest-bins:
	rm -rf $(VMTEST_BINS) && mkdir -p $(VMTEST_BINS)
	CGO_ENABLED=0 $(GO) test -c -o $(VMTEST_BINS)/ $(VMTEST_PKGS)

