# kretspan container image, for linux/amd64 and linux/arm64.
#
#   docker build -t kretspan .                                   # this machine's platform
#   docker buildx build --platform linux/amd64,linux/arm64 -t kretspan .
#   docker run --rm --privileged --pid=host \
#     -v /sys/kernel/tracing:/sys/kernel/tracing -v /sys/kernel/debug:/sys/kernel/debug \
#     -v /sys/fs/bpf:/sys/fs/bpf -v /sys/kernel/btf/vmlinux:/sys/kernel/btf/vmlinux:ro \
#     -e OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4317 kretspan syscall:openat
#
# The generated eBPF objects are committed for both architectures, so the
# build needs neither clang nor cgo: a static Go binary on a distroless base.

# Build on the build machine's platform and cross-compile for the target one
# (docker buildx --platform ...); a static Go build needs nothing else.
# BuildKit sets TARGETOS and TARGETARCH; a builder that does not builds for
# the platform it runs on (go env).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src

# Dependencies first, so source edits do not invalidate the module download.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-$(go env GOOS)} GOARCH=${TARGETARCH:-$(go env GOARCH)} \
    go build -trimpath -ldflags="-s -w" -o /out/kretspan ./cmd/kretspan

# distroless/static (published for amd64 and arm64): CA certificates (for
# https:// OTLP endpoints), tzdata, /etc/passwd; no shell. Runs as root, which
# loading eBPF programs needs.
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/kretspan /usr/local/bin/kretspan
ENTRYPOINT ["/usr/local/bin/kretspan"]
