package argspec

import (
	"encoding/binary"
	"fmt"
)

// Status says how an argument's read went (enum arg_status).
type Status uint8

const (
	StatusOK         Status = iota
	StatusTruncated         // the string or path is longer than --arg-string-max
	StatusReadFailed        // Number is the read's negative errno, when it has one
)

// FileKind says what a path value names (enum arg_file_kind).
type FileKind uint8

const (
	FilePath      FileKind = iota // a path, in Bytes
	FileSocket                    // socket:[Number]
	FilePipe                      // pipe:[Number]
	FileAnonymous                 // anon_inode:Bytes
)

// Value is one captured argument, as the kernel wrote it.
type Value struct {
	Status   Status
	FileKind FileKind
	Number   uint64
	Bytes    []byte // a string's or path's bytes; aliases the record
}

// The layout of the args tail (kretspan.h: struct arg_values_header, struct arg_value).
const (
	tailHeaderSize = 8
	valueHeader    = 16
)

// DecodeValues decodes an args tail into values, one per argument of the plan it was captured
// by, appending to dst.
func DecodeValues(dst []Value, tail []byte) ([]Value, error) {
	if len(tail) < tailHeaderSize {
		return dst, fmt.Errorf("arguments of %d bytes", len(tail))
	}
	size := int(binary.LittleEndian.Uint16(tail[0:]))
	stride := int(binary.LittleEndian.Uint16(tail[2:]))
	count := int(binary.LittleEndian.Uint16(tail[4:]))
	if size > len(tail) || count > MaxArgs || tailHeaderSize+count*stride > size || (count > 0 && stride < valueHeader) {
		return dst, fmt.Errorf("arguments' header (size %d, stride %d, count %d) does not fit %d bytes", size, stride, count, len(tail))
	}
	for i := range count {
		slot := tail[tailHeaderSize+i*stride : tailHeaderSize+(i+1)*stride]
		v := Value{Status: Status(slot[0]), FileKind: FileKind(slot[1]), Number: binary.LittleEndian.Uint64(slot[8:])}
		n := int(binary.LittleEndian.Uint16(slot[2:]))
		if n > len(slot)-valueHeader {
			return dst, fmt.Errorf("argument %d: string of %d bytes in a slot of %d", i, n, len(slot)-valueHeader)
		}
		v.Bytes = slot[valueHeader : valueHeader+n]
		dst = append(dst, v)
	}
	return dst, nil
}

// Integer is an integer argument's value as the plan says to show it: sign-extended from its
// size for signed ones, cut to its size for the others.
func (a *Arg) Integer(raw uint64) int64 {
	if bits := uint(a.Size) * 8; a.Show == ShowSigned && bits > 0 && bits < 64 {
		shift := 64 - bits
		return int64(raw<<shift) >> shift
	}
	return int64(maskTo(raw, a.Size))
}

// FileName writes a path value as /proc/PID/fd shows it.
func (v *Value) FileName() string {
	switch v.FileKind {
	case FileSocket:
		return fmt.Sprintf("socket:[%d]", v.Number)
	case FilePipe:
		return fmt.Sprintf("pipe:[%d]", v.Number)
	case FileAnonymous:
		return "anon_inode:" + string(v.Bytes)
	}
	return string(v.Bytes)
}
