package argspec

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// flagName is one named bit (or, with mask, one value of a field of bits).
type flagName struct {
	name  string
	value uint64
}

// flagTable names the bits of a flags argument.
type flagTable struct {
	mask   uint64     // the field whose values are exact (open's access mode); 0: none
	values []flagName // of the field
	bits   []flagName
}

// flagTables are the well-known flags arguments, with their names in FlagTable.
var flagTables = map[string]flagTable{
	"open": {
		mask:   unix.O_ACCMODE,
		values: []flagName{{"O_RDONLY", unix.O_RDONLY}, {"O_WRONLY", unix.O_WRONLY}, {"O_RDWR", unix.O_RDWR}},
		bits: []flagName{
			{"O_CREAT", unix.O_CREAT}, {"O_EXCL", unix.O_EXCL}, {"O_NOCTTY", unix.O_NOCTTY},
			{"O_TRUNC", unix.O_TRUNC}, {"O_APPEND", unix.O_APPEND}, {"O_NONBLOCK", unix.O_NONBLOCK},
			{"O_SYNC", unix.O_SYNC}, {"O_DSYNC", unix.O_DSYNC}, {"O_ASYNC", unix.O_ASYNC},
			{"O_DIRECT", unix.O_DIRECT}, {"O_LARGEFILE", openLargeFile}, {"O_TMPFILE", unix.O_TMPFILE},
			{"O_DIRECTORY", unix.O_DIRECTORY}, {"O_NOFOLLOW", unix.O_NOFOLLOW}, {"O_NOATIME", unix.O_NOATIME},
			{"O_CLOEXEC", unix.O_CLOEXEC}, {"O_PATH", unix.O_PATH},
		},
	},
	"prot": {
		bits:   []flagName{{"PROT_READ", unix.PROT_READ}, {"PROT_WRITE", unix.PROT_WRITE}, {"PROT_EXEC", unix.PROT_EXEC}},
		values: []flagName{{"PROT_NONE", unix.PROT_NONE}},
	},
}

// syscallFlags names the syscall parameters whose flags are decoded: syscall, parameter, table.
var syscallFlags = [][3]string{
	{"open", "flags", "open"},
	{"openat", "flags", "open"},
	{"mmap", "prot", "prot"},
	{"mprotect", "prot", "prot"},
	{"pkey_mprotect", "prot", "prot"},
}

// FlagTable names the table that decodes a function's argument, or "".
func FlagTable(function, arg string) string {
	i := slices.IndexFunc(syscallFlags, func(row [3]string) bool { return row[0] == function && row[1] == arg })
	if i < 0 {
		return ""
	}
	return syscallFlags[i][2]
}

// FormatFlags writes v as the table's names joined by |, e.g. O_RDONLY|O_CLOEXEC; bits it has no
// name for are written in hex.
func FormatFlags(table string, v uint64) string {
	t, ok := flagTables[table]
	if !ok {
		return fmt.Sprint(v)
	}
	var names []string
	rest := v
	if t.mask != 0 || v == 0 {
		for _, n := range t.values {
			if v&t.mask == n.value {
				names = append(names, n.name)
				rest &^= t.mask
				break
			}
		}
	}
	for _, n := range t.bits {
		if n.value != 0 && rest&n.value == n.value {
			names = append(names, n.name)
			rest &^= n.value
		}
	}
	if rest != 0 || len(names) == 0 {
		names = append(names, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(names, "|")
}
