package echo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/socklab/socklab/transports"
)

// Framing says where one request ends on a byte stream.
type Framing string

const (
	// Chunk answers each read of up to BufSize bytes, as the article's
	// server does with recv(1024).
	Chunk Framing = "chunk"
	// Line answers each "\n"-terminated line, newline included.
	Line Framing = "line"
)

// Defaults of Config's zero fields.
const (
	DefaultBufSize         = 1024
	DefaultMaxLine         = 64 << 10
	DefaultShutdownTimeout = 5 * time.Second
	// MaxMessage is the read buffer for message sockets (datagram and
	// seqpacket). It is larger than any datagram the kernel sends by default
	// (net.core.wmem_default is 208 KiB), so no request is cut short.
	MaxMessage = 256 << 10
)

// Config is how a server reads requests. The zero value is the article's
// server, made concurrent.
type Config struct {
	Kind    transports.Kind // how the socket carries data
	Framing Framing         // stream sockets only; "" is Chunk
	BufSize int             // chunk read size; 0 is DefaultBufSize
	MaxLine int             // longest line under Line framing; 0 is DefaultMaxLine
	// Serial serves one connection at a time, as the article's server does;
	// the next client waits in the listen backlog.
	Serial bool
	// ShutdownTimeout bounds how long replies in flight may take once the
	// context is done; then connections are closed regardless.
	ShutdownTimeout time.Duration
	// MaxConns caps open connections; one past it is closed at once. 0 is
	// no cap.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for this long, or
	// up to an eighth of it and a second less (see rearm); 0 waits forever.
	IdleTimeout time.Duration
	// WriteTimeout drops a client that does not read its replies for this
	// long (or up to an eighth and a second less), so it cannot pin a
	// goroutine; 0 waits forever.
	WriteTimeout time.Duration
	// Datagram defences, see guard.go.
	Guard Guard
	// Now is a clock read for every reply, for tests; nil is the real
	// clock, read once a second (see Stamper).
	Now func() time.Time
	Log *slog.Logger // nil discards
}

func (c Config) withDefaults() Config {
	if c.Framing == "" {
		c.Framing = Chunk
	}
	if c.BufSize <= 0 {
		c.BufSize = DefaultBufSize
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Serve answers every connection accepted on ln until ctx is done, then
// stops accepting, answers what each connection had already sent, closes
// them all and returns nil. An accept error that waiting cannot cure ends
// it the same way, and is returned. Serve owns ln and closes it.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	cfg = cfg.withDefaults()
	s := &streamServer{cfg: cfg, stamp: NewStamper(cfg.Now), conns: map[net.Conn]struct{}{}}
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		ln.Close()
		s.drain()
	})
	defer func() {
		// Once begun, the close must end before Serve does: the process may
		// exit right after, and the listener's close(2) would be lost.
		if !stop() {
			<-closed
		}
	}()
	defer ln.Close()

	var wg sync.WaitGroup
	var backoff time.Duration
	var acceptErr error
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if isTemporary(err) {
				// Out of file descriptors and the like: wait and retry, as
				// net/http does, rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				cfg.Log.Warn("accept failed; retrying", "err", err, "retry_in", backoff)
				sleep(ctx, backoff)
				continue
			}
			// Stop as on a cancel: the connections already open are
			// answered and closed before Serve returns.
			acceptErr = fmt.Errorf("accept: %w", err)
			ln.Close()
			s.drain()
			break
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			continue
		}
		if cfg.Serial {
			s.serve(c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serve(c)
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownTimeout):
		n := s.closeAll()
		cfg.Log.Warn("shutdown timeout: closed connections still busy", "conns", n, "timeout", cfg.ShutdownTimeout)
		<-done
	}
	return acceptErr
}

type streamServer struct {
	cfg   Config
	stamp *Stamper

	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	draining   atomic.Bool
	refusedLog everySecond
}

// track registers a live connection. It reports false once shutdown began
// or when MaxConns connections are already open.
func (s *streamServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	if s.cfg.MaxConns > 0 && len(s.conns) >= s.cfg.MaxConns {
		if ok, held := s.refusedLog.Allow(); ok {
			s.cfg.Log.Warn("too many connections: closing new ones", append([]any{"peer", peerName(c.RemoteAddr()), "max_conns", s.cfg.MaxConns}, heldBack(held)...)...)
		}
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *streamServer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// drain shuts the read side of every connection. A blocked read wakes up;
// what the client already sent is still read and answered, then the read
// sees end of stream and the connection closes.
func (s *streamServer) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining.Store(true)
	for c := range s.conns {
		closeRead(c)
	}
}

func (s *streamServer) closeAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
	return len(s.conns)
}

func closeRead(c net.Conn) {
	if cr, ok := c.(interface{ CloseRead() error }); ok && cr.CloseRead() == nil {
		return
	}
	c.SetReadDeadline(time.Now())
}

// connStats is what the log says about a connection when it closes.
type connStats struct {
	bytesIn, bytesOut, replies int
	readArmed, writeArmed      time.Time // when the deadlines were last moved on
	debug                      bool      // log each reply: asked once per connection
}

func (s *streamServer) serve(c net.Conn) {
	// Untracked before it closes, so that shutdown never half-closes a
	// socket that is already gone.
	defer c.Close()
	defer s.untrack(c)
	peer := peerName(c.RemoteAddr())
	log := s.cfg.Log.With("peer", peer)
	log.Info("connected")
	start := time.Now()
	st := connStats{debug: log.Enabled(context.Background(), slog.LevelDebug)}
	var err error
	switch {
	case s.cfg.Kind == transports.SeqPacket:
		err = s.serveChunks(c, MaxMessage, &st, log)
	case s.cfg.Framing == Line:
		err = s.serveLines(c, &st, log)
	default:
		err = s.serveChunks(c, s.cfg.BufSize, &st, log)
	}
	attrs := []any{"bytes_in", st.bytesIn, "bytes_out", st.bytesOut, "replies", st.replies, "duration", time.Since(start).Round(time.Microsecond)}
	if err != nil {
		log.Warn("closed", append(attrs, "err", err)...)
		return
	}
	log.Info("closed", attrs...)
}

// serveChunks is the article's loop: read up to size bytes, reply, repeat.
// On a seqpacket socket each read is one whole message.
func (s *streamServer) serveChunks(c net.Conn, size int, st *connStats, log *slog.Logger) error {
	buf := make([]byte, size)
	out := make([]byte, 0, PrefixLen+size)
	for {
		s.idleDeadline(c, &st.readArmed)
		n, err := c.Read(buf)
		if n > 0 {
			out = s.stamp.AppendReply(out[:0], buf[:n])
			if werr := s.reply(c, out, n, st, log); werr != nil {
				return werr
			}
		}
		if err != nil {
			return s.endOfStream(err)
		}
	}
}

// serveLines answers each newline-terminated line, and a last line without
// one when the client closes.
func (s *streamServer) serveLines(c net.Conn, st *connStats, log *slog.Logger) error {
	// One byte more than MaxLine leaves room for the newline.
	r := bufio.NewReaderSize(&idleReader{c: c, s: s}, s.cfg.MaxLine+1)
	out := make([]byte, 0, 256)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("line longer than %d bytes", s.cfg.MaxLine)
		}
		if len(line) > 0 {
			out = s.stamp.AppendReply(out[:0], line)
			if werr := s.reply(c, out, len(line), st, log); werr != nil {
				return werr
			}
		}
		if err != nil {
			return s.endOfStream(err)
		}
	}
}

func (s *streamServer) reply(c net.Conn, out []byte, n int, st *connStats, log *slog.Logger) error {
	if s.cfg.WriteTimeout > 0 {
		if now, ok := s.rearm(&st.writeArmed, s.cfg.WriteTimeout); ok {
			c.SetWriteDeadline(now.Add(s.cfg.WriteTimeout))
		}
	}
	if _, err := c.Write(out); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("send: the client read nothing for %s", s.cfg.WriteTimeout)
		}
		return fmt.Errorf("send: %w", err)
	}
	st.bytesIn += n
	st.bytesOut += len(out)
	st.replies++
	if st.debug {
		log.Debug("reply", "bytes_in", n, "bytes_out", len(out))
	}
	return nil
}

// idleDeadline gives the client IdleTimeout to send its next request. It
// is a no-op while the server drains, whose deadline must stand. armed is
// when the connection's deadline was last moved on.
func (s *streamServer) idleDeadline(c net.Conn, armed *time.Time) {
	if s.cfg.IdleTimeout > 0 && !s.draining.Load() {
		if now, ok := s.rearm(armed, s.cfg.IdleTimeout); ok {
			c.SetReadDeadline(now.Add(s.cfg.IdleTimeout))
		}
	}
}

// rearm reports whether a deadline d ahead, last set at *armed, is due to
// be moved on: only once d/8 has passed, so that a busy connection does
// not reset its timer on every message (measured: 5-8% of a loopback
// request's time).
//
// Whether d/8 has passed is judged by the stamp's ticking clock when d is
// long enough (the defaults are), so that a message reads no clock at all
// (measured: 3% more). That clock may be a second behind: the deadline then
// lies between 7/8 d - 1s and d ahead. Otherwise, between 7/8 d and d.
func (s *streamServer) rearm(armed *time.Time, d time.Duration) (time.Time, bool) {
	if !armed.IsZero() {
		var since time.Duration
		if t, ok := s.stamp.recent(); ok && d >= coarseDeadlines {
			since = t.Sub(*armed)
		} else {
			// Of a time.Now, time.Since reads only the monotonic clock:
			// half the cost of time.Now.
			since = time.Since(*armed)
		}
		if since < d/8 {
			return time.Time{}, false
		}
	}
	now := time.Now()
	*armed = now
	return now, true
}

// coarseDeadlines is the shortest timeout whose deadline is moved on by
// the stamp's clock: a second late is then at most an eighth of it.
const coarseDeadlines = 8 * time.Second

// idleReader applies the idle timeout to each read that bufio makes.
type idleReader struct {
	c     net.Conn
	s     *streamServer
	armed time.Time
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.s.idleDeadline(r.c, &r.armed)
	return r.c.Read(p)
}

// endOfStream turns the ways a read ends normally into nil: the client
// closed, or shutdown woke the read. An idle client is worth a log line.
func (s *streamServer) endOfStream(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) && s.cfg.IdleTimeout > 0 && !s.draining.Load():
		return fmt.Errorf("idle timeout (%s): closing", s.cfg.IdleTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, net.ErrClosed):
		return nil
	}
	return fmt.Errorf("recv: %w", err)
}

// ServePackets answers every datagram read from pc, to the address it came
// from, until ctx is done. ServePackets owns pc and closes it.
func ServePackets(ctx context.Context, pc net.PacketConn, cfg Config) error {
	cfg = cfg.withDefaults()
	// The stamp's second is the guard's clock too: no clock is read per
	// datagram.
	stamp := NewStamper(cfg.Now)
	// Both deadlines: a reply blocked in WriteTo must wake too.
	stop := context.AfterFunc(ctx, func() { pc.SetDeadline(time.Now()) })
	defer stop()
	defer pc.Close()

	peers := newPeerSet(1024)
	guard := newGuard(cfg.Guard, pc.LocalAddr())
	// Each kind of warning at most once a second, so that a flood of one
	// kind neither floods the log nor hides another kind.
	limits := map[string]*everySecond{}
	warn := func(msg string, attrs ...any) {
		limit := limits[msg]
		if limit == nil {
			limit = &everySecond{}
			limits[msg] = limit
		}
		if ok, held := limit.Allow(); ok {
			cfg.Log.Warn(msg, append(attrs, heldBack(held)...)...)
		}
	}
	debug := cfg.Log.Enabled(ctx, slog.LevelDebug)
	buf := make([]byte, MaxMessage)
	out := make([]byte, 0, PrefixLen+MaxMessage)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isTemporary(err) {
				warn("recvfrom failed; going on", "err", err)
				continue
			}
			return fmt.Errorf("recvfrom: %w", err)
		}
		if addr == nil {
			// An unbound unixgram client has no address to answer.
			warn("datagram from an unnamed socket: no address to reply to", "bytes", n)
			continue
		}
		st := stamp.current()
		if why := guard.drop(addr, buf[:n], st.unix); why != "" {
			warn("datagram dropped: "+why, "peer", peerName(addr), "bytes", n)
			continue
		}
		if peers.add(peerKeyOf(addr)) {
			cfg.Log.Info("new peer", "peer", peerName(addr))
		}
		out = st.appendReply(out[:0], buf[:n])
		if _, err := pc.WriteTo(out, addr); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			warn("reply dropped", "peer", peerName(addr), "bytes", len(out), "err", err)
			continue
		}
		if debug {
			cfg.Log.Debug("reply", "peer", peerName(addr), "bytes_in", n, "bytes_out", len(out))
		}
	}
}

// peerSet remembers recent datagram peers so that each is logged once,
// without letting a flood of sources grow memory without bound.
type peerSet struct {
	max  int
	seen map[peerKey]struct{}
	// Most datagrams come from the peer before them.
	last     peerKey
	haveLast bool
}

// peerKey names a datagram peer without formatting its address, which
// would cost three allocations per datagram.
type peerKey struct {
	ip   netip.AddrPort
	name string
}

func peerKeyOf(a net.Addr) peerKey {
	switch a := a.(type) {
	case *net.UDPAddr:
		return peerKey{ip: a.AddrPort()}
	case *net.UnixAddr:
		return peerKey{name: a.Name}
	}
	return peerKey{name: a.String()}
}

func newPeerSet(max int) *peerSet { return &peerSet{max: max, seen: map[peerKey]struct{}{}} }

func (p *peerSet) add(k peerKey) bool {
	if p.haveLast && k == p.last {
		return false
	}
	p.last, p.haveLast = k, true
	if _, ok := p.seen[k]; ok {
		return false
	}
	if len(p.seen) >= p.max {
		clear(p.seen)
	}
	p.seen[k] = struct{}{}
	return true
}

func peerName(a net.Addr) string {
	if a == nil || a.String() == "" || a.String() == "@" {
		return "(unnamed)" // an unbound Unix socket
	}
	return a.String()
}

// isTemporary reports the errors a server should wait out rather than die
// of: resource exhaustion and connections aborted before accept.
func isTemporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNREFUSED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
