package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerfileBuildCommand returns the shell command of the Dockerfile's RUN step that builds
// kretspan, its continuation lines joined.
func dockerfileBuildCommand(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(data), "\\\n", " ")
	var found []string
	for _, line := range strings.Split(joined, "\n") {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "RUN "); ok && strings.Contains(cmd, "go build") {
			found = append(found, cmd)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Dockerfile has %d RUN steps with go build, want 1: %q", len(found), found)
	}
	return found[0]
}

// No Docker engine is needed: the build step runs as BuildKit would run it for each platform
// (TARGETOS and TARGETARCH set) and as a builder without them would, with a go on PATH that records
// the environment of "go build" and answers "go env" truthfully. That the static build itself works
// for both architectures, the kernel matrix proves: it runs kretspan built so on amd64 and arm64.
func TestDockerfileBuildsForBothPlatforms(t *testing.T) {
	root := repoRoot(t)
	command := dockerfileBuildCommand(t, root)
	if !strings.Contains(command, " /out/kretspan ") {
		t.Fatalf("the build step does not write /out/kretspan, which the final stage copies: %q", command)
	}
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	hostArch, err := exec.Command(realGo, "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	shimDir := t.TempDir()
	record := filepath.Join(shimDir, "build")
	shim := "#!/bin/sh\nif [ \"$1\" = build ]; then echo \"$GOOS $GOARCH $CGO_ENABLED $*\" >" + record + "; exit 0; fi\nexec " + realGo + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(shimDir, "go"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, targetArch, want string }{
		{"buildx linux/amd64", "amd64", "linux amd64 0"},
		{"buildx linux/arm64", "arm64", "linux arm64 0"},
		{"without platform arguments", "", "linux " + strings.TrimSpace(string(hostArch)) + " 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(record)
			cmd := exec.Command("sh", "-c", command)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "PATH="+shimDir+string(os.PathListSeparator)+os.Getenv("PATH"), "GOOS=", "GOARCH=", "CGO_ENABLED=")
			if tc.targetArch != "" {
				cmd.Env = append(cmd.Env, "TARGETOS=linux", "TARGETARCH="+tc.targetArch)
			}
			if output, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, output)
			}
			got, err := os.ReadFile(record)
			if err != nil {
				t.Fatalf("the build step ran no go build: %v", err)
			}
			if !strings.HasPrefix(string(got), tc.want+" build ") || !strings.Contains(string(got), "./cmd/kretspan") {
				t.Errorf("go build ran as %q, want GOOS GOARCH CGO_ENABLED %q building ./cmd/kretspan", got, tc.want)
			}
		})
	}
}
