package transports

import (
	"context"
	"net"
	"sync"
)

// unixTransport is a Unix-domain socket: a path (or an abstract @name)
// instead of host and port, in one of three socket types.
type unixTransport struct {
	spec Spec
}

func init() {
	Register(&unixTransport{Spec{Name: "unix", Family: "AF_UNIX", SockType: "SOCK_STREAM", Kind: Stream, AddrForm: "/path or @abstract"}})
	Register(&unixTransport{Spec{Name: "unixgram", Family: "AF_UNIX", SockType: "SOCK_DGRAM", Kind: Datagram, AddrForm: "/path or @abstract"}})
	Register(&unixTransport{Spec{Name: "unixpacket", Family: "AF_UNIX", SockType: "SOCK_SEQPACKET", Kind: SeqPacket, AddrForm: "/path or @abstract"}})
}

func (t *unixTransport) Spec() Spec          { return t.spec }
func (t *unixTransport) API() string         { return APINet }
func (t *unixTransport) DefaultAddr() string { return DefaultSocketPath(t.spec.Name) }

func (t *unixTransport) Listen(ctx context.Context, path string, opt Options) (net.Listener, error) {
	if t.spec.Kind == Datagram {
		return nil, ErrWrongKind
	}
	if err := t.prepare(path); err != nil {
		return nil, err
	}
	ln, err := listenStream(ctx, t.spec, t.spec.Name, path, opt, "Unix")
	if err != nil {
		return nil, err
	}
	// Go's UnixListener removes the file it created on Close; we only set
	// the mode.
	if _, err := newSocketFile(path, opt.SocketMode); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (t *unixTransport) ListenPacket(ctx context.Context, path string, opt Options) (net.PacketConn, error) {
	if t.spec.Kind != Datagram {
		return nil, ErrWrongKind
	}
	if err := t.prepare(path); err != nil {
		return nil, err
	}
	pc, err := listenPacket(ctx, t.spec, t.spec.Name, path, opt, "UnixConn")
	if err != nil {
		return nil, err
	}
	f, err := newSocketFile(path, opt.SocketMode)
	if err != nil {
		pc.Close()
		return nil, err
	}
	// Unlike the stream listener, a datagram socket leaves its file behind
	// when closed, so we remove it ourselves.
	return &unlinkOnClose{PacketConn: pc, file: f}, nil
}

func (t *unixTransport) prepare(path string) error {
	if err := ensureDefaultDir(t.spec.Name, path); err != nil {
		return err
	}
	return PrepareSocketPath(t.spec.Name, path)
}

func (t *unixTransport) Dial(ctx context.Context, path string, opt Options) (net.Conn, error) {
	var local net.Addr
	var cleanup func()
	if t.spec.Kind == Datagram {
		// The server replies to the sender's address; an unbound unixgram
		// socket has none, so the client binds one first.
		name, remove, err := clientDatagramName()
		if err != nil {
			return nil, err
		}
		local, cleanup = &net.UnixAddr{Name: name, Net: "unixgram"}, remove
	}
	c, err := dial(ctx, t.spec, t.spec.Name, path, local, opt, "UnixConn")
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, err
	}
	if cleanup != nil {
		// The wrapper hides the socket's own methods (CloseWrite and the
		// like), so only a client with a file to remove gets one.
		return &removeOnClose{Conn: c, remove: cleanup}, nil
	}
	return c, nil
}

type unlinkOnClose struct {
	net.PacketConn
	file *socketFile
	once sync.Once
}

func (c *unlinkOnClose) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(c.file.remove)
	return err
}

type removeOnClose struct {
	net.Conn
	remove func()
	once   sync.Once
}

func (c *removeOnClose) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.remove)
	return err
}
