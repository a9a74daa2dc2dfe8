package argspec

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/probe/userargs"
)

// A few kernel types as BTF describes them, with their real shapes but offsets of this test's.
func testKernelTypes() (file, vfsRead btf.Type) {
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	u64 := &btf.Int{Name: "long long unsigned int", Size: 8}
	uchar := &btf.Int{Name: "unsigned char", Size: 1}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed | btf.Char}
	sizeT := &btf.Typedef{Name: "size_t", Type: &btf.Int{Name: "long unsigned int", Size: 8}}
	qstr := &btf.Struct{Name: "qstr", Size: 16, Members: []btf.Member{
		{Type: &btf.Union{Size: 8, Members: []btf.Member{
			{Type: &btf.Struct{Size: 8, Members: []btf.Member{{Name: "hash", Type: u32}, {Name: "len", Type: u32, Offset: 32}}}},
			{Name: "hash_len", Type: u64},
		}}},
		{Name: "name", Type: &btf.Pointer{Target: &btf.Const{Type: uchar}}, Offset: 64},
	}}
	dentry := &btf.Struct{Name: "dentry", Size: 96}
	dentry.Members = []btf.Member{
		{Name: "d_flags", Type: u32},
		{Name: "d_parent", Type: &btf.Pointer{Target: dentry}, Offset: 64},
		{Name: "d_name", Type: qstr, Offset: 128},
		{Name: "d_iname", Type: &btf.Array{Type: char, Nelems: 32}, Offset: 256},
		{Name: "d_lockref", Type: u32, Offset: 512, BitfieldSize: 3},
	}
	path := &btf.Struct{Name: "path", Size: 16, Members: []btf.Member{
		{Name: "mnt", Type: &btf.Pointer{Target: &btf.Void{}}},
		{Name: "dentry", Type: &btf.Pointer{Target: dentry}, Offset: 64},
	}}
	fileStruct := &btf.Struct{Name: "file", Size: 64, Members: []btf.Member{
		{Name: "f_mode", Type: u32},
		{Name: "f_path", Type: path, Offset: 128},
		{Name: "f_flags", Type: u32, Offset: 320},
	}}
	file = &btf.Pointer{Target: fileStruct}
	vfsRead = &btf.FuncProto{Return: sizeT, Params: []btf.FuncParam{
		{Name: "file", Type: file},
		{Name: "buf", Type: &btf.Pointer{Target: char}},
		{Name: "count", Type: sizeT},
		{Name: "pos", Type: &btf.Pointer{Target: &btf.Int{Name: "long long int", Size: 8, Encoding: btf.Signed}}},
	}}
	return file, vfsRead
}

func testVFSReadParams() []Param {
	_, proto := testKernelTypes()
	var params []Param
	for i, p := range proto.(*btf.FuncProto).Params {
		params = append(params, kernelParam(p.Name, p.Type, i))
	}
	return params
}

func TestCompileKernelFieldPaths(t *testing.T) {
	params := testVFSReadParams()
	for _, tc := range []struct {
		expr string
		want Arg
	}{
		// file->f_path.dentry: load the dentry pointer at file+16+8; ->d_name.name: load the name
		// pointer at dentry+16+8; then the string it points to, in kernel memory.
		{"file->f_path.dentry->d_name.name", Arg{Hops: []int32{24, 24}, Read: ReadStringKernel}},
		{"file->f_flags", Arg{Field: true, FieldOffset: 40, Size: 4, Show: ShowUnsigned}},
		{"file->f_path.dentry->d_name.len", Arg{Hops: []int32{24}, Field: true, FieldOffset: 20, Size: 4, Show: ShowUnsigned}},
		{"file->f_path.dentry->d_iname", Arg{Hops: []int32{24}, Field: true, FieldOffset: 32, Read: ReadStringKernel}},
		{"file->f_path", Arg{Field: true, FieldOffset: 16, Read: ReadPathPath}},
		{"file->f_path.dentry", Arg{Hops: []int32{24}, Read: ReadDentryPath}},
		{"file->f_path.dentry->d_parent->d_parent->d_name.name", Arg{Hops: []int32{24, 8, 8, 24}, Read: ReadStringKernel}},
		{"file", Arg{Read: ReadFilePath}},
		{"count", Arg{Size: 8, Show: ShowUnsigned}},
	} {
		plan, err := Compile("vfs_read", params, []Selector{{Name: "x", Expr: tc.expr}})
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got := plan.Args[0]
		got.Name, got.Key, got.Type, got.Source, got.Index = "", "", "", 0, 0
		if len(got.Hops) == 0 {
			got.Hops = nil
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: compiled to %+v, want %+v", tc.expr, got, tc.want)
		}
	}
}

func TestCompileRefusesNamingWhatExists(t *testing.T) {
	params := testVFSReadParams()
	for _, tc := range []struct{ expr, want string }{
		{"fle", "vfs_read has no argument 'fle'; it has file, buf, count, pos"},
		{"file->f_pth", "(struct file) has no field 'f_pth'; it has f_mode, f_path, f_flags"},
		{"file.f_path", "use -> for the fields it points to"},
		{"file->f_path->dentry", "is not a pointer (struct path); use . for its fields"},
		{"pos", "'pos' is a pointer (long long int *), which kretspan does not export"},
		{"file->f_path.dentry->d_lockref", "is a bit field"},
		{"file->f_path.dentry->d_name", "name one of its fields: hash, len, hash_len, name"},
		{"count->x", "'count' is not a pointer (size_t)"},
		{"file->", "bad argument expression"},
		{"file-f_path", `want -> or . before "-f_path"`},
	} {
		_, err := Compile("vfs_read", params, []Selector{{Expr: tc.expr}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.expr, err, tc.want)
		}
	}
}

func TestTypeNames(t *testing.T) {
	file, _ := testKernelTypes()
	for _, tc := range []struct {
		typ  btf.Type
		want string
	}{
		{file, "struct file *"},
		{&btf.Pointer{Target: file}, "struct file **"},
		{&btf.Pointer{Target: &btf.Const{Type: &btf.Int{Name: "char", Size: 1}}}, "const char *"},
	} {
		if got := typeName(tc.typ); got != tc.want {
			t.Errorf("typeName = %q, want %q", got, tc.want)
		}
	}
}

func TestCompileEveryArgumentSkipsPointersAndBuffers(t *testing.T) {
	plan, err := Compile("vfs_read", testVFSReadParams(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := argNames(plan), []string{"file", "count"}; !reflect.DeepEqual(got, want) {
		t.Errorf("captures %v, want %v (buf is filled by the call, pos is a pointer)", got, want)
	}
	if plan.Args[0].Key != FilePathKey || plan.Args[1].Key != "kretspan.arg.count" {
		t.Errorf("keys %s, %s; want %s, kretspan.arg.count", plan.Args[0].Key, plan.Args[1].Key, FilePathKey)
	}
}

// With none named, a function with two files (vfs_copy_file_range, vfs_link's dentries) has
// the first one's path captured, and the second said to be left out: a probe has one file.path.
func TestCompileEveryArgumentTakesOneFilePath(t *testing.T) {
	file, _ := testKernelTypes()
	params := []Param{kernelParam("file_in", file, 0), kernelParam("file_out", file, 1)}
	plan, err := Compile("vfs_copy_file_range", params, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := argNames(plan), []string{"file_in"}; !reflect.DeepEqual(got, want) || plan.Args[0].Key != FilePathKey {
		t.Errorf("captures %v (first key %s), want %v as %s", got, plan.Args[0].Key, want, FilePathKey)
	}
	why := Uncaptured(params)
	if want := "a probe captures one file path, and file_in's comes first; name file_out to read it instead"; len(why) != 1 || why["file_out"] != want {
		t.Errorf("left out %v, want file_out: %q", why, want)
	}
	if _, err := Compile("vfs_copy_file_range", params, []Selector{{Expr: "file_out"}}); err != nil {
		t.Errorf("naming the second file: %v", err)
	}
}

func argNames(plan *Plan) []string {
	names := make([]string, len(plan.Args))
	for i, a := range plan.Args {
		names[i] = a.Name
	}
	return names
}

const openatFormat = `name: sys_enter_openat
ID: 782
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:int dfd;	offset:16;	size:8;	signed:0;
	field:const char * filename;	offset:24;	size:8;	signed:0;
	field:int flags;	offset:32;	size:8;	signed:0;
	field:umode_t mode;	offset:40;	size:8;	signed:0;

print fmt: "dfd: 0x%08lx, filename: 0x%08lx, flags: 0x%08lx, mode: 0x%08lx", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename)), ((unsigned long)(REC->flags)), ((unsigned long)(REC->mode))
`

func TestSyscallFormat(t *testing.T) {
	params, err := ParseSyscallFormat("openat", []byte(openatFormat))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Compile("openat", params, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Arg{
		{Name: "dfd", Type: "int", Index: 0, Size: 4, Show: ShowSigned},
		{Name: "filename", Type: "const char *", Index: 1, Read: ReadStringUser},
		{Name: "flags", Type: "int", Index: 2, Size: 4, Show: ShowSigned},
		{Name: "mode", Type: "umode_t", Index: 3, Size: 2, Show: ShowUnsigned},
	}
	for i := range want {
		want[i].Key = AttributePrefix + want[i].Name
	}
	if !reflect.DeepEqual(plan.Args, want) {
		t.Errorf("openat compiled to\n%+v\nwant\n%+v", plan.Args, want)
	}
	// The kernel stores int -100 (AT_FDCWD) sign-extended in a long; int 4-byte values are cut.
	if got := plan.Args[0].Integer(0xffffffffffffff9c); got != -100 {
		t.Errorf("dfd 0xffffffffffffff9c reads as %d, want -100", got)
	}
}

func TestFormatFlags(t *testing.T) {
	for _, tc := range []struct {
		table string
		v     uint64
		want  string
	}{
		{"open", 0, "O_RDONLY"},
		{"open", 0x80000, "O_RDONLY|O_CLOEXEC"},
		{"open", 0x241, "O_WRONLY|O_CREAT|O_TRUNC"},
		{"open", 0x80000000, "O_RDONLY|0x80000000"},
		{"open", unix.O_RDWR | openLargeFile, "O_RDWR|O_LARGEFILE"},
		{"prot", 0, "PROT_NONE"},
		{"prot", 3, "PROT_READ|PROT_WRITE"},
	} {
		if got := FormatFlags(tc.table, tc.v); got != tc.want {
			t.Errorf("FormatFlags(%s, %#x) = %s, want %s", tc.table, tc.v, got, tc.want)
		}
	}
}

// tail builds an args tail as the kernel writes it.
func tail(stride int, values ...Value) []byte {
	b := make([]byte, tailHeaderSize+len(values)*stride)
	binary.LittleEndian.PutUint16(b[0:], uint16(len(b)))
	binary.LittleEndian.PutUint16(b[2:], uint16(stride))
	binary.LittleEndian.PutUint16(b[4:], uint16(len(values)))
	for i, v := range values {
		slot := b[tailHeaderSize+i*stride:]
		slot[0], slot[1] = byte(v.Status), byte(v.FileKind)
		binary.LittleEndian.PutUint16(slot[2:], uint16(len(v.Bytes)))
		binary.LittleEndian.PutUint64(slot[8:], v.Number)
		copy(slot[valueHeader:], v.Bytes)
	}
	return b
}

func TestDecodeValues(t *testing.T) {
	in := []Value{
		{Number: 42},
		{Status: StatusTruncated, Bytes: []byte("/etc/sha")},
		{FileKind: FileSocket, Number: 12345},
		{Status: StatusReadFailed, Number: uint64(1<<64 - 14)},
	}
	got, err := DecodeValues(nil, tail(32, in...))
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if len(in[i].Bytes) == 0 {
			in[i].Bytes = []byte{}
		}
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("decoded %+v, want %+v", got, in)
	}
	if name := got[2].FileName(); name != "socket:[12345]" {
		t.Errorf("socket's file name %q, want socket:[12345]", name)
	}
	bad := tail(32, in...)
	binary.LittleEndian.PutUint16(bad[tailHeaderSize+2:], 1000) // a string longer than its slot
	if _, err := DecodeValues(nil, bad); err == nil {
		t.Error("a string longer than its slot decoded")
	}
}

// FuzzFieldPath compiles any expression against vfs_read's types: it must never panic, and what it
// compiles must be within the kernel's bounds.
func FuzzFieldPath(f *testing.F) {
	for _, seed := range []string{"file->f_path.dentry->d_name.name", "file->f_flags", "count", "fle", "file->", "a=b", "file->f_path.dentry->d_parent->d_parent->d_parent->d_parent->d_name.name"} {
		f.Add(seed)
	}
	params := testVFSReadParams()
	f.Fuzz(func(t *testing.T, expr string) {
		plan, err := Compile("vfs_read", params, []Selector{{Name: "x", Expr: expr}})
		if err != nil {
			return
		}
		a := plan.Args[0]
		if len(a.Hops) > MaxHops {
			t.Errorf("%q: %d hops", expr, len(a.Hops))
		}
		if a.Read == ReadInteger && a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
			t.Errorf("%q: integer of %d bytes", expr, a.Size)
		}
		for _, h := range append(a.Hops, a.FieldOffset) {
			if h < 0 || h >= 96 {
				t.Errorf("%q: offset %d outside the test's structs", expr, h)
			}
		}
	})
}

// FuzzParsePath parses any expression: never a panic, and a path it accepts is spelled back
// (userargs.Spell) as an expression without blanks that parses to the same path.
func FuzzParsePath(f *testing.F) {
	for _, seed := range []string{"n", "req->name", "req->hdr.len", "a . b -> c", "req->", "->x", "é->ü", "a..b", "", "x->y->z.w"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		path, err := ParsePath(expr)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		spelled := userargs.Spell(path[0].Name, path[1:]...)
		again, err := ParsePath(spelled)
		if err != nil {
			t.Fatalf("ParsePath(%q) is spelled %q, which does not parse again: %v", expr, spelled, err)
		}
		if !reflect.DeepEqual(again, path) || path[0].Pointer || strings.ContainsAny(spelled, " \t") {
			t.Fatalf("ParsePath(%q) = %#v, spelled %q, which parses to %#v", expr, path, spelled, again)
		}
	})
}
