//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// RaiseNoFile lets this process open want files if it may, or as many as
// its hard limit allows, and fails if that is fewer than least. It changes
// this process's limit only (raising the hard limit needs privilege).
// Setting it explicitly also makes child processes inherit it, where Go
// would otherwise give them back the limit the process started with.
func RaiseNoFile(want, least uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	raised := lim
	raised.Cur = max(lim.Cur, want)
	raised.Max = max(lim.Max, raised.Cur)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
		return nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < least {
		return fmt.Errorf("the open files limit is %d and cannot be raised to the %d needed", lim.Cur, least)
	}
	return nil
}
