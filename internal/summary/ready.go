package summary

import (
	"fmt"
	"io"
	"strings"
)

// readyPrefix begins the line kretspan prints once every probe is attached.
const readyPrefix = "kretspan: tracing "

const readyFormat = readyPrefix + "%d targets; exporting to %s. Ctrl-C to stop.\n"

// WriteReady prints the line that says kretspan is attached and exporting: tests, benchmarks and
// the demo wait for it.
func WriteReady(w io.Writer, targets int, destination string) {
	fmt.Fprintf(w, readyFormat, targets, destination)
}

// Ready reports whether kretspan's stderr so far says it is attached, and to how many targets.
func Ready(stderr string) (targets int, ok bool) {
	i := strings.Index(stderr, readyPrefix)
	if i < 0 {
		return 0, false
	}
	_, err := fmt.Sscanf(stderr[i:], readyPrefix+"%d targets", &targets)
	return targets, err == nil
}
