// Package vmtest boots pinned Debian kernels under QEMU and runs static Go
// test binaries inside them, so privileged eBPF tests see real kernels.
//
// The host side (this package and cmd/vmtest) builds an initramfs from
// busybox-static, the test binaries and a generated /init, boots it, and reads
// the guest's serial console for the status lines /init prints.
package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Kernel is one pinned entry of kernels.lock.
type Kernel struct {
	Label   string // short name used on the command line: "6.1" (amd64), "arm64-6.1"
	Package string // Debian binary package, e.g. linux-image-6.1.0-56-cloud-amd64-unsigned
	Version string // Debian package version
	SHA256  string // of the .deb
}

// Release is the kernel's `uname -r`, which Debian encodes in the package name.
func (k Kernel) Release() string {
	return strings.TrimSuffix(strings.TrimPrefix(k.Package, "linux-image-"), "-unsigned")
}

// Arch is the kernel's architecture, which Debian names last in the package name
// (linux-image-6.1.0-56-cloud-arm64-unsigned: arm64).
func (k Kernel) Arch() string {
	name := strings.TrimSuffix(k.Package, "-unsigned")
	return name[strings.LastIndex(name, "-")+1:]
}

// bareLabelArch is the architecture whose kernels are labelled by series alone (6.1).
const bareLabelArch = "amd64"

// Series is the label without its architecture prefix ("arm64-6.1": 6.1): the
// release the guest boots must start with it.
func (k Kernel) Series() string {
	return strings.TrimPrefix(k.Label, k.Arch()+"-")
}

// ParseLock reads kernels.lock: "label package version sha256" per line,
// '#' comments and blank lines ignored.
func ParseLock(r io.Reader) ([]Kernel, error) {
	var kernels []Kernel
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("kernels.lock line %d: want 4 fields (label package version sha256), got %d", n, len(f))
		}
		k := Kernel{Label: f[0], Package: f[1], Version: f[2], SHA256: f[3]}
		if !strings.HasPrefix(k.Package, "linux-image-") {
			return nil, fmt.Errorf("kernels.lock line %d: %q is not a linux-image package", n, k.Package)
		}
		if _, ok := Arches[k.Arch()]; !ok {
			return nil, fmt.Errorf("kernels.lock line %d: %q is for architecture %q, which vmtest does not boot", n, k.Package, k.Arch())
		}
		if !strings.HasPrefix(k.Release(), k.Series()+".") || (k.Arch() != bareLabelArch && !strings.HasPrefix(k.Label, k.Arch()+"-")) {
			return nil, fmt.Errorf("kernels.lock line %d: label %q does not name %s: the series, prefixed with ARCH- but for %s", n, k.Label, k.Release(), bareLabelArch)
		}
		if seen[k.Label] {
			return nil, fmt.Errorf("kernels.lock line %d: duplicate label %q", n, k.Label)
		}
		seen[k.Label] = true
		kernels = append(kernels, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(kernels) == 0 {
		return nil, fmt.Errorf("kernels.lock pins no kernels")
	}
	return kernels, nil
}

// ReadLock parses the lock file at path.
func ReadLock(path string) ([]Kernel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseLock(f)
}

// SelectKernels returns the kernels named by labels in lock order; "all" (or
// no labels) selects every pinned kernel.
func SelectKernels(pinned []Kernel, labels []string) ([]Kernel, error) {
	if len(labels) == 0 || (len(labels) == 1 && labels[0] == "all") {
		return pinned, nil
	}
	want := map[string]bool{}
	for _, l := range labels {
		want[l] = true
	}
	var out []Kernel
	for _, k := range pinned {
		if want[k.Label] {
			out = append(out, k)
			delete(want, k.Label)
		}
	}
	for l := range want {
		return nil, fmt.Errorf("kernel %q is not pinned in kernels.lock", l)
	}
	return out, nil
}

// DefaultCacheDir is where fetch-kernels.sh and the harness keep downloads
// and build products: $KRETSPAN_VMTEST_CACHE, else the user cache dir.
func DefaultCacheDir() string {
	if d := os.Getenv("KRETSPAN_VMTEST_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "kretspan-vmtest")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kretspan-vmtest")
	}
	return filepath.Join(home, ".cache", "kretspan-vmtest")
}

// KernelImage returns the fetched vmlinuz for k, and an error telling the user
// to run fetch-kernels.sh when it is missing or was fetched for another pin.
func KernelImage(cacheDir string, k Kernel) (string, error) {
	dir := filepath.Join(cacheDir, "kernels", k.Label)
	stamp, err := os.ReadFile(filepath.Join(dir, "stamp"))
	want := k.Package + " " + k.Version + " " + k.SHA256
	if err != nil || strings.TrimSpace(string(stamp)) != want {
		return "", fmt.Errorf("kernel %s (%s %s) is not fetched into %s; run vmtest/fetch-kernels.sh", k.Label, k.Package, k.Version, cacheDir)
	}
	image := filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(image); err != nil {
		return "", fmt.Errorf("kernel %s: %v; run vmtest/fetch-kernels.sh", k.Label, err)
	}
	return image, nil
}
