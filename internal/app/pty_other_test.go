//go:build !linux

package app

import (
	"os"
	"testing"
)

// openPTY is Linux's: elsewhere the terminal tests skip.
func openPTY(t *testing.T, cols uint16) (tty, ctrl *os.File) {
	t.Helper()
	t.Skip("the pseudo-terminal helper is written for Linux")
	return nil, nil
}
