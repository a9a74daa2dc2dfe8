package argspec

// openLargeFile is O_LARGEFILE as this architecture's kernel defines it (asm/fcntl.h).
// Go's unix package, like 64-bit C libraries, has 0 there, yet callers still pass the bit.
const openLargeFile = 0o400000
