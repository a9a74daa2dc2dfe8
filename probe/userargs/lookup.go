package userargs

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
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
// To look up several functions of one binary, Open it once.
func Lookup(binaryPath, symbol string) (*Function, error) {
	binary, err := Open(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("arguments of %s: %w", symbol, err)
	}
	defer binary.Close()
	return binary.Lookup(symbol)
}

// gccClone matches the suffix GCC gives a copy of a function whose parameters it changed: with
// some removed or replaced by constants (isra, constprop), or a split-off part.
var gccClone = regexp.MustCompile(`(\.(isra|constprop|part|cold|lto_priv)(\.\d+)?)+$`)

// Binary is an ELF file whose functions are looked up. Its symbols and functions are indexed
// once, on the first Lookup.
type Binary struct {
	path      string
	file      *elf.File
	machine   arch
	data      *dwarf.Data
	dataErr   error
	symbols   map[string]uint64 // function symbols' addresses
	functions *functionIndex
}

// Open opens an ELF binary of a supported architecture.
func Open(binaryPath string) (*Binary, error) {
	file, err := elf.Open(binaryPath)
	if err != nil {
		return nil, err
	}
	machine, err := archOf(file)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("%s: %w", binaryPath, err)
	}
	b := &Binary{path: binaryPath, file: file, machine: machine}
	b.data, b.dataErr = debugData(file, binaryPath)
	return b, nil
}

// Close releases the file.
func (b *Binary) Close() error { return b.file.Close() }

// Lookup returns the function named by symbol, as the package-level Lookup does.
func (b *Binary) Lookup(symbol string) (*Function, error) {
	if b.symbols == nil {
		symbols, err := FunctionSymbols(b.file)
		if err != nil {
			return nil, fmt.Errorf("arguments of %s in %s: %w", symbol, b.path, err)
		}
		b.symbols = make(map[string]uint64, len(symbols))
		for _, sym := range symbols {
			b.symbols[sym.Name] = sym.Value
		}
	}
	address, ok := b.symbols[symbol]
	if !ok {
		return nil, fmt.Errorf("arguments of %s in %s: no function symbol %q", symbol, b.path, symbol)
	}
	if b.dataErr != nil {
		if isGoBinary(b.file) {
			return nil, fmt.Errorf("arguments of %s: %s is a Go binary without DWARF (built with -ldflags=-w, or stripped); rebuild it without -w to capture arguments", symbol, b.path)
		}
		return nil, fmt.Errorf("arguments of %s: %s has no DWARF debug information, nor a debug file in %s or named by .gnu_debuglink; build it with -g, or install its debug symbols, to capture arguments", symbol, b.path, filepath.Join(debugDirectory, ".build-id"))
	}
	if clone := gccClone.FindString(symbol); clone != "" && !isGoBinary(b.file) {
		return nil, fmt.Errorf("arguments of %s in %s: it is a copy of %s that GCC specialised (%s), so its arguments are not where the ABI puts them", symbol, b.path, strings.TrimSuffix(symbol, clone), clone)
	}
	if b.functions == nil {
		var err error
		if b.functions, err = indexFunctions(b.data); err != nil {
			return nil, fmt.Errorf("arguments of %s in %s: %w", symbol, b.path, err)
		}
	}
	found, err := b.functions.find(b.data, address, symbol)
	if err != nil {
		return nil, fmt.Errorf("arguments of %s in %s: %w", symbol, b.path, err)
	}
	return b.function(symbol, found)
}

func (b *Binary) function(symbol string, found *subprogram) (*Function, error) {
	data, machine := b.data, b.machine
	language, known := languages[found.language]
	if !known {
		return nil, fmt.Errorf("arguments of %s in %s: its source language (DWARF code %#x) is not C, C++ or Go", symbol, b.path, found.language)
	}
	function := &Function{Binary: b.path, Symbol: symbol, Language: language, Arch: machine.name}
	types := make([]dwarf.Type, len(found.parameters))
	for i, p := range found.parameters {
		var err error
		if types[i], err = parameterType(data, p.typeOffset); err != nil {
			return nil, fmt.Errorf("arguments of %s in %s: type of %s: %w", symbol, b.path, p.name, err)
		}
	}
	if language == "Go" {
		function.Arguments = goArguments(machine, symbol, found.parameters, types)
	} else {
		var returnType dwarf.Type
		if found.hasReturnType {
			var err error
			if returnType, err = data.Type(found.returnType); err != nil {
				return nil, fmt.Errorf("arguments of %s in %s: return type: %w", symbol, b.path, err)
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
// Fedora's debuginfo): under .build-id/ by the binary's build ID, or under the binary's own
// directory by its .gnu_debuglink name, as GDB looks them up.
var debugDirectory = "/usr/lib/debug"

// debugData returns the binary's DWARF, or that of its separate debug file.
func debugData(file *elf.File, binaryPath string) (*dwarf.Data, error) {
	data, err := file.DWARF()
	if err == nil {
		return data, nil
	}
	type candidate struct {
		path     string
		checksum uint32 // of the whole file, for one found by its .gnu_debuglink name
		linked   bool
	}
	var candidates []candidate
	if id := buildID(file); len(id) > 2 {
		candidates = append(candidates, candidate{path: filepath.Join(debugDirectory, ".build-id", id[:2], id[2:]+".debug")})
	}
	if name, checksum, ok := debugLink(file); ok {
		dir, _ := filepath.Abs(filepath.Dir(binaryPath))
		for _, path := range []string{filepath.Join(dir, name), filepath.Join(dir, ".debug", name), filepath.Join(debugDirectory, dir, name)} {
			candidates = append(candidates, candidate{path: path, checksum: checksum, linked: true})
		}
	}
	for _, c := range candidates {
		if c.linked {
			// The file must be the one the binary was linked with, not an older build's.
			if content, readErr := os.ReadFile(c.path); readErr != nil || crc32.ChecksumIEEE(content) != c.checksum {
				continue
			}
		}
		debug, openErr := elf.Open(c.path)
		if openErr != nil {
			continue
		}
		data, dataErr := debug.DWARF()
		debug.Close()
		if dataErr == nil {
			return data, nil
		}
	}
	return nil, err
}

// debugLink reads the .gnu_debuglink section: a debug file's name and the CRC-32 of its contents.
func debugLink(file *elf.File) (name string, checksum uint32, ok bool) {
	section := file.Section(".gnu_debuglink")
	if section == nil {
		return "", 0, false
	}
	link, err := section.Data()
	end := bytes.IndexByte(link, 0)
	if err != nil || end <= 0 {
		return "", 0, false
	}
	at := (end + 4) / 4 * 4 // the name's NUL, padded to 4 bytes
	if at+4 > len(link) || strings.ContainsRune(string(link[:end]), '/') {
		return "", 0, false
	}
	return string(link[:end]), file.ByteOrder.Uint32(link[at:]), true
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

// FunctionSymbols lists an ELF file's defined function symbols, from the static table and then
// the dynamic one, each name once: the functions a uprobe can attach to.
func FunctionSymbols(file *elf.File) ([]elf.Symbol, error) {
	var all []elf.Symbol
	seen := map[string]bool{}
	for _, read := range []func() ([]elf.Symbol, error){file.Symbols, file.DynamicSymbols} {
		symbols, err := read()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return nil, fmt.Errorf("symbols: %w", err)
		}
		for _, sym := range symbols {
			if elf.ST_TYPE(sym.Info) != elf.STT_FUNC || sym.Value == 0 || sym.Section == elf.SHN_UNDEF || seen[sym.Name] {
				continue
			}
			seen[sym.Name] = true
			all = append(all, sym)
		}
	}
	return all, nil
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

// functionIndex locates function definitions (DW_TAG_subprogram DIEs) by the address where their
// code starts and by name and linkage name.
type functionIndex struct {
	byAddress map[uint64]dwarfFunction
	byName    map[string]dwarfFunction
}

type dwarfFunction struct {
	offset   dwarf.Offset
	language int64
}

// indexFunctions reads the DWARF once, skipping what lies inside functions.
func indexFunctions(data *dwarf.Data) (*functionIndex, error) {
	index := &functionIndex{byAddress: map[uint64]dwarfFunction{}, byName: map[string]dwarfFunction{}}
	reader := data.Reader()
	var language int64
	for {
		entry, err := reader.Next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF: %w", err)
		}
		if entry == nil {
			return index, nil
		}
		switch entry.Tag {
		case dwarf.TagCompileUnit:
			language, _ = entry.Val(dwarf.AttrLanguage).(int64)
			continue
		case dwarf.TagSubprogram:
		default:
			continue
		}
		if entry.Children {
			reader.SkipChildren()
		}
		if declaration, _ := entry.Val(dwarf.AttrDeclaration).(bool); declaration {
			continue
		}
		function := dwarfFunction{offset: entry.Offset, language: language}
		var starts []uint64
		if low, ok := entry.Val(dwarf.AttrLowpc).(uint64); ok {
			starts = append(starts, low)
		} else if entry.Val(dwarf.AttrRanges) != nil {
			ranges, err := data.Ranges(entry)
			if err != nil {
				continue
			}
			for _, r := range ranges {
				starts = append(starts, r[0])
			}
		} else {
			continue // an abstract instance: its code is elsewhere, under another DIE
		}
		for _, start := range starts {
			if _, seen := index.byAddress[start]; !seen {
				index.byAddress[start] = function
			}
		}
		for _, name := range []string{linkageName(entry), stringValue(entry, dwarf.AttrName)} {
			if _, seen := index.byName[name]; name != "" && !seen {
				index.byName[name] = function
			}
		}
	}
}

// find finds the function's definition: the one whose code starts at the symbol's address, or
// failing that, one whose name or linkage name is the symbol.
func (index *functionIndex) find(data *dwarf.Data, address uint64, symbol string) (*subprogram, error) {
	function, ok := index.byAddress[address]
	if !ok {
		if function, ok = index.byName[symbol]; !ok {
			return nil, fmt.Errorf("no DWARF description of function %s (compiled without -g?)", symbol)
		}
	}
	entry, err := entryAt(data, function.offset)
	if err != nil {
		return nil, err
	}
	return readSubprogram(data, entry, function.language)
}

func stringValue(entry *dwarf.Entry, attribute dwarf.Attr) string {
	s, _ := entry.Val(attribute).(string)
	return s
}

func linkageName(entry *dwarf.Entry) string {
	if name, ok := entry.Val(dwarf.AttrLinkageName).(string); ok {
		return name
	}
	name, _ := entry.Val(attrMIPSLinkageName).(string)
	return name
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
	entries, err := formalParameterEntries(data, offset)
	if err != nil {
		return nil, err
	}
	parameters := make([]parameter, len(entries))
	for i, entry := range entries {
		if parameters[i], err = readParameter(data, entry); err != nil {
			return nil, err
		}
	}
	return parameters, nil
}

func formalParameterEntries(data *dwarf.Data, offset dwarf.Offset) ([]*dwarf.Entry, error) {
	reader := data.Reader()
	reader.Seek(offset)
	entry, err := reader.Next()
	if err != nil || entry == nil || !entry.Children {
		return nil, err
	}
	var entries []*dwarf.Entry
	for {
		child, err := reader.Next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF at %#x: %w", offset, err)
		}
		if child == nil || child.Tag == 0 {
			return entries, nil
		}
		if child.Children {
			reader.SkipChildren()
		}
		if child.Tag == dwarf.TagFormalParameter {
			entries = append(entries, child)
		}
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
