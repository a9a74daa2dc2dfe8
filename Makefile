# kretspan: `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all build generate check-generated lint test unit-test demo clean

all: build

build:
	$(GO) build -o $(BIN)/kretspan ./cmd/kretspan

# Regenerates the eBPF objects and bindings (needs clang, llvm, libbpf-dev: see .ci/run) and the
# syscall table (needs linux-libc-dev).
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

# Every Go test of the module. As root, the kernel tests run too; otherwise they skip and say why.
unit-test:
	$(GO) test -count=1 ./...

test: lint check-generated unit-test

# The Jaeger demo: builds kretspan and Jaeger (the first Jaeger build takes minutes), starts Jaeger
# on 127.0.0.1:4317/16686, traces what this kernel supports and exports it until Ctrl-C.
# DEMO_DURATION=30s stops by itself; PROBES="..." adds probes. See scripts/demo.sh.
demo:
	scripts/demo.sh

# End-to-end tests against a real Jaeger (and headless Chromium for its UI) as root; they skip and
# say why without root, Jaeger or /usr/bin/chromium. Installs nothing; builds Jaeger if not cached.
.PHONY: e2e-test
e2e-test:
	@bin=$$(tools/jaeger/build.sh) && KRETSPAN_JAEGER_BIN="$$bin" $(GO) test -count=1 -v ./e2e/

clean:
	rm -rf $(BIN)
