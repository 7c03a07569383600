package lab

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoName is the C name of an error number, such as ECONNREFUSED.
func errnoName(errno syscall.Errno) string { return unix.ErrnoName(errno) }
