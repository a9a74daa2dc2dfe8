package userargs

import (
	"debug/dwarf"
	"fmt"
	"strings"
	"unicode"
)

// fieldPath is a parsed expression: an argument, then member accesses.
type fieldPath struct {
	argument string
	steps    []pathStep
}

type pathStep struct {
	arrow bool // "->": through a pointer; otherwise "."
	field string
}

func (p fieldPath) String() string {
	var b strings.Builder
	b.WriteString(p.argument)
	for _, s := range p.steps {
		if s.arrow {
			b.WriteString("->")
		} else {
			b.WriteString(".")
		}
		b.WriteString(s.field)
	}
	return b.String()
}

// parsePath parses "arg", "arg->field", "arg->field.sub->leaf"; blanks around the operators are
// allowed.
func parsePath(expr string) (fieldPath, error) {
	rest := strings.TrimSpace(expr)
	name, rest, err := parseName(expr, rest)
	if err != nil {
		return fieldPath{}, err
	}
	path := fieldPath{argument: name}
	for rest != "" {
		var step pathStep
		switch {
		case strings.HasPrefix(rest, "->"):
			step.arrow, rest = true, rest[2:]
		case strings.HasPrefix(rest, "."):
			rest = rest[1:]
		default:
			return fieldPath{}, fmt.Errorf("field path %q: expected '->' or '.' before %q", expr, rest)
		}
		if step.field, rest, err = parseName(expr, strings.TrimLeft(rest, " \t")); err != nil {
			return fieldPath{}, err
		}
		path.steps = append(path.steps, step)
	}
	return path, nil
}

// parseName takes an identifier (a letter or '_', then letters, digits, '_') off the front of
// rest, and the blanks after it.
func parseName(expr, rest string) (name, after string, err error) {
	end := 0
	for i, r := range rest {
		if !(r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
			break
		}
		end = i + len(string(r))
	}
	if end == 0 {
		if rest == "" {
			return "", "", fmt.Errorf("field path %q: a name is missing at its end", expr)
		}
		return "", "", fmt.Errorf("field path %q: expected a name at %q", expr, rest)
	}
	return rest[:end], strings.TrimLeft(rest[end:], " \t"), nil
}

// Resolve compiles an expression naming an argument ("n") or a field reached from one
// ("req->name", "req->hdr.len") into a Read. In a Go function "." also goes through a pointer, as
// in Go. Errors name what exists: "handle has no argument 'tg'; it has n, tag, req".
func (f *Function) Resolve(expr string) (Read, error) {
	path, err := parsePath(expr)
	if err != nil {
		return Read{}, err
	}
	var argument *Argument
	for i := range f.Arguments {
		if f.Arguments[i].Name == path.argument {
			argument = &f.Arguments[i]
		}
	}
	if argument == nil {
		return Read{}, fmt.Errorf("%s has no argument '%s'; it has %s", f.Symbol, path.argument, spellArguments(f.Arguments))
	}
	read := Read{Argument: *argument, Type: argument.Type, Path: path.String()}
	if len(path.steps) == 0 {
		switch argument.Type.Kind {
		case Unsupported:
			return Read{}, fmt.Errorf("%s: argument %s cannot be read: %s", f.Symbol, argument.Name, argument.Unsupported)
		case Pointer:
			return Read{}, fmt.Errorf("%s: argument %s is a %s, whose address is not exported; name a field, e.g. %s->%s", f.Symbol, argument.Name, argument.Type.Name, argument.Name, f.firstField(argument.Name))
		}
		return read, nil
	}
	if argument.Type.Kind != Pointer {
		if argument.Type.Kind == Unsupported {
			return Read{}, fmt.Errorf("%s: argument %s cannot be read: %s", f.Symbol, argument.Name, argument.Unsupported)
		}
		return Read{}, fmt.Errorf("%s: argument %s (%s) has no fields: it is not a pointer to a struct", f.Symbol, argument.Name, argument.Type.Name)
	}
	goLanguage := f.Language == "Go"
	current := f.types[argument.Name]
	reached := argument.Name
	for _, step := range path.steps {
		pointer, isPointer := underlying(current).(*dwarf.PtrType)
		through := step.arrow || goLanguage && isPointer
		switch {
		case through && !isPointer:
			return Read{}, fmt.Errorf("%s: %s is a %s, not a pointer: write %s.%s", f.Symbol, reached, typeName(current, goLanguage), reached, step.field)
		case !through && isPointer:
			return Read{}, fmt.Errorf("%s: %s is a pointer: write %s->%s", f.Symbol, reached, reached, step.field)
		case through:
			read.Hops = append(read.Hops, Hop{})
			current = pointer.Type
		}
		structure, isStruct := underlying(current).(*dwarf.StructType)
		if !isStruct || read.Hops == nil {
			return Read{}, fmt.Errorf("%s: %s is a %s, which has no fields", f.Symbol, reached, typeName(current, goLanguage))
		}
		if structure.Incomplete {
			return Read{}, fmt.Errorf("%s: %s is only declared in this binary's DWARF, its fields are not known", f.Symbol, typeName(current, goLanguage))
		}
		field, offset, found := findField(structure, step.field)
		if !found {
			return Read{}, fmt.Errorf("%s has no field '%s'; it has %s", typeName(current, goLanguage), step.field, strings.Join(fieldNames(structure), ", "))
		}
		if field.BitSize > 0 {
			return Read{}, fmt.Errorf("%s: %s.%s is a bit-field, which is not read", f.Symbol, typeName(current, goLanguage), step.field)
		}
		read.Hops[len(read.Hops)-1].Offset += offset
		current = field.Type
		reached = fieldPath{argument: reached, steps: []pathStep{step}}.String()
	}
	typ, reason := describe(current, goLanguage)
	switch {
	case typ.Kind == Pointer && reason == "":
		return Read{}, fmt.Errorf("%s: %s is a %s, whose address is not exported; name one of its fields: %s", f.Symbol, reached, typ.Name, strings.Join(fieldNames(underlying(underlying(current).(*dwarf.PtrType).Type).(*dwarf.StructType)), ", "))
	case reason != "":
		return Read{}, fmt.Errorf("%s: %s cannot be read: %s", f.Symbol, reached, reason)
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
