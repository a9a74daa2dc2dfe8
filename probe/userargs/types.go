package userargs

import (
	"debug/dwarf"
	"fmt"
	"strings"
)

// referenceType is a C++ lvalue or rvalue reference, which the ABI passes as a pointer.
type referenceType struct {
	dwarf.CommonType
	Type   dwarf.Type
	rvalue bool
}

func (r *referenceType) String() string { return typeName(r, false) }
func (r *referenceType) Size() int64    { return 8 }

// underlying strips typedefs and const/volatile/restrict qualifiers.
func underlying(t dwarf.Type) dwarf.Type {
	for i := 0; i < 64; i++ {
		switch u := t.(type) {
		case *dwarf.TypedefType:
			t = u.Type
		case *dwarf.QualType:
			t = u.Type
		default:
			return t
		}
	}
	return t
}

// describe says how a value of type t is read, for a C or C++ function (goLanguage false) or a
// Go one. A non-empty reason means it cannot be.
func describe(t dwarf.Type, goLanguage bool) (typ Type, reason string) {
	typ = Type{Name: typeName(t, goLanguage), Size: int(t.Size())}
	if goLanguage {
		// Go's maps, channels and funcs are pointers to runtime structures.
		for _, prefix := range []struct{ name, kind string }{{"map[", "a map"}, {"chan ", "a channel"}, {"<-chan ", "a channel"}, {"chan<- ", "a channel"}, {"func(", "a func"}} {
			if strings.HasPrefix(typ.Name, prefix.name) {
				return typ, fmt.Sprintf("%s is %s: not read", typ.Name, prefix.kind)
			}
		}
	}
	switch u := underlying(t).(type) {
	case *dwarf.IntType, *dwarf.CharType:
		typ.Kind = Signed
	case *dwarf.UintType, *dwarf.UcharType:
		typ.Kind = Unsigned
	case *dwarf.BoolType:
		typ.Kind = Bool
	case *dwarf.EnumType:
		typ.Kind = Enum
		typ.Enumerators = make(map[int64]string, len(u.Val))
		for _, v := range u.Val {
			typ.Enumerators[signExtend(v.Val, typ.Size)] = v.Name
		}
	case *dwarf.PtrType:
		typ.Size = 8
		switch target := underlying(u.Type).(type) {
		case *dwarf.CharType, *dwarf.UcharType:
			if !goLanguage {
				typ.Kind = CString
				return typ, ""
			}
		case *dwarf.StructType:
			if !goLanguage || !isGoString(target) {
				typ.Kind = Pointer
				return typ, ""
			}
		}
		return typ, fmt.Sprintf("%s is a pointer: kretspan does not export addresses; it reads strings and the fields of structs", typ.Name)
	case *dwarf.StructType:
		switch {
		case goLanguage && isGoString(u):
			typ.Kind = GoString
			return typ, ""
		case goLanguage && strings.HasPrefix(u.StructName, "[]"):
			return typ, fmt.Sprintf("%s is a slice: not read", typ.Name)
		case goLanguage && (u.StructName == "runtime.iface" || u.StructName == "runtime.eface"):
			return typ, fmt.Sprintf("%s is an interface: not read", typ.Name)
		}
		return typ, fmt.Sprintf("%s is passed by value: only integers, bools, enums, strings and pointers to structs are read", typ.Name)
	case *dwarf.FloatType, *dwarf.ComplexType:
		return typ, fmt.Sprintf("%s is floating-point: not read", typ.Name)
	case *referenceType:
		return typ, fmt.Sprintf("%s is a C++ reference: not read", typ.Name)
	default:
		return typ, fmt.Sprintf("%s is not read: only integers, bools, enums, strings and pointers to structs are", typ.Name)
	}
	if typ.Size < 1 || typ.Size > 8 {
		return typ, fmt.Sprintf("%s is %d bytes: integers of 1 to 8 bytes are read", typ.Name, typ.Size)
	}
	return typ, ""
}

// isGoString recognises a Go string, or the shape of one in a generic instantiation.
func isGoString(t *dwarf.StructType) bool {
	return (t.StructName == "string" || t.StructName == "go.shape.string") && len(t.Field) == 2 && t.Size() == 16
}

func signExtend(value int64, size int) int64 {
	if size <= 0 || size >= 8 {
		return value
	}
	shift := 64 - 8*size
	return value << shift >> shift
}

// typeName spells a type as its language does: "const char *", "struct request *", "*main.request".
func typeName(t dwarf.Type, goLanguage bool) string {
	if goLanguage {
		if typedef, ok := t.(*dwarf.TypedefType); ok && strings.HasPrefix(typedef.Name, ".") {
			return typeName(typedef.Type, true) // a type parameter (".param0"): spell its shape
		}
		if s, ok := t.(*dwarf.StructType); ok && s.StructName != "" {
			return s.StructName
		}
		if name := t.Common().Name; name != "" {
			return name
		}
		return t.String()
	}
	switch u := t.(type) {
	case *dwarf.QualType:
		inner := typeName(u.Type, false)
		if _, pointer := u.Type.(*dwarf.PtrType); pointer {
			return inner + " " + u.Qual
		}
		return u.Qual + " " + inner
	case *dwarf.PtrType:
		if _, function := underlying(u.Type).(*dwarf.FuncType); function {
			return "function pointer"
		}
		inner := typeName(u.Type, false)
		if strings.HasSuffix(inner, "*") {
			return inner + "*"
		}
		return inner + " *"
	case *dwarf.StructType:
		if u.StructName == "" {
			return "anonymous " + u.Kind
		}
		return u.Kind + " " + u.StructName
	case *referenceType:
		if u.rvalue {
			return typeName(u.Type, false) + " &&"
		}
		return typeName(u.Type, false) + " &"
	case *dwarf.EnumType:
		if u.EnumName == "" {
			return "anonymous enum"
		}
		return "enum " + u.EnumName
	case *dwarf.ArrayType:
		return fmt.Sprintf("%s[%d]", typeName(u.Type, false), u.Count)
	case *dwarf.VoidType:
		return "void"
	}
	if name := t.Common().Name; name != "" {
		return name
	}
	return t.String()
}

// alignment is the type's natural alignment, which places it on the stack: a scalar's size up to
// largest, a composite's largest member's.
func alignment(t dwarf.Type, largest int) int {
	switch u := underlying(t).(type) {
	case *dwarf.StructType:
		align := 1
		for _, f := range u.Field {
			align = max(align, alignment(f.Type, largest))
		}
		return align
	case *dwarf.ArrayType:
		return alignment(u.Type, largest)
	case *dwarf.ComplexType:
		return max(1, min(int(u.Size()/2), largest))
	}
	align := 1
	for align*2 <= min(int(t.Size()), largest) {
		align *= 2
	}
	return align
}

func alignUp(n, align int) int {
	return (n + align - 1) / align * align
}
