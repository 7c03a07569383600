package transports

import (
	"context"
	"net"
)

// udpTransport is UDP over IPv4 or IPv6: connectionless datagrams.
type udpTransport struct {
	spec        Spec
	goNetwork   string // "udp4" or "udp6"
	defaultAddr string
}

func init() {
	Register(&udpTransport{
		spec:        Spec{Name: "udp", Family: "AF_INET", SockType: "SOCK_DGRAM", Kind: Datagram, AddrForm: "host:port"},
		goNetwork:   "udp4",
		defaultAddr: "127.0.0.1:21567",
	})
	Register(&udpTransport{
		spec:        Spec{Name: "udp6", Family: "AF_INET6", SockType: "SOCK_DGRAM", Kind: Datagram, AddrForm: "[host]:port"},
		goNetwork:   "udp6",
		defaultAddr: "[::1]:21567",
	})
}

func (t *udpTransport) Spec() Spec          { return t.spec }
func (t *udpTransport) API() string         { return APINet }
func (t *udpTransport) DefaultAddr() string { return t.defaultAddr }

func (t *udpTransport) Listen(context.Context, string, Options) (net.Listener, error) {
	return nil, ErrWrongKind
}

func (t *udpTransport) ListenPacket(ctx context.Context, addr string, opt Options) (net.PacketConn, error) {
	return listenPacket(ctx, t.spec, t.goNetwork, addr, opt, "UDPConn")
}

func (t *udpTransport) Dial(ctx context.Context, addr string, opt Options) (net.Conn, error) {
	return dial(ctx, t.spec, t.goNetwork, addr, nil, opt, "UDPConn")
}
