package probe

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kretspan/kretspan/argspec"
)

func TestParseForms(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Spec
		glob bool
	}{
		{"vfs_read", Spec{Raw: "vfs_read", Kind: KindAuto, Pattern: "vfs_read"}, false},
		{"  vfs_read\t", Spec{Raw: "  vfs_read\t", Kind: KindAuto, Pattern: "vfs_read"}, false},
		{"vfs_*", Spec{Raw: "vfs_*", Kind: KindAuto, Pattern: "vfs_*"}, true},
		{"kprobe:do_sys_openat2", Spec{Raw: "kprobe:do_sys_openat2", Kind: KindKprobe, Pattern: "do_sys_openat2"}, false},
		{"kprobe:tcp_v?_connect", Spec{Raw: "kprobe:tcp_v?_connect", Kind: KindKprobe, Pattern: "tcp_v?_connect"}, true},
		{"fentry:vfs_write", Spec{Raw: "fentry:vfs_write", Kind: KindFentry, Pattern: "vfs_write"}, false},
		{"syscall:openat", Spec{Raw: "syscall:openat", Kind: KindSyscall, Pattern: "openat"}, false},
		{"syscall:*open*", Spec{Raw: "syscall:*open*", Kind: KindSyscall, Pattern: "*open*"}, true},
		{"syscall:[rw]*", Spec{Raw: "syscall:[rw]*", Kind: KindSyscall, Pattern: "[rw]*"}, true},
		{"uprobe:/usr/bin/bash:readline", Spec{Raw: "uprobe:/usr/bin/bash:readline", Kind: KindUprobe, Binary: "/usr/bin/bash", Pattern: "readline"}, false},
		{"uprobe:libc:malloc", Spec{Raw: "uprobe:libc:malloc", Kind: KindUprobe, Binary: "libc", Pattern: "malloc"}, false},
		{"uprobe:libssl.so.3:SSL_*", Spec{Raw: "uprobe:libssl.so.3:SSL_*", Kind: KindUprobe, Binary: "libssl.so.3", Pattern: "SSL_*"}, true},
		{"uprobe:./app:main.handle", Spec{Raw: "uprobe:./app:main.handle", Kind: KindUprobe, Binary: "./app", Pattern: "main.handle"}, false},
		{
			"uprobe:/srv/app:github.com/org/pkg/sub.Handler",
			Spec{Raw: "uprobe:/srv/app:github.com/org/pkg/sub.Handler", Kind: KindUprobe, Binary: "/srv/app", Pattern: "github.com/org/pkg/sub.Handler"},
			false,
		},
		{
			"uprobe:/srv/app:net/http.(*conn).serve",
			Spec{Raw: "uprobe:/srv/app:net/http.(*conn).serve", Kind: KindUprobe, Binary: "/srv/app", Pattern: "net/http.(*conn).serve"},
			true, // '*' in a Go method name makes the pattern a glob; it still matches itself
		},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := Parse(tc.raw)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.raw, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.raw, got, tc.want)
			}
			if got.IsGlob() != tc.glob {
				t.Errorf("IsGlob() = %v, want %v", got.IsGlob(), tc.glob)
			}
			if got.String() != tc.raw {
				t.Errorf("String() = %q, want %q", got.String(), tc.raw)
			}
		})
	}
}

func TestParseGoMethodMatchesItself(t *testing.T) {
	spec, err := Parse("uprobe:/srv/app:net/http.(*conn).serve")
	if err != nil {
		t.Fatal(err)
	}
	got, err := spec.Match([]string{"net/http.(*conn).serveHTTP", "net/http.(*conn).serve", "net/http.conn.serve"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "net/http.(*conn).serve" {
		t.Errorf("Match = %q, want only the method itself", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		raw, want string
	}{
		{"", "empty probe spec"},
		{"   \t ", "empty probe spec"},
		{"tracepoint:sched:sched_switch", `unknown probe kind "tracepoint"`},
		{"Kprobe:vfs_read", `unknown probe kind "Kprobe"`},
		{":vfs_read", `unknown probe kind ""`},
		{"uprobe:readline", "uprobe needs PATH:SYMBOL"},
		{"uprobe::readline", "missing binary path"},
		{"uprobe:/usr/bin/bash:", "missing function, syscall or symbol name"},
		{"kprobe:", "missing function, syscall or symbol name"},
		{"fentry:", "missing function, syscall or symbol name"},
		{"syscall:", "missing function, syscall or symbol name"},
		{"vfs_[read", "bad glob"},
		{"syscall:open[", "bad glob"},
		{`kprobe:foo\`, "bad glob"},
		{"uprobe:libc:mal[loc", "bad glob"},
		{"vfs read", "may not contain"},
		{"kprobe:vfs\tread", "may not contain"},
		{"kprobe:a/b", "may not contain"},
		{"a/b", "may not contain"},
		{"syscall:open/at", "may not contain"},
		{"fentry:x:y", "may not contain"},
		{"uprobe:/bin/x:main. handle", "may not contain"},
		{"uprobe:/bin/x:main.h\tandle", "may not contain"},
		{"syscall:openat(filename", "unbalanced parentheses"},
		{"uprobe:/bin/x:main.(*T.Handle", "unbalanced parentheses"},
		{"kprobe:vfs_read(file))", "unbalanced parentheses"},
	} {
		t.Run(fmt.Sprintf("%q", tc.raw), func(t *testing.T) {
			spec, err := Parse(tc.raw)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error containing %q", tc.raw, spec, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tc.raw, err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
			if !reflect.DeepEqual(spec, Spec{}) {
				t.Errorf("Parse(%q) returned %+v with its error, want the zero Spec", tc.raw, spec)
			}
		})
	}
}

func TestParseUprobeSplitsAtLastColon(t *testing.T) {
	// Paths are split from the symbol at the last colon; the symbol itself can hold no colon.
	spec, err := Parse("uprobe:/opt/a:b/app:main.run")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Binary != "/opt/a:b/app" || spec.Pattern != "main.run" {
		t.Errorf("got binary %q symbol %q", spec.Binary, spec.Pattern)
	}
}

func TestIsGlob(t *testing.T) {
	for pattern, want := range map[string]bool{
		"vfs_read": false, "vfs_*": true, "vfs_rea?": true, "vfs_[rw]*": true, "main.Run": false, "a.b/c.D": false,
	} {
		if got := (Spec{Pattern: pattern}).IsGlob(); got != want {
			t.Errorf("IsGlob(%q) = %v, want %v", pattern, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	names := []string{"vfs_read", "vfs_write", "vfs_readv", "do_sys_open", "vfs_read"}

	exact := Spec{Raw: "vfs_read", Pattern: "vfs_read"}
	got, err := exact.Match(names, 1)
	if err != nil || len(got) != 1 || got[0] != "vfs_read" {
		t.Errorf("exact Match = %q, %v; want [vfs_read]", got, err)
	}
	if got, err := (Spec{Raw: "nope", Pattern: "nope"}).Match(names, 10); err != nil || got != nil {
		t.Errorf("exact Match of a missing name = %q, %v; want nil, nil", got, err)
	}

	glob := Spec{Raw: "vfs_*", Pattern: "vfs_*"}
	got, err = glob.Match(names, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vfs_read", "vfs_write", "vfs_readv", "vfs_read"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("glob Match = %q, want %q (in the order given)", got, want)
	}
	// Exactly at the limit is fine.
	if got, err := glob.Match(names, 4); err != nil || len(got) != 4 {
		t.Errorf("Match at the limit = %q, %v", got, err)
	}
	_, err = glob.Match(names, 3)
	if err == nil {
		t.Fatal("Match over the limit succeeded")
	}
	for _, want := range []string{`probe "vfs_*"`, "matches more than 3 targets", "--max-glob"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("limit error %q does not contain %q", err, want)
		}
	}
	if got, err := (Spec{Raw: "x*", Pattern: "x*"}).Match(names, 10); err != nil || len(got) != 0 {
		t.Errorf("glob without matches = %q, %v", got, err)
	}
	// '*' crosses '/', unlike path.Match: Go symbols contain slashes.
	if got, _ := (Spec{Raw: "*.Handler", Pattern: "*.Handler"}).Match([]string{"main.Handler", "github.com/x/y.Handler"}, 10); len(got) != 2 {
		t.Errorf("*.Handler matched %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "vfs_read", "vfs_*", "kprobe:vfs_read", "fentry:vfs_write", "syscall:openat", "syscall:*open*",
		"uprobe:/usr/bin/bash:readline", "uprobe:libc:malloc", "uprobe:/app:github.com/org/pkg.(*T).Run",
		"uprobe::x", "uprobe:x", "a:b:c", "[", `\`, "kprobe:[a-", "  ", ":::", "uprobe:a:b:c",
	} {
		f.Add(seed)
	}
	known := map[Kind]bool{KindAuto: true, KindKprobe: true, KindFentry: true, KindSyscall: true, KindUprobe: true}
	f.Fuzz(func(t *testing.T, raw string) {
		spec, err := Parse(raw)
		if err != nil {
			if !reflect.DeepEqual(spec, Spec{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", raw, spec, err)
			}
			return
		}
		if spec.Pattern == "" {
			t.Fatalf("Parse(%q) succeeded with an empty pattern: %+v", raw, spec)
		}
		if !known[spec.Kind] {
			t.Fatalf("Parse(%q) gave unknown kind %q", raw, spec.Kind)
		}
		if spec.Raw != raw {
			t.Fatalf("Raw %q, want %q", spec.Raw, raw)
		}
		if (spec.Kind == KindUprobe) != (spec.Binary != "") {
			t.Fatalf("Parse(%q): kind %s with binary %q", raw, spec.Kind, spec.Binary)
		}
		if strings.ContainsAny(spec.Pattern, " \t:") {
			t.Fatalf("Parse(%q): pattern %q holds a forbidden character", raw, spec.Pattern)
		}
		// A parsed pattern is a valid glob: Match must not fail for any reason but the limit.
		if _, err := spec.Match([]string{spec.Pattern, "x", ""}, 10); err != nil {
			t.Fatalf("Match after Parse(%q): %v", raw, err)
		}
		if !spec.IsGlob() {
			if got, _ := spec.Match([]string{spec.Pattern}, 1); len(got) != 1 {
				t.Fatalf("exact spec %q does not match its own pattern", raw)
			}
		}
	})
}

func TestGlobMatchesAcrossSlashes(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*.Handler", "github.com/org/pkg.Handler", true},
		{"vfs_*", "vfs_read", true},
		{"vfs_*", "ksys_read", false},
		// Go symbols may be Unicode: a glob's characters, escaped or not, are whole runes.
		{"main.café*", "main.caféRun", true},
		{`main.\été`, "main.été", true},
		{"main.?té", "main.été", true},
		{"vfs_?ead", "vfs_read", true},
		{"vfs_[rw]*", "vfs_write", true},
		{"vfs_[!r]*", "vfs_read", false},
		{"vfs_[^r]*", "vfs_write", true},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"a.b", "axb", false}, // '.' is literal
		{"(x)+", "(x)+", true},
	} {
		glob, err := globRegexp(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := glob.MatchString(tc.name); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
	if _, err := globRegexp("vfs_[read"); err == nil {
		t.Error("unterminated class accepted")
	}
}

func TestParseArgumentLists(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		pattern string
		args    []argspec.Selector
	}{
		{"syscall:openat(filename, flags)", "openat", []argspec.Selector{{Expr: "filename"}, {Expr: "flags"}}},
		{"vfs_read(file->f_path.dentry->d_name.name, n=count)", "vfs_read", []argspec.Selector{{Expr: "file->f_path.dentry->d_name.name"}, {Name: "n", Expr: "count"}}},
		{"uprobe:./app:main.(*T).Handle(n, tag)", "main.(*T).Handle", []argspec.Selector{{Expr: "n"}, {Expr: "tag"}}},
		{"uprobe:./app:main.(*T).Handle", "main.(*T).Handle", nil},
		{"syscall:openat", "openat", nil},
	} {
		spec, err := Parse(tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if spec.Pattern != tc.pattern || !reflect.DeepEqual(spec.Args, tc.args) {
			t.Errorf("%s: pattern %q args %+v, want %q %+v", tc.raw, spec.Pattern, spec.Args, tc.pattern, tc.args)
		}
	}
	for _, raw := range []string{"syscall:openat()", "syscall:openat(a,,b)", "openat(1x)", "openat(a=)", "openat(=b)", "openat(a->)", "openat(a b)", "f(a,b,c,d,e,f,g,h,i)"} {
		if _, err := Parse(raw); err == nil {
			t.Errorf("%s parsed", raw)
		}
	}
}

// FuzzParseWithArguments parses any spec: never a panic, and an accepted spec's arguments are
// within the limits and name C identifiers.
func FuzzParseWithArguments(f *testing.F) {
	for _, seed := range []string{"syscall:openat(filename, flags)", "vfs_read(file->f_path.dentry->d_name.name, n=count)", "uprobe:./app:main.(*T).Handle(n, tag)", "f(", "f())", "((", "uprobe:a:b(c)"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		spec, err := Parse(raw)
		if err != nil {
			return
		}
		if len(spec.Args) > argspec.MaxArgs {
			t.Errorf("%q: %d arguments", raw, len(spec.Args))
		}
		for _, a := range spec.Args {
			if _, err := argspec.ParsePath(a.Expr); err != nil {
				t.Errorf("%q: accepted expression %q: %v", raw, a.Expr, err)
			}
			if strings.ContainsAny(a.Name, "=, ()") {
				t.Errorf("%q: accepted name %q", raw, a.Name)
			}
		}
	})
}
