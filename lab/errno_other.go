//go:build !linux

package lab

import "syscall"

// errnoName is the error number's text: only Linux's names are tabled.
func errnoName(errno syscall.Errno) string { return errno.Error() }
