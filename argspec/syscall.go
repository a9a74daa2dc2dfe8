package argspec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SyscallParams reads a syscall's parameters from its entry tracepoint's format file under
// tracefs (events/syscalls/sys_enter_NAME/format).
func SyscallParams(tracefs, name string) ([]Param, error) {
	file := filepath.Join(tracefs, "events", "syscalls", "sys_enter_"+name, "format")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("syscall %s's arguments: %w", name, err)
	}
	return ParseSyscallFormat(name, data)
}

// syscallArgsOffset is where the arguments begin in a sys_enter record, after the common fields
// and the syscall number: each argument is a long.
const syscallArgsOffset = 16

// ParseSyscallFormat parses a sys_enter tracepoint's format file into the syscall's parameters.
func ParseSyscallFormat(syscall string, data []byte) ([]Param, error) {
	var params []Param
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		decl, ok := strings.CutPrefix(line, "field:")
		if !ok {
			continue
		}
		decl, rest, _ := strings.Cut(decl, ";")
		offsetText, ok := formatValue(rest, "offset:")
		if !ok {
			return nil, fmt.Errorf("format line %q has no offset", line)
		}
		offset, err := strconv.Atoi(offsetText)
		if err != nil {
			return nil, fmt.Errorf("format line %q: %w", line, err)
		}
		if offset < syscallArgsOffset {
			continue // common fields, __syscall_nr
		}
		typ, name := splitDeclaration(decl)
		if name == "" || (offset-syscallArgsOffset)%8 != 0 {
			return nil, fmt.Errorf("format line %q: unexpected field", line)
		}
		params = append(params, syscallParam(name, typ, (offset-syscallArgsOffset)/8))
	}
	if len(params) > 6 {
		return nil, fmt.Errorf("a syscall with %d arguments", len(params))
	}
	return params, scanner.Err()
}

func formatValue(rest, key string) (string, bool) {
	_, after, ok := strings.Cut(rest, key)
	if !ok {
		return "", false
	}
	value, _, _ := strings.Cut(after, ";")
	return strings.TrimSpace(value), true
}

// splitDeclaration splits "const char * filename" into its type and name.
func splitDeclaration(decl string) (typ, name string) {
	decl = strings.TrimSpace(decl)
	i := strings.LastIndexAny(decl, " *")
	if i < 0 {
		return "", decl
	}
	return strings.TrimSpace(decl[:i+1]), decl[i+1:]
}

// syscallParam describes one syscall parameter by its C type. Syscalls take their strings as
// const char * in user memory; other pointers are buffers or structs, never captured as
// addresses. A parameter named fd also gives its file's path.
func syscallParam(name, typ string, index int) Param {
	p := Param{Name: name, Type: typ}
	base := Arg{Type: typ, Source: SourceParameter, Index: uint8(index)}
	p.arg = func(attr string) (Arg, error) {
		a := base
		a.Name = attr
		switch {
		case strings.Contains(typ, "*"):
			if !strings.HasPrefix(typ, "const char") || strings.Count(typ, "*") != 1 {
				return Arg{}, fmt.Errorf("argument '%s' is a pointer (%s), which kretspan does not export", name, typ)
			}
			a.Read = ReadStringUser
		case name == "fd":
			a.Read = ReadFDPath
		default:
			a.Size, a.Show = cIntegerType(typ)
		}
		return a, nil
	}
	return p
}

// cIntegerType is the size and signedness of a syscall's integer type.
func cIntegerType(typ string) (uint8, Show) {
	words := strings.Fields(typ)
	unsigned := strings.Contains(typ, "unsigned") || strings.HasPrefix(typ, "u") || strings.HasPrefix(typ, "__u") || strings.HasSuffix(typ, "size_t") && typ != "ssize_t"
	show := ShowSigned
	if unsigned {
		show = ShowUnsigned
	}
	last := words[len(words)-1]
	switch last {
	case "char":
		return 1, show
	case "short", "umode_t":
		return 2, show
	case "int", "pid_t", "uid_t", "gid_t", "clockid_t", "key_serial_t", "qid_t", "rwf_t", "mqd_t", "timer_t", "__u32", "u32", "__s32", "s32":
		return 4, show
	}
	return 8, show
}
