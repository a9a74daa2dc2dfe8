package otelbridge

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/otlpwire"
)

// argAttributes encodes a probe's captured arguments as span attributes, keys encoded once.
type argAttributes struct {
	args      []argspec.Arg
	keys      []otlpwire.Key
	ints      []*otlpwire.IntAttribute
	truncated [][]byte // the whole ".truncated" attribute, per argument
	errorKeys []otlpwire.Key
	values    []argspec.Value // reused per span
}

// WithArgs makes spans of the probe carry the arguments its plan captures.
func (i *ProbeInfo) WithArgs(plan *argspec.Plan) {
	if plan == nil || len(plan.Args) == 0 {
		return
	}
	a := &argAttributes{args: plan.Args}
	for _, arg := range plan.Args {
		key := otlpwire.NewKey(arg.Key)
		a.keys = append(a.keys, key)
		a.ints = append(a.ints, otlpwire.NewIntAttribute(otlpwire.SpanAttribute, key))
		markers := argspec.AttributePrefix + arg.Name
		a.truncated = append(a.truncated, otlpwire.AppendBoolAttribute(nil, otlpwire.SpanAttribute, otlpwire.NewKey(markers+argspec.TruncatedSuffix), true))
		a.errorKeys = append(a.errorKeys, otlpwire.NewKey(markers+argspec.ErrorSuffix))
	}
	i.args = a
}

// append appends the attributes of the values in an args tail. A tail that cannot be decoded
// gives an error attribute on the first argument rather than values that could be wrong.
func (a *argAttributes) append(dst []byte, tail []byte) []byte {
	values, err := argspec.DecodeValues(a.values[:0], tail)
	a.values = values
	if err != nil {
		return otlpwire.AppendStringAttribute(dst, otlpwire.SpanAttribute, a.errorKeys[0], err.Error())
	}
	for i := range min(len(values), len(a.args)) {
		arg, v := &a.args[i], &values[i]
		if v.Status == argspec.StatusReadFailed {
			if arg.Read == argspec.ReadFDPath && int64(v.Number) == -int64(unix.EBADF) {
				continue // not a descriptor (mmap's -1): it has no file
			}
			dst = otlpwire.AppendStringAttribute(dst, otlpwire.SpanAttribute, a.errorKeys[i], readError(v.Number))
			continue
		}
		switch {
		case arg.Read == argspec.ReadInteger:
			dst = a.appendInteger(dst, i, arg.Integer(v.Number))
		case arg.Read.IsPath():
			dst = otlpwire.AppendStringAttribute(dst, otlpwire.SpanAttribute, a.keys[i], strings.ToValidUTF8(v.FileName(), "\uFFFD"))
		default:
			dst = otlpwire.AppendStringAttribute(dst, otlpwire.SpanAttribute, a.keys[i], strings.ToValidUTF8(string(v.Bytes), "\uFFFD"))
		}
		if v.Status == argspec.StatusTruncated {
			dst = append(dst, a.truncated[i]...)
		}
	}
	return dst
}

func (a *argAttributes) appendInteger(dst []byte, i int, n int64) []byte {
	arg := &a.args[i]
	switch arg.Show {
	case argspec.ShowBool:
		return otlpwire.AppendBoolAttribute(dst, otlpwire.SpanAttribute, a.keys[i], n != 0)
	case argspec.ShowEnum:
		if name, ok := arg.Enum[uint64(n)]; ok {
			return otlpwire.AppendStringAttribute(dst, otlpwire.SpanAttribute, a.keys[i], name)
		}
	}
	return a.ints[i].Append(dst, n)
}

// readError says why a read failed: the kernel's errno, where it gave one.
func readError(number uint64) string {
	if ret := int64(number); errno.Is(ret) {
		return "read failed: " + errno.Name(ret)
	}
	return "read failed"
}
