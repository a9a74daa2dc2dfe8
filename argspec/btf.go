package argspec

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/kretspan/kretspan/probe/userargs"
)

// KernelParams reads a kernel function's parameters from BTF (the kernel's: btf.LoadKernelSpec,
// or a module's).
func KernelParams(spec *btf.Spec, function string) ([]Param, error) {
	var fn *btf.Func
	if err := spec.TypeByName(function, &fn); err != nil {
		return nil, fmt.Errorf("%s's arguments: no BTF for it: %w", function, err)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return nil, fmt.Errorf("%s's arguments: BTF type %v is not a function prototype", function, fn.Type)
	}
	params := make([]Param, len(proto.Params))
	for i, fp := range proto.Params {
		params[i] = kernelParam(fp.Name, fp.Type, i)
	}
	return params, nil
}

// kernelParam describes one parameter of a kernel function by its BTF type.
func kernelParam(name string, typ btf.Type, index int) Param {
	p := Param{Name: name, Type: typeName(typ)}
	base := Arg{Type: p.Type, Source: SourceParameter, Index: uint8(index)}
	read := func(attr string, path []PathStep) (Arg, error) {
		if index >= maxKernelParams {
			return Arg{}, errBeyondKernelParams(name)
		}
		a := base
		a.Name = attr
		return fieldRead(a, name, typ, path)
	}
	p.arg = func(attr string) (Arg, error) { return read(attr, nil) }
	p.field = read
	return p
}

// maxKernelParams is how many of a kernel function's parameters are read: the registers libbpf's
// PT_REGS_PARMn_CORE names on every architecture.
const maxKernelParams = 5

func errBeyondKernelParams(name string) error {
	return fmt.Errorf("argument '%s' is past a kernel function's first %d, which are all kretspan reads", name, maxKernelParams)
}

// finalRead completes a's read of a value of type typ: the value itself, or (atAddress) the
// object at the address reached.
func finalRead(a Arg, what string, typ btf.Type, atAddress bool) (Arg, error) {
	a.Type = typeName(typ)
	switch t := btf.UnderlyingType(typ).(type) {
	case *btf.Int:
		a.Size, a.Show = uint8(t.Size), ShowUnsigned
		if t.Encoding&btf.Signed != 0 {
			a.Show = ShowSigned
		}
		if t.Encoding&btf.Bool != 0 {
			a.Show = ShowBool
		}
	case *btf.Enum:
		a.Size, a.Show = uint8(t.Size), ShowEnum
		a.Enum = make(map[uint64]string, len(t.Values))
		for _, v := range t.Values {
			a.Enum[maskTo(v.Value, a.Size)] = v.Name
		}
	case *btf.Pointer:
		if atAddress {
			a.Hops = append(a.Hops, a.FieldOffset) // load the pointer, then read what it points to
			a.Field, a.FieldOffset = false, 0
		}
		target := btf.UnderlyingType(t.Target)
		switch tt := target.(type) {
		case *btf.Int:
			if tt.Size == 1 {
				switch {
				case userTagged(t.Target):
					a.Read = ReadStringUser
				case atAddress || len(a.Hops) > 0:
					a.Read = ReadStringKernel
				default:
					a.Read = ReadStringAny
				}
				return a, nil
			}
		case *btf.Struct:
			switch tt.Name {
			case "file":
				a.Read = ReadFilePath
				return a, nil
			case "path":
				a.Read = ReadPathPath
				return a, nil
			case "dentry":
				a.Read = ReadDentryPath
				return a, nil
			}
		}
		return Arg{}, fmt.Errorf("'%s' is a pointer (%s), which kretspan does not export; name a field of what it points to", what, a.Type)
	case *btf.Array:
		if elem, ok := btf.UnderlyingType(t.Type).(*btf.Int); ok && elem.Size == 1 && atAddress {
			a.Read = ReadStringKernel
			return a, nil
		}
		return Arg{}, fmt.Errorf("'%s' is an array (%s); only char arrays are read, as strings", what, a.Type)
	case *btf.Struct, *btf.Union:
		if s, ok := t.(*btf.Struct); ok && s.Name == "path" && atAddress {
			a.Read = ReadPathPath
			return a, nil
		}
		return Arg{}, fmt.Errorf("'%s' is a %s; name one of its fields: %s", what, a.Type, memberNames(t))
	default:
		return Arg{}, fmt.Errorf("'%s' has type %s, which kretspan cannot read", what, a.Type)
	}
	if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
		return Arg{}, fmt.Errorf("'%s' is an integer of %d bytes, which kretspan cannot read", what, a.Size)
	}
	return a, nil
}

// fieldRead compiles a field path into an argument of type typ; an empty path reads the argument
// itself.
func fieldRead(a Arg, name string, typ btf.Type, path []PathStep) (Arg, error) {
	atAddress := false // false: the value is the current object itself (a pointer, for a hop)
	what := name
	for _, step := range path {
		current := btf.UnderlyingType(typ)
		if step.Pointer {
			ptr, ok := current.(*btf.Pointer)
			if !ok {
				return Arg{}, fmt.Errorf("'%s' is not a pointer (%s); use . for its fields", what, typeName(typ))
			}
			if atAddress {
				a.Hops = append(a.Hops, a.FieldOffset)
			}
			a.Field, a.FieldOffset = false, 0
			current = btf.UnderlyingType(ptr.Target)
		} else if !atAddress {
			return Arg{}, fmt.Errorf("'%s' is %s; use -> for the fields it points to", what, typeName(typ))
		}
		member, offset, err := findMember(current, step.Name)
		if err != nil {
			return Arg{}, fmt.Errorf("'%s' %w", what, err)
		}
		if member.BitfieldSize != 0 {
			return Arg{}, fmt.Errorf("'%s->%s' is a bit field, which kretspan cannot read", what, step.Name)
		}
		a.Field, a.FieldOffset = true, a.FieldOffset+int32(offset)
		atAddress = true
		typ = member.Type
		what = userargs.Spell(what, step)
	}
	return finalRead(a, what, typ, atAddress)
}

// findMember finds a struct or union's member by name, also within its anonymous members, and
// its offset in bytes.
func findMember(typ btf.Type, name string) (btf.Member, uint32, error) {
	var members []btf.Member
	switch t := typ.(type) {
	case *btf.Struct:
		members = t.Members
	case *btf.Union:
		members = t.Members
	default:
		return btf.Member{}, 0, fmt.Errorf("is %s, which has no fields", typeName(typ))
	}
	for _, m := range members {
		if m.Name == name {
			return m, uint32(m.Offset / 8), nil
		}
		if m.Name == "" {
			if inner, offset, err := findMember(btf.UnderlyingType(m.Type), name); err == nil {
				return inner, uint32(m.Offset/8) + offset, nil
			}
		}
	}
	return btf.Member{}, 0, fmt.Errorf("(%s) has no field '%s'; it has %s", typeName(typ), name, memberNames(typ))
}

// memberNames lists a struct or union's members, those of anonymous members among them.
func memberNames(typ btf.Type) string {
	var names []string
	var collect func(btf.Type)
	collect = func(t btf.Type) {
		var members []btf.Member
		switch t := btf.UnderlyingType(t).(type) {
		case *btf.Struct:
			members = t.Members
		case *btf.Union:
			members = t.Members
		}
		for _, m := range members {
			if m.Name == "" {
				collect(m.Type)
			} else {
				names = append(names, m.Name)
			}
		}
	}
	collect(typ)
	const most = 24
	if len(names) > most {
		names = append(names[:most], fmt.Sprintf("and %d more", len(names)-most))
	}
	return strings.Join(names, ", ")
}

// userTagged says a pointer's target carries the kernel's __user type tag.
func userTagged(typ btf.Type) bool {
	for {
		switch t := typ.(type) {
		case *btf.TypeTag:
			if t.Value == "user" {
				return true
			}
			typ = t.Type
		case *btf.Const:
			typ = t.Type
		case *btf.Volatile:
			typ = t.Type
		case *btf.Restrict:
			typ = t.Type
		default:
			return false
		}
	}
}

// typeName writes a BTF type as C declares it, e.g. "const char *", "struct file *".
func typeName(typ btf.Type) string {
	switch t := typ.(type) {
	case nil:
		return "void"
	case *btf.Void:
		return "void"
	case *btf.Pointer:
		target := strings.TrimSuffix(typeName(t.Target), " ")
		if strings.HasSuffix(target, "*") {
			return target + "*" // struct inode **, as C spells it
		}
		return target + " *"
	case *btf.Const:
		return "const " + typeName(t.Type)
	case *btf.Volatile:
		return "volatile " + typeName(t.Type)
	case *btf.Restrict:
		return typeName(t.Type)
	case *btf.TypeTag:
		return typeName(t.Type) + " __" + t.Value
	case *btf.Struct:
		return "struct " + t.Name
	case *btf.Union:
		return "union " + t.Name
	case *btf.Enum:
		return "enum " + t.Name
	case *btf.Array:
		return fmt.Sprintf("%s[%d]", typeName(t.Type), t.Nelems)
	case *btf.FuncProto:
		return "function"
	default:
		return typ.TypeName()
	}
}
