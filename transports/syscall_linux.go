package transports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// sysTransport opens its sockets with the system calls themselves, through
// golang.org/x/sys/unix, one visible call per step of the article's table.
// This file sets a socket up (socket, bind, listen, connect);
// syscallconn_linux.go uses it (accept, recv, sendall, close).
type sysTransport struct {
	spec   Spec
	family int // unix.AF_INET, unix.AF_INET6 or unix.AF_UNIX
	sotype int // unix.SOCK_STREAM, unix.SOCK_DGRAM or unix.SOCK_SEQPACKET
}

var (
	sysFamilies  = map[string]int{"AF_INET": unix.AF_INET, "AF_INET6": unix.AF_INET6, "AF_UNIX": unix.AF_UNIX}
	sysSockTypes = map[string]int{"SOCK_STREAM": unix.SOCK_STREAM, "SOCK_DGRAM": unix.SOCK_DGRAM, "SOCK_SEQPACKET": unix.SOCK_SEQPACKET}
)

func init() {
	for _, spec := range syscallSpecs {
		Register(&sysTransport{spec: spec, family: sysFamilies[spec.Family], sotype: sysSockTypes[spec.SockType]})
	}
}

// listenBacklog is listen(2)'s queue of connections the kernel has set up
// but the server has not accepted yet. The kernel caps it at
// net.core.somaxconn; 128 was that cap for decades and is ample here.
const listenBacklog = 128

func (t *sysTransport) Spec() Spec          { return t.spec }
func (t *sysTransport) API() string         { return APISyscall }
func (t *sysTransport) DefaultAddr() string { return syscallDefaultAddr(t.spec) }

// Listen is the article's server up to accept: socket, bind, listen. The
// listener it returns does the rest: Accept, then Read (recv), Write
// (sendall) and Close on each connection.
func (t *sysTransport) Listen(ctx context.Context, addr string, opt Options) (net.Listener, error) {
	if !t.spec.Kind.Connected() {
		return nil, ErrWrongKind
	}
	sa, err := t.sockaddr(ctx, addr, opt.Trace)
	if err != nil {
		return nil, err
	}
	if err := t.preparePath(addr); err != nil {
		return nil, err
	}
	s, err := t.socket(opt)
	if err != nil {
		return nil, err
	}
	if t.family != unix.AF_UNIX {
		// A restarted server may bind its port again while the last one's
		// connections wait out TIME_WAIT, as Go's net package allows.
		if err := s.setsockopt("SOL_SOCKET", unix.SOL_SOCKET, "SO_REUSEADDR", unix.SO_REUSEADDR, 1); err != nil {
			return nil, s.abandon(err)
		}
	}
	if err := s.bind(sa); err != nil {
		return nil, s.abandon(err)
	}
	// The mode is set before listen, so that no client connects while the
	// socket file still has the umask's permissions.
	if s.file, err = t.setMode(addr, opt); err != nil {
		return nil, s.abandon(err)
	}
	if err := s.listen(listenBacklog); err != nil {
		return nil, s.abandon(err) // which removes the file too
	}
	return &sysListener{fd: s, t: t, addr: s.sockname(t)}, nil
}

// ListenPacket is the article's datagram server: socket and bind. Then
// ReadFrom (recvfrom) and WriteTo (sendto) answer any sender, with no
// listen and no accept.
func (t *sysTransport) ListenPacket(ctx context.Context, addr string, opt Options) (net.PacketConn, error) {
	if t.spec.Kind != Datagram {
		return nil, ErrWrongKind
	}
	sa, err := t.sockaddr(ctx, addr, opt.Trace)
	if err != nil {
		return nil, err
	}
	if err := t.preparePath(addr); err != nil {
		return nil, err
	}
	s, err := t.socket(opt)
	if err != nil {
		return nil, err
	}
	if err := s.bind(sa); err != nil {
		return nil, s.abandon(err)
	}
	if s.file, err = t.setMode(addr, opt); err != nil {
		return nil, s.abandon(err)
	}
	return &sysPacketConn{fd: s, t: t, laddr: s.sockname(t)}, nil
}

// Dial is the article's client: socket, then connect. A datagram socket is
// connected too, which sends nothing: it fixes the peer, so Write needs no
// address and the kernel passes Read only the server's datagrams.
func (t *sysTransport) Dial(ctx context.Context, addr string, opt Options) (net.Conn, error) {
	sa, err := t.sockaddr(ctx, addr, opt.Trace)
	if err != nil {
		return nil, err
	}
	s, err := t.socket(opt)
	if err != nil {
		return nil, err
	}
	if t.family == unix.AF_UNIX && t.spec.Kind == Datagram {
		// The server replies to the address a datagram came from, and an
		// unbound unixgram socket has none. Binding the empty name asks
		// Linux to pick a free abstract one ("autobind"), which leaves
		// no file behind.
		if err := s.bind(&unix.SockaddrUnix{}); err != nil {
			return nil, s.abandon(err)
		}
	}
	if err := s.connect(ctx, sa); err != nil {
		return nil, s.abandon(err)
	}
	return &sysConn{fd: s, t: t, laddr: s.sockname(t), raddr: t.netAddr(sa)}, nil
}

// socket is socket(2). SOCK_NONBLOCK lets poll(2) do the waiting, where
// Close and deadlines can interrupt it (see sysFD); SOCK_CLOEXEC keeps the
// socket out of programs this one starts. Go's net package sets both.
func (t *sysTransport) socket(opt Options) (*sysFD, error) {
	call := fmt.Sprintf("socket(%s, %s|SOCK_NONBLOCK|SOCK_CLOEXEC, 0)", t.spec.Family, t.spec.SockType)
	goCall := fmt.Sprintf("unix.Socket(unix.%s, unix.%s|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)", t.spec.Family, t.spec.SockType)
	fd, err := unix.Socket(t.family, t.sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fail(opt.Trace, "socket", call, goCall, err)
	}
	opt.Trace.Step("socket", fmt.Sprintf("%s = %d", call, fd), goCall)
	s, err := newSysFD(fd, opt.Trace)
	if err != nil {
		return nil, err
	}
	if t.family == unix.AF_INET6 {
		// Whether "[::]" also takes IPv4 clients is the program's choice,
		// not left to the system's default (net.ipv6.bindv6only).
		v6only := 0
		if opt.IPv6Only {
			v6only = 1
		}
		if err := s.setsockopt("IPPROTO_IPV6", unix.IPPROTO_IPV6, "IPV6_V6ONLY", unix.IPV6_V6ONLY, v6only); err != nil {
			return nil, s.abandon(err)
		}
	}
	if t.family != unix.AF_UNIX && t.sotype == unix.SOCK_STREAM {
		// As Go's net package does: otherwise Nagle's algorithm holds a
		// small write back until the peer acknowledges the last one, and
		// a reply sent in pieces waits out the peer's delayed ACK (40 ms).
		// An accepted socket inherits it from the listening one.
		if err := s.setsockopt("IPPROTO_TCP", unix.IPPROTO_TCP, "TCP_NODELAY", unix.TCP_NODELAY, 1); err != nil {
			return nil, s.abandon(err)
		}
	}
	return s, nil
}

// setsockopt is setsockopt(2) with an int value; the names are for the
// trace.
func (s *sysFD) setsockopt(levelName string, level int, optName string, opt, value int) error {
	call := fmt.Sprintf("setsockopt(%d, %s, %s, %d)", s.fd, levelName, optName, value)
	goCall := fmt.Sprintf("unix.SetsockoptInt(%d, unix.%s, unix.%s, %d)", s.fd, levelName, optName, value)
	if err := unix.SetsockoptInt(s.fd, level, opt, value); err != nil {
		return fail(s.trace, "setsockopt", call, goCall, err)
	}
	s.trace.Step("setsockopt", call, goCall)
	return nil
}

// bind is bind(2): it gives the socket its own address. Port 0 asks the
// kernel for a free port, which getsockname then reads back.
func (s *sysFD) bind(sa unix.Sockaddr) error {
	call := fmt.Sprintf("bind(%d, %s)", s.fd, saString(sa))
	goCall := fmt.Sprintf("unix.Bind(%d, %s)", s.fd, goSockaddr(sa))
	if err := unix.Bind(s.fd, sa); err != nil {
		return fail(s.trace, "bind", call, goCall, err)
	}
	s.trace.Step("bind", call, goCall)
	return nil
}

// listen is listen(2): from now on the kernel completes clients'
// connections by itself and queues them, up to backlog, for accept.
func (s *sysFD) listen(backlog int) error {
	call := fmt.Sprintf("listen(%d, %d)", s.fd, backlog)
	goCall := fmt.Sprintf("unix.Listen(%d, %d)", s.fd, backlog)
	if err := unix.Listen(s.fd, backlog); err != nil {
		return fail(s.trace, "listen", call, goCall, err)
	}
	s.trace.Step("listen", call, goCall)
	return nil
}

// connect is connect(2). A Unix socket connects at once, or fails with
// EAGAIN when the server's backlog is full (so does Go's net package).
// A nonblocking TCP socket answers EINPROGRESS while the handshake goes
// on; it turns writable when the handshake is over, and SO_ERROR tells how
// it went. ctx may end the wait.
func (s *sysFD) connect(ctx context.Context, sa unix.Sockaddr) error {
	call := fmt.Sprintf("connect(%d, %s)", s.fd, saString(sa))
	goCall := fmt.Sprintf("unix.Connect(%d, %s)", s.fd, goSockaddr(sa))
	err := unix.Connect(s.fd, sa)
	if err == unix.EINPROGRESS {
		err = s.awaitConnect(ctx)
	}
	if err != nil {
		return fail(s.trace, "connect", call, goCall, err)
	}
	s.trace.Step("connect", call, goCall)
	return nil
}

func (s *sysFD) awaitConnect(ctx context.Context) error {
	// The reference keeps the descriptor (and its eventfd) open while a
	// late timeout wakes it: a number already closed may be someone else's.
	stop := context.AfterFunc(ctx, func() {
		if s.acquire() {
			s.wake(&s.wr)
			s.release()
		}
	})
	defer stop()
	return s.do(&s.wr, func(fd int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		switch errno := unix.Errno(soerr); errno {
		case 0:
			// No error, but poll may have woken for another reason:
			// only a socket with a peer is connected.
			if _, err := unix.Getpeername(fd); err != nil {
				return unix.EAGAIN
			}
			return nil
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return unix.EAGAIN
		default:
			return errno
		}
	})
}

// sockname is getsockname(2), which reads back the address the socket
// has: the port the kernel chose for port 0, a client's ephemeral port, a
// unixgram client's autobound name. It is only informative, so a failure
// gives a nil address rather than an error, as in Go's net package.
func (s *sysFD) sockname(t *sysTransport) net.Addr {
	call := fmt.Sprintf("getsockname(%d)", s.fd)
	goCall := fmt.Sprintf("unix.Getsockname(%d)", s.fd)
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		fail(s.trace, "getsockname", call, goCall, err)
		return nil
	}
	s.trace.Step("getsockname", fmt.Sprintf("%s = %s", call, saString(sa)), goCall)
	return t.netAddr(sa)
}

// abandon closes a socket whose setup failed, and returns why it failed.
func (s *sysFD) abandon(err error) error {
	s.close()
	return err
}

// preparePath makes a Unix server's path ready for bind: the default
// path's private directory exists, and a stale socket file is gone.
func (t *sysTransport) preparePath(path string) error {
	if t.family != unix.AF_UNIX {
		return nil
	}
	if err := ensureDefaultDir(t.spec.Name, path); err != nil {
		return err
	}
	return PrepareSocketPath(t.spec.Name, path)
}

// setMode gives the socket file that bind created its mode. Connecting to
// a Unix socket takes write permission on its file, so the mode says who
// may be a client. The returned file is for Close to remove; abstract
// names and IP sockets have none.
func (t *sysTransport) setMode(path string, opt Options) (*socketFile, error) {
	if t.family != unix.AF_UNIX || IsAbstract(path) {
		return nil, nil
	}
	mode := opt.SocketMode
	if mode == 0 {
		mode = 0o600
	}
	call := fmt.Sprintf("chmod(%s, %#o)", path, mode)
	goCall := fmt.Sprintf("os.Chmod(%q, %#o)", path, mode)
	file, err := newSocketFile(path, mode)
	if err != nil {
		os.Remove(path) // bind just created it, and nobody will use it now
		return nil, fail(opt.Trace, "chmod", call, goCall, err)
	}
	opt.Trace.Step("chmod", call, goCall)
	return file, nil
}

// sockaddr turns an address as the user writes it into the kernel's: a
// path or @name for AF_UNIX; for AF_INET and AF_INET6, a host (an IP, a
// name to resolve, or nothing for every address) and a port, with an
// optional IPv6 zone ("[fe80::1%eth0]:21567"). Its errors leave naming
// the address to the caller, as PrepareSocketPath's do.
func (t *sysTransport) sockaddr(ctx context.Context, addr string, tr *Tracer) (unix.Sockaddr, error) {
	if t.family == unix.AF_UNIX {
		if addr == "" {
			return nil, errors.New("a Unix socket address is a path or an @name; got none")
		}
		if !IsAbstract(addr) && len(addr) > MaxSocketPath {
			return nil, fmt.Errorf("the path is %d bytes; a Unix socket path holds at most %d", len(addr), MaxSocketPath)
		}
		// x/sys writes the leading NUL of an abstract "@name" for us.
		return &unix.SockaddrUnix{Name: addr}, nil
	}
	host, service, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	proto := "tcp"
	if t.sotype == unix.SOCK_DGRAM {
		proto = "udp"
	}
	port, err := net.DefaultResolver.LookupPort(ctx, proto, service)
	if err != nil {
		return nil, err
	}
	host, zone, _ := strings.Cut(host, "%")
	ip, err := t.lookupIP(ctx, host, tr)
	if err != nil {
		return nil, err
	}
	return t.inetSockaddr(ip, port, zone)
}

// lookupIP is the IP a host names, in the transport's family. An empty
// host is the wildcard address, which a server binds to take every
// interface's clients.
func (t *sysTransport) lookupIP(ctx context.Context, host string, tr *Tracer) (netip.Addr, error) {
	network := "ip4"
	if t.family == unix.AF_INET6 {
		network = "ip6"
	}
	if host == "" {
		if network == "ip6" {
			return netip.IPv6Unspecified(), nil
		}
		return netip.IPv4Unspecified(), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("no %s address for %s", t.spec.Family, host)
	}
	// Go's net package would try each address in turn; the first will do
	// for a lab. The resolver may write an IPv4 address in its IPv6 form
	// (::ffff:127.0.0.1), which Unmap undoes.
	ip := ips[0]
	if network == "ip4" {
		ip = ip.Unmap()
	}
	tr.Step("resolve", fmt.Sprintf("%s = %s", host, ip), fmt.Sprintf("net.DefaultResolver.LookupNetIP(ctx, %q, %q)", network, host))
	return ip, nil
}

// inetSockaddr is an IP and port as the kernel takes them: sockaddr_in
// for AF_INET, sockaddr_in6 for AF_INET6, where a zone names the
// interface of a link-local address by its index.
func (t *sysTransport) inetSockaddr(ip netip.Addr, port int, zone string) (unix.Sockaddr, error) {
	if t.family == unix.AF_INET {
		ip = ip.Unmap()
		if !ip.Is4() {
			return nil, fmt.Errorf("%s is not an IPv4 address", ip)
		}
		if zone != "" {
			return nil, fmt.Errorf("an IPv4 address has no zone (%%%s)", zone)
		}
		return &unix.SockaddrInet4{Port: port, Addr: ip.As4()}, nil
	}
	if !ip.Is6() {
		return nil, fmt.Errorf("%s is not an IPv6 address (an IPv4 one is written ::ffff:%s)", ip, ip)
	}
	if zone == "" {
		zone = ip.Zone()
	}
	scope, err := zoneIndex(zone)
	if err != nil {
		return nil, err
	}
	return &unix.SockaddrInet6{Port: port, ZoneId: scope, Addr: ip.As16()}, nil
}

// zoneIndex is the interface index of an IPv6 zone, written as a name
// ("eth0") or as the index itself.
func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", zone, err)
	}
	return uint32(ifi.Index), nil
}

// zoneName is the interface an IPv6 scope ID names, or the number itself.
func zoneName(index uint32) string {
	if index == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

// netAddr is the kernel's address as Go's net package types it for this
// transport: *net.TCPAddr, *net.UDPAddr or *net.UnixAddr. A datagram from
// an unbound socket has no address, which is nil.
func (t *sysTransport) netAddr(sa unix.Sockaddr) net.Addr {
	var ip net.IP
	var port int
	var zone string
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ip, port = sa.Addr[:], sa.Port
	case *unix.SockaddrInet6:
		ip, port, zone = sa.Addr[:], sa.Port, zoneName(sa.ZoneId)
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: t.spec.Name}
	default:
		return nil
	}
	if t.sotype == unix.SOCK_DGRAM {
		return &net.UDPAddr{IP: ip, Port: port, Zone: zone}
	}
	return &net.TCPAddr{IP: ip, Port: port, Zone: zone}
}

// sockaddrOf is the reverse of netAddr, for WriteTo.
func (t *sysTransport) sockaddrOf(addr net.Addr) (unix.Sockaddr, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		if ip, ok := netip.AddrFromSlice(a.IP); ok && t.family != unix.AF_UNIX {
			return t.inetSockaddr(ip, a.Port, a.Zone)
		}
	case *net.UnixAddr:
		if t.family == unix.AF_UNIX {
			return &unix.SockaddrUnix{Name: a.Name}, nil
		}
	}
	return nil, fmt.Errorf("cannot send to %T %v on an %s socket", addr, addr, t.spec.Family)
}

// saString writes an address as the trace shows it: 127.0.0.1:21567,
// [::1]:21567, /run/user/1000/socklab/unix.sock, @abstract.
func saString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr).WithZone(zoneName(sa.ZoneId))
		return netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		if sa.Name == "" {
			return `""`
		}
		return sa.Name
	}
	return "(unnamed)"
}

// goSockaddr writes an address as the Go value handed to x/sys.
func goSockaddr(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		a := sa.Addr
		return fmt.Sprintf("&unix.SockaddrInet4{Port: %d, Addr: [4]byte{%d, %d, %d, %d}}", sa.Port, a[0], a[1], a[2], a[3])
	case *unix.SockaddrInet6:
		zone := ""
		if sa.ZoneId != 0 {
			zone = fmt.Sprintf(", ZoneId: %d", sa.ZoneId)
		}
		return fmt.Sprintf("&unix.SockaddrInet6{Port: %d%s, Addr: netip.MustParseAddr(%q).As16()}", sa.Port, zone, netip.AddrFrom16(sa.Addr))
	case *unix.SockaddrUnix:
		return fmt.Sprintf("&unix.SockaddrUnix{Name: %q}", sa.Name)
	}
	return "nil"
}
