# kretspan: `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all build generate check-generated lint test unit-test fuzz deploy-test e2e-test vmtest-files vmtest-selfcheck demo bench bench-attach clean

all: build

build:
	$(GO) build -o $(BIN)/kretspan ./cmd/kretspan

# Regenerates the eBPF objects and bindings (needs clang, llvm, libbpf-dev: see .ci/run) and the
# syscall tables (need linux-libc-dev and linux-libc-dev-arm64-cross).
generate:
	$(GO) generate ./bpf ./probe

# CI fails when the committed generated files differ from what the sources produce.
check-generated: generate
	@git diff --exit-code -- bpf probe || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- bpf probe)" || { git status --porcelain -- bpf probe; echo "untracked generated files"; exit 1; }

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Every Go test of the module but the Jaeger end-to-end ones (e2e-test). As root the kernel tests
# (TestKernel*) run too; otherwise they skip and say why. One package at a time (-p 1): the
# kernel tests time real calls and the benchmarks' quick mode would load the 2 cores meanwhile.
unit-test:
	$(GO) test -count=1 -p 1 $$($(GO) list ./... | grep -v /e2e)

# The fuzz tests in FUZZ_TESTS (PACKAGE:TEST), FUZZ_TIME each, one after another, stopping at the
# first that fails: every fuzz test of the module (the probe-spec parser, alone and with argument
# lists; the field-path compiler and parser; the resolution of user-function arguments; the
# ring-buffer record decoder; the configuration file). A failure leaves its input under the
# package's testdata/fuzz, which go test then replays.
FUZZ_TIME ?= 10s
FUZZ_TESTS = probe:FuzzParse probe:FuzzParseWithArguments argspec:FuzzFieldPath argspec:FuzzParsePath probe/userargs:FuzzResolve bpf:FuzzDecodeEvent config:FuzzConfig
fuzz:
	@for t in $(FUZZ_TESTS); do \
		echo "$(GO) test -run '^\$$' -fuzz '^$${t#*:}\$$' -fuzztime $(FUZZ_TIME) ./$${t%%:*}"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZ_TIME) ./$${t%%:*} || exit 1; \
	done

# docker-compose.yml and the Kubernetes manifests, parsed by the real loaders (own module).
deploy-test:
	cd tools/deploytest && $(GO) test -count=1 ./...

# Every test: lint, generated code, unit and kernel tests, manifests, Jaeger end to end, and the
# kernel matrix under QEMU.
test: lint check-generated unit-test fuzz deploy-test e2e-test vmtest vmtest-selfcheck

# The Jaeger demo: builds kretspan and Jaeger (the first Jaeger build takes minutes), starts Jaeger
# on 127.0.0.1:4317/16686, traces what this kernel supports and exports it until Ctrl-C.
# DEMO_DURATION=30s stops by itself; PROBES="..." adds probes. See scripts/demo.sh.
demo:
	scripts/demo.sh

# End-to-end tests as root against a real Jaeger (and headless Chromium for its UI), a real
# OpenTelemetry Collector and a real Prometheus; they skip and say why without root, a backend or
# /usr/bin/chromium. Installs nothing; builds each backend from the Go module proxy if not cached.
e2e-test:
	@jaeger=$$(tools/jaeger/build.sh) && otelcol=$$(tools/otelcol/build.sh) && prometheus=$$(tools/prometheus/build.sh) && \
		KRETSPAN_JAEGER_BIN="$$jaeger" KRETSPAN_OTELCOL_BIN="$$otelcol" KRETSPAN_PROMETHEUS_BIN="$$prometheus" \
		$(GO) test -count=1 -v ./e2e/

# The kernel matrix (vmtest/README.md): the kernel tests of bpf and cmd/kretspan, and the harness's
# own guest checks, on Debian's 5.10, 6.1 and 6.12 kernels for amd64 and 6.1 and 6.12 for arm64
# under QEMU. The guest has no toolchain, so kretspan and the test workloads go in prebuilt and
# static (cross-built for arm64). arm64 is emulated instruction by instruction, several times
# slower, so its guests run the tests that prove each mechanism once (VMTEST_TESTS_ARM64_*).
VMTEST_PKGS = ./vmtest/guestprobe ./bpf ./cmd/kretspan
VMTEST_ARGS = -test.v -test.run '^TestKernel' -test.bench KernelAttach -test.benchtime 1x
VMTEST_FILES = $(VMTEST_CACHE)/files
VMTEST_FLAGS = -parallel 2 -files $(VMTEST_FILES) -env KRETSPAN_TEST_BIN_DIR=/files
# arm64 is emulated instruction by instruction, so each arm64 kernel runs one declared set of
# tests (vmtest -run LABEL=REGEX; a -test.run in VMTEST_ARGS_ARM64 overrides them).
# The harness's guest checks (vmtest/guestprobe), which both arm64 kernels run.
VMTEST_TESTS_GUESTPROBE = Release|HasBTF|KprobeEvents|BPFFS|BPFMapCreate|HarnessSelfCheck
# arm64-6.12 proves each mechanism that reads registers or the architecture's tables once: the
# harness's guest checks; syscall tracepoints; the kretprobe example's _do_fork case; kprobe and
# fentry error paths (return values); uprobes in C and Go (RET-instruction probes); int return
# values from DWARF; the marker from Go and C (correlation); syscalls arm64 lacks; the --sched
# split and its scheduler hooks; arguments read from syscall formats, pt_regs (kernel functions,
# field paths) and the C and Go calling conventions; exec records (a resource for each short-lived
# process).
VMTEST_TESTS_ARM64_6.12 = $(VMTEST_TESTS_GUESTPROBE)|SyscallTracepointTimesNanosleep|ForkKretprobeExample|FunctionErrorPath|UprobeNestedCallsBecomeParentAndChild|NegativeIntReturnFromDebugInfo|HTTPServiceSpansInsideRequestSpans|CHeaderBindsReleasesAndLinksSkewedClocks|SyscallsTheArchitectureLacks|SchedSplit|SchedHooks|SyscallArguments|UserFunctionArguments|KernelFunctionArguments|ProcessChurn
# arm64-6.1 only what differs there: the guest checks, and fentry, which loads but cannot attach,
# giving way to kprobes (the _do_fork case, and what check reports).
VMTEST_TESTS_ARM64_6.1 = $(VMTEST_TESTS_GUESTPROBE)|ForkKretprobeExample|CheckJSON
VMTEST_ARGS_ARM64 = -test.v
VMTEST_FILES_ARM64 = $(VMTEST_CACHE)/files-arm64
VMTEST_FLAGS_ARM64 = -parallel 2 -files $(VMTEST_FILES_ARM64) -env KRETSPAN_TEST_BIN_DIR=/files \
	-run 'arm64-6.12=^TestKernel($(VMTEST_TESTS_ARM64_6.12))$$' -run 'arm64-6.1=^TestKernel($(VMTEST_TESTS_ARM64_6.1))$$'
include vmtest/vmtest.mk
vmtest: vmtest-files

# The harness must fail a run whose guest test fails, hangs or crashes the kernel: it reads the
# guest's exit status, not its log. Each of these boots of the amd64 6.12 kernel must end the run
# with status 1, a guest failed; any other status (2: the harness could not set the run up) fails
# the check. It fetches 6.12 whatever VMTEST_KERNELS says, and boots guestprobe built here rather
# than whatever an earlier run left in VMTEST_BINS.
VMTEST_SELFCHECK_BINS = $(VMTEST_CACHE)/selfcheckbins
VMTEST_SELFCHECK = $(VMTEST_RUN) -tests $(VMTEST_SELFCHECK_BINS) -kernels 6.12
vmtest-selfcheck: override VMTEST_KERNELS = 6.12
vmtest-selfcheck: vmtest-fetch vmtest-tool
	rm -rf $(VMTEST_SELFCHECK_BINS) && mkdir -p $(VMTEST_SELFCHECK_BINS) && CGO_ENABLED=0 GOARCH=amd64 $(GO) test -c -o $(VMTEST_SELFCHECK_BINS)/ ./vmtest/guestprobe
	@for mode in fail hang crash; do \
		out=$$($(VMTEST_SELFCHECK) -timeout 30s -env KRETSPAN_VMTEST_SELFCHECK=$$mode -- -test.run HarnessSelfCheck 2>&1); status=$$?; \
		if [ $$status -ne 1 ]; then \
			echo "$$out"; echo "vmtest-selfcheck: a guest that does '$$mode' ended the run with status $$status, not 1 (a guest failed)"; exit 1; \
		fi; \
		echo "vmtest-selfcheck: a guest that does '$$mode' fails the run, as it must"; \
	done

vmtest-files:
	$(if $(vmtest_amd64),rm -rf $(VMTEST_FILES) && mkdir -p $(VMTEST_FILES) && $(GO) run ./internal/testprocess/cmd/buildprograms -static -goarch amd64 -o $(VMTEST_FILES))
	$(if $(vmtest_arm64),rm -rf $(VMTEST_FILES_ARM64) && mkdir -p $(VMTEST_FILES_ARM64) && $(GO) run ./internal/testprocess/cmd/buildprograms -static -goarch arm64 -o $(VMTEST_FILES_ARM64))

# Benchmarks (bench/README.md), as root: end to end through a real OTLP receiver (gRPC and HTTP),
# probe overhead against an empty program, a minimal program and bpftrace, filters, in-process
# cost. A few minutes; prints one table.
bench: build
	$(GO) build -o $(BIN)/kbench ./bench/cmd/kbench
	$(SUDO) $(BIN)/kbench -kretspan $(BIN)/kretspan
	$(MAKE) --no-print-directory bench-attach

# The attach target: a 1,000-function kprobe glob through kprobe.multi on the matrix's 6.12 kernel,
# under QEMU's emulation (slower than hardware), resolution and attach timed apart. It fetches
# only that kernel, whatever VMTEST_KERNELS says.
BENCH_ATTACH_BINS = $(VMTEST_CACHE)/benchbins
bench-attach: override VMTEST_KERNELS = 6.12
bench-attach: vmtest-fetch vmtest-tool
	rm -rf $(BENCH_ATTACH_BINS) && mkdir -p $(BENCH_ATTACH_BINS)
	CGO_ENABLED=0 $(GO) test -c -o $(BENCH_ATTACH_BINS)/ ./bpf
	$(VMTEST_RUN) -tests $(BENCH_ATTACH_BINS) -kernels 6.12 -- -test.run '^$$' -test.bench KernelAttachKprobeGlob -test.benchtime 1x
	@grep -a '^BenchmarkKernelAttachKprobeGlob' $(VMTEST_CACHE)/logs/6.12.log

clean:
	rm -rf $(BIN)
