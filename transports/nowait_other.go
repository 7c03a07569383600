//go:build !unix

package transports

import "net"

// noWait is Unix's; elsewhere WriteTo sends as Go's net package does.
func noWait(pc net.PacketConn) net.PacketConn { return pc }
