package bpf

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// CallPrograms names kretspan's entry and return programs, every mechanism's, as the kernel names
// them (cut to BPF_OBJ_NAME_LEN less its NUL), for reading their run-time statistics.
func CallPrograms() (entry, ret []string, err error) {
	spec, err := loadKretspan()
	if err != nil {
		return nil, nil, fmt.Errorf("load kretspan's BPF objects: %w", err)
	}
	var programs kretspanProgramSpecs
	if err := spec.Assign(&programs); err != nil {
		return nil, nil, fmt.Errorf("kretspan's BPF programs: %w", err)
	}
	kernelName := func(name string) string { return name[:min(len(name), unix.BPF_OBJ_NAME_LEN-1)] }
	for _, a := range attachments {
		if name := kernelName(a.entry(&programs).Name); !slices.Contains(entry, name) {
			entry = append(entry, name)
		}
		if name := kernelName(a.ret(&programs).Name); !slices.Contains(ret, name) {
			ret = append(ret, name)
		}
	}
	return entry, ret, nil
}
