package userargs

import (
	"debug/dwarf"
	"fmt"
	"strings"
)

// Step is one field of a field path: its name, and whether it is reached through a pointer (->) or
// within the struct (.). Package argspec parses a probe spec's paths into an argument's name and
// steps.
type Step struct {
	Name    string
	Pointer bool // reached by ->
}

// Spell writes a field path as a probe spec does, "req->hdr.len": from (an argument's name, or a
// path already spelled), then each step.
func Spell(from string, steps ...Step) string {
	var b strings.Builder
	b.WriteString(from)
	for _, s := range steps {
		if s.Pointer {
			b.WriteString("->")
		} else {
			b.WriteString(".")
		}
		b.WriteString(s.Name)
	}
	return b.String()
}

// NoSuchArgument is the error for a path that starts at no argument of function, in the words
// every kind of probe uses: "handle has no argument 'tg'; it has n, tag, req".
func NoSuchArgument(function, name string, arguments []string) error {
	have := "none"
	if len(arguments) > 0 {
		have = strings.Join(arguments, ", ")
	}
	return fmt.Errorf("%s has no argument '%s'; it has %s", function, name, have)
}

// Resolve compiles a path that names an argument (no steps: "n") or a field reached from one
// ("req->name", "req->hdr.len") into a Read. In a Go function "." also goes through a pointer, as
// in Go. Errors name what exists: "handle has no argument 'tg'; it has n, tag, req".
func (f *Function) Resolve(argumentName string, steps []Step) (Read, error) {
	var argument *Argument
	for i := range f.Arguments {
		if f.Arguments[i].Name == argumentName {
			argument = &f.Arguments[i]
		}
	}
	if argument == nil {
		names := make([]string, len(f.Arguments))
		for i, a := range f.Arguments {
			names[i] = a.Name
		}
		return Read{}, NoSuchArgument(f.Symbol, argumentName, names)
	}
	if argument.Type.Kind == Unsupported {
		return Read{}, fmt.Errorf("argument %s cannot be read: %s", argument.Name, argument.Unsupported)
	}
	read := Read{Argument: *argument, Type: argument.Type, Path: Spell(argument.Name, steps...)}
	if len(steps) == 0 {
		if argument.Type.Kind == Pointer {
			return Read{}, fmt.Errorf("argument %s is a %s, whose address is not exported; name a field, e.g. %s", argument.Name, argument.Type.Name, Spell(argument.Name, Step{Name: f.firstField(argument.Name), Pointer: true}))
		}
		return read, nil
	}
	if argument.Type.Kind != Pointer {
		return Read{}, fmt.Errorf("argument %s (%s) has no fields: it is not a pointer to a struct", argument.Name, argument.Type.Name)
	}
	goLanguage := f.Language == "Go"
	current := f.types[argument.Name]
	reached := argument.Name
	for _, step := range steps {
		if step.Name == "" {
			return Read{}, fmt.Errorf("a field's name is missing after %s", reached)
		}
		pointer, isPointer := underlying(current).(*dwarf.PtrType)
		through := step.Pointer || goLanguage && isPointer
		switch {
		case through && !isPointer:
			return Read{}, fmt.Errorf("%s is a %s, not a pointer: write %s", reached, typeName(current, goLanguage), Spell(reached, Step{Name: step.Name}))
		case !through && isPointer:
			return Read{}, fmt.Errorf("%s is a pointer: write %s", reached, Spell(reached, Step{Name: step.Name, Pointer: true}))
		case through:
			read.Hops = append(read.Hops, Hop{})
			current = pointer.Type
		}
		structure, isStruct := underlying(current).(*dwarf.StructType)
		if !isStruct || read.Hops == nil {
			return Read{}, fmt.Errorf("%s is a %s, which has no fields", reached, typeName(current, goLanguage))
		}
		if structure.Incomplete {
			return Read{}, fmt.Errorf("%s is only declared in this binary's DWARF, its fields are not known", typeName(current, goLanguage))
		}
		field, offset, found := findField(structure, step.Name)
		if !found {
			return Read{}, fmt.Errorf("%s has no field '%s'; it has %s", typeName(current, goLanguage), step.Name, strings.Join(fieldNames(structure), ", "))
		}
		if field.BitSize > 0 {
			return Read{}, fmt.Errorf("%s.%s is a bit-field, which is not read", typeName(current, goLanguage), step.Name)
		}
		read.Hops[len(read.Hops)-1].Offset += offset
		current = field.Type
		reached = Spell(reached, step)
	}
	typ, reason := describe(current, goLanguage)
	switch {
	case typ.Kind == Pointer && reason == "":
		return Read{}, fmt.Errorf("%s is a %s, whose address is not exported; name one of its fields: %s", reached, typ.Name, strings.Join(fieldNames(underlying(underlying(current).(*dwarf.PtrType).Type).(*dwarf.StructType)), ", "))
	case reason != "":
		return Read{}, fmt.Errorf("%s cannot be read: %s", reached, reason)
	}
	read.Type = typ
	return read, nil
}

// firstField names a field of the struct an argument points to, for an example in a message.
func (f *Function) firstField(argument string) string {
	if pointer, ok := underlying(f.types[argument]).(*dwarf.PtrType); ok {
		if structure, ok := underlying(pointer.Type).(*dwarf.StructType); ok {
			if names := fieldNames(structure); len(names) > 0 {
				return names[0]
			}
		}
	}
	return "field"
}

// findField finds a member by name, looking into anonymous struct and union members as C11 does,
// and returns its offset from the start of s.
func findField(s *dwarf.StructType, name string) (*dwarf.StructField, int, bool) {
	for _, field := range s.Field {
		if field.Name == name {
			return field, int(field.ByteOffset), true
		}
		if inner, anonymous := underlying(field.Type).(*dwarf.StructType); anonymous && field.Name == "" {
			if found, offset, ok := findField(inner, name); ok {
				return found, int(field.ByteOffset) + offset, true
			}
		}
	}
	return nil, 0, false
}

func fieldNames(s *dwarf.StructType) []string {
	var names []string
	for _, field := range s.Field {
		if inner, anonymous := underlying(field.Type).(*dwarf.StructType); anonymous && field.Name == "" {
			names = append(names, fieldNames(inner)...)
			continue
		}
		names = append(names, field.Name)
	}
	return names
}
