package transports

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// control runs inside Go's socket setup after socket(2) and before bind(2)
// or connect(2): the one moment the net package lets us see the new file
// descriptor and set options on it.
func control(spec Spec, opt Options, goCall string) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var sockErr error
		err := c.Control(func(fd uintptr) {
			opt.Trace.Step("socket", fmt.Sprintf("%s, %s = fd %d", spec.Family, spec.SockType, fd), goCall)
			if spec.Family == "AF_INET6" {
				sockErr = setIPv6Only(fd, opt.IPv6Only)
			}
		})
		if err != nil {
			return err
		}
		return sockErr
	}
}

// listenStream opens a listening socket with Go's net package.
func listenStream(ctx context.Context, spec Spec, goNetwork, addr string, opt Options, goType string) (net.Listener, error) {
	goCall := fmt.Sprintf("net.ListenConfig.Listen(ctx, %q, %q)", goNetwork, addr)
	lc := net.ListenConfig{Control: control(spec, opt, goCall)}
	ln, err := lc.Listen(ctx, goNetwork, addr)
	if err != nil {
		return nil, err
	}
	opt.Trace.Step("bind", addrString(ln.Addr()), "(inside Listen)")
	opt.Trace.Step("listen", "backlog = net.core.somaxconn", "(inside Listen)")
	return TraceListener(opt.Trace, ln, "*net."+goType), nil
}

// listenPacket opens a bound datagram socket with Go's net package.
func listenPacket(ctx context.Context, spec Spec, goNetwork, addr string, opt Options, goType string) (net.PacketConn, error) {
	goCall := fmt.Sprintf("net.ListenConfig.ListenPacket(ctx, %q, %q)", goNetwork, addr)
	lc := net.ListenConfig{Control: control(spec, opt, goCall)}
	pc, err := lc.ListenPacket(ctx, goNetwork, addr)
	if err != nil {
		return nil, err
	}
	opt.Trace.Step("bind", addrString(pc.LocalAddr()), "(inside ListenPacket)")
	return TracePacketConn(opt.Trace, noWait(pc), "*net."+goType), nil
}

// dial connects a client socket with Go's net package.
func dial(ctx context.Context, spec Spec, goNetwork, addr string, local net.Addr, opt Options, goType string) (net.Conn, error) {
	goCall := fmt.Sprintf("net.Dialer.DialContext(ctx, %q, %q)", goNetwork, addr)
	d := net.Dialer{LocalAddr: local, Control: control(spec, opt, goCall)}
	c, err := d.DialContext(ctx, goNetwork, addr)
	if err != nil {
		opt.Trace.Step("connect", "error: "+err.Error(), "(inside DialContext)")
		return nil, err
	}
	if local != nil {
		opt.Trace.Step("bind", addrString(c.LocalAddr()), "(inside DialContext)")
	}
	opt.Trace.Step("connect", fmt.Sprintf("%s -> %s", addrString(c.LocalAddr()), addrString(c.RemoteAddr())), "(inside DialContext)")
	return TraceConn(opt.Trace, c, "*net."+goType), nil
}
