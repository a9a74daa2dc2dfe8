// Package argspec compiles the arguments a probe captures into a fixed plan of reads that the
// BPF programs follow at each call's entry: where each value is (a parameter, a register, the
// stack), the pointer hops of a field path, and how the final value is read (an integer, a string,
// a file's path). Names and types come from the syscall tracepoints' format files, from the
// kernel's BTF, and, for user-space functions, from the binary's debug information. It also
// decodes the values the programs captured.
package argspec

import (
	"fmt"
	"strings"

	"github.com/kretspan/kretspan/probe/userargs"
)

// Limits of a plan, the kernel's (kretspan.h) too.
const (
	MaxArgs       = 8    // arguments per probe
	MaxHops       = 4    // pointer hops per field path
	DefaultStrMax = 128  // --arg-string-max
	MaxStringMax  = 1024 // the largest --arg-string-max
)

// Source is where an argument's value is at entry (enum arg_source).
type Source uint8

const (
	SourceParameter  Source = iota // the function's parameter number Index
	SourceRegsOffset               // a register at byte Offset in pt_regs (uprobes)
	SourceStack                    // the word at Offset from the stack pointer, in user memory (uprobes)
)

// Read is how the final value is read (enum arg_read).
type Read uint8

const (
	ReadInteger Read = iota
	ReadStringUser
	ReadStringKernel
	ReadStringAny // kernel memory, else user memory
	ReadFDPath
	ReadFilePath
	ReadPathPath
	ReadDentryPath
	ReadGoString // a Go string in user memory: pointer, then length (at LengthOffset)
)

// IsString says the value read is a string.
func (r Read) IsString() bool { return r >= ReadStringUser && r <= ReadStringAny || r == ReadGoString }

// IsPath says the value read is a file's path.
func (r Read) IsPath() bool { return r >= ReadFDPath && r <= ReadDentryPath }

// Show is how an integer value is shown.
type Show uint8

const (
	ShowUnsigned Show = iota
	ShowSigned
	ShowBool
	ShowEnum
)

// Arg is one argument's compiled read, and how its value is shown.
type Arg struct {
	Name string // the attribute is kretspan.arg.NAME, or file.path (Key)
	Key  string // the attribute key
	Type string // as declared, e.g. "const char *"

	Source Source
	Index  uint8 // SourceParameter: 0-based
	Offset int32 // SourceRegsOffset, SourceStack
	// LengthOffset is where a Go string argument's length is, from the same source as Offset.
	LengthOffset int32
	Hops         []int32
	// Field: the value is at the address the hops reach plus FieldOffset.
	Field       bool
	FieldOffset int32
	Size        uint8 // integer bytes: 1, 2, 4 or 8
	Read        Read
	UserMemory  bool // hops and fields are in user memory
	Show        Show
	Enum        map[uint64]string // ShowEnum: enumerator names by value
}

// Plan is a probe's arguments, in the order captured.
type Plan struct {
	Args []Arg
}

// Param is a function's parameter as its description names it, and how it can be read.
type Param struct {
	Name string
	Type string
	// arg is its read as a whole value, captured as the attribute name; an error says why it
	// has none (a pointer, a type kretspan cannot read).
	arg func(name string) (Arg, error)
	// field resolves a field path into it; nil when it has no fields.
	field func(name string, path []PathStep) (Arg, error)
}

// Uncaptured says, by parameter name, why --args leaves a parameter out when none is named.
func Uncaptured(params []Param) map[string]string {
	_, why := everyReadable(params)
	return why
}

// everyReadable is what --args captures when no argument is named: each parameter that reads as
// a value, in order. Left out, with the reason in why: pointers (never exported as addresses), a
// char * that is not const (a buffer the call fills, whose bytes at entry mean nothing; naming it
// reads it), and a second file path (a probe has one file.path).
func everyReadable(params []Param) (args []Arg, why map[string]string) {
	why = map[string]string{}
	path := ""
	for _, p := range params {
		a, err := p.arg(p.Name)
		switch {
		case err != nil:
			why[p.Name] = err.Error()
		case a.Read.IsString() && !strings.HasPrefix(p.Type, "const ") && strings.HasSuffix(p.Type, "*"):
			why[p.Name] = fmt.Sprintf("a buffer (%s) the call may fill; name it to read it as a string", p.Type)
		case a.Read.IsPath() && path != "":
			why[p.Name] = fmt.Sprintf("a probe captures one file path, and %s's comes first; name %s to read it instead", path, p.Name)
		default:
			if a.Read.IsPath() {
				path = p.Name
			}
			args = append(args, a)
		}
	}
	return args, why
}

// Selector is one argument named in a probe spec: NAME=EXPR, or EXPR.
type Selector struct {
	Name string // the attribute's NAME; "" to derive it from the expression
	Expr string // a parameter, or a field path: file->f_path.dentry->d_name.name
}

// Compile makes the plan of a function with params: the arguments selected, or, with none
// selected, every readable one. Errors are the user's: they name what exists.
func Compile(function string, params []Param, selected []Selector) (*Plan, error) {
	plan := &Plan{}
	byName := map[string]Param{}
	for _, p := range params {
		byName[p.Name] = p
	}
	if len(selected) == 0 {
		plan.Args, _ = everyReadable(params)
	}
	for _, s := range selected {
		path, err := ParsePath(s.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s(%s): %w", function, s.Expr, err)
		}
		p, ok := byName[path[0].Name]
		if !ok {
			names := make([]string, len(params))
			for i, p := range params {
				names[i] = p.Name
			}
			return nil, userargs.NoSuchArgument(function, path[0].Name, names)
		}
		name := s.Name
		if name == "" {
			name = path.AttributeName()
		}
		var a Arg
		if len(path) == 1 {
			a, err = p.arg(name)
		} else if p.field == nil {
			err = fmt.Errorf("argument '%s' (%s) has no fields", p.Name, p.Type)
		} else {
			a, err = p.field(name, path[1:])
		}
		if err != nil {
			return nil, fmt.Errorf("%s(%s): %w", function, s.Expr, err)
		}
		plan.Args = append(plan.Args, a)
	}
	if err := plan.finish(); err != nil {
		return nil, fmt.Errorf("%s: %w", function, err)
	}
	return plan, nil
}

// finish gives each argument its attribute key, checks the limits, and names the first file path
// file.path.
func (p *Plan) finish() error {
	var expanded []Arg
	for _, a := range p.Args {
		if a.Read == ReadFDPath {
			// The descriptor itself, then its file's path.
			number := a
			number.Read, number.Size, number.Show = ReadInteger, 4, ShowSigned
			a.Name += FDPathSuffix
			expanded = append(expanded, number)
		}
		expanded = append(expanded, a)
	}
	p.Args = expanded
	if len(p.Args) > MaxArgs {
		return fmt.Errorf("%d arguments to capture, at most %d", len(p.Args), MaxArgs)
	}
	seen := map[string]bool{}
	filePath := false
	for i := range p.Args {
		a := &p.Args[i]
		if seen[a.Name] {
			return fmt.Errorf("argument name '%s' twice; NAME=EXPR renames one", a.Name)
		}
		seen[a.Name] = true
		a.Key = AttributePrefix + a.Name
		if a.Read.IsPath() {
			if filePath {
				return fmt.Errorf("a probe captures one file path, and '%s' would be a second", a.Name)
			}
			a.Key, filePath = FilePathKey, true
		}
		if len(a.Hops) > MaxHops {
			return fmt.Errorf("'%s' follows %d pointers, at most %d", a.Name, len(a.Hops), MaxHops)
		}
	}
	return nil
}
