package exporter

import (
	"strconv"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/kretspan/kretspan/argspec"
)

// consoleArg is one argument as the console writes it: name=text.
type consoleArg struct {
	name, text string
	integer    bool
	unnamed    bool // a path whose name no attribute has said yet: file.path carries none
}

// formatArgs writes a span's arguments the way strace does: dfd=-100, filename="/etc/shadow",
// flags=O_RDONLY|O_CLOEXEC, fd=3</etc/hosts>. It returns "" for a span without arguments. Only a
// syscall's path is a descriptor's, right after it, and only a syscall's flags have names: a
// kernel or user function of the same name has other arguments.
func formatArgs(function string, syscall bool, attributes []*commonpb.KeyValue) string {
	var args []consoleArg
	find := func(name string) *consoleArg {
		for i := range args {
			if !args[i].unnamed && (args[i].name == name || syscall && args[i].name+argspec.FDPathSuffix == name) {
				return &args[i]
			}
		}
		return nil
	}
	for _, kv := range attributes {
		if kv.Key == argspec.FilePathKey {
			path := kv.Value.GetStringValue()
			if n := len(args); syscall && n > 0 && args[n-1].integer {
				args[n-1].text += "<" + path + ">"
			} else {
				args = append(args, consoleArg{name: "file", text: strconv.Quote(path), unnamed: true})
			}
			continue
		}
		name, ok := strings.CutPrefix(kv.Key, argspec.AttributePrefix)
		if !ok {
			continue
		}
		if base, ok := strings.CutSuffix(name, argspec.TruncatedSuffix); ok {
			a := find(base)
			if n := len(args); a == nil && n > 0 && args[n-1].unnamed {
				a = &args[n-1] // the marker follows its value, and names it
				a.name, a.unnamed = base, false
			}
			if a != nil {
				a.text += "..."
			}
			continue
		}
		if base, ok := strings.CutSuffix(name, argspec.ErrorSuffix); ok {
			if a := find(base); a != nil && a.name != base {
				a.text += "<?>" // the descriptor's path could not be read
			} else {
				args = append(args, consoleArg{name: base, text: "?(" + kv.Value.GetStringValue() + ")"})
			}
			continue
		}
		a := consoleArg{name: name}
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_IntValue:
			a.integer = true
			a.text = strconv.FormatInt(v.IntValue, 10)
			if table := argspec.FlagTable(function, name); syscall && table != "" {
				a.text = argspec.FormatFlags(table, uint64(v.IntValue))
			}
		case *commonpb.AnyValue_BoolValue:
			a.text = strconv.FormatBool(v.BoolValue)
		case *commonpb.AnyValue_StringValue:
			a.text = strconv.Quote(v.StringValue)
		}
		args = append(args, a)
	}
	if len(args) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.name + "=" + a.text)
	}
	b.WriteByte(')')
	return b.String()
}
