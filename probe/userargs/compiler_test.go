package userargs

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// This file reads what the compiler itself says about a function: where each parameter is at the
// function's first instruction (its DWARF location there, through location lists, or at -O0 the
// register its prologue stores into the parameter's frame slot), and the offsets it compiled into
// a binary's data. The package under test reads neither: it applies the
// calling convention.

// ptRegsNames are struct pt_regs's 8-byte slots in order, from the kernel's
// arch/x86/include/asm/ptrace.h and arch/arm64/include/asm/ptrace.h.
var ptRegsNames = map[string][]string{
	"amd64": {"r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss"},
	"arm64": func() []string {
		var names []string
		for i := 0; i <= 30; i++ {
			names = append(names, fmt.Sprintf("x%d", i))
		}
		return append(names, "sp", "pc", "pstate")
	}(),
}

// dwarfRegisterNames number the registers as the DWARF ABI supplements do (System V amd64
// figure 3.36; AAPCS64 DWARF: x0–x30 are 0–30).
var dwarfRegisterNames = map[string][]string{
	"amd64": {"ax", "dx", "cx", "bx", "si", "di", "bp", "sp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"},
	"arm64": ptRegsNames["arm64"][:31],
}

// locationName spells a Location as a register name ("di", "x3") or "sp+N".
func locationName(arch string, l Location) string {
	if !l.Register {
		return fmt.Sprintf("sp+%d", l.Offset)
	}
	names := ptRegsNames[arch]
	if l.Offset%8 != 0 || l.Offset/8 >= len(names) || l.Offset < 0 {
		return fmt.Sprintf("pt_regs+%d", l.Offset)
	}
	return names[l.Offset/8]
}

func locationNames(arch string, parts []Location) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = locationName(arch, p)
	}
	return strings.Join(names, ",")
}

// compilerEntryLocations returns, for each parameter of the function at symbol's address that has
// a DWARF location at its first instruction made of registers and CFA-relative stack slots, that
// location spelled as locationNames does.
func compilerEntryLocations(t *testing.T, binary, symbol string) map[string]string {
	t.Helper()
	file, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	arch := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[file.Machine]
	address := functionAddress(t, file, symbol)
	data, err := file.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	cfa := cfaAtEntry(t, binary, address)
	var slots map[int]string // read from the prologue only when a location needs it
	frameSlots := func() map[int]string {
		if slots == nil && !isGoBinary(file) {
			slots = frameSlotSources(t, binary, symbol)
		}
		return slots
	}
	loclists := sectionData(t, file, ".debug_loclists")
	addrs := sectionData(t, file, ".debug_addr")
	reader := data.Reader()
	var unit *dwarf.Entry
	for {
		entry, err := reader.Next()
		if err != nil || entry == nil {
			t.Fatalf("%s: no subprogram at %#x (%v)", binary, address, err)
		}
		if entry.Tag == dwarf.TagCompileUnit {
			unit = entry
			continue
		}
		if entry.Tag != dwarf.TagSubprogram || !startsAt(data, entry, address) {
			continue
		}
		if base, _ := entry.Val(dwarf.AttrFrameBase).([]byte); !bytes.Equal(base, []byte{0x9c}) {
			t.Fatalf("%s: frame base %x is not DW_OP_call_frame_cfa", symbol, base)
		}
		locations := map[string]string{}
		children, err := formalParameterEntries(data, entry.Offset)
		if err != nil {
			t.Fatal(err)
		}
		for _, child := range children {
			p, err := readParameter(data, child)
			if err != nil {
				t.Fatal(err)
			}
			var expression []byte
			switch locationClass(child) {
			case dwarf.ClassExprLoc:
				expression = child.Val(dwarf.AttrLocation).([]byte)
			case dwarf.ClassLocList, dwarf.ClassLocListPtr:
				expression = locationListAt(t, unit, loclists, addrs, child.Val(dwarf.AttrLocation).(int64), address)
			}
			if where, ok := describeExpression(arch, expression, cfa, frameSlots); ok {
				locations[p.name] = where
			}
		}
		return locations
	}
}

// functionAddress is the address of a function symbol in the file.
func functionAddress(t *testing.T, file *elf.File, symbol string) uint64 {
	t.Helper()
	symbols, err := FunctionSymbols(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, sym := range symbols {
		if sym.Name == symbol {
			return sym.Value
		}
	}
	t.Fatalf("no function %s", symbol)
	return 0
}

// startsAt says whether a subprogram's code starts at address.
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

func sectionData(t *testing.T, file *elf.File, name string) []byte {
	section := file.Section(name)
	if section == nil {
		return nil
	}
	data, err := section.Data()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// locationListAt finds, in a DWARF 5 location list, the expression that covers pc.
func locationListAt(t *testing.T, unit *dwarf.Entry, loclists, addrs []byte, offset int64, pc uint64) []byte {
	base, _ := unit.Val(dwarf.AttrLowpc).(uint64)
	addrBase, _ := unit.Val(dwarf.AttrAddrBase).(int64)
	b := loclists[offset:]
	uleb := func() uint64 {
		var v uint64
		for shift := 0; ; shift += 7 {
			c := b[0]
			b = b[1:]
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				return v
			}
		}
	}
	address := func() uint64 { v := binary.LittleEndian.Uint64(b); b = b[8:]; return v }
	indexed := func(i uint64) uint64 { return binary.LittleEndian.Uint64(addrs[uint64(addrBase)+8*i:]) }
	expression := func() []byte { n := uleb(); e := b[:n]; b = b[n:]; return e }
	for {
		var low, high uint64
		kind := b[0]
		b = b[1:]
		switch kind {
		case 0x00: // DW_LLE_end_of_list
			return nil
		case 0x01: // DW_LLE_base_addressx
			base = indexed(uleb())
			continue
		case 0x02: // DW_LLE_startx_endx
			low = indexed(uleb())
			high = indexed(uleb())
		case 0x03: // DW_LLE_startx_length
			low = indexed(uleb())
			high = low + uleb()
		case 0x04: // DW_LLE_offset_pair
			low = base + uleb()
			high = base + uleb()
		case 0x05: // DW_LLE_default_location
			low, high = 0, ^uint64(0)
		case 0x06: // DW_LLE_base_address
			base = address()
			continue
		case 0x07: // DW_LLE_start_end
			low = address()
			high = address()
		case 0x08: // DW_LLE_start_length
			low = address()
			high = low + uleb()
		case 0x09: // DW_LLE_GNU_view_pair: location views, no expression
			uleb()
			uleb()
			continue
		default:
			t.Fatalf("location list entry kind %#x", kind)
		}
		e := expression()
		if low <= pc && pc < high {
			return e
		}
	}
}

// describeExpression spells a location expression made of DW_OP_regN, DW_OP_regx, DW_OP_fbreg
// (the frame base being the CFA), DW_OP_call_frame_cfa and DW_OP_piece. A slot in the function's
// own frame is spelled as the register the prologue stored there, if frameSlots knows it.
func describeExpression(arch string, e []byte, cfa int, frameSlots func() map[int]string) (string, bool) {
	if len(e) == 0 {
		return "", false
	}
	sleb := func() int64 {
		var v int64
		shift := 0
		for {
			c := e[0]
			e = e[1:]
			v |= int64(c&0x7f) << shift
			shift += 7
			if c < 0x80 {
				if c&0x40 != 0 {
					v |= -1 << shift
				}
				return v
			}
		}
	}
	uleb := func() uint64 {
		var v uint64
		for shift := 0; len(e) > 0; shift += 7 {
			c := e[0]
			e = e[1:]
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				break
			}
		}
		return v
	}
	var parts []string
	register := func(n int) bool {
		names := dwarfRegisterNames[arch]
		if n < 0 || n >= len(names) {
			return false
		}
		parts = append(parts, names[n])
		return true
	}
	for len(e) > 0 {
		op := e[0]
		e = e[1:]
		switch {
		case op >= 0x50 && op <= 0x6f: // DW_OP_reg0..31
			if !register(int(op - 0x50)) {
				return "", false
			}
		case op == 0x90: // DW_OP_regx
			if !register(int(uleb())) {
				return "", false
			}
		case op == 0x91: // DW_OP_fbreg
			// Below the entry stack pointer is the function's own frame, where an unoptimized
			// function's prologue stores its register arguments.
			slot := int(sleb())
			if cfa+slot >= 0 {
				parts = append(parts, fmt.Sprintf("sp+%d", cfa+slot))
				continue
			}
			register, ok := frameSlots()[slot]
			if !ok {
				return "", false
			}
			parts = append(parts, register)
		case op == 0x9c: // DW_OP_call_frame_cfa
			parts = append(parts, fmt.Sprintf("sp+%d", cfa))
		case op == 0x93: // DW_OP_piece: each piece here is a whole 8-byte part
			if uleb() != 8 {
				return "", false
			}
		default:
			return "", false
		}
	}
	return strings.Join(parts, ","), true
}

var (
	cfaRow    = regexp.MustCompile(`^([0-9a-f]{16}) +r?sp\+(\d+)`)
	frameLine = regexp.MustCompile(`^([0-9a-f]{8}) [0-9a-f]+ [0-9a-f]+ (CIE|FDE)(?: cie=([0-9a-f]{8}) pc=([0-9a-f]{16}))?`)
)

// cfaAtEntry reads, with binutils' readelf, how far above the stack pointer the CFA is at the
// function's first instruction: the FDE's row there, or its CIE's initial rule when the FDE has no
// row of its own.
func cfaAtEntry(t *testing.T, binary string, address uint64) int {
	out, err := exec.Command("readelf", "--debug-dump=frames-interp", binary).Output()
	if err != nil {
		t.Fatalf("readelf: %v", err)
	}
	want := fmt.Sprintf("%016x", address)
	initial := map[string]int{} // by CIE offset
	var block, cieOfFunction string
	for _, line := range strings.Split(string(out), "\n") {
		if m := frameLine.FindStringSubmatch(line); m != nil {
			block = m[1]
			if m[2] == "FDE" && m[4] == want {
				cieOfFunction = m[3]
			}
			continue
		}
		m := cfaRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		if m[1] == want {
			return n
		}
		if _, seen := initial[block]; !seen {
			initial[block] = n
		}
	}
	if n, ok := initial[cieOfFunction]; ok && cieOfFunction != "" {
		return n
	}
	t.Fatalf("readelf shows no CFA rule at %s in %s", want, binary)
	return 0
}

// symbolWords reads an array of 8-byte words that a binary initialises at compile time.
func symbolWords(t *testing.T, path, symbol string) []uint64 {
	t.Helper()
	file, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	symbols, err := file.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range symbols {
		if s.Name != symbol {
			continue
		}
		section := file.Sections[s.Section]
		raw := make([]byte, s.Size)
		if _, err := section.ReadAt(raw, int64(s.Value-section.Addr)); err != nil {
			t.Fatal(err)
		}
		words := make([]uint64, s.Size/8)
		for i := range words {
			words[i] = binary.LittleEndian.Uint64(raw[8*i:])
		}
		return words
	}
	t.Fatalf("%s has no symbol %s", path, symbol)
	return nil
}

func locationClass(entry *dwarf.Entry) dwarf.Class {
	if field := entry.AttrField(dwarf.AttrLocation); field != nil {
		return field.Class
	}
	return 0
}
