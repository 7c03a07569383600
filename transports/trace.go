package transports

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Tracer prints each socket call as it happens, in the article's words
// (socket, bind, listen, accept, connect, recv, sendall, close) beside the
// Go call that makes it. A nil *Tracer prints nothing.
type Tracer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewTracer returns a Tracer that writes one line per call to w.
func NewTracer(w io.Writer) *Tracer { return &Tracer{w: w} }

// Step prints one call: the socket method, what it did, and the Go call.
func (t *Tracer) Step(call, detail, goCall string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "trace: %-11s %-44s %s\n", call, detail, goCall)
}

// TraceListener wraps ln so that Accept and Close are traced. With a nil
// tracer it returns ln itself, so tracing costs nothing when it is off.
func TraceListener(t *Tracer, ln net.Listener, goType string) net.Listener {
	if t == nil {
		return ln
	}
	return &tracedListener{Listener: ln, t: t, goType: goType}
}

type tracedListener struct {
	net.Listener
	t      *Tracer
	goType string
	closed sync.Once
}

func (l *tracedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if errors.Is(err, net.ErrClosed) {
		l.t.Step("accept", "interrupted: the listening socket was closed", "("+l.goType+"Listener).Accept()")
		return nil, err
	}
	if err != nil {
		l.t.Step("accept", "error: "+err.Error(), "("+l.goType+"Listener).Accept()")
		return nil, err
	}
	l.t.Step("accept", "new socket for "+addrString(c.RemoteAddr()), "("+l.goType+"Listener).Accept()")
	return TraceConn(l.t, c, l.goType+"Conn"), nil
}

func (l *tracedListener) Close() error {
	// Only the first Close is the close(2); which one that is must be
	// settled before either runs.
	first := false
	l.closed.Do(func() { first = true })
	err := l.Listener.Close()
	if first {
		l.t.Step("close", "listening socket "+addrString(l.Addr())+errSuffix(err), "("+l.goType+"Listener).Close()")
	}
	return err
}

// TraceConn wraps c so that Read, Write and Close are traced.
func TraceConn(t *Tracer, c net.Conn, goType string) net.Conn {
	if t == nil {
		return c
	}
	return &tracedConn{Conn: c, t: t, goType: goType}
}

type tracedConn struct {
	net.Conn
	t      *Tracer
	goType string
}

func (c *tracedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	detail := fmt.Sprintf("%d bytes (buffer %d) from %s", n, len(p), addrString(c.RemoteAddr()))
	switch {
	case err == io.EOF:
		detail = "0 bytes: the peer closed (EOF)"
	case err != nil:
		detail = fmt.Sprintf("%d bytes, error: %v", n, err)
	}
	c.t.Step("recv", detail, "("+c.goType+").Read()")
	return n, err
}

func (c *tracedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	detail := fmt.Sprintf("%d bytes to %s", n, addrString(c.RemoteAddr()))
	if err != nil {
		detail += ", error: " + err.Error()
	}
	// Go's Write loops until every byte is written, which is what the
	// article's table promises for sendall.
	c.t.Step("sendall", detail, "("+c.goType+").Write()")
	return n, err
}

func (c *tracedConn) Close() error {
	err := c.Conn.Close()
	c.t.Step("close", "socket to "+addrString(c.RemoteAddr())+errSuffix(err), "("+c.goType+").Close()")
	return err
}

// CloseRead and CloseWrite keep the half-close of the wrapped socket
// reachable through the wrapper.
func (c *tracedConn) CloseRead() error {
	if cr, ok := c.Conn.(interface{ CloseRead() error }); ok {
		// Traced before the call: it wakes a blocked read, whose own line
		// must come after.
		c.t.Step("shutdown", "SHUT_RD", "("+c.goType+").CloseRead()")
		return cr.CloseRead()
	}
	return c.Conn.SetReadDeadline(time.Now())
}

func (c *tracedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		// Traced before the call: it wakes a blocked read, whose own line
		// must come after.
		c.t.Step("shutdown", "SHUT_WR", "("+c.goType+").CloseWrite()")
		return cw.CloseWrite()
	}
	return fmt.Errorf("%s: half-close not supported", c.goType)
}

// TracePacketConn wraps pc so that ReadFrom, WriteTo and Close are traced.
func TracePacketConn(t *Tracer, pc net.PacketConn, goType string) net.PacketConn {
	if t == nil {
		return pc
	}
	return &tracedPacketConn{PacketConn: pc, t: t, goType: goType}
}

type tracedPacketConn struct {
	net.PacketConn
	t      *Tracer
	goType string
}

func (c *tracedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	detail := fmt.Sprintf("%d bytes from %s", n, addrString(addr))
	if err != nil {
		detail = "error: " + err.Error()
	}
	c.t.Step("recvfrom", detail, "("+c.goType+").ReadFrom()")
	return n, addr, err
}

func (c *tracedPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	detail := fmt.Sprintf("%d bytes to %s", n, addrString(addr))
	if err != nil {
		detail += ", error: " + err.Error()
	}
	c.t.Step("sendto", detail, "("+c.goType+").WriteTo()")
	return n, err
}

func (c *tracedPacketConn) Close() error {
	err := c.PacketConn.Close()
	c.t.Step("close", "socket "+addrString(c.LocalAddr())+errSuffix(err), "("+c.goType+").Close()")
	return err
}

// errSuffix adds a failed call's error to its trace line.
func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ", error: " + err.Error()
}

// addrString names an address, including the unnamed Unix sockets that
// have none.
func addrString(a net.Addr) string {
	if a == nil {
		return "(unnamed)"
	}
	// An unbound Unix socket has no name; Go spells that "" or "@".
	if s := a.String(); s != "" && s != "@" {
		return s
	}
	return "(unnamed)"
}
