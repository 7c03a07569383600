package transports

import (
	"context"
	"net"
)

// tcpTransport is TCP over IPv4 or IPv6: a connected byte stream.
type tcpTransport struct {
	spec        Spec
	goNetwork   string // "tcp4" or "tcp6": "tcp" alone would let Go pick the family
	defaultAddr string
}

func init() {
	Register(&tcpTransport{
		spec:        Spec{Name: "tcp", Family: "AF_INET", SockType: "SOCK_STREAM", Kind: Stream, AddrForm: "host:port"},
		goNetwork:   "tcp4",
		defaultAddr: "127.0.0.1:21567",
	})
	Register(&tcpTransport{
		spec:        Spec{Name: "tcp6", Family: "AF_INET6", SockType: "SOCK_STREAM", Kind: Stream, AddrForm: "[host]:port"},
		goNetwork:   "tcp6",
		defaultAddr: "[::1]:21567",
	})
}

func (t *tcpTransport) Spec() Spec          { return t.spec }
func (t *tcpTransport) API() string         { return APINet }
func (t *tcpTransport) DefaultAddr() string { return t.defaultAddr }

func (t *tcpTransport) Listen(ctx context.Context, addr string, opt Options) (net.Listener, error) {
	return listenStream(ctx, t.spec, t.goNetwork, addr, opt, "TCP")
}

func (t *tcpTransport) ListenPacket(context.Context, string, Options) (net.PacketConn, error) {
	return nil, ErrWrongKind
}

func (t *tcpTransport) Dial(ctx context.Context, addr string, opt Options) (net.Conn, error) {
	return dial(ctx, t.spec, t.goNetwork, addr, nil, opt, "TCPConn")
}
