// A Go program whose functions probe/userargs places by Go's register ABI, built for amd64 and
// arm64 by the package's tests.
package main

import (
	"fmt"
	"os"
	"unsafe"
)

type header struct {
	kind int32
	len  int32
}

type request struct {
	id   int64
	name string
	hdr  header
	next *request
}

type point struct{ x, y int }

// offsets are the field offsets the field paths must reach, as the compiler lays them out.
var offsets = [...]uintptr{
	unsafe.Offsetof(request{}.id),
	unsafe.Offsetof(request{}.name),
	unsafe.Offsetof(request{}.hdr) + unsafe.Offsetof(header{}.len),
	unsafe.Offsetof(request{}.next),
}

//go:noinline
func handle(n int, ok bool, name string, req *request) int {
	if ok {
		return n + len(name) + int(req.id) + len(req.next.name)
	}
	return n
}

//go:noinline
func spill(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 int, s string, t int) int {
	if len(s) > 0 && s[0] == 0 {
		fmt.Println(s)
	}
	return a1 + a2*a3 + a4*a5 + a6*a7 + a8*a9 + a10*a11 + a12*a13 + a14*a15 + len(s) + t
}

//go:noinline
func (r *request) describe(prefix string, depth int8, flag bool, u uint16) string {
	if flag {
		return fmt.Sprint(prefix, r.name, depth, u)
	}
	return prefix
}

//go:noinline
func mixed(x float64, n int, y float32, s string, p point, a [2]int, last uint32) int {
	return int(x) + n + int(y) + len(s) + p.x*p.y + a[0]*a[1] + int(last)
}

// kinds has arguments that are not read, each for its own reason, between ones that are.
//
//go:noinline
func kinds(b []byte, err error, m map[string]int, p *int, n int) int {
	if err != nil {
		return len(b) + len(m) + *p + n
	}
	return n
}

// ignore has a blank and an unused parameter, which still take their registers.
//
//go:noinline
func ignore(_ int, unused string, n int) int { return n }

// pick's instantiations take a dictionary before their arguments.
//
//go:noinline
func pick[T any](x T, n int) int {
	if n > 100 {
		fmt.Println(x)
	}
	return n
}

// describer holds wrap's closure, which is not inlined so that it is called as a function.
var describer func(int, string) int

// wrap's closure reaches the dictionary through its context, not as an argument.
//
//go:noinline
func wrap[T any](x T, n int) int {
	describer = func(a int, s string) int {
		if a > 100 {
			fmt.Println(x, s)
		}
		return a + len(s)
	}
	return describer(n, os.Args[0])
}

type stack[T any] struct{ items []T }

//go:noinline
func (s *stack[T]) push(v T, n int) int {
	if n > 100 {
		s.items = append(s.items, v)
	}
	return n + len(s.items)
}

func main() {
	second := &request{id: 2, name: "second"}
	first := &request{id: 1, name: os.Args[0], hdr: header{kind: 1, len: int32(len(os.Args))}, next: second}
	n := len(os.Args)
	sum := handle(n, n > 0, os.Args[0], first)
	sum += spill(n, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, os.Args[0], n+16)
	sum += len(first.describe(os.Args[0], int8(n), n > 1, uint16(n)))
	sum += mixed(float64(n), n, 2.5, os.Args[0], point{n, 2}, [2]int{n, 3}, uint32(n))
	sum += kinds([]byte(os.Args[0]), os.ErrNotExist, map[string]int{"a": n}, &n, n)
	sum += ignore(n, os.Args[0], n) + pick(n, n) + pick(os.Args[0], n) + (&stack[string]{}).push(os.Args[0], n) + wrap(n, n)
	if n > 5 {
		fmt.Println(offsets)
	}
	fmt.Println(sum)
}
