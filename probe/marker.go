package probe

import (
	"debug/buildinfo"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MarkerSymbol is the function kretspan's application libraries call to bind a span to a thread
// (spanbind.kretspan_marker in Go, kretspan_marker in C).
const MarkerSymbol = "kretspan_marker"

// Marker is a binary that carries the marker.
type Marker struct {
	Binary string
	Symbol string
	Go     bool // called with Go's register ABI
}

// FindMarker looks for the marker among a binary's function symbols.
func FindMarker(binary string) (Marker, bool) {
	symbols, err := FunctionSymbols(binary)
	if err != nil {
		return Marker{}, false
	}
	for _, sym := range symbols {
		if sym.Name == MarkerSymbol || strings.HasSuffix(sym.Name, "."+MarkerSymbol) {
			_, err := buildinfo.ReadFile(binary)
			return Marker{Binary: binary, Symbol: sym.Name, Go: err == nil}, true
		}
	}
	return Marker{}, false
}

// ScanMarkers finds the marker in the executables of running processes: those of pids, or of
// every process when pids is empty. Each binary is read once.
func ScanMarkers(pids []uint32) []Marker {
	if len(pids) == 0 {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if pid, err := strconv.ParseUint(e.Name(), 10, 32); err == nil {
				pids = append(pids, uint32(pid))
			}
		}
	}
	seen := map[string]bool{}
	var markers []Marker
	for _, pid := range pids {
		link := filepath.Join("/proc", strconv.FormatUint(uint64(pid), 10), "exe")
		exe, err := os.Readlink(link)
		if err != nil || seen[exe] {
			continue // kernel threads have no executable; processes may exit meanwhile
		}
		seen[exe] = true
		if _, err := os.Stat(exe); err != nil {
			exe = link // another mount namespace (a container): reach the file through the process
		}
		if m, ok := FindMarker(exe); ok {
			markers = append(markers, m)
		}
	}
	return markers
}
