//go:build !unix

package bench

// RaiseNoFile does nothing where there is no RLIMIT_NOFILE.
func RaiseNoFile(want, least uint64) error { return nil }
