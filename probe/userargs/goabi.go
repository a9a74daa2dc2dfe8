package userargs

import (
	"debug/dwarf"
	"regexp"
	"strings"
)

// goArguments places a Go function's arguments by the register ABI (ABIInternal, Go 1.17 on
// amd64 and 1.18 on arm64). Each argument is register-assigned whole: integers, pointers and the
// words of strings, slices and interfaces take integer registers in order, floats take
// floating-point registers; an argument that does not fit in what is left goes whole to the
// stack, and later arguments may still take registers.
//
// An instantiation of a generic function or method (its symbol names a go.shape type) takes a
// dictionary pointer that DWARF does not list: first, or after a method's receiver. A closure
// inside one reaches the dictionary through its context instead.
func goArguments(machine arch, symbol string, parameters []parameter, types []dwarf.Type) []Argument {
	place := goPlacer{machine: machine}
	dictionary := goDictionaryPosition(symbol)
	arguments := make([]Argument, len(parameters))
	for i, p := range parameters {
		if i == dictionary {
			place.assign(&dwarf.PtrType{CommonType: dwarf.CommonType{ByteSize: 8}, Type: &dwarf.VoidType{}})
		}
		typ, reason := describe(types[i], true)
		parts := place.assign(types[i])
		switch {
		case strings.HasPrefix(p.name, "~") || strings.HasPrefix(p.name, ".") || p.name == "_" || p.name == "":
			reason = "the parameter has no name"
		case reason == "" && len(parts) == 0:
			reason = typ.Name + " is passed where it is not read"
		}
		argument := Argument{Name: p.name, Type: typ, Unsupported: reason}
		if reason == "" {
			argument.Parts = parts
		} else {
			argument.Type.Kind = Unsupported
		}
		arguments[i] = argument
	}
	return arguments
}

var goClosureSuffix = regexp.MustCompile(`\.func\d+(\.\d+)*$`)

// goDictionaryPosition is the index among the DWARF parameters before which a generic
// instantiation's dictionary goes, or -1 when the function takes none.
func goDictionaryPosition(symbol string) int {
	switch {
	case !strings.Contains(symbol, "[go.shape."), goClosureSuffix.MatchString(symbol):
		return -1
	case strings.HasSuffix(symbol, "]"): // a function: pkg.F[go.shape.int]
		return 0
	}
	return 1 // a method: pkg.(*T[go.shape.int]).M, after the receiver
}

// goLargestAlignment is the largest alignment of a Go type on a 64-bit platform.
const goLargestAlignment = 8

type goPlacer struct {
	machine  arch
	integers int // integer registers used
	floats   int // floating-point registers used
	stack    int // bytes of stack-assigned arguments so far
}

// assign register-assigns one argument, or stack-assigns it when it does not fit. The parts are
// its integer registers in order, or its 8-byte words on the stack: stack-assigned arguments are
// laid out in order from goStackStart, each aligned to its type.
func (g *goPlacer) assign(t dwarf.Type) (parts []Location) {
	integers, floats := g.integers, g.floats
	if g.registers(t, &parts) {
		return parts
	}
	g.integers, g.floats = integers, floats
	g.stack = alignUp(g.stack, alignment(t, goLargestAlignment))
	parts = nil
	for word := 0; word < int(t.Size()); word += 8 {
		parts = append(parts, Location{Offset: g.machine.goStackStart + g.stack + word})
	}
	g.stack += int(t.Size())
	return parts
}

// registers follows the ABI's register assignment of a value of type t, recursively.
func (g *goPlacer) registers(t dwarf.Type, parts *[]Location) bool {
	switch u := underlying(t).(type) {
	case *dwarf.StructType:
		for _, f := range u.Field {
			if !g.registers(f.Type, parts) {
				return false
			}
		}
		return true
	case *dwarf.ArrayType:
		switch u.Count {
		case 0:
			return true
		case 1:
			return g.registers(u.Type, parts)
		}
		return false
	case *dwarf.FloatType:
		return g.takeFloats(1)
	case *dwarf.ComplexType:
		return g.takeFloats(2)
	}
	if t.Size() == 0 {
		return true
	}
	if g.integers == len(g.machine.goIntegerRegisters) {
		return false
	}
	*parts = append(*parts, Location{Register: true, Offset: g.machine.goIntegerRegisters[g.integers]})
	g.integers++
	return true
}

func (g *goPlacer) takeFloats(n int) bool {
	if g.floats+n > g.machine.goFloatRegisters {
		return false
	}
	g.floats += n
	return true
}
