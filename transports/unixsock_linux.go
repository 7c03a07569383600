package transports

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
)

// clientDatagramName picks the unixgram client's own address. On Linux an
// abstract name leaves no file to clean up, even if the client dies, so
// there is no cleanup function.
func clientDatagramName() (string, func(), error) {
	var b [6]byte
	rand.Read(b[:])
	return "@socklab-client-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:]), nil, nil
}
