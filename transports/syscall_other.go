//go:build !linux

package transports

import (
	"context"
	"errors"
	"net"
)

// The syscall API is written against Linux (accept4, eventfd, abstract Unix
// names, autobind). Elsewhere its transports are still registered, so that
// listings and help look the same on every system, but opening a socket
// says why it cannot.
var errLinuxOnly = errors.New("the syscall API is Linux-only")

type sysTransport struct{ spec Spec }

func init() {
	for _, spec := range syscallSpecs {
		Register(&sysTransport{spec: spec})
	}
}

func (t *sysTransport) Spec() Spec          { return t.spec }
func (t *sysTransport) API() string         { return APISyscall }
func (t *sysTransport) DefaultAddr() string { return syscallDefaultAddr(t.spec) }

func (t *sysTransport) Listen(context.Context, string, Options) (net.Listener, error) {
	return nil, errLinuxOnly
}

func (t *sysTransport) ListenPacket(context.Context, string, Options) (net.PacketConn, error) {
	return nil, errLinuxOnly
}

func (t *sysTransport) Dial(context.Context, string, Options) (net.Conn, error) {
	return nil, errLinuxOnly
}
