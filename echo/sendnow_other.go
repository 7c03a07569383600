//go:build !unix

package echo

import "net"

// sendNow is Unix's; elsewhere WriteTo does the sending.
func sendNow(net.PacketConn, []byte, net.Addr) (bool, error) { return false, nil }
