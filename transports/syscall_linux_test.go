package transports_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
)

// patience bounds every wait in these tests. It is long because they run
// on loaded machines under -race; a correct run never comes near it.
const patience = 20 * time.Second

func lookupTransport(t *testing.T, api, name string) transports.Transport {
	t.Helper()
	tr, err := transports.Lookup(api, name)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

var ipv6Listens = sync.OnceValue(func() error {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err == nil {
		ln.Close()
	}
	return err
})

// loopbackAddr is a fresh loopback or temp-dir address for a server of name.
func loopbackAddr(t *testing.T, name string) string {
	t.Helper()
	switch name {
	case "tcp", "udp":
		return "127.0.0.1:0"
	case "tcp6", "udp6":
		if err := ipv6Listens(); err != nil {
			t.Skipf("skipping: cannot listen on IPv6 loopback [::1]:0: %v", err)
		}
		return "[::1]:0"
	}
	return shortSocketPath(t)
}

// shortSocketPath is a path in a fresh temp dir, short enough for sun_path.
func shortSocketPath(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.sock")
	if len(p) <= transports.MaxSocketPath {
		return p
	}
	dir, err := os.MkdirTemp("", "sl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// startEcho runs an echo server until the test ends.
func startEcho(t *testing.T, tr transports.Transport, addr string, opt transports.Options) *echo.Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := echo.Start(ctx, tr, addr, opt, echo.Config{})
	if err != nil {
		cancel()
		t.Fatalf("%s/%s server on %s: %v", tr.API(), tr.Spec().Name, addr, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := waitStopped(r); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return r
}

// waitStopped is r.Wait, bounded by patience.
func waitStopped(r *echo.Running) error {
	done := make(chan error, 1)
	go func() { done <- r.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(patience):
		return fmt.Errorf("still running %v after its context ended", patience)
	}
}

func dialEcho(t *testing.T, tr transports.Transport, addr string, opt transports.Options) *echo.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := echo.Dial(ctx, tr, addr, opt, echo.ClientConfig{Timeout: patience})
	if err != nil {
		t.Fatalf("%s/%s dial %s: %v", tr.API(), tr.Spec().Name, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchangeHello sends "hello" and wants exactly "[<ctime>] hello" back.
func exchangeHello(t *testing.T, c *echo.Client) {
	t.Helper()
	c.Conn().SetDeadline(time.Now().Add(patience))
	reply, err := c.Exchange([]byte("hello"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if len(reply) != echo.PrefixLen+len("hello") || !echo.IsPrefix(reply) || string(reply[echo.PrefixLen:]) != "hello" {
		t.Fatalf("reply %q, want \"[<ctime>] hello\"", reply)
	}
}

// wantAddrType checks that a transport's addresses are the net package's
// own types.
func wantAddrType(t *testing.T, name string, a net.Addr) {
	t.Helper()
	var ok bool
	switch {
	case strings.HasPrefix(name, "tcp"):
		_, ok = a.(*net.TCPAddr)
	case strings.HasPrefix(name, "udp"):
		_, ok = a.(*net.UDPAddr)
	default:
		_, ok = a.(*net.UnixAddr)
	}
	if !ok {
		t.Errorf("%s address is %T (%v)", name, a, a)
	}
}

func TestSyscallSpecsMatchNet(t *testing.T) {
	for _, name := range transports.Names() {
		t.Run(name, func(t *testing.T) {
			sys, nt := lookupTransport(t, transports.APISyscall, name), lookupTransport(t, transports.APINet, name)
			if sys.API() != transports.APISyscall {
				t.Errorf("API() = %q", sys.API())
			}
			if sys.Spec() != nt.Spec() {
				t.Errorf("spec %+v, net API has %+v", sys.Spec(), nt.Spec())
			}
			if sys.DefaultAddr() != nt.DefaultAddr() {
				t.Errorf("default address %q, net API has %q", sys.DefaultAddr(), nt.DefaultAddr())
			}
		})
	}
}

// TestSyscallEcho: every transport answers byte-exact, and each API's
// client talks to the other API's server.
func TestSyscallEcho(t *testing.T) {
	pairs := []struct{ client, server string }{
		{transports.APISyscall, transports.APISyscall},
		{transports.APINet, transports.APISyscall},
		{transports.APISyscall, transports.APINet},
	}
	for _, name := range transports.Names() {
		t.Run(name, func(t *testing.T) {
			for _, p := range pairs {
				t.Run(p.client+"_client_"+p.server+"_server", func(t *testing.T) {
					r := startEcho(t, lookupTransport(t, p.server, name), loopbackAddr(t, name), transports.Options{})
					c := dialEcho(t, lookupTransport(t, p.client, name), r.Addr.String(), transports.Options{})
					exchangeHello(t, c)
					exchangeHello(t, c) // the same socket goes on working
					if p.client == transports.APISyscall {
						wantAddrType(t, name, c.Conn().LocalAddr())
						wantAddrType(t, name, c.Conn().RemoteAddr())
					}
					if p.server == transports.APISyscall {
						wantAddrType(t, name, r.Addr)
					}
				})
			}
		})
	}
}

// TestSyscallShutdown: cancelling the context wakes the server's blocked
// accept or recvfrom, and each connection's blocked recv, at once; the
// server returns nil and removes its socket file.
func TestSyscallShutdown(t *testing.T) {
	for _, name := range transports.Names() {
		t.Run(name, func(t *testing.T) {
			sys := lookupTransport(t, transports.APISyscall, name)
			addr := loopbackAddr(t, name)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// A shutdown timeout far beyond patience: only a woken recv
			// lets the server return in time.
			r, err := echo.Start(ctx, sys, addr, transports.Options{}, echo.Config{ShutdownTimeout: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			c := dialEcho(t, sys, r.Addr.String(), transports.Options{})
			exchangeHello(t, c) // the server now waits in recv on this connection

			cancel()
			start := time.Now()
			if err := waitStopped(r); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			t.Logf("server stopped %v after cancel", time.Since(start).Round(time.Millisecond))
			if transports.IsUnix(name) {
				if _, err := os.Lstat(addr); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("socket file %s still there after shutdown (Lstat: %v)", addr, err)
				}
			}
			if sys.Spec().Kind.Connected() {
				c.Conn().SetReadDeadline(time.Now().Add(patience))
				if n, err := c.Conn().Read(make([]byte, 64)); err != io.EOF {
					t.Errorf("client read after server shutdown = %d, %v; want io.EOF", n, err)
				}
			}
		})
	}
}

// TestSyscallDeadline: a read past its deadline fails with
// os.ErrDeadlineExceeded, as a net.Error whose Timeout is true; a deadline
// set while a read is blocked wakes it; and the socket still works after.
func TestSyscallDeadline(t *testing.T) {
	for _, name := range transports.Names() {
		t.Run(name, func(t *testing.T) {
			sys := lookupTransport(t, transports.APISyscall, name)
			r := startEcho(t, sys, loopbackAddr(t, name), transports.Options{})
			c, err := sys.Dial(context.Background(), r.Addr.String(), transports.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, echo.MaxMessage)

			// The server sends nothing unasked.
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err = c.Read(buf)
			wantDeadlineErr(t, err)

			c.SetReadDeadline(time.Time{})
			read := make(chan error, 1)
			go func() {
				_, err := c.Read(buf)
				read <- err
			}()
			c.SetReadDeadline(time.Now())
			select {
			case err := <-read:
				wantDeadlineErr(t, err)
			case <-time.After(patience):
				t.Fatal("a blocked Read did not wake when its deadline was set")
			}

			c.SetDeadline(time.Now().Add(patience))
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			n, err := c.Read(buf)
			if err != nil || string(buf[echo.PrefixLen:n]) != "hello" {
				t.Fatalf("after the timeouts: read %q, %v", buf[:n], err)
			}
		})
	}
	t.Run("packet", func(t *testing.T) {
		for _, name := range []string{"udp", "udp6", "unixgram"} {
			t.Run(name, func(t *testing.T) {
				pc, err := lookupTransport(t, transports.APISyscall, name).ListenPacket(context.Background(), loopbackAddr(t, name), transports.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_, _, err = pc.ReadFrom(make([]byte, 64))
				wantDeadlineErr(t, err)
			})
		}
	})
}

func wantDeadlineErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err %v is not a net.Error with Timeout() true", err)
	}
}

// TestSyscallDialRefused: connect to a port nobody listens on fails with
// ECONNREFUSED, named in the message and reachable with errors.Is.
func TestSyscallDialRefused(t *testing.T) {
	for _, name := range []string{"tcp", "tcp6"} {
		t.Run(name, func(t *testing.T) {
			sys := lookupTransport(t, transports.APISyscall, name)
			// A port that was just free: listen, read it back, close.
			ln, err := sys.Listen(context.Background(), loopbackAddr(t, name), transports.Options{})
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()

			_, err = sys.Dial(context.Background(), addr, transports.Options{})
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial %s: %v, want ECONNREFUSED", addr, err)
			}
			want := fmt.Sprintf(", %s): connection refused (ECONNREFUSED)", addr)
			if !strings.HasPrefix(err.Error(), "connect(") || !strings.HasSuffix(err.Error(), want) {
				t.Errorf("error %q, want connect(<fd>%s", err, want)
			}
		})
	}
}

// TestSyscallTrace: the trace shows the article's calls in order, each
// with its arguments and the Go call beside it.
func TestSyscallTrace(t *testing.T) {
	sys := lookupTransport(t, transports.APISyscall, "tcp")
	var serverLog, clientLog bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := echo.Start(ctx, sys, "127.0.0.1:0", transports.Options{Trace: transports.NewTracer(&serverLog)}, echo.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := dialEcho(t, sys, r.Addr.String(), transports.Options{Trace: transports.NewTracer(&clientLog)})
	exchangeHello(t, c)
	c.Close()
	cancel()
	if err := waitStopped(r); err != nil {
		t.Fatal(err)
	}
	t.Logf("server:\n%s", &serverLog)
	t.Logf("client:\n%s", &clientLog)

	wantTraceInOrder(t, "server", serverLog.String(),
		"trace: socket      socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0) = ",
		"unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)",
		"setsockopt(", "SOL_SOCKET, SO_REUSEADDR, 1)",
		"bind(", ", 127.0.0.1:0)", "unix.Bind(", "&unix.SockaddrInet4{Port: 0, Addr: [4]byte{127, 0, 0, 1}})",
		"listen(", ", 128)", "unix.Listen(",
		"getsockname(", " = "+r.Addr.String(),
		"accept4(", " from 127.0.0.1:", "unix.Accept4(",
		"recv(", ", 1024) = 5", "unix.Read(",
		"sendall(", ", 32 bytes) = 32", "unix.Write(",
		"recv(", " = 0: the peer closed (EOF)",
		"close(", "unix.Close(",
	)
	if !strings.Contains(serverLog.String(), "accept4(") || strings.Count(serverLog.String(), "trace: close ") < 2 {
		t.Errorf("server trace should close both the connection and the listening socket")
	}
	wantTraceInOrder(t, "client", clientLog.String(),
		"socket(AF_INET, SOCK_STREAM", "connect(", ", "+r.Addr.String()+")",
		"sendall(", ", 5 bytes) = 5", "recv(", ") = 32", "close(",
	)
}

func wantTraceInOrder(t *testing.T, what, log string, parts ...string) {
	t.Helper()
	rest := log
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			t.Errorf("%s trace lacks %q after the earlier parts", what, p)
			return
		}
		rest = rest[i+len(p):]
	}
}

// TestSyscallClosed: after Close every call fails with net.ErrClosed, and
// Close wakes calls blocked in accept and recv.
func TestSyscallClosed(t *testing.T) {
	for _, name := range []string{"tcp", "unix", "unixpacket"} {
		t.Run(name, func(t *testing.T) {
			sys := lookupTransport(t, transports.APISyscall, name)
			ln, err := sys.Listen(context.Background(), loopbackAddr(t, name), transports.Options{})
			if err != nil {
				t.Fatal(err)
			}
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				accepted <- c
			}()
			c, err := sys.Dial(context.Background(), ln.Addr().String(), transports.Options{})
			if err != nil {
				t.Fatal(err)
			}
			srv := <-accepted
			if srv == nil {
				t.Fatal("accept failed")
			}
			defer srv.Close()

			woken := make(chan error, 2)
			go func() { _, err := ln.Accept(); woken <- err }()
			go func() { _, err := c.Read(make([]byte, 64)); woken <- err }()
			ln.Close()
			c.Close()
			for range 2 {
				select {
				case err := <-woken:
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("blocked call woken by Close: %v, want net.ErrClosed", err)
					}
				case <-time.After(patience):
					t.Fatal("Close did not wake a blocked call")
				}
			}
			if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after Close: %v", err)
			}
			if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
				t.Errorf("SetDeadline after Close: %v", err)
			}
			if err := c.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close: %v", err)
			}
			if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second listener Close: %v", err)
			}
			// The peer of a closed socket reads end of stream.
			srv.SetReadDeadline(time.Now().Add(patience))
			if _, err := srv.Read(make([]byte, 64)); err != io.EOF {
				t.Errorf("peer read after Close: %v, want io.EOF", err)
			}
		})
	}
}

// TestSyscallCloseRead: after shutdown(SHUT_RD), what had arrived is still
// read, then end of stream; echo.Serve's drain counts on it.
func TestSyscallCloseRead(t *testing.T) {
	for _, name := range []string{"tcp", "unix", "unixpacket"} {
		t.Run(name, func(t *testing.T) {
			sys := lookupTransport(t, transports.APISyscall, name)
			ln, err := sys.Listen(context.Background(), loopbackAddr(t, name), transports.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := sys.Dial(context.Background(), ln.Addr().String(), transports.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			srv.SetReadDeadline(time.Now().Add(patience))

			// Two messages; reading the first proves the second is queued.
			for _, m := range []string{"first", "second"} {
				if _, err := c.Write([]byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 64)
			want := "first"
			if sys.Spec().Kind == transports.Stream {
				want = "f" // a stream keeps no boundaries: take one byte
				buf = buf[:1]
			}
			if n, err := srv.Read(buf); err != nil || string(buf[:n]) != want {
				t.Fatalf("first read %q, %v", buf[:n], err)
			}
			if err := srv.(interface{ CloseRead() error }).CloseRead(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(srv)
			want = "second"
			if sys.Spec().Kind == transports.Stream {
				want = "irstsecond"
			}
			if err != nil || string(got) != want {
				t.Errorf("after CloseRead read %q, %v; want %q then EOF", got, err, want)
			}
		})
	}
}

// TestSyscallAddresses covers the address forms: names resolved in the
// transport's family, IPv6 zones, IPV6_V6ONLY, abstract Unix names,
// unixgram autobind and the socket file's mode.
func TestSyscallAddresses(t *testing.T) {
	ctx := context.Background()
	t.Run("tcp_localhost", func(t *testing.T) {
		ln, err := lookupTransport(t, transports.APISyscall, "tcp").Listen(ctx, "localhost:0", transports.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		a := ln.Addr().(*net.TCPAddr)
		if !a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.Port == 0 {
			t.Errorf("localhost:0 listens on %v, want 127.0.0.1 and a real port", a)
		}
	})
	t.Run("tcp6_rejects_ipv4", func(t *testing.T) {
		if _, err := lookupTransport(t, transports.APISyscall, "tcp6").Listen(ctx, "127.0.0.1:0", transports.Options{}); err == nil {
			t.Error("tcp6 listened on an IPv4 address")
		}
	})
	t.Run("udp6_zone", func(t *testing.T) {
		sys := lookupTransport(t, transports.APISyscall, "udp6")
		r := startEcho(t, sys, loopbackAddr(t, "udp6"), transports.Options{})
		port := r.Addr.(*net.UDPAddr).Port
		lo := loopbackIfName(t)
		// A zone is ignored on an address that needs none, such as ::1,
		// so this exercises the parsing without a link-local address.
		exchangeHello(t, dialEcho(t, sys, fmt.Sprintf("[::1%%%s]:%d", lo, port), transports.Options{}))
		if _, err := sys.Dial(ctx, fmt.Sprintf("[::1%%no-such-if0]:%d", port), transports.Options{}); err == nil || !strings.Contains(err.Error(), "no-such-if0") {
			t.Errorf("unknown zone: %v", err)
		}
	})
	t.Run("tcp6_v6only", func(t *testing.T) {
		// [::ffff:127.0.0.1] is IPv4 loopback seen from an IPv6 socket:
		// only a dual-stack socket may bind it, and IPv4 clients reach it.
		sys := lookupTransport(t, transports.APISyscall, "tcp6")
		loopbackAddr(t, "tcp6") // skips without IPv6
		_, err := sys.Listen(ctx, "[::ffff:127.0.0.1]:0", transports.Options{IPv6Only: true})
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("IPv6Only listen on a v4-mapped address: %v, want EINVAL", err)
		}
		r := startEcho(t, sys, "[::ffff:127.0.0.1]:0", transports.Options{})
		port := r.Addr.(*net.TCPAddr).Port
		exchangeHello(t, dialEcho(t, lookupTransport(t, transports.APISyscall, "tcp"), fmt.Sprintf("127.0.0.1:%d", port), transports.Options{}))
	})
	for _, name := range []string{"unix", "unixgram", "unixpacket"} {
		t.Run(name+"_abstract", func(t *testing.T) {
			var b [6]byte
			rand.Read(b[:])
			abstract := "@socklab-test-" + hex.EncodeToString(b[:])
			sys := lookupTransport(t, transports.APISyscall, name)
			r := startEcho(t, sys, abstract, transports.Options{})
			if r.Addr.String() != abstract {
				t.Errorf("listening on %q, want %q", r.Addr, abstract)
			}
			c := dialEcho(t, sys, abstract, transports.Options{})
			exchangeHello(t, c)
			if name == "unixgram" && !strings.HasPrefix(c.Conn().LocalAddr().String(), "@") {
				t.Errorf("unixgram client autobound to %q, want an abstract @name", c.Conn().LocalAddr())
			}
		})
	}
	t.Run("socket_mode", func(t *testing.T) {
		for _, mode := range []uint32{0, 0o660} {
			path := shortSocketPath(t)
			startEcho(t, lookupTransport(t, transports.APISyscall, "unix"), path, transports.Options{SocketMode: mode})
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			want := fs.FileMode(mode)
			if mode == 0 {
				want = 0o600
			}
			if fi.Mode().Perm() != want || fi.Mode().Type() != fs.ModeSocket {
				t.Errorf("SocketMode %#o: file mode %v, want socket %v", mode, fi.Mode(), want)
			}
		}
	})
}

func loopbackIfName(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Skip(err)
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return ifi.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}

// syscallPair is a connected pair of syscall-API sockets: a client's and the
// server's accepted one.
func syscallPair(t *testing.T, name string) (client, server net.Conn) {
	t.Helper()
	sys := lookupTransport(t, transports.APISyscall, name)
	ln, err := sys.Listen(context.Background(), loopbackAddr(t, name), transports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = sys.Dial(context.Background(), ln.Addr().String(), transports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// TestSyscallBlockedWrite: a sendall blocked because the peer does not
// read wakes on its deadline and on Close.
func TestSyscallBlockedWrite(t *testing.T) {
	// More than any loopback socket buffers, so the Write must block.
	big := make([]byte, 64<<20)
	for _, name := range []string{"tcp", "unix"} {
		t.Run(name, func(t *testing.T) {
			for _, wake := range []string{"deadline", "close"} {
				t.Run(wake, func(t *testing.T) {
					c, peer := syscallPair(t, name)
					type result struct {
						n   int
						err error
					}
					wrote := make(chan result, 1)
					go func() {
						n, err := c.Write(big)
						wrote <- result{n, err}
					}()
					// One byte read proves the Write has begun; it cannot
					// finish while nobody reads the rest.
					peer.SetReadDeadline(time.Now().Add(patience))
					if _, err := peer.Read(make([]byte, 1)); err != nil {
						t.Fatal(err)
					}
					if wake == "deadline" {
						c.SetWriteDeadline(time.Now())
					} else {
						c.Close()
					}
					select {
					case r := <-wrote:
						if r.n <= 0 || r.n >= len(big) {
							t.Errorf("Write sent %d of %d bytes, want part", r.n, len(big))
						}
						want := os.ErrDeadlineExceeded
						if wake == "close" {
							want = net.ErrClosed
						}
						if !errors.Is(r.err, want) {
							t.Errorf("Write: %v, want %v", r.err, want)
						}
					case <-time.After(patience):
						t.Fatalf("%s did not wake a blocked Write", wake)
					}
				})
			}
		})
	}
}

// TestSyscallConcurrentCalls calls every method at once, for the race
// detector, then checks that the socket still carries data.
func TestSyscallConcurrentCalls(t *testing.T) {
	for _, name := range []string{"tcp", "unix", "unixpacket"} {
		t.Run(name, func(t *testing.T) {
			c, peer := syscallPair(t, name)
			go io.Copy(io.Discard, peer)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					buf := make([]byte, 64)
					for range 50 {
						c.SetReadDeadline(time.Now().Add(time.Millisecond))
						if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
							t.Errorf("Read: %v, want a timeout", err)
						}
					}
				})
				wg.Go(func() {
					for range 50 {
						if _, err := c.Write([]byte("0123456789abcdef")); err != nil {
							t.Errorf("Write: %v", err)
						}
						c.SetWriteDeadline(time.Time{})
						_, _ = c.LocalAddr(), c.RemoteAddr()
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			c.SetDeadline(time.Time{})
			if _, err := c.Write([]byte("after")); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSyscallBlockedReadIsIdle: a Read waiting for data sleeps in poll(2)
// rather than spinning. The process's CPU time over a blocked
// quarter-second stays far below a quarter-second.
func TestSyscallBlockedReadIsIdle(t *testing.T) {
	c, _ := syscallPair(t, "tcp")
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	const wait = 250 * time.Millisecond
	before := cpu()
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 64))
	wantDeadlineErr(t, err)
	if used := cpu() - before; used > wait/2 {
		t.Errorf("a Read blocked for %v used %v of CPU", wait, used)
	}
}

// TestSyscallDatagramDrop: a datagram for a receiver whose queue is full
// is dropped with EAGAIN, at once, rather than waited for.
func TestSyscallDatagramDrop(t *testing.T) {
	sys := lookupTransport(t, transports.APISyscall, "unixgram")
	receiver, err := sys.ListenPacket(context.Background(), shortSocketPath(t), transports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.Close()
	sender, err := sys.ListenPacket(context.Background(), shortSocketPath(t), transports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	sender.SetWriteDeadline(time.Now().Add(patience))
	msg := make([]byte, 1024)
	// The queue holds net.unix.max_dgram_qlen datagrams (10 by default),
	// or fewer when the receive buffer fills first.
	for i := range 100_000 {
		_, err := sender.WriteTo(msg, receiver.LocalAddr())
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("datagram %d: %v, want EAGAIN", i, err)
		}
		t.Logf("datagram %d dropped: %v", i, err)
		return
	}
	t.Fatal("the receiver's queue never filled")
}
