package transports_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"

	"github.com/socklab/socklab/internal/testkit"
)

// fixedClock is the injected clock of the byte-exact tests: the same second
// every time, with a one-digit day to check ctime's space padding.
func fixedClock() time.Time { return time.Date(2026, time.November, 1, 9, 5, 3, 0, time.UTC) }

const fixedPrefix = "[Sun Nov  1 09:05:03 2026] "

// TestConformance is the suite every transport of every API must pass, as
// x/net/nettest.TestConn is for net.Conn implementations.
func TestConformance(t *testing.T) {
	for _, api := range transports.APIs() {
		for _, tr := range transports.All(api) {
			t.Run(api+"/"+tr.Spec().Name, func(t *testing.T) {
				t.Parallel()
				skipWithoutIPv6(t, tr)
				t.Run("ByteExact", func(t *testing.T) { testByteExact(t, tr) })
				t.Run("Binary", func(t *testing.T) { testBinary(t, tr) })
				t.Run("ManyMessages", func(t *testing.T) { testManyMessages(t, tr) })
				t.Run("ConcurrentClients", func(t *testing.T) { testConcurrentClients(t, tr) })
				t.Run("Shutdown", func(t *testing.T) { testShutdown(t, tr) })
				if tr.Spec().Kind == transports.Stream {
					t.Run("LineFraming", func(t *testing.T) { testLineFraming(t, tr) })
					t.Run("ChunksAtBufSize", func(t *testing.T) { testChunksAtBufSize(t, tr) })
				}
			})
		}
	}
}

func skipWithoutIPv6(t *testing.T, tr transports.Transport) {
	t.Helper()
	if tr.Spec().Family != "AF_INET6" {
		return
	}
	if why := lab.IPv6Unavailable(); why != "" {
		t.Skip(why)
	}
}

// startServer runs an echo server of tr on a fresh address until the test
// ends.
func startServer(t *testing.T, tr transports.Transport, cfg echo.Config) *echo.Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := echo.Start(ctx, tr, lab.TempAddr(tr, testkit.SocketDir(t)), transports.Options{}, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start %s server: %v", tr.Spec().Name, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := srv.Wait(); err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	return srv
}

func dialClient(t *testing.T, tr transports.Transport, addr string, cfg echo.ClientConfig) *echo.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lab.Timeout)
	defer cancel()
	if cfg.Timeout == 0 {
		cfg.Timeout = lab.Timeout
	}
	c, err := echo.Dial(ctx, tr, addr, transports.Options{}, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testByteExact(t *testing.T, tr transports.Transport) {
	srv := startServer(t, tr, echo.Config{Now: fixedClock})
	c := dialClient(t, tr, srv.Addr.String(), echo.ClientConfig{})
	reply, err := c.Exchange([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fixedPrefix + "hello"; string(reply) != want {
		t.Fatalf("reply %q, want %q", reply, want)
	}
	if len(reply) != len("hello")+echo.PrefixLen {
		t.Fatalf("reply is %d bytes, want %d", len(reply), len("hello")+echo.PrefixLen)
	}
}

func testBinary(t *testing.T, tr transports.Transport) {
	srv := startServer(t, tr, echo.Config{Now: fixedClock})
	c := dialClient(t, tr, srv.Addr.String(), echo.ClientConfig{})
	msg := make([]byte, 0, 512)
	for i := range 256 {
		msg = append(msg, byte(i), 0)
	}
	reply, err := c.Exchange(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply, append([]byte(fixedPrefix), msg...)) {
		t.Fatalf("binary reply differs: % x", reply[:64])
	}
}

func testManyMessages(t *testing.T, tr transports.Transport) {
	srv := startServer(t, tr, echo.Config{})
	c := dialClient(t, tr, srv.Addr.String(), echo.ClientConfig{})
	for i := range 200 {
		msg := fmt.Appendf(nil, "message %d", i)
		reply, err := c.Exchange(msg)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !echo.IsPrefix(reply) || !bytes.Equal(reply[echo.PrefixLen:], msg) {
			t.Fatalf("message %d: reply %q", i, reply)
		}
	}
}

func testConcurrentClients(t *testing.T, tr transports.Transport) {
	srv := startServer(t, tr, echo.Config{})
	const clients, messages = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := dialClient(t, tr, srv.Addr.String(), echo.ClientConfig{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range messages {
				msg := fmt.Appendf(nil, "client %d message %d", i, j)
				reply, err := c.Exchange(msg)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				if !bytes.Equal(reply[echo.PrefixLen:], msg) {
					errs <- fmt.Errorf("client %d got %q", i, reply)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testShutdown cancels a server holding an idle client and checks that it
// stops promptly, answers nobody after, and leaves no socket file.
func testShutdown(t *testing.T, tr transports.Transport) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// An hour of grace: the server must stop because the idle client's
	// read is woken, not because the grace ran out.
	srv, err := echo.Start(ctx, tr, lab.TempAddr(tr, testkit.SocketDir(t)), transports.Options{}, echo.Config{ShutdownTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := dialClient(t, tr, srv.Addr.String(), echo.ClientConfig{})
	if _, err := c.Exchange([]byte("before")); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait after cancel: %v", err)
		}
	case <-time.After(lab.Timeout):
		t.Fatal("server did not stop after its context was cancelled")
	}
	if transports.IsUnix(tr.Spec().Name) {
		if _, err := os.Lstat(srv.Addr.String()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("socket file %s left behind: %v", srv.Addr, err)
		}
	}
	if tr.Spec().Kind.Connected() {
		dctx, dcancel := context.WithTimeout(context.Background(), lab.Timeout)
		defer dcancel()
		if c, err := tr.Dial(dctx, srv.Addr.String(), transports.Options{}); err == nil {
			c.Close()
			t.Fatal("dial succeeded after shutdown")
		}
	}
}

func testLineFraming(t *testing.T, tr transports.Transport) {
	srv := startServer(t, tr, echo.Config{Framing: echo.Line, Now: fixedClock})
	c := dialClient(t, tr, srv.Addr.String(), echo.ClientConfig{})
	// Two lines in one write still get two replies under line framing.
	if _, err := c.Conn().Write([]byte("one\ntwo\nthree")); err != nil {
		t.Fatal(err)
	}
	if cw, ok := c.Conn().(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	want := fixedPrefix + "one\n" + fixedPrefix + "two\n" + fixedPrefix + "three"
	got := readAll(t, c.Conn())
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// testChunksAtBufSize sends more than BufSize bytes: the server answers each
// read of at most BufSize bytes on its own, so the reply carries several
// prefixes, and the client still reassembles the whole echo.
func testChunksAtBufSize(t *testing.T, tr transports.Transport) {
	srv := startServer(t, tr, echo.Config{BufSize: 16})
	c := dialClient(t, tr, srv.Addr.String(), echo.ClientConfig{})
	msg := bytes.Repeat([]byte("0123456789"), 10)
	reply, err := c.Exchange(msg)
	if err != nil {
		t.Fatal(err)
	}
	prefixes := 0
	for i := 0; i+echo.PrefixLen <= len(reply); i++ {
		if echo.IsPrefix(reply[i:]) {
			prefixes++
		}
	}
	if minimum := (len(msg) + 15) / 16; prefixes < minimum {
		t.Fatalf("%d prefixes in %q, want at least %d", prefixes, reply, minimum)
	}
	if len(reply) != len(msg)+prefixes*echo.PrefixLen {
		t.Fatalf("reply is %d bytes for %d prefixes", len(reply), prefixes)
	}
}

func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(lab.Timeout))
	var b bytes.Buffer
	if _, err := b.ReadFrom(c); err != nil {
		t.Fatalf("read: %v", err)
	}
	return b.String()
}
