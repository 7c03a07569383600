package echo_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
)

// The server's per-message work without the kernel: a connection in
// memory whose every Read is one request and whose Write drops the reply.
// What these measure and count is echo's own code, nothing else.

var request = []byte("a request of sixty-four bytes, give or take a few, for the bench")

func fixedNow() time.Time { return time.Date(2026, 11, 1, 9, 5, 3, 0, time.UTC) }

// serveConfig is the server as 'socklab serve' runs it by default: info
// logs, idle and write timeouts, with a fixed clock so that no new second
// is formatted while counting.
func serveConfig(log *slog.Logger) echo.Config {
	return echo.Config{
		Now: fixedNow, Log: log,
		IdleTimeout: 5 * time.Minute, WriteTimeout: 30 * time.Second, MaxConns: 16384,
		Guard: echo.Guard{Rate: 1e9},
	}
}

func discardLog(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
}

// memConn is a net.Conn in memory: it reads requests requests, then EOF.
type memConn struct {
	requests int
	written  int
	closed   chan struct{}
	once     sync.Once
}

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func newMemConn(requests int) *memConn {
	return &memConn{requests: requests, closed: make(chan struct{})}
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.requests == 0 {
		return 0, io.EOF
	}
	c.requests--
	return copy(p, request), nil
}

func (c *memConn) Write(p []byte) (int, error) { c.written += len(p); return len(p), nil }
func (c *memConn) Close() error                { c.once.Do(func() { close(c.closed) }); return nil }
func (c *memConn) LocalAddr() net.Addr         { return memAddr }
func (c *memConn) RemoteAddr() net.Addr        { return memAddr }
func (c *memConn) SetDeadline(time.Time) error { return nil }

func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener accepts conn once; the next Accept waits for conn to be
// closed, then ends the server (cancel) and reports the listener closed.
type oneConnListener struct {
	conn     *memConn
	cancel   func()
	accepted bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.accepted {
		l.accepted = true
		return l.conn, nil
	}
	<-l.conn.closed
	l.cancel()
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return memAddr }

// serveOne runs echo.Serve over one in-memory connection of requests
// requests and returns once the server has stopped.
func serveOne(tb testing.TB, cfg echo.Config, requests int) *memConn {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newMemConn(requests)
	if err := echo.Serve(ctx, &oneConnListener{conn: c, cancel: cancel}, cfg); err != nil {
		tb.Fatal(err)
	}
	if want := requests * (len(request) + echo.PrefixLen); c.written != want {
		tb.Fatalf("the server wrote %d bytes, want %d", c.written, want)
	}
	return c
}

// memPacketConn is a net.PacketConn in memory: it reads requests
// datagrams from one peer, then ends the server.
type memPacketConn struct {
	requests int
	from     net.Addr
	written  int
	cancel   func()
}

func (c *memPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.requests == 0 {
		c.cancel()
		return 0, nil, os.ErrDeadlineExceeded
	}
	c.requests--
	return copy(p, request), c.from, nil
}

func (c *memPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	c.written += len(p)
	return len(p), nil
}

func (c *memPacketConn) Close() error { return nil }
func (c *memPacketConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21567}
}
func (c *memPacketConn) SetDeadline(time.Time) error      { return nil }
func (c *memPacketConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memPacketConn) SetWriteDeadline(time.Time) error { return nil }

// servePackets runs echo.ServePackets over requests in-memory datagrams.
func servePackets(tb testing.TB, cfg echo.Config, from net.Addr, requests int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &memPacketConn{requests: requests, from: from, cancel: cancel}
	cfg.Kind = transports.Datagram
	if err := echo.ServePackets(ctx, c, cfg); err != nil {
		tb.Fatal(err)
	}
	if want := requests * (len(request) + echo.PrefixLen); c.written != want {
		tb.Fatalf("the server wrote %d bytes, want %d", c.written, want)
	}
}

// perMessageAllocs is how many allocations one more message costs:
// the allocations of a whole server run with many messages, less those of
// a run with one. What a connection or a server costs once cancels out.
func perMessageAllocs(run func(requests int)) float64 {
	const more = 1000
	one := testing.AllocsPerRun(20, func() { run(1) })
	many := testing.AllocsPerRun(20, func() { run(1 + more) })
	return (many - one) / more
}

// The whole per-connection loop (read, stamp, idle and write deadlines,
// write, counters, the debug check) allocates nothing per message.
func TestServeLoopAllocatesNothing(t *testing.T) {
	for _, framing := range []echo.Framing{echo.Chunk, echo.Line} {
		t.Run(string(framing), func(t *testing.T) {
			cfg := serveConfig(discardLog(slog.LevelInfo))
			cfg.Framing = framing
			if framing == echo.Line {
				// Each read is one request ending in "\n": one line each.
				t.Cleanup(func() { request[len(request)-1] = 'h' })
				request[len(request)-1] = '\n'
			}
			if n := perMessageAllocs(func(k int) { serveOne(t, cfg, k) }); n >= 0.01 {
				t.Fatalf("the %s loop allocates %.3f times per message, want 0", framing, n)
			}
		})
	}
}

// The datagram loop past ReadFrom allocates nothing per message either:
// the guard, the peer set, the stamp and WriteTo's caller. (A real
// *net.UDPConn's ReadFrom allocates the source address itself: that is
// the net.PacketConn interface, and the bare echo pays it too.)
func TestServePacketsLoopAllocatesNothing(t *testing.T) {
	for name, from := range map[string]net.Addr{
		"udp":      &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000},
		"udp6":     &net.UDPAddr{IP: net.IPv6loopback, Port: 40000},
		"unixgram": &net.UnixAddr{Name: "@socklab-client", Net: "unixgram"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := serveConfig(discardLog(slog.LevelInfo))
			if n := perMessageAllocs(func(k int) { servePackets(t, cfg, from, k) }); n >= 0.01 {
				t.Fatalf("the datagram loop allocates %.3f times per message, want 0", n)
			}
		})
	}
}

// countingHandler counts log records.
type countingHandler struct {
	level slog.Level
	n     *atomic.Int64
}

func (h countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h countingHandler) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h countingHandler) WithGroup(string) slog.Handler                { return h }

// Per-message logs are at debug level only: at info, a connection or a
// peer logs as much for 200 messages as for one.
func TestNoPerMessageLogsAboveDebug(t *testing.T) {
	records := func(level slog.Level, stream bool, requests int) int64 {
		var n atomic.Int64
		cfg := serveConfig(slog.New(countingHandler{level, &n}))
		if stream {
			serveOne(t, cfg, requests)
		} else {
			servePackets(t, cfg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, requests)
		}
		return n.Load()
	}
	for _, stream := range []bool{true, false} {
		one, many := records(slog.LevelInfo, stream, 1), records(slog.LevelInfo, stream, 200)
		if one != many {
			t.Errorf("stream=%v: at info level, 1 message logs %d records and 200 log %d", stream, one, many)
		}
		if d1, d200 := records(slog.LevelDebug, stream, 1), records(slog.LevelDebug, stream, 200); d200-d1 != 199 {
			t.Errorf("stream=%v: at debug level, 199 more messages log %d more records, want 199", stream, d200-d1)
		}
	}
}

// BenchmarkAppendReply is the reply path alone: stamp a 64-byte request
// into a reused buffer and write it to io.Discard.
func BenchmarkAppendReply(b *testing.B) {
	for _, clock := range []struct {
		name string
		now  func() time.Time
	}{{"fixed-clock", fixedNow}, {"real-clock", nil}} {
		b.Run(clock.name, func(b *testing.B) {
			s := echo.NewStamper(clock.now)
			data := request[:64]
			out := make([]byte, 0, echo.PrefixLen+len(data))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				out = s.AppendReply(out[:0], data)
				io.Discard.Write(out)
			}
		})
	}
}

// BenchmarkServeLoop is one message through the whole per-connection loop
// of the stream server (Serve, as 'socklab serve' configures it), over an
// in-memory connection: everything but the system calls.
func BenchmarkServeLoop(b *testing.B) {
	cfg := serveConfig(discardLog(slog.LevelInfo))
	cfg.Now = nil // the real clock, as served
	b.ReportAllocs()
	b.SetBytes(int64(len(request)))
	serveOne(b, cfg, b.N)
}

// BenchmarkServePacketsLoop is one datagram through ServePackets' loop.
func BenchmarkServePacketsLoop(b *testing.B) {
	cfg := serveConfig(discardLog(slog.LevelInfo))
	cfg.Now = nil
	b.ReportAllocs()
	b.SetBytes(int64(len(request)))
	servePackets(b, cfg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, b.N)
}
