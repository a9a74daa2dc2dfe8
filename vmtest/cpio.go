package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as initramfs.
// Writing it here, rather than running cpio(1), lets the archive hold device
// nodes (/dev/console) without root and keeps the build reproducible.
type cpioWriter struct {
	w   *bufio.Writer
	ino uint32
	err error
}

// Mode type bits as in stat(2).
const (
	cpioDir     = 0o040000
	cpioRegular = 0o100000
	cpioSymlink = 0o120000
	cpioCharDev = 0o020000
)

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20)}
}

// header writes one entry header and name; all entries are owned by root with
// mtime 0.
func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	if size > 0xFFFFFFFF {
		c.err = fmt.Errorf("cpio: %s is larger than 4 GiB", name)
		return
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	_, c.err = fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	if c.err == nil {
		_, c.err = c.w.WriteString(name + "\x00")
	}
	c.pad(110 + int64(len(name)) + 1)
}

// pad aligns to 4 bytes after n bytes of header+name or of data.
func (c *cpioWriter) pad(n int64) {
	if c.err == nil && n%4 != 0 {
		_, c.err = c.w.Write(make([]byte, 4-n%4))
	}
}

func (c *cpioWriter) Dir(name string) {
	c.header(name, cpioDir|0o755, 0, 0, 0)
}

func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	c.header(name, cpioCharDev|perm, 0, major, minor)
}

func (c *cpioWriter) Symlink(name, target string) {
	c.Bytes(name, cpioSymlink|0o777, []byte(target))
}

// Bytes writes a file (or, with cpioSymlink in mode, a link target) from memory.
func (c *cpioWriter) Bytes(name string, mode uint32, data []byte) {
	if mode&0o170000 == 0 {
		mode |= cpioRegular
	}
	c.header(name, mode, int64(len(data)), 0, 0)
	if c.err == nil {
		_, c.err = c.w.Write(data)
	}
	c.pad(int64(len(data)))
}

// File copies the host file src into the archive as name, streaming it so
// large test binaries are not held in memory.
func (c *cpioWriter) File(name string, perm uint32, src string) {
	if c.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		c.err = err
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.err = err
		return
	}
	c.header(name, cpioRegular|perm, st.Size(), 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, f)
	if err == nil && n != st.Size() {
		err = fmt.Errorf("cpio: %s changed size while archiving", src)
	}
	c.err = err
	c.pad(n)
}

// Close writes the trailer entry and flushes.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.err
}
