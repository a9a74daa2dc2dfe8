// Package probe parses kretspan's probe specs and resolves them against the running system into
// concrete attach targets: which kernel function, syscall or user-space symbol, by which mechanism.
package probe

//go:generate ./gen_syscalls.sh

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kretspan/kretspan/argspec"
)

// Kind is what the user asked to probe, before the mechanism is chosen.
type Kind string

const (
	KindAuto    Kind = "auto"    // FUNC: fentry where the kernel has it, else kprobe
	KindKprobe  Kind = "kprobe"  // kprobe:FUNC
	KindFentry  Kind = "fentry"  // fentry:FUNC
	KindSyscall Kind = "syscall" // syscall:NAME
	KindUprobe  Kind = "uprobe"  // uprobe:PATH:SYMBOL
)

// Spec is one parsed probe argument.
type Spec struct {
	Raw     string // as the user wrote it
	Kind    Kind
	Pattern string // function, syscall or symbol name; may be a glob
	Binary  string // uprobe only: a path or a library name such as "libc"
	// Args are the arguments PROBE(ARG, ...) captures; nil: those of --args, if set.
	Args []argspec.Selector
}

// Usage describes the spec syntax; the CLI prints it in --help.
const Usage = `  FUNC                 kernel function: fentry/fexit where the kernel has it, else kprobe/kretprobe
  kprobe:FUNC          kprobe + kretprobe
  fentry:FUNC          fentry + fexit (BPF trampoline)
  syscall:NAME         tracepoints syscalls:sys_enter_NAME / sys_exit_NAME
  uprobe:PATH:SYMBOL   uprobe + uretprobe on a binary or shared library (PATH may be a bare
                       library name such as libc); Go binaries get uprobes on their RET instructions
  FUNC, NAME and SYMBOL may be globs (*, ?, [...]) matching many targets, e.g. vfs_* or syscall:*open*
  PROBE(ARG, ...)      also capture these arguments: names, field paths (file->f_path.dentry), NAME=EXPR
                       to rename, e.g. syscall:openat(filename, flags) or vfs_read(file, n=count)`

// Parse parses one probe spec.
func Parse(raw string) (Spec, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Spec{}, fmt.Errorf("empty probe spec")
	}
	spec := Spec{Raw: raw}
	s, args, err := cutArgs(s)
	if err != nil {
		return Spec{}, fmt.Errorf("probe %q: %w", raw, err)
	}
	spec.Args = args
	prefix, rest, hasPrefix := strings.Cut(s, ":")
	switch {
	case !hasPrefix:
		spec.Kind, spec.Pattern = KindAuto, s
	case prefix == string(KindKprobe), prefix == string(KindFentry), prefix == string(KindSyscall):
		spec.Kind, spec.Pattern = Kind(prefix), rest
	case prefix == string(KindUprobe):
		i := strings.LastIndex(rest, ":")
		if i < 0 {
			return Spec{}, fmt.Errorf("probe %q: uprobe needs PATH:SYMBOL, e.g. uprobe:/usr/bin/bash:readline", raw)
		}
		spec.Kind, spec.Binary, spec.Pattern = KindUprobe, rest[:i], rest[i+1:]
		if spec.Binary == "" {
			return Spec{}, fmt.Errorf("probe %q: missing binary path before the symbol", raw)
		}
	default:
		return Spec{}, fmt.Errorf("probe %q: unknown probe kind %q (want kprobe, fentry, syscall or uprobe)", raw, prefix)
	}
	if spec.Pattern == "" {
		return Spec{}, fmt.Errorf("probe %q: missing function, syscall or symbol name", raw)
	}
	if !utf8.ValidString(spec.Pattern) {
		return Spec{}, fmt.Errorf("probe %q: name %q is not valid UTF-8", raw, spec.Pattern)
	}
	if _, err := path.Match(spec.Pattern, ""); err != nil {
		return Spec{}, fmt.Errorf("probe %q: bad glob %q: %w", raw, spec.Pattern, err)
	}
	forbidden := " \t/:"
	if spec.Kind == KindUprobe {
		forbidden = " \t:" // Go symbols contain '/': github.com/org/pkg.Func
	}
	if strings.ContainsAny(spec.Pattern, forbidden) {
		return Spec{}, fmt.Errorf("probe %q: name %q may not contain any of %q", raw, spec.Pattern, forbidden)
	}
	return spec, nil
}

// cutArgs cuts a trailing argument list, (ARG, ...), off a spec. The list's opening parenthesis
// is the one that matches the last: Go symbols have parentheses of their own, main.(*T).Handle.
func cutArgs(s string) (string, []argspec.Selector, error) {
	if strings.Count(s, "(") != strings.Count(s, ")") {
		return "", nil, fmt.Errorf("unbalanced parentheses: an argument list is (ARG, ...) at the end")
	}
	if !strings.HasSuffix(s, ")") {
		return s, nil, nil
	}
	depth := 0
	open := -1
	for i := len(s) - 1; i >= 0 && open < 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				open = i
			}
		}
	}
	if open <= 0 || strings.HasSuffix(s[:open], ".") {
		return s, nil, nil // not an argument list: a symbol's own parentheses, main.(*T)
	}
	list := strings.TrimSpace(s[open+1 : len(s)-1])
	if list == "" {
		return "", nil, fmt.Errorf("empty argument list (); name the arguments, or leave the parentheses out")
	}
	var selectors []argspec.Selector
	for _, text := range strings.Split(list, ",") {
		sel, err := argspec.ParseSelector(text)
		if err != nil {
			return "", nil, err
		}
		selectors = append(selectors, sel)
	}
	if len(selectors) > argspec.MaxArgs {
		return "", nil, fmt.Errorf("%d arguments named, at most %d", len(selectors), argspec.MaxArgs)
	}
	return strings.TrimSpace(s[:open]), selectors, nil
}

// IsGlob reports whether the spec's name matches possibly many targets.
func (s Spec) IsGlob() bool { return strings.ContainsAny(s.Pattern, "*?[") }

func (s Spec) String() string { return s.Raw }

// Match returns the names matching the spec's pattern, in the order given. More than limit
// matches is an error, so that a too-wide glob cannot attach thousands of probes by accident.
func (s Spec) Match(names []string, limit int) ([]string, error) {
	if !s.IsGlob() {
		for _, name := range names {
			if name == s.Pattern {
				return []string{name}, nil
			}
		}
		return nil, nil
	}
	glob, err := globRegexp(s.Pattern)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", s.Raw, err)
	}
	var matched []string
	for _, name := range names {
		if glob.MatchString(name) {
			matched = append(matched, name)
			if len(matched) > limit {
				return nil, fmt.Errorf("probe %q matches more than %d targets; narrow the pattern or raise --max-glob", s.Raw, limit)
			}
		}
	}
	return matched, nil
}

// globRegexp compiles a glob (*, ?, [...], \ escapes) into a regular expression. Unlike
// path.Match, '*' also matches '/', which Go symbols contain (github.com/org/pkg.Handler).
func globRegexp(pattern string) (*regexp.Regexp, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("bad glob %q: %w", pattern, err)
	}
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		case '\\':
			if i+1 < len(pattern) {
				_, size := utf8.DecodeRuneInString(pattern[i+1:]) // the escaped character, whole
				re.WriteString(regexp.QuoteMeta(pattern[i+1 : i+1+size]))
				i += size
			}
		case '[':
			end := strings.IndexByte(pattern[i+1:], ']')
			class := pattern[i+1 : i+1+end]
			if strings.HasPrefix(class, "^") || strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			re.WriteString("[" + class + "]")
			i += end + 1
		default:
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1])) // a byte of UTF-8 as it is
		}
	}
	re.WriteString("$")
	return regexp.Compile(re.String())
}
