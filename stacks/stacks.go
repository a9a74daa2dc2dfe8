// Package stacks turns the stacks the kernel captured where calls blocked (--blocked-stacks) into
// text: kernel frames named from /proc/kallsyms, user frames from the ELF symbols of the binary
// mapped there (Go binaries included), innermost first, one frame a line.
package stacks

import (
	"bufio"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Source returns the instruction pointers of a stack by its id (bpf.Tracer.Stack).
type Source func(id int32) ([]uint64, error)

// Symbolizer names the frames of captured stacks; its results are cached by stack id, which
// stays valid for the run.
type Symbolizer struct {
	mu       sync.Mutex
	source   Source
	kallsyms string
	kernel   *symbols // loaded at first use
	binaries map[string]*symbols
	texts    map[stackKey]string
}

type stackKey struct {
	pid    uint32 // 0 for kernel stacks
	id     int32
	kernel bool
}

// maxCached bounds the cached texts; past it the cache starts afresh.
const maxCached = 4096

// New symbolizes stacks that source returns; kallsyms is the kernel's symbol file.
func New(kallsyms string) *Symbolizer {
	return &Symbolizer{kallsyms: kallsyms, binaries: map[string]*symbols{}, texts: map[stackKey]string{}}
}

// SetSource sets where stacks come from, once the tracer that captures them runs.
func (s *Symbolizer) SetSource(source Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.source = source
}

// Stack is the text of a block's stacks: the kernel stack, then the user stack of process pid
// when it was captured (userID >= 0). ok is false when the kernel stack is not there to name.
func (s *Symbolizer) Stack(pid uint32, kernelID, userID int32) (text string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.source == nil || kernelID < 0 {
		return "", false
	}
	kernel, err := s.text(stackKey{0, kernelID, true})
	if err != nil {
		return "", false
	}
	if userID < 0 {
		return kernel, true
	}
	user, err := s.text(stackKey{pid, userID, false})
	if err != nil {
		return kernel, true
	}
	return kernel + user, true
}

func (s *Symbolizer) text(key stackKey) (string, error) {
	if text, ok := s.texts[key]; ok {
		return text, nil
	}
	ips, err := s.source(key.id)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, ip := range ips {
		if key.kernel {
			b.WriteString(s.kernelFrame(ip))
		} else {
			b.WriteString(s.userFrame(key.pid, ip))
		}
		b.WriteByte('\n')
	}
	if len(s.texts) >= maxCached {
		clear(s.texts)
	}
	s.texts[key] = b.String()
	return s.texts[key], nil
}

func (s *Symbolizer) kernelFrame(ip uint64) string {
	if s.kernel == nil {
		s.kernel = readKallsyms(s.kallsyms)
	}
	if name, offset, ok := s.kernel.find(ip); ok {
		return fmt.Sprintf("%s+0x%x [kernel]", name, offset)
	}
	return fmt.Sprintf("0x%x [kernel]", ip)
}

// userFrame names ip in process pid by the binary mapped there, read through /proc/PID/root so
// that processes in containers are symbolized from their own files.
func (s *Symbolizer) userFrame(pid uint32, ip uint64) string {
	m, ok := findMapping(pid, ip)
	if !ok {
		return fmt.Sprintf("0x%x", ip)
	}
	path := filepath.Join(fmt.Sprintf("/proc/%d/root", pid), m.path)
	syms, ok := s.binaries[path]
	if !ok {
		syms = readELFSymbols(path)
		s.binaries[path] = syms
	}
	if syms != nil {
		if vaddr, ok := syms.fileOffsetToVaddr(ip - m.start + m.offset); ok {
			if name, offset, ok := syms.find(vaddr); ok {
				return fmt.Sprintf("%s+0x%x (%s)", name, offset, m.path)
			}
		}
	}
	return fmt.Sprintf("0x%x (%s)", ip, m.path)
}

// symbols are a binary's function symbols, sorted by address.
type symbols struct {
	addrs []uint64
	names []string
	loads []elf.ProgHeader // of an ELF binary: how file offsets map to addresses
}

func (s *symbols) find(addr uint64) (name string, offset uint64, ok bool) {
	if s == nil {
		return "", 0, false
	}
	i := sort.Search(len(s.addrs), func(i int) bool { return s.addrs[i] > addr }) - 1
	if i < 0 {
		return "", 0, false
	}
	return s.names[i], addr - s.addrs[i], true
}

func (s *symbols) fileOffsetToVaddr(offset uint64) (uint64, bool) {
	for _, p := range s.loads {
		if offset >= p.Off && offset < p.Off+p.Filesz {
			return offset - p.Off + p.Vaddr, true
		}
	}
	return 0, false
}

func (s *symbols) sort() {
	index := make([]int, len(s.addrs))
	for i := range index {
		index[i] = i
	}
	sort.Slice(index, func(a, b int) bool { return s.addrs[index[a]] < s.addrs[index[b]] })
	addrs, names := make([]uint64, len(index)), make([]string, len(index))
	for i, j := range index {
		addrs[i], names[i] = s.addrs[j], s.names[j]
	}
	s.addrs, s.names = addrs, names
}

// readKallsyms reads the kernel's text symbols; nil when they cannot be read (or all read as
// zero, as they do without CAP_SYSLOG).
func readKallsyms(path string) *symbols {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	s := &symbols{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 3 || !strings.ContainsAny(fields[1], "tTwW") {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil || addr == 0 {
			continue
		}
		s.addrs = append(s.addrs, addr)
		s.names = append(s.names, fields[2])
	}
	if len(s.addrs) == 0 {
		return nil
	}
	s.sort()
	return s
}

// readELFSymbols reads a binary's function symbols, from its symbol table and dynamic symbols;
// nil when it has none.
func readELFSymbols(path string) *symbols {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	s := &symbols{}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			s.loads = append(s.loads, p.ProgHeader)
		}
	}
	// Go binaries name their functions in .gopclntab too, which stripping (-s, and go test's
	// default) leaves in place.
	if pclntab, text := f.Section(".gopclntab"), f.Section(".text"); pclntab != nil && text != nil {
		if data, err := pclntab.Data(); err == nil {
			if table, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr)); err == nil {
				for _, fn := range table.Funcs {
					s.addrs = append(s.addrs, fn.Entry)
					s.names = append(s.names, fn.Name)
				}
			}
		}
	}
	static, _ := f.Symbols()
	dynamic, _ := f.DynamicSymbols()
	for _, sym := range append(static, dynamic...) {
		if elf.ST_TYPE(sym.Info) == elf.STT_FUNC && sym.Value != 0 {
			s.addrs = append(s.addrs, sym.Value)
			s.names = append(s.names, sym.Name)
		}
	}
	if len(s.addrs) == 0 {
		return nil
	}
	s.sort()
	return s
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end, offset uint64
	path               string
}

func findMapping(pid uint32, ip uint64) (mapping, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return mapping{}, false
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		var m mapping
		var err1, err2, err3 error
		m.start, err1 = strconv.ParseUint(start, 16, 64)
		m.end, err2 = strconv.ParseUint(end, 16, 64)
		m.offset, err3 = strconv.ParseUint(fields[2], 16, 64)
		if err1 == nil && err2 == nil && err3 == nil && ip >= m.start && ip < m.end {
			m.path = fields[5]
			return m, true
		}
	}
	return mapping{}, false
}
