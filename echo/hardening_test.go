package echo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"

	"github.com/socklab/socklab/internal/testkit"
)

// Each defence is attacked on every API socklab has, over a TCP and a Unix
// stream socket (or UDP for the datagram defences).

// logTo is a debug-level logger writing into b.
func logTo(b *testkit.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func eachStream(t *testing.T, f func(t *testing.T, tr transports.Transport)) {
	for _, api := range transports.APIs() {
		for _, name := range []string{"tcp", "unix"} {
			tr, err := transports.Lookup(api, name)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(api+"/"+name, func(t *testing.T) { f(t, tr) })
		}
	}
}

func eachUDP(t *testing.T, f func(t *testing.T, tr transports.Transport)) {
	for _, api := range transports.APIs() {
		tr, err := transports.Lookup(api, "udp")
		if err != nil {
			t.Fatal(err)
		}
		t.Run(api+"/udp", func(t *testing.T) { f(t, tr) })
	}
}

type server struct {
	*echo.Running
	log    *testkit.Buffer
	cancel context.CancelFunc
}

func start(t *testing.T, tr transports.Transport, cfg echo.Config) *server {
	t.Helper()
	dir := testkit.SocketDir(t)
	logs := &testkit.Buffer{}
	cfg.Log = logTo(logs)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := echo.Start(ctx, tr, lab.TempAddr(tr, dir), transports.Options{}, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &server{Running: r, log: logs, cancel: cancel}
	t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	s.cancel()
	s.Wait()
}

func dial(t *testing.T, tr transports.Transport, addr net.Addr) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lab.Timeout)
	defer cancel()
	c, err := tr.Dial(ctx, addr.String(), transports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip proves the server still answers c.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
	c.SetReadDeadline(time.Now().Add(lab.Timeout))
	buf := make([]byte, echo.PrefixLen+len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reply to %q: %v", msg, err)
	}
	if string(buf[echo.PrefixLen:]) != msg {
		t.Fatalf("reply %q", buf)
	}
}

// expectClosed checks that the server closed c: a read ends with EOF or a
// reset, not with our deadline.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(lab.Timeout))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server left the connection open")
	}
}

func TestMaxConns(t *testing.T) {
	eachStream(t, func(t *testing.T, tr transports.Transport) {
		s := start(t, tr, echo.Config{MaxConns: 2})
		a, b := dial(t, tr, s.Addr), dial(t, tr, s.Addr)
		roundTrip(t, a, "a")
		roundTrip(t, b, "b")
		over := dial(t, tr, s.Addr)
		expectClosed(t, over)
		s.log.WaitFor(t, "too many connections")
		roundTrip(t, a, "a still served")
		roundTrip(t, b, "b still served")
	})
}

func TestIdleTimeout(t *testing.T) {
	eachStream(t, func(t *testing.T, tr transports.Transport) {
		s := start(t, tr, echo.Config{IdleTimeout: 200 * time.Millisecond})
		silent := dial(t, tr, s.Addr)
		expectClosed(t, silent)
		s.log.WaitFor(t, "idle timeout (200ms): closing")
		roundTrip(t, dial(t, tr, s.Addr), "others are still served")
	})
}

// A client that sends and never reads fills the socket buffers; the write
// deadline frees the server's goroutine.
func TestWriteTimeout(t *testing.T) {
	eachStream(t, func(t *testing.T, tr transports.Transport) {
		s := start(t, tr, echo.Config{WriteTimeout: 300 * time.Millisecond})
		hog := dial(t, tr, s.Addr)
		hog.SetWriteDeadline(time.Now().Add(lab.Timeout))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for {
			if _, err := hog.Write(chunk); err != nil {
				break // the server gave up on us: reset, or our deadline
			}
		}
		s.log.WaitFor(t, "the client read nothing for 300ms")
		roundTrip(t, dial(t, tr, s.Addr), "others are still served")
	})
}

func TestResetMidMessage(t *testing.T) {
	eachStream(t, func(t *testing.T, tr transports.Transport) {
		s := start(t, tr, echo.Config{Framing: echo.Line})
		c := dial(t, tr, s.Addr)
		c.Write([]byte("half a line, then gone"))
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close sends RST
		}
		c.Close()
		roundTrip(t, dial(t, tr, s.Addr), "still here\n")
	})
}

// A signal while a client is mid-conversation: what it already sent is
// answered, then the connection closes and the server stops.
func TestShutdownAnswersWhatArrived(t *testing.T) {
	eachStream(t, func(t *testing.T, tr transports.Transport) {
		// An hour of grace: only the half-close of the reads can end the
		// connection within the test's wait.
		s := start(t, tr, echo.Config{ShutdownTimeout: time.Hour})
		c := dial(t, tr, s.Addr)
		roundTrip(t, c, "warm")
		if _, err := c.Write([]byte("last words")); err != nil {
			t.Fatal(err)
		}
		s.cancel()
		c.SetReadDeadline(time.Now().Add(lab.Timeout))
		got, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read: %v", err)
		}
		if !bytes.HasSuffix(got, []byte("] last words")) {
			t.Fatalf("got %q, want the reply to %q before EOF", got, "last words")
		}
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

// flakyListener fails Accept with EMFILE a few times, as a server out of
// file descriptors sees, then behaves.
type flakyListener struct {
	net.Listener
	mu       sync.Mutex
	failures int
	calls    int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	fail := l.calls <= l.failures
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: ln, failures: 5}
	logs := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- echo.Serve(ctx, flaky, echo.Config{Log: logTo(logs)}) }()
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), lab.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "served after EMFILE")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	flaky.mu.Lock()
	calls := flaky.calls
	flaky.mu.Unlock()
	// Five failures, one success, one final accept: a spinning loop would
	// have called Accept far more often.
	if calls > 8 {
		t.Fatalf("Accept called %d times for 5 failures: the loop spins", calls)
	}
	if !strings.Contains(logs.String(), "accept failed; retrying") || !strings.Contains(logs.String(), "too many open files") {
		t.Fatalf("no retry logged:\n%s", logs)
	}
}

// sendFrom sends msg to the server from a UDP socket bound to laddr and
// reports whether a reply came back within wait.
func sendFrom(t *testing.T, laddr string, server net.Addr, msg []byte, wait time.Duration) bool {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp4", laddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", la)
	if err != nil {
		t.Fatalf("bind %s: %v", laddr, err)
	}
	defer c.Close()
	if _, err := c.WriteTo(msg, server); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, _, err = c.ReadFrom(make([]byte, 1024))
	return err == nil
}

// The loop defences: a datagram from another echo's port, from our own
// port, or that is itself an echo reply is never answered. Each negative
// check follows a positive one that proves the server answers.
func TestDatagramLoopDefences(t *testing.T) {
	eachUDP(t, func(t *testing.T, tr transports.Transport) {
		s := start(t, tr, echo.Config{})
		if !sendFrom(t, "127.0.0.1:0", s.Addr, []byte("hello"), lab.Timeout) {
			t.Fatal("an ordinary client got no reply")
		}
		port := s.Addr.(*net.UDPAddr).Port
		// 127.0.0.2 is loopback too, so the same port is free there.
		if sendFrom(t, "127.0.0.2:"+itoa(port), s.Addr, []byte("hello"), 300*time.Millisecond) {
			t.Fatal("answered a datagram from its own port")
		}
		s.log.WaitFor(t, "loop refused: source uses this server's own port")
		if sendFrom(t, "127.0.0.1:0", s.Addr, []byte("[Sun Nov  1 09:05:03 2026] hello"), 300*time.Millisecond) {
			t.Fatal("answered an echo reply")
		}
		s.log.WaitFor(t, "loop refused: the datagram is itself an echo reply")
		if os.Geteuid() == 0 {
			low := lowPortFree(t)
			if sendFrom(t, "127.0.0.1:"+itoa(low), s.Addr, []byte("hello"), 300*time.Millisecond) {
				t.Fatalf("answered source port %d", low)
			}
			s.log.WaitFor(t, "loop refused: source port below 1024 is a system service")
		}
		if !sendFrom(t, "127.0.0.1:0", s.Addr, []byte("still answering"), lab.Timeout) {
			t.Fatal("the server stopped answering")
		}
	})
}

func TestAllowLowPorts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("binding a source port below 1024 needs root")
	}
	eachUDP(t, func(t *testing.T, tr transports.Transport) {
		s := start(t, tr, echo.Config{Guard: echo.Guard{AllowLowPorts: true}})
		if !sendFrom(t, "127.0.0.1:"+itoa(lowPortFree(t)), s.Addr, []byte("hello"), lab.Timeout) {
			t.Fatal("--allow-low-ports did not let a low source port through")
		}
	})
}

func lowPortFree(t *testing.T) int {
	for p := 1023; p > 600; p-- {
		c, err := net.ListenPacket("udp4", "127.0.0.1:"+itoa(p))
		if err == nil {
			c.Close()
			return p
		}
	}
	t.Fatal("no free UDP port below 1024")
	return 0
}

func TestDatagramRateLimit(t *testing.T) {
	eachUDP(t, func(t *testing.T, tr transports.Transport) {
		s := start(t, tr, echo.Config{Guard: echo.Guard{Rate: 1, Burst: 5}})
		c := dial(t, tr, s.Addr)
		for range 50 {
			c.Write([]byte("flood"))
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		replies := 0
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
			replies++
		}
		// The burst, plus at most a token or two refilled while sending.
		if replies < 5 || replies > 7 {
			t.Fatalf("%d replies to 50 datagrams with a burst of 5", replies)
		}
		s.log.WaitFor(t, "rate limit: too many datagrams from this source")
		if n := strings.Count(s.log.String(), "rate limit"); n > 2 {
			t.Fatalf("the rate-limit log line itself flooded: %d lines", n)
		}
	})
}

// An unbound unixgram client has no address to reply to: the server says
// so and goes on serving.
func TestUnnamedUnixgramPeer(t *testing.T) {
	for _, api := range transports.APIs() {
		tr, _ := transports.Lookup(api, "unixgram")
		t.Run(api+"/unixgram", func(t *testing.T) {
			s := start(t, tr, echo.Config{})
			anon, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.Addr.String(), Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer anon.Close()
			anon.Write([]byte("who am I?"))
			s.log.WaitFor(t, "datagram from an unnamed socket")
			c, err := echo.Dial(context.Background(), tr, s.Addr.String(), transports.Options{}, echo.ClientConfig{Timeout: lab.Timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Exchange([]byte("named")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// After every fault above, and the server's shutdown, goroutines and file
// descriptors return to where they were.
func TestFaultsLeakNothing(t *testing.T) {
	eachStream(t, func(t *testing.T, tr transports.Transport) {
		goroutines, fds := runtime.NumGoroutine(), openFDs(t)
		func() {
			s := start(t, tr, echo.Config{IdleTimeout: 100 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
			defer s.stop()
			ctx, cancel := context.WithTimeout(context.Background(), lab.Timeout)
			defer cancel()
			var conns []net.Conn
			for range 5 {
				c, err := tr.Dial(ctx, s.Addr.String(), transports.Options{})
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			conns[0].Write([]byte("reset"))
			if tc, ok := conns[0].(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			conns[0].Close()
			if cw, ok := conns[1].(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			for _, c := range conns[2:] { // silent: the idle timeout closes them
				expectClosed(t, c)
				c.Close()
			}
			expectClosed(t, conns[1])
			conns[1].Close()
		}()
		deadline := time.Now().Add(lab.Timeout)
		for runtime.NumGoroutine() > goroutines || openFDs(t) > fds {
			if time.Now().After(deadline) {
				t.Fatalf("goroutines %d (was %d), fds %d (was %d)", runtime.NumGoroutine(), goroutines, openFDs(t), fds)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd to count file descriptors")
	}
	return len(entries)
}

func itoa(n int) string { return strconv.Itoa(n) }

// A unixgram client that sends and never reads fills its own queue, and
// the replies waiting there use up the server's send buffer, which Linux
// charges to the sender until they are read. The server must not wait for
// room: it drops those replies (in a rate-limited log), keeps reading, is
// answering again as soon as the hog is gone, and stops at once.
func TestUnixgramClientThatNeverReads(t *testing.T) {
	for _, api := range transports.APIs() {
		tr, _ := transports.Lookup(api, "unixgram")
		t.Run(api+"/unixgram", func(t *testing.T) {
			s := start(t, tr, echo.Config{})
			hog, err := net.DialUnix("unixgram", &net.UnixAddr{Name: "@socklab-hog-" + api + "-" + itoa(os.Getpid()), Net: "unixgram"},
				&net.UnixAddr{Name: s.Addr.String(), Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			hog.SetWriteDeadline(time.Now().Add(lab.Timeout))
			for range 1000 {
				if _, err := hog.Write([]byte("never read")); err != nil {
					break // the server's queue is full too
				}
			}
			s.log.WaitFor(t, "reply dropped")
			if n, most := strings.Count(s.log.String(), "reply dropped"), int(time.Since(began).Seconds())+2; n > most {
				t.Errorf("%d lines of dropped replies in %s: the log is not limited to one a second", n, time.Since(began))
			}
			hog.Close() // frees the replies it never read
			c, err := echo.Dial(context.Background(), tr, s.Addr.String(), transports.Options{}, echo.ClientConfig{Timeout: lab.Timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Exchange([]byte("answered again")); err != nil {
				t.Fatalf("%v; server log:\n%s", err, s.log)
			}
			s.cancel()
			stopped := make(chan error, 1)
			go func() { stopped <- s.Wait() }()
			select {
			case err := <-stopped:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(lab.Timeout):
				t.Fatal("the server did not stop")
			}
		})
	}
}

// failingListener accepts one connection, then fails for good.
type failingListener struct {
	net.Listener
	calls atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.calls.Add(1) > 1 {
		return nil, errors.New("the listener broke")
	}
	return l.Listener.Accept()
}

// An accept error Serve cannot wait out ends it as a cancel does: the open
// connection is closed before Serve returns the error.
func TestServeClosesConnectionsOnAcceptError(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), lab.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = echo.Serve(context.Background(), &failingListener{Listener: ln}, echo.Config{ShutdownTimeout: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "the listener broke") {
		t.Fatalf("Serve returned %v", err)
	}
	c.SetReadDeadline(time.Now().Add(lab.Timeout))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read after Serve returned: %d, %v; want EOF", n, err)
	}
}
