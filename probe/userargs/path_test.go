package userargs

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// splitPath takes a field path the tables spell as probe specs do, "req->next.id", apart into the
// argument's name and the steps that Resolve takes (package argspec parses the users' paths).
func splitPath(expr string) (argument string, steps []Step) {
	argument, rest := expr, ""
	if i := strings.IndexAny(expr, "-."); i >= 0 {
		argument, rest = expr[:i], expr[i:]
	}
	for _, step := range spelledStep.FindAllStringSubmatch(rest, -1) {
		steps = append(steps, Step{Name: step[2], Pointer: step[1] == "->"})
	}
	return argument, steps
}

var spelledStep = regexp.MustCompile(`(->|\.)([^-.]*)`)

// TestFieldPaths resolves field paths and compares their hops with the offsets the compiler laid
// out, which the workloads store in their own data (offsetof, unsafe.Offsetof).
func TestFieldPaths(t *testing.T) {
	type path struct {
		expr string
		hops []string // names of the compiled-in offsets, one per hop
		kind Kind
		size int
	}
	cases := []struct {
		name, arch, symbol, offsets string
		build                       func(t *testing.T) string
		paths                       []path
	}{
		{"C amd64", "amd64", "handle", "", func(t *testing.T) string { return buildC(t, "gcc", "workload.c", "-O2") }, nil},
		{"C arm64", "arm64", "handle", "", func(t *testing.T) string { return buildC(t, "aarch64-linux-gnu-gcc", "workload.c", "-O2") }, nil},
		{"Go amd64", "amd64", "main.handle", "main.offsets", func(t *testing.T) string { return buildGo(t, "amd64") }, nil},
		{"Go arm64", "arm64", "main.handle", "main.offsets", func(t *testing.T) string { return buildGo(t, "arm64") }, nil},
	}
	cPaths := []path{
		{"n", nil, Signed, 4},
		{"tag", nil, CString, 8},
		{"req->hdr.len", []string{"offset_hdr_len"}, Signed, 4},
		{"req->next->name", []string{"offset_next", "offset_name"}, CString, 8},
		{"req->next->id", []string{"offset_next", "offset_id"}, Signed, 8},
		{"req->flags", []string{"offset_flags"}, Signed, 4}, // in an anonymous union
	}
	goPaths := []path{
		{"n", nil, Signed, 8},
		{"name", nil, GoString, 16},
		{"req.name", []string{"name"}, GoString, 16},
		{"req->name", []string{"name"}, GoString, 16},
		{"req.next.id", []string{"next", "id"}, Signed, 8},
		{"req.hdr.len", []string{"hdr.len"}, Signed, 4},
	}
	goOffsets := []string{"id", "name", "hdr.len", "next"} // main.offsets, in order
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			binary := c.build(t)
			function, err := Lookup(binary, c.symbol)
			if err != nil {
				t.Fatal(err)
			}
			offsets := map[string]int{}
			paths := cPaths
			if c.offsets != "" {
				paths = goPaths
				for i, word := range symbolWords(t, binary, c.offsets) {
					offsets[goOffsets[i]] = int(word)
				}
			} else {
				for _, p := range cPaths {
					for _, name := range p.hops {
						offsets[name] = int(symbolWords(t, binary, name)[0])
					}
				}
			}
			for _, p := range paths {
				read, err := function.Resolve(splitPath(p.expr))
				if err != nil {
					t.Errorf("Resolve(%q): %v", p.expr, err)
					continue
				}
				var want []Hop
				for _, name := range p.hops {
					want = append(want, Hop{Offset: offsets[name]})
				}
				if !reflect.DeepEqual(read.Hops, want) || read.Type.Kind != p.kind || read.Type.Size != p.size {
					t.Errorf("Resolve(%q) = hops %v, %v of %d bytes; want hops %v, %v of %d bytes", p.expr, read.Hops, read.Type.Kind, read.Type.Size, want, p.kind, p.size)
				}
				if root, _ := splitPath(p.expr); read.Argument.Name != root || len(read.Argument.Parts) == 0 {
					t.Errorf("Resolve(%q) starts from argument %+v", p.expr, read.Argument)
				}
				if read.Path != p.expr {
					t.Errorf("Resolve(%q).Path = %q", p.expr, read.Path)
				}
			}
		})
	}
}

// TestFieldPathErrors checks that each refusal names what exists. The caller names the function
// and the path (argspec: "handle(req.id): ..."), so a refusal does not name it again.
func TestFieldPathErrors(t *testing.T) {
	binary := buildC(t, "gcc", "workload.c", "-O0")
	handle, err := Lookup(binary, "handle")
	if err != nil {
		t.Fatal(err)
	}
	small, err := Lookup(binary, "small")
	if err != nil {
		t.Fatal(err)
	}
	goBinary := buildGo(t, "amd64")
	goHandle, err := Lookup(goBinary, "main.handle")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		function *Function
		expr     string
		want     string
	}{
		{handle, "tg", "handle has no argument 'tg'; it has n, tag, size, req"},
		{handle, "req->nmae", "struct request has no field 'nmae'; it has id, name, hdr, next, flags, mask"},
		{handle, "req->hdr.lenn", "struct header has no field 'lenn'; it has kind, len"},
		{handle, "req", "argument req is a struct request *, whose address is not exported; name a field, e.g. req->id"},
		{handle, "req.id", "req is a pointer: write req->id"},
		{handle, "req->hdr->len", "req->hdr is a struct header, not a pointer: write req->hdr.len"},
		{handle, "req->hdr", "req->hdr cannot be read: struct header is passed by value"},
		{handle, "req->next", "req->next is a struct request *, whose address is not exported; name one of its fields: id, name, hdr, next, flags, mask"},
		{handle, "n->x", "argument n (int) has no fields: it is not a pointer to a struct"},
		{handle, "req->", "a field's name is missing after req"},
		{handle, "req->hdr.", "a field's name is missing after req->hdr"},
		{small, "counter", "argument counter cannot be read: int * is a pointer"},
		{goHandle, "req.nmae", "main.request has no field 'nmae'; it has id, name, hdr, next"},
		{goHandle, "tg", "main.handle has no argument 'tg'; it has n, ok, name, req"},
	} {
		_, err := c.function.Resolve(splitPath(c.expr))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Resolve(%q) = %v; want an error starting %q", c.expr, err, c.want)
		}
	}
}

// FuzzResolve compiles arbitrary argument names and steps against a real C function and a real Go function:
// never a panic, and every Read that comes back is one the BPF side can follow.
func FuzzResolve(f *testing.F) {
	var functions []*Function
	for _, lookup := range []struct{ binary, symbol string }{
		{buildC(f, "gcc", "workload.c", "-O2"), "handle"},
		{buildGo(f, "amd64"), "main.handle"},
	} {
		function, err := Lookup(lookup.binary, lookup.symbol)
		if err != nil {
			f.Fatal(err)
		}
		functions = append(functions, function)
	}
	for _, seed := range []string{"req->hdr.len", "req->next->next->name", "req.name", "req->hdr", "n", "name", "req->flags", "req->next.hdr->len"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, function := range functions {
			read, err := function.Resolve(splitPath(expr))
			if err != nil {
				continue
			}
			switch read.Type.Kind {
			case Signed, Unsigned, Bool, Enum, CString, GoString:
			default:
				t.Fatalf("%s: Resolve(%q) reads a %v", function.Symbol, expr, read.Type.Kind)
			}
			if read.Type.Size <= 0 || len(read.Argument.Parts) == 0 || read.Argument.Type.Kind == Unsupported {
				t.Fatalf("%s: Resolve(%q) = %+v", function.Symbol, expr, read)
			}
			if len(read.Hops) > 0 && read.Argument.Type.Kind != Pointer {
				t.Fatalf("%s: Resolve(%q) follows hops from a %v", function.Symbol, expr, read.Argument.Type.Kind)
			}
			for _, hop := range read.Hops {
				if hop.Offset < 0 {
					t.Fatalf("%s: Resolve(%q) has a negative hop %d", function.Symbol, expr, hop.Offset)
				}
			}
		}
	})
}
