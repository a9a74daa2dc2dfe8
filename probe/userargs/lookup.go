package userargs

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// DWARF source-language codes (DWARF 5, section 7.12) of the languages whose calling convention
// this package applies.
var languages = map[int64]string{
	0x01: "C", 0x02: "C", 0x0c: "C", 0x1d: "C", 0x2c: "C", // C89, K&R C, C99, C11, C17
	0x04: "C++", 0x19: "C++", 0x1a: "C++", 0x21: "C++", 0x2a: "C++", 0x2b: "C++", // C++98 … C++20
	0x16: "Go",
}

// attrMIPSLinkageName is DW_AT_MIPS_linkage_name, which older compilers wrote instead of
// DW_AT_linkage_name.
const attrMIPSLinkageName = dwarf.Attr(0x2007)

// DW_AT_calling_convention values (DWARF 5, section 7.15).
const (
	callingConventionNoCall          = 0x05 // a subprogram the compiler changed: not callable by the ABI
	callingConventionPassByReference = 0x04 // a C++ class passed by invisible reference
)

// Lookup reads the binary's DWARF and returns the function named by symbol (its ELF symbol name;
// a C++ mangled name matches through its DW_AT_linkage_name) with where each of its arguments is
// at entry. An argument that cannot be captured is listed with Kind Unsupported and the reason.
func Lookup(binaryPath, symbol string) (*Function, error) {
	file, err := elf.Open(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("arguments of %s: %w", symbol, err)
	}
	defer file.Close()
	machine, err := archOf(file)
	if err != nil {
		return nil, fmt.Errorf("arguments of %s in %s: %w", symbol, binaryPath, err)
	}
	address, err := symbolAddress(file, symbol)
	if err != nil {
		return nil, fmt.Errorf("arguments of %s in %s: %w", symbol, binaryPath, err)
	}
	data, err := debugData(file)
	if err != nil {
		if isGoBinary(file) {
			return nil, fmt.Errorf("arguments of %s: %s is a Go binary without DWARF (built with -ldflags=-w, or stripped); rebuild it without -w to capture arguments", symbol, binaryPath)
		}
		return nil, fmt.Errorf("arguments of %s: %s has no DWARF debug information, nor a debug file in %s; build it with -g, or install its debug symbols, to capture arguments", symbol, binaryPath, filepath.Join(debugDirectory, ".build-id"))
	}
	found, err := findSubprogram(data, address, symbol)
	if err != nil {
		return nil, fmt.Errorf("arguments of %s in %s: %w", symbol, binaryPath, err)
	}
	language, known := languages[found.language]
	if !known {
		return nil, fmt.Errorf("arguments of %s in %s: its source language (DWARF code %#x) is not C, C++ or Go", symbol, binaryPath, found.language)
	}
	function := &Function{Binary: binaryPath, Symbol: symbol, Language: language, Arch: machine.name}
	types := make([]dwarf.Type, len(found.parameters))
	for i, p := range found.parameters {
		if types[i], err = parameterType(data, p.typeOffset); err != nil {
			return nil, fmt.Errorf("arguments of %s in %s: type of %s: %w", symbol, binaryPath, p.name, err)
		}
	}
	if language == "Go" {
		function.Arguments = goArguments(machine, symbol, found.parameters, types)
	} else {
		var returnType dwarf.Type
		if found.hasReturnType {
			if returnType, err = data.Type(found.returnType); err != nil {
				return nil, fmt.Errorf("arguments of %s in %s: return type: %w", symbol, binaryPath, err)
			}
		}
		function.Arguments = cArguments(machine, data, found, types, returnType)
	}
	function.types = make(map[string]dwarf.Type, len(types))
	for i, argument := range function.Arguments {
		function.types[argument.Name] = types[i]
	}
	return function, nil
}

// debugDirectory is where separate debug files are installed (Debian's -dbg and -dbgsym packages,
// Fedora's debuginfo), under .build-id/ by the binary's build ID, as GDB looks them up.
var debugDirectory = "/usr/lib/debug"

// debugData returns the binary's DWARF, or that of its separate debug file.
func debugData(file *elf.File) (*dwarf.Data, error) {
	data, err := file.DWARF()
	if err == nil {
		return data, nil
	}
	id := buildID(file)
	if len(id) < 2 {
		return nil, err
	}
	debug, openErr := elf.Open(filepath.Join(debugDirectory, ".build-id", id[:2], id[2:]+".debug"))
	if openErr != nil {
		return nil, err
	}
	defer debug.Close()
	return debug.DWARF()
}

// buildID reads the GNU build ID note, in hex.
func buildID(file *elf.File) string {
	section := file.Section(".note.gnu.build-id")
	if section == nil {
		return ""
	}
	note, err := section.Data()
	if err != nil || len(note) < 16 {
		return ""
	}
	nameSize, descriptionSize := file.ByteOrder.Uint32(note[0:]), file.ByteOrder.Uint32(note[4:])
	start := 12 + (uint64(nameSize)+3)/4*4
	if file.ByteOrder.Uint32(note[8:]) != 3 || start+uint64(descriptionSize) > uint64(len(note)) { // NT_GNU_BUILD_ID
		return ""
	}
	return hex.EncodeToString(note[start : start+uint64(descriptionSize)])
}

func symbolAddress(file *elf.File, symbol string) (uint64, error) {
	for _, read := range []func() ([]elf.Symbol, error){file.Symbols, file.DynamicSymbols} {
		symbols, err := read()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return 0, fmt.Errorf("symbols: %w", err)
		}
		for _, s := range symbols {
			if s.Name == symbol && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF && s.Value != 0 {
				return s.Value, nil
			}
		}
	}
	return 0, fmt.Errorf("no function symbol %q", symbol)
}

func isGoBinary(file *elf.File) bool {
	return file.Section(".go.buildinfo") != nil || file.Section(".gopclntab") != nil
}

// parameter is one DW_TAG_formal_parameter, its name and type taken through DW_AT_abstract_origin
// where the compiler put them there.
type parameter struct {
	name       string
	typeOffset dwarf.Offset
	result     bool // Go lists results as parameters with DW_AT_variable_parameter set
}

type subprogram struct {
	language      int64
	parameters    []parameter
	returnType    dwarf.Offset
	hasReturnType bool
	noCall        bool // DW_CC_nocall: the compiler changed how it is called
}

// findSubprogram finds the function's definition: the DW_TAG_subprogram whose code starts at the
// symbol's address, or failing that, one whose name or linkage name is the symbol.
func findSubprogram(data *dwarf.Data, address uint64, symbol string) (*subprogram, error) {
	reader := data.Reader()
	var language int64
	var byName *dwarf.Entry
	var byNameLanguage int64
	for {
		entry, err := reader.Next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF: %w", err)
		}
		if entry == nil {
			break
		}
		switch entry.Tag {
		case dwarf.TagCompileUnit:
			language, _ = entry.Val(dwarf.AttrLanguage).(int64)
			continue
		case dwarf.TagSubprogram:
		default:
			continue
		}
		if declaration, _ := entry.Val(dwarf.AttrDeclaration).(bool); declaration {
			continue
		}
		if startsAt(data, entry, address) {
			return readSubprogram(data, entry, language)
		}
		if byName == nil && (entry.Val(dwarf.AttrLowpc) != nil || entry.Val(dwarf.AttrRanges) != nil) {
			if name, _ := entry.Val(dwarf.AttrName).(string); name == symbol || linkageName(entry) == symbol {
				byName, byNameLanguage = entry, language
			}
		}
	}
	if byName != nil {
		return readSubprogram(data, byName, byNameLanguage)
	}
	return nil, fmt.Errorf("no DWARF description of function %s (compiled without -g?)", symbol)
}

func linkageName(entry *dwarf.Entry) string {
	if name, ok := entry.Val(dwarf.AttrLinkageName).(string); ok {
		return name
	}
	name, _ := entry.Val(attrMIPSLinkageName).(string)
	return name
}

func startsAt(data *dwarf.Data, entry *dwarf.Entry, address uint64) bool {
	if low, ok := entry.Val(dwarf.AttrLowpc).(uint64); ok {
		return low == address
	}
	if entry.Val(dwarf.AttrRanges) == nil {
		return false
	}
	ranges, err := data.Ranges(entry)
	if err != nil {
		return false
	}
	for _, r := range ranges {
		if r[0] == address {
			return true
		}
	}
	return false
}

// readSubprogram collects the function's parameters. An out-of-line copy of an inlined function
// (DW_AT_abstract_origin) or a C++ member defined outside its class (DW_AT_specification) may
// carry names and types on the DIE it refers to, and the compiler may list fewer parameters on
// the copy: the longer list wins.
func readSubprogram(data *dwarf.Data, entry *dwarf.Entry, language int64) (*subprogram, error) {
	found := &subprogram{language: language}
	chain := []*dwarf.Entry{entry}
	for i := 0; i < 4; i++ { // origin of a specification at most; bounded against cycles
		origin, ok := originOf(chain[len(chain)-1])
		if !ok {
			break
		}
		next, err := entryAt(data, origin)
		if err != nil {
			return nil, err
		}
		chain = append(chain, next)
	}
	var best []parameter
	for _, e := range chain {
		if convention, _ := e.Val(dwarf.AttrCalling).(int64); convention == callingConventionNoCall {
			found.noCall = true
		}
		if offset, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok && !found.hasReturnType {
			found.returnType, found.hasReturnType = offset, true
		}
		parameters, err := formalParameters(data, e.Offset)
		if err != nil {
			return nil, err
		}
		if len(parameters) > len(best) {
			best = parameters
		}
	}
	for _, p := range best {
		if !p.result {
			found.parameters = append(found.parameters, p)
		}
	}
	return found, nil
}

func originOf(entry *dwarf.Entry) (dwarf.Offset, bool) {
	if origin, ok := entry.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
		return origin, true
	}
	origin, ok := entry.Val(dwarf.AttrSpecification).(dwarf.Offset)
	return origin, ok
}

func entryAt(data *dwarf.Data, offset dwarf.Offset) (*dwarf.Entry, error) {
	reader := data.Reader()
	reader.Seek(offset)
	entry, err := reader.Next()
	if err != nil {
		return nil, fmt.Errorf("read DWARF at %#x: %w", offset, err)
	}
	if entry == nil {
		return nil, fmt.Errorf("read DWARF at %#x: no entry", offset)
	}
	return entry, nil
}

// formalParameters lists the DW_TAG_formal_parameter children of the DIE at offset.
func formalParameters(data *dwarf.Data, offset dwarf.Offset) ([]parameter, error) {
	reader := data.Reader()
	reader.Seek(offset)
	entry, err := reader.Next()
	if err != nil || entry == nil || !entry.Children {
		return nil, err
	}
	var parameters []parameter
	for {
		child, err := reader.Next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF at %#x: %w", offset, err)
		}
		if child == nil || child.Tag == 0 {
			return parameters, nil
		}
		if child.Children {
			reader.SkipChildren()
		}
		if child.Tag != dwarf.TagFormalParameter {
			continue
		}
		p, err := readParameter(data, child)
		if err != nil {
			return nil, err
		}
		parameters = append(parameters, p)
	}
}

func readParameter(data *dwarf.Data, entry *dwarf.Entry) (parameter, error) {
	var p parameter
	for i := 0; entry != nil && i < 4; i++ {
		if name, ok := entry.Val(dwarf.AttrName).(string); ok && p.name == "" {
			p.name = name
		}
		if offset, ok := entry.Val(dwarf.AttrType).(dwarf.Offset); ok && p.typeOffset == 0 {
			p.typeOffset = offset
		}
		if result, ok := entry.Val(dwarf.AttrVarParam).(bool); ok && result {
			p.result = true
		}
		origin, ok := entry.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok || (p.name != "" && p.typeOffset != 0) {
			break
		}
		var err error
		if entry, err = entryAt(data, origin); err != nil {
			return p, err
		}
	}
	if p.typeOffset == 0 {
		return p, fmt.Errorf("parameter %q has no type in DWARF", p.name)
	}
	return p, nil
}

// parameterType reads a parameter's type, modelling the C++ references that debug/dwarf leaves
// unsupported.
func parameterType(data *dwarf.Data, offset dwarf.Offset) (dwarf.Type, error) {
	t, err := data.Type(offset)
	if err != nil {
		return nil, err
	}
	unsupported, ok := t.(*dwarf.UnsupportedType)
	if !ok || unsupported.Tag != dwarf.TagReferenceType && unsupported.Tag != dwarf.TagRvalueReferenceType {
		return t, nil
	}
	entry, err := entryAt(data, offset)
	if err != nil {
		return nil, err
	}
	reference := &referenceType{rvalue: unsupported.Tag == dwarf.TagRvalueReferenceType, Type: &dwarf.VoidType{}}
	if target, ok := entry.Val(dwarf.AttrType).(dwarf.Offset); ok {
		if reference.Type, err = data.Type(target); err != nil {
			return nil, err
		}
	}
	return reference, nil
}

// spellArguments lists names for an error message: "n, tag, req".
func spellArguments(arguments []Argument) string {
	names := make([]string, len(arguments))
	for i, a := range arguments {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}
