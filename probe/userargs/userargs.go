// Package userargs tells where each argument of a user-space function is when its entry probe
// fires, and compiles field paths into the reads that reach a struct member, for ELF binaries of
// amd64 and arm64. It reads the binary's DWARF and applies the calling convention; it attaches
// nothing and needs no privileges.
//
// C and C++ functions follow the System V ABI (amd64: rdi, rsi, rdx, rcx, r8, r9, then the stack
// from 8(%rsp), above the return address; arm64 AAPCS64: x0–x7, then the stack from [sp]). Go
// functions follow Go's register ABI (ABIInternal): amd64 RAX, RBX, RCX, RDI, RSI, R8, R9, R10,
// R11; arm64 R0–R15; a parameter that does not fit in the remaining registers goes whole to the
// stack, from 8(SP). A Go entry probe fires after the stack-bound check, where registers and the
// stack pointer still hold what the caller passed.
//
// Arguments that are not read (floats, structs and classes by value, slices, interfaces, other
// pointers) still take their registers and stack slots, so the ones after them are placed right:
// a struct by its ABI classification, a C++ class that is non-trivial for calls and a large AAPCS64
// composite as a pointer, a return value in memory as amd64's hidden first argument, and a generic
// Go instantiation's dictionary, which DWARF does not list. A stripped binary's DWARF is read from
// its debug file under /usr/lib/debug/.build-id. [Open] a binary to look up many of its functions.
//
// # Reading an argument
//
// Each [Location] is either a register, given as its byte offset in the kernel's struct pt_regs
// for the binary's architecture, or a stack slot, given as a byte offset from the stack pointer
// at entry (read the stack pointer from pt_regs, add Offset, read user memory). An integer, bool
// or enum occupies the low Type.Size bytes of its register or slot (little-endian); the ABI leaves
// a register's upper bytes undefined, so truncate to Size, then sign-extend a Signed or Enum
// value. A CString argument is a pointer to a NUL-terminated string. A GoString argument has two
// parts: Parts[0] holds the pointer to its bytes and Parts[1] their count.
//
// # Following a field path
//
// [Function.Resolve] compiles a field path, such as req->hdr.len (the argument req, then the
// [Step]s ->hdr and .len), into a [Read]. Reading it:
//
//	v := value of Read.Argument (a pointer: 8 bytes from Parts[0])
//	for each hop except the last: v = *(uint64 *)(v + hop.Offset)   // one pointer load per "->" after the first
//	address := v + last hop's Offset
//	read Read.Type.Size bytes at address, as Read.Type says
//
// A "." adds a member's offset without a load; a "->" loads the pointer that the path has reached
// so far. With
//
//	struct header  { int kind; int len; };                          // len at 4
//	struct request { long id; char *name; struct header hdr; struct request *next; }
//	                 // id at 0, name at 8, hdr at 16, next at 24
//	int handle(int n, struct request *req);
//
// "req->hdr.len" is Hops [{20}] with Type Signed, size 4: read 4 bytes at req+20.
// "req->next->name" is Hops [{24}, {8}] with Type CString: v = *(req+24); read the 8-byte pointer
// at v+8, then the string it points to.
// A final Type of CString means the 8 bytes read are a pointer to the string; GoString means the
// 16 bytes read are the string's pointer then its length. A plain argument ("n") has no Hops and
// its Type is the argument's.
package userargs

import (
	"debug/dwarf"
	"fmt"
)

// Kind says how an argument's or field's bytes are read and shown.
type Kind int

const (
	// Unsupported cannot be captured; Argument.Unsupported says why.
	Unsupported Kind = iota
	// Signed is a two's-complement integer of Size bytes (C char and signed types, Go int*).
	Signed
	// Unsigned is an unsigned integer of Size bytes (C unsigned types, Go uint*, uintptr).
	Unsigned
	// Bool is a boolean of Size bytes: zero is false.
	Bool
	// Enum is a C enum of Size bytes; Type.Enumerators names its values, sign-extended as DWARF
	// gives them.
	Enum
	// CString is a pointer to a NUL-terminated string (C char *, const char *).
	CString
	// GoString is a Go string: a pointer to its bytes and their count.
	GoString
	// Pointer is a pointer to a struct, union or class. Its address is never exported: only a
	// field path through it reads anything.
	Pointer
)

var kindNames = [...]string{Unsupported: "unsupported", Signed: "signed", Unsigned: "unsigned", Bool: "bool", Enum: "enum", CString: "C string", GoString: "Go string", Pointer: "pointer"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Location is where one part of an argument is when the entry probe fires.
type Location struct {
	// Register is true when Offset is a byte offset in struct pt_regs; false when Offset is a
	// byte offset from the stack pointer at entry.
	Register bool
	Offset   int
}

// Type is an argument's or field's type as kretspan reads it.
type Type struct {
	Name string // as the source language spells it: "const char *", "unsigned long", "string", "*main.request"
	Kind Kind
	Size int // bytes that make up the value: 8 for a pointer, 16 for a Go string
	// Enumerators names an Enum's values, keyed by the value as read: Size bytes, sign-extended.
	Enumerators map[int64]string
}

// Argument is one formal parameter of a function, in declaration order.
type Argument struct {
	Name string
	Type Type
	// Parts is where the value is at entry: one Location, or two for a GoString (pointer, length).
	// Empty when Type.Kind is Unsupported.
	Parts []Location
	// Unsupported says why the argument cannot be captured, when Type.Kind is Unsupported.
	Unsupported string
}

// Hop is one step of a field path: add Offset to the current pointer value, then read there. See
// the package documentation for how a chain of hops is followed.
type Hop struct {
	Offset int
}

// Read is a compiled field path: start from Argument's value, follow Hops, read Type.
type Read struct {
	Argument Argument
	Hops     []Hop
	Type     Type
	Path     string // the field path as [Spell] writes it, e.g. "req->hdr.len"
}

// Function is a user-space function and where its arguments are at entry.
type Function struct {
	Binary    string
	Symbol    string
	Language  string // "C", "C++" or "Go"
	Arch      string // GOARCH spelling: "amd64" or "arm64"
	Arguments []Argument

	types map[string]dwarf.Type // each argument's DWARF type, for field paths
}
