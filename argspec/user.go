package argspec

import (
	"fmt"

	"github.com/kretspan/kretspan/probe/userargs"
)

// UserParams describes a user-space function's parameters from its binary's debug information
// and calling convention (package userargs). symbol is its ELF symbol name.
func UserParams(binary *userargs.Binary, symbol string) ([]Param, error) {
	fn, err := binary.Lookup(symbol)
	if err != nil {
		return nil, err // it names the function and what is missing
	}
	params := make([]Param, len(fn.Arguments))
	for i, argument := range fn.Arguments {
		params[i] = Param{Name: argument.Name, Type: argument.Type.Name}
		resolve := func(attr string, path []PathStep) (Arg, error) {
			read, err := fn.Resolve(argument.Name, path)
			if err != nil {
				return Arg{}, err
			}
			return userArg(attr, read)
		}
		params[i].arg = func(attr string) (Arg, error) { return resolve(attr, nil) }
		params[i].field = resolve
	}
	return params, nil
}

// userArg turns a resolved read into the kernel's plan: userargs loads a pointer at each hop but
// the last, and reads the value at the last hop's offset.
func userArg(attr string, read userargs.Read) (Arg, error) {
	parts := read.Argument.Parts
	if len(parts) == 0 {
		return Arg{}, fmt.Errorf("'%s' has no location at entry", read.Path)
	}
	a := Arg{Name: attr, Type: read.Type.Name, UserMemory: true, Offset: int32(parts[0].Offset), Source: SourceStack}
	if parts[0].Register {
		a.Source = SourceRegsOffset
	}
	if n := len(read.Hops); n > 0 {
		for _, h := range read.Hops[:n-1] {
			a.Hops = append(a.Hops, int32(h.Offset))
		}
		a.Field, a.FieldOffset = true, int32(read.Hops[n-1].Offset)
	}
	typ := read.Type
	switch typ.Kind {
	case userargs.Signed, userargs.Unsigned, userargs.Bool, userargs.Enum:
		a.Size = uint8(typ.Size)
		a.Show = map[userargs.Kind]Show{userargs.Signed: ShowSigned, userargs.Unsigned: ShowUnsigned, userargs.Bool: ShowBool, userargs.Enum: ShowEnum}[typ.Kind]
		if typ.Kind == userargs.Enum {
			a.Enum = map[uint64]string{}
			for v, name := range typ.Enumerators {
				a.Enum[maskTo(uint64(v), a.Size)] = name
			}
		}
		if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
			return Arg{}, fmt.Errorf("'%s' is an integer of %d bytes, which kretspan cannot read", read.Path, a.Size)
		}
	case userargs.CString:
		a.Read = ReadStringUser
		if a.Field { // the field holds the string's pointer: load it
			a.Hops = append(a.Hops, a.FieldOffset)
			a.Field, a.FieldOffset = false, 0
		}
	case userargs.GoString:
		a.Read = ReadGoString
		if !a.Field {
			if len(parts) != 2 || parts[1].Register != parts[0].Register {
				return Arg{}, fmt.Errorf("'%s': a Go string split between registers and the stack", read.Path)
			}
			a.LengthOffset = int32(parts[1].Offset)
		}
	default:
		return Arg{}, fmt.Errorf("'%s' (%s) cannot be read", read.Path, typ.Name)
	}
	return a, nil // Plan.finish checks the hops against MaxHops, as for every argument
}

// maskTo keeps the low size bytes of v; size 0 (no size known) keeps them all.
func maskTo(v uint64, size uint8) uint64 {
	if size == 0 || size >= 8 {
		return v
	}
	return v & (1<<(8*uint(size)) - 1)
}
