package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kretspan/kretspan/cgroup"
	"github.com/kretspan/kretspan/errno"
)

// kind is how the text of one value, from a flag, an environment variable or a config file's
// scalar, becomes a T.
type kind[T any] struct {
	arg     string // the value's name in --help, unless the usage quotes one
	boolean bool   // a flag given alone means true
	parse   func(string) (T, error)
	format  func(T) string
}

var (
	stringKind = kind[string]{arg: "string", parse: func(v string) (string, error) { return v, nil }, format: strconv.Quote}
	boolKind   = kind[bool]{boolean: true, parse: func(v string) (bool, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, errors.New("want true or false")
		}
		return b, nil
	}, format: strconv.FormatBool}
	durationKind = kind[time.Duration]{arg: "duration", parse: func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, errors.New("want a duration such as 250ms or 10s")
		}
		return d, nil
	}, format: time.Duration.String}
	intKind = kind[int]{arg: "int", parse: func(v string) (int, error) {
		n, err := strconv.ParseInt(v, 0, 0)
		if err != nil {
			return 0, errors.New("want a whole number")
		}
		return int(n), nil
	}, format: strconv.Itoa}
	uint32Kind = kind[uint32]{arg: "uint", parse: func(v string) (uint32, error) {
		n, err := strconv.ParseUint(v, 0, 32)
		if err != nil {
			return 0, fmt.Errorf("want a whole number up to %d", uint32(math.MaxUint32))
		}
		return uint32(n), nil
	}, format: func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }}
	ratioKind = kind[float64]{arg: "ratio", parse: func(v string) (float64, error) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, errors.New("want a ratio such as 0.01")
		}
		return f, nil
	}, format: func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }}
	errnoSetKind    = kind[errno.Set]{arg: "names", parse: errno.ParseList, format: errno.Set.String}
	containerIDKind = kind[string]{arg: "id", parse: cgroup.ParseContainerID, format: strconv.Quote}
	pidKind         = kind[uint32]{arg: "id", parse: func(v string) (uint32, error) {
		pid, err := strconv.ParseUint(v, 10, 32)
		if err != nil || pid == 0 {
			return 0, errors.New("want a process id (a positive number)")
		}
		return uint32(pid), nil
	}, format: func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }}
)

// value parses text and applies check, both errors naming the value.
func (k kind[T]) value(text string, check func(T) error) (T, error) {
	v, err := k.parse(text)
	if err != nil {
		return v, valueError{strconv.Quote(text), err}
	}
	if check != nil {
		if err := check(v); err != nil {
			return v, valueError{k.format(v), err}
		}
	}
	return v, nil
}

// valueError is a value that is not valid for its setting.
type valueError struct {
	value string // as the user would write it
	err   error
}

func (e valueError) Error() string { return e.value + ": " + e.err.Error() }
func (e valueError) Unwrap() error { return e.err }

// binding ties a setting to its place in Settings.
type binding interface {
	reset(*Settings)             // to the default
	set(*Settings, string) error // parse and check one value (a list appends it)
	decode(*Settings, *yaml.Node) error
	defaultText() string // for --help; "" when the default goes without saying
	arg() string
	boolean() bool
}

// scalar is a setting with one value.
type scalar[T comparable] struct {
	field func(*Settings) *T
	kind  kind[T]
	def   T
	check func(T) error
}

func (b scalar[T]) reset(s *Settings) { *b.field(s) = b.def }

func (b scalar[T]) set(s *Settings, text string) error {
	v, err := b.kind.value(text, b.check)
	if err != nil {
		return err
	}
	*b.field(s) = v
	return nil
}

func (b scalar[T]) decode(s *Settings, node *yaml.Node) error {
	text, err := scalarText(node)
	if err != nil {
		return err
	}
	return b.set(s, text)
}

func (b scalar[T]) defaultText() string {
	var zero T
	if b.def == zero {
		return ""
	}
	return b.kind.format(b.def)
}

func (b scalar[T]) arg() string   { return b.kind.arg }
func (b scalar[T]) boolean() bool { return b.kind.boolean }

// list is a repeatable setting: the config file gives the list, each flag appends to it.
type list[T any] struct {
	field func(*Settings) *[]T
	kind  kind[T]
}

func (b list[T]) reset(s *Settings) { *b.field(s) = nil }

func (b list[T]) set(s *Settings, text string) error {
	v, err := b.kind.value(text, nil)
	if err != nil {
		return err
	}
	*b.field(s) = append(*b.field(s), v)
	return nil
}

func (b list[T]) decode(s *Settings, node *yaml.Node) error {
	return decodeList(node, func(i int, item *yaml.Node) error {
		text, err := scalarText(item)
		if err == nil {
			err = b.set(s, text)
		}
		if err != nil {
			return itemError{i, err}
		}
		return nil
	}, func() { b.reset(s) })
}

func (list[T]) defaultText() string { return "" }
func (b list[T]) arg() string       { return b.kind.arg }
func (list[T]) boolean() bool       { return false }

// filter is a setting of the in-kernel filters, for every probe and per probe; nil is unset.
type filter[T any] struct {
	field func(*Filter) **T
	kind  kind[T]
	check func(T) error
}

func (b filter[T]) reset(s *Settings) { *b.field(&s.Filter) = nil }

func (b filter[T]) set(s *Settings, text string) error { return b.setFilter(&s.Filter, text) }

func (b filter[T]) setFilter(f *Filter, text string) error {
	v, err := b.kind.value(text, b.check)
	if err != nil {
		return err
	}
	*b.field(f) = &v
	return nil
}

func (b filter[T]) decode(s *Settings, node *yaml.Node) error {
	return b.decodeFilter(&s.Filter, node)
}

func (b filter[T]) decodeFilter(f *Filter, node *yaml.Node) error {
	text, err := scalarText(node)
	if err != nil {
		return err
	}
	return b.setFilter(f, text)
}

// override sets f's field to own's, where own has it.
func (b filter[T]) override(f *Filter, own Filter) {
	if v := *b.field(&own); v != nil {
		*b.field(f) = v
	}
}

func (filter[T]) defaultText() string { return "" }
func (b filter[T]) arg() string       { return b.kind.arg }
func (b filter[T]) boolean() bool     { return b.kind.boolean }

// filterBinding is a binding a probe of a config file may have too.
type filterBinding interface {
	decodeFilter(*Filter, *yaml.Node) error
	override(f *Filter, own Filter)
}

// each gives one value to several fields.
type each []binding

func (b each) reset(s *Settings) {
	for _, f := range b {
		f.reset(s)
	}
}

func (b each) set(s *Settings, text string) error {
	for _, f := range b {
		if err := f.set(s, text); err != nil {
			return err
		}
	}
	return nil
}

func (b each) decode(s *Settings, node *yaml.Node) error {
	text, err := scalarText(node)
	if err != nil {
		return err
	}
	return b.set(s, text)
}

func (b each) defaultText() string { return b[0].defaultText() }
func (b each) arg() string         { return b[0].arg() }
func (b each) boolean() bool       { return b[0].boolean() }

// errEmpty is the one rule for empty values: only a documented meaning makes one valid, and
// no setting has one.
var errEmpty = errors.New("empty value; leave the setting out for its default")

// scalarText is the text of a config file's scalar; null and "" are empty.
func scalarText(node *yaml.Node) (string, error) {
	node = resolveAlias(node)
	switch {
	case node.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("want a single value, got %s", node.ShortTag())
	case node.ShortTag() == "!!null" || node.Value == "":
		return "", errEmpty
	}
	return node.Value, nil
}

// decodeList calls item for each element of a config file's sequence, after clear.
func decodeList(node *yaml.Node, item func(int, *yaml.Node) error, clear func()) error {
	node = resolveAlias(node)
	switch {
	case node.Kind == yaml.ScalarNode && (node.ShortTag() == "!!null" || node.Value == ""):
		return errEmpty
	case node.Kind != yaml.SequenceNode:
		return fmt.Errorf("want a list, got %s", node.ShortTag())
	case len(node.Content) == 0:
		return errEmpty
	}
	clear()
	for i, n := range node.Content {
		if err := item(i, n); err != nil {
			return err
		}
	}
	return nil
}

func resolveAlias(node *yaml.Node) *yaml.Node {
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		return node.Alias
	}
	return node
}

// itemError is an error in one element of a config file's list.
type itemError struct {
	index int
	err   error
}

func (e itemError) Error() string { return fmt.Sprintf("[%d]: %v", e.index, e.err) }
func (e itemError) Unwrap() error { return e.err }
