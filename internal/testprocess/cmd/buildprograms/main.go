// Command buildprograms builds the programs the integration tests run (testprocess.Programs) into
// a directory, for the kernel-matrix guests: make vmtest-files runs it with -static.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kretspan/kretspan/internal/testprocess"
)

func main() {
	out := flag.String("o", "", "output `directory`")
	static := flag.Bool("static", false, "link statically, for guests without libc")
	goarch := flag.String("goarch", "", "build for this architecture (amd64, arm64) instead of this machine's; C programs need Debian's gcc cross compiler")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "buildprograms: -o DIR is required")
		os.Exit(2)
	}
	if err := testprocess.BuildPrograms(*out, *static, *goarch, flag.Args()...); err != nil {
		fmt.Fprintf(os.Stderr, "buildprograms: %v\n", err)
		os.Exit(1)
	}
}
