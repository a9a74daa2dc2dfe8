package argspec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kretspan/kretspan/probe/userargs"
)

// PathStep is one name of a field path: the argument, then each field, reached through a pointer
// (->) or within the struct (.). It is userargs' step: user functions' paths compile from it, and
// userargs.Spell writes a path back as this syntax.
type PathStep = userargs.Step

// Path is a parsed argument expression: an argument's name and the fields into it.
type Path []PathStep

// maxPathSteps bounds an expression's fields, well past any real one.
const maxPathSteps = 16

// ParsePath parses an argument expression: NAME, or NAME->FIELD.FIELD->FIELD...
func ParsePath(expr string) (Path, error) {
	if expr == "" {
		return nil, errors.New("empty argument expression")
	}
	var path Path
	rest := expr
	pointer := false
	for {
		n := identifierLength(rest)
		if n == 0 {
			return nil, fmt.Errorf("bad argument expression %q: want NAME or NAME->FIELD.FIELD", expr)
		}
		path = append(path, PathStep{Name: rest[:n], Pointer: pointer})
		if len(path) > maxPathSteps {
			return nil, fmt.Errorf("argument expression %q has more than %d fields", expr, maxPathSteps-1)
		}
		rest = rest[n:]
		switch {
		case rest == "":
			return path, nil
		case strings.HasPrefix(rest, "->"):
			rest, pointer = rest[2:], true
		case strings.HasPrefix(rest, "."):
			rest, pointer = rest[1:], false
		default:
			return nil, fmt.Errorf("bad argument expression %q: want -> or . before %q", expr, rest)
		}
	}
}

// identifierLength is the length of the C identifier s begins with.
func identifierLength(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return i
		}
	}
	return len(s)
}

// AttributeName is the attribute's NAME for an expression: its names joined by dots.
func (p Path) AttributeName() string {
	names := make([]string, len(p))
	for i, s := range p {
		names[i] = s.Name
	}
	return strings.Join(names, ".")
}

// ParseSelector parses one argument of a probe spec's list: EXPR or NAME=EXPR.
func ParseSelector(text string) (Selector, error) {
	text = strings.TrimSpace(text)
	name, expr, renamed := strings.Cut(text, "=")
	if !renamed {
		name, expr = "", text
	}
	name, expr = strings.TrimSpace(name), strings.TrimSpace(expr)
	if renamed && (identifierLength(name) != len(name) || name == "") {
		return Selector{}, fmt.Errorf("bad argument name %q in %q: want a C identifier", name, text)
	}
	if _, err := ParsePath(expr); err != nil {
		return Selector{}, err
	}
	return Selector{Name: name, Expr: expr}, nil
}
