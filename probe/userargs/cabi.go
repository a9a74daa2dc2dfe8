package userargs

import (
	"debug/dwarf"
)

// cArguments places a C or C++ function's arguments by the System V ABI (amd64) or AAPCS64
// (arm64). Every argument is classified, captured or not, because each one takes registers or
// stack from those after it.
func cArguments(machine arch, data *dwarf.Data, found *subprogram, types []dwarf.Type, returnType dwarf.Type) []Argument {
	place := newCPlacer(machine)
	if machine.cHiddenReturnInArgument && returnType != nil && returnsInMemory(data, found.returnType, returnType) {
		place.integers++ // the caller passes the return value's address in the first register
	}
	arguments := make([]Argument, len(found.parameters))
	for i, p := range found.parameters {
		typ, reason := describe(types[i], false)
		byReference := passedByReference(data, p.typeOffset)
		var parts []Location
		switch {
		case byReference:
			parts = place.pointer()
		case machine.name == "amd64":
			parts = place.amd64(types[i])
		default:
			parts = place.arm64(types[i])
		}
		switch {
		case found.noCall:
			reason = "the compiler changed how this function is called (DW_CC_nocall), so its arguments are not where the ABI puts them"
		case byReference:
			reason = typ.Name + " is passed by value (as a hidden reference): only integers, bools, enums, strings and pointers to structs are read"
		case p.name == "":
			reason = "the parameter has no name"
		case reason == "" && len(parts) == 0:
			reason = typ.Name + " is passed where it is not read"
		}
		argument := Argument{Name: p.name, Type: typ, Unsupported: reason}
		if reason == "" {
			argument.Parts = parts[:1]
		} else {
			argument.Type.Kind = Unsupported
		}
		arguments[i] = argument
	}
	return arguments
}

// cLargestAlignment is the largest alignment of a C type passed in general-purpose registers or
// on the stack (__int128, long double).
const cLargestAlignment = 16

// cPlacer hands out argument registers and stack slots in order.
type cPlacer struct {
	machine  arch
	integers int // next general-purpose argument register (NGRN)
	floats   int // next floating-point/vector register (NSRN)
	stack    int // next stack offset in the argument area (NSAA)
}

func newCPlacer(machine arch) *cPlacer { return &cPlacer{machine: machine} }

func (c *cPlacer) register(n int) Location {
	return Location{Register: true, Offset: c.machine.cIntegerRegisters[n]}
}

// pointer places a pointer: the next integer register, or else one stack slot. A value passed by
// reference (a C++ class with a copy constructor; on arm64 a large composite) goes as a pointer
// to the caller's copy.
func (c *cPlacer) pointer() []Location {
	if c.integers < len(c.machine.cIntegerRegisters) {
		c.integers++
		return []Location{c.register(c.integers - 1)}
	}
	return c.onStack(8, 8)
}

// onStack places a value of size bytes and the given alignment on the stack, each argument in
// slots of 8 bytes.
func (c *cPlacer) onStack(size, align int) []Location {
	c.stack = alignUp(c.stack, max(8, align))
	location := Location{Offset: c.machine.cStackStart + c.stack}
	c.stack += alignUp(max(size, 1), 8)
	return []Location{location}
}

// Classes of an eightbyte in the System V amd64 ABI (section 3.2.3).
type eightbyteClass int

const (
	classNone eightbyteClass = iota
	classInteger
	classSSE
	classMemory
)

func (c *cPlacer) amd64(t dwarf.Type) []Location {
	classes := classifyAMD64(t)
	integers, floats := 0, 0
	for _, class := range classes {
		switch class {
		case classInteger:
			integers++
		case classSSE:
			floats++
		case classMemory:
			return c.onStack(int(t.Size()), alignment(t, cLargestAlignment))
		}
	}
	if classes == nil || c.integers+integers > len(c.machine.cIntegerRegisters) || c.floats+floats > c.machine.cFloatRegisters {
		return c.onStack(int(t.Size()), alignment(t, cLargestAlignment))
	}
	var parts []Location
	for _, class := range classes {
		if class == classInteger {
			parts = append(parts, c.register(c.integers))
			c.integers++
		}
	}
	c.floats += floats
	return parts // none for a value in vector registers only
}

// classifyAMD64 classifies each eightbyte of a value; nil means it is passed in memory.
func classifyAMD64(t dwarf.Type) []eightbyteClass {
	size := int(t.Size())
	if size > 16 || size <= 0 {
		return nil
	}
	classes := make([]eightbyteClass, (size+7)/8)
	if !classifyInto(t, 0, classes) {
		return nil
	}
	for _, class := range classes {
		if class == classMemory {
			return nil
		}
	}
	return classes
}

func classifyInto(t dwarf.Type, offset int, classes []eightbyteClass) bool {
	merge := func(at int, class eightbyteClass) bool {
		if at < 0 || at >= len(classes) {
			return false
		}
		switch {
		case classes[at] == classNone || class == classMemory:
			classes[at] = class
		case classes[at] == classMemory:
		case class == classInteger:
			classes[at] = classInteger
		}
		return true
	}
	size := int(t.Size())
	switch u := underlying(t).(type) {
	case *dwarf.StructType:
		for _, f := range u.Field {
			fieldOffset := offset + int(f.ByteOffset)
			if f.BitSize > 0 {
				if f.DataBitOffset != 0 {
					fieldOffset = offset + int(f.DataBitOffset/8)
				}
				if !merge(fieldOffset/8, classInteger) {
					return false
				}
				continue
			}
			if u.Kind == "union" {
				fieldOffset = offset
			}
			if !classifyInto(f.Type, fieldOffset, classes) {
				return false
			}
		}
		return true
	case *dwarf.ArrayType:
		elementSize := int(u.Type.Size())
		for i := 0; i < int(u.Count) && elementSize > 0; i++ {
			if !classifyInto(u.Type, offset+i*elementSize, classes) {
				return false
			}
		}
		return true
	case *dwarf.FloatType:
		if size > 8 { // long double: x87 class, passed in memory
			return merge(offset/8, classMemory)
		}
		return offset%size == 0 && merge(offset/8, classSSE)
	case *dwarf.ComplexType:
		if size > 16 {
			return merge(offset/8, classMemory)
		}
		half := size / 2
		return merge(offset/8, classSSE) && merge((offset+half)/8, classSSE)
	}
	if size <= 0 || offset%min(size, 8) != 0 {
		return false // unaligned field (a packed struct): memory
	}
	for at := offset; at < offset+size; at += 8 {
		if !merge(at/8, classInteger) {
			return false
		}
	}
	return true
}

// returnsInMemory says whether a C or C++ function returns through memory whose address the caller
// passes as a hidden first argument.
func returnsInMemory(data *dwarf.Data, offset dwarf.Offset, t dwarf.Type) bool {
	switch underlying(t).(type) {
	case *dwarf.StructType, *dwarf.ComplexType, *dwarf.FloatType, *dwarf.ArrayType:
		return passedByReference(data, offset) || classifyAMD64(t) == nil
	}
	return false
}

// passedByReference says whether a C++ class is non-trivial for the purposes of calls (Itanium C++
// ABI, section 3.1.2), so that it is passed and returned by invisible reference. Clang says so
// with DW_AT_calling_convention; GCC does not, so the class's members tell: a user-provided copy
// or move constructor or destructor, a virtual function or base, or a base or member that is
// itself non-trivial.
func passedByReference(data *dwarf.Data, offset dwarf.Offset) bool {
	return nonTrivialForCalls(data, offset, 0)
}

// DWARF 5 attributes that debug/dwarf does not name.
const (
	attrDeleted    = dwarf.Attr(0x8a)
	attrDefaulted  = dwarf.Attr(0x8b) // DW_DEFAULTED_in_class (1): trivial where the members are
	attrVirtuality = dwarf.Attr(0x4c)

	callingConventionPassByValue = 0x05
)

func nonTrivialForCalls(data *dwarf.Data, offset dwarf.Offset, depth int) bool {
	if depth > 16 {
		return false
	}
	entry, err := entryAt(data, offset)
	if err != nil {
		return false
	}
	switch entry.Tag {
	case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagArrayType:
		next, ok := entry.Val(dwarf.AttrType).(dwarf.Offset)
		return ok && nonTrivialForCalls(data, next, depth+1)
	case dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType:
	default:
		return false
	}
	switch convention, _ := entry.Val(dwarf.AttrCalling).(int64); convention {
	case callingConventionPassByReference:
		return true
	case callingConventionPassByValue:
		return false
	}
	name := stringValue(entry, dwarf.AttrName)
	reader := data.Reader()
	reader.Seek(offset)
	if _, err := reader.Next(); err != nil || !entry.Children {
		return false
	}
	for {
		child, err := reader.Next()
		if err != nil || child == nil || child.Tag == 0 {
			return false
		}
		if child.Children {
			reader.SkipChildren()
		}
		switch child.Tag {
		case dwarf.TagInheritance:
			if child.Val(attrVirtuality) != nil {
				return true
			}
			fallthrough
		case dwarf.TagMember:
			if static, _ := child.Val(dwarf.AttrExternal).(bool); static {
				continue
			}
			if base, ok := child.Val(dwarf.AttrType).(dwarf.Offset); ok && nonTrivialForCalls(data, base, depth+1) {
				return true
			}
		case dwarf.TagSubprogram:
			if virtuality, _ := child.Val(attrVirtuality).(int64); virtuality != 0 {
				return true
			}
			artificial, _ := child.Val(dwarf.AttrArtificial).(bool)
			defaulted, _ := child.Val(attrDefaulted).(int64)
			if artificial || defaulted == 1 {
				continue
			}
			member := stringValue(child, dwarf.AttrName)
			if member == "~"+name || member == name && copiesOrMoves(data, child, offset) {
				return true
			}
		}
	}
}

// copiesOrMoves says whether a constructor's first declared parameter is a reference to its own
// class: a copy or move constructor.
func copiesOrMoves(data *dwarf.Data, constructor *dwarf.Entry, class dwarf.Offset) bool {
	parameters, err := formalParameters(data, constructor.Offset)
	if err != nil {
		return false
	}
	for _, p := range parameters {
		entry, err := entryAt(data, p.typeOffset)
		if err != nil {
			return false
		}
		if entry.Tag != dwarf.TagReferenceType && entry.Tag != dwarf.TagRvalueReferenceType {
			continue // 'this', which points to the class
		}
		target, _ := entry.Val(dwarf.AttrType).(dwarf.Offset)
		for i := 0; i < 4 && target != class; i++ {
			qualified, err := entryAt(data, target)
			if err != nil || qualified.Tag != dwarf.TagConstType && qualified.Tag != dwarf.TagVolatileType {
				break
			}
			target, _ = qualified.Val(dwarf.AttrType).(dwarf.Offset)
		}
		return target == class
	}
	return false
}

func (c *cPlacer) arm64(t dwarf.Type) []Location {
	registers := len(c.machine.cIntegerRegisters)
	size := int(t.Size())
	members := floatMembers(t)
	if size > 16 && members == 0 {
		return c.pointer() // a large composite: a pointer to the caller's copy
	}
	if members > 0 {
		if c.floats+members <= c.machine.cFloatRegisters {
			c.floats += members
			return nil // in vector registers, which are not read
		}
		c.floats = c.machine.cFloatRegisters
		return c.onStack(size, alignment(t, cLargestAlignment))
	}
	align := alignment(t, cLargestAlignment)
	if align == 16 {
		c.integers = alignUp(c.integers, 2)
	}
	doublewords := (size + 7) / 8
	if c.integers+doublewords <= registers {
		var parts []Location
		for range doublewords {
			parts = append(parts, c.register(c.integers))
			c.integers++
		}
		return parts
	}
	c.integers = registers
	return c.onStack(size, align)
}

// floatMembers is the number of vector registers a floating-point value or a homogeneous
// floating-point aggregate (AAPCS64 HFA: one to four members of one floating-point type) takes;
// zero for anything else.
func floatMembers(t dwarf.Type) int {
	var member dwarf.Type
	count := 0
	var walk func(t dwarf.Type) bool
	walk = func(t dwarf.Type) bool {
		switch u := underlying(t).(type) {
		case *dwarf.FloatType:
			if member != nil && member.Size() != u.Size() {
				return false
			}
			member = u
			count++
			return true
		case *dwarf.ComplexType:
			half := &dwarf.FloatType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: u.Size() / 2}}}
			for range 2 { // real and imaginary parts
				if !walk(half) {
					return false
				}
			}
			return true
		case *dwarf.StructType:
			for _, f := range u.Field {
				if !walk(f.Type) {
					return false
				}
			}
			return len(u.Field) > 0
		case *dwarf.ArrayType:
			for range u.Count {
				if !walk(u.Type) {
					return false
				}
			}
			return u.Count > 0
		}
		return false
	}
	if !walk(t) || count > 4 {
		return 0
	}
	return count
}
