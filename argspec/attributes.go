package argspec

import "fmt"

// An argument's attribute keys: everything that writes or reads kretspan.arg.NAME, file.path and
// their markers builds them from these.
const (
	AttributePrefix = "kretspan.arg."
	// FilePathKey holds a probe's one file path (semantic conventions: a file's full path).
	FilePathKey = "file.path"
	// FDPathSuffix names a descriptor's path after the descriptor: NAME.path, right after NAME.
	FDPathSuffix = ".path"
	// TruncatedSuffix marks kretspan.arg.NAME.truncated = true: the string or path is cut at
	// --arg-string-max.
	TruncatedSuffix = ".truncated"
	// ErrorSuffix marks kretspan.arg.NAME.error: the read failed, and this says why instead of
	// a value.
	ErrorSuffix = ".error"
)

// CheckStringMax checks a limit of the bytes captured of each string or path (--arg-string-max).
func CheckStringMax(n int) error {
	if n < 1 || n > MaxStringMax {
		return fmt.Errorf("want 1 to %d bytes", MaxStringMax)
	}
	return nil
}
