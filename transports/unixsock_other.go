//go:build !linux

package transports

import "os"

// clientDatagramName picks the unixgram client's own address: a fresh path
// in the temp dir, removed when the client closes.
func clientDatagramName() (string, func(), error) {
	f, err := os.CreateTemp("", "socklab-client-*.sock")
	if err != nil {
		return "", nil, err
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return name, func() { os.Remove(name) }, nil
}
