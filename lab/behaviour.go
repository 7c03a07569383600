package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
)

// BigLen is the size of the "big" request: almost three of the server's
// 1024-byte reads.
const BigLen = 3000

// HugeLen is the size of the "huge" request for t: 65000 bytes over UDP,
// close to the most a datagram carries, and 100 KiB elsewhere.
func HugeLen(t transports.Transport) int {
	if isIPDatagram(t) {
		return 65000
	}
	return 100 << 10
}

// OversizeLen is, for UDP, the largest request a datagram can carry: the
// 16-bit IPv4 total length (65535) less the IP (20) and UDP (8) headers, or
// for IPv6, whose 16-bit payload length does not count its own header,
// 65535 less the UDP header. Its reply is 27 bytes more than any datagram
// holds. 0 for the other transports, whose limit is a buffer size, not the
// protocol.
func OversizeLen(t transports.Transport) int {
	if !isIPDatagram(t) {
		return 0
	}
	if t.Spec().Family == "AF_INET6" {
		return 65535 - 8
	}
	return 65535 - 20 - 8
}

func isIPDatagram(t transports.Transport) bool {
	return t.Spec().Kind == transports.Datagram && !transports.IsUnix(t.Spec().Name)
}

// Size is what came back for a request of a given size.
type Size struct {
	Sent    int  // bytes in the request
	Replies int  // how many replies (timestamp prefixes) came back
	Longest int  // the longest single read: on a message socket, the one reply
	Whole   bool // the replies' data put together is the request, byte for byte
}

func (s Size) String() string {
	if !s.Whole {
		return fmt.Sprintf("%s: cut short", bytesName(s.Sent))
	}
	if s.Replies == 1 {
		return fmt.Sprintf("%s: 1 reply of %d B", bytesName(s.Sent), s.Longest)
	}
	return fmt.Sprintf("%s: %s, rejoined", bytesName(s.Sent), plural(s.Replies, "reply", "replies"))
}

func bytesName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// Drop is what a UDP server did with a reply too big for any datagram.
type Drop struct {
	Sent     int   // bytes in the request
	ReplyLen int   // bytes in the reply the server built
	SendErr  error // the client could not even send the request
	Dropped  bool  // the server logged "reply dropped"
	Err      error // why, as the server's sendto said
	Replied  bool  // a reply came back after all
}

func (d Drop) String() string {
	switch {
	case d.SendErr != nil:
		return fmt.Sprintf("%d B: send fails: %s", d.Sent, errName(d.SendErr))
	case d.Replied:
		return fmt.Sprintf("%d B: answered", d.Sent)
	case d.Dropped:
		return fmt.Sprintf("%d B: %d B reply dropped (%s)", d.Sent, d.ReplyLen, errName(d.Err))
	}
	return fmt.Sprintf("%d B: no reply", d.Sent)
}

// errName is an error's errno name (EMSGSIZE) when it has one.
func errName(err error) string {
	if errno := ErrnoOf(err); errno != 0 {
		return errnoName(errno)
	}
	return err.Error()
}

// HalfClose is what a client's CloseWrite (shutdown(SHUT_WR)) did after
// it sent a request.
type HalfClose struct {
	Method  bool  // the client's net.Conn has a CloseWrite method at all
	Err     error // what CloseWrite returned
	Replies int   // replies read after CloseWrite
	// EOF: after the replies, a read reported the end of the stream: the
	// server saw the half-close, answered what it had and closed.
	EOF bool
	// Datagram sockets only, after a successful CloseWrite: SendAfter is
	// the error of a second send, or AnsweredAfter says it was answered as
	// if nothing had happened.
	SendAfter     error
	AnsweredAfter bool
}

func (h HalfClose) String() string {
	switch {
	case !h.Method:
		return "no CloseWrite: no stream to end"
	case h.Err != nil:
		return "CloseWrite fails: " + errName(h.Err)
	case h.EOF:
		return plural(h.Replies, "reply", "replies") + ", then EOF"
	case h.SendAfter != nil:
		return "server not told; next send: " + errName(h.SendAfter)
	case h.AnsweredAfter:
		return "no effect: next send answered"
	}
	return plural(h.Replies, "reply", "replies") + ", no EOF"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Stranger is what happened when a third socket, neither client nor
// server, sent to the client's address.
type Stranger struct {
	// NoAddress: the client's socket has no name, so nobody can address
	// it (an unbound Unix socket).
	NoAddress bool
	// Outcome is where the stranger's own attempt failed: "connect"
	// (refused, or not permitted), or "recv" when its datagram went out
	// and the kernel answered "port unreachable".
	Outcome Outcome
	// ClientSawIt: the client read the stranger's data.
	ClientSawIt bool
}

func (s Stranger) String() string {
	switch {
	case s.ClientSawIt:
		return "the client reads it"
	case s.NoAddress:
		return "can't: client has no address"
	case s.Outcome.Step == "recv":
		return "dropped; stranger's recv: " + errName(s.Outcome.Err)
	case s.Outcome.Step != "":
		return "stranger's " + s.Outcome.Short()
	}
	return "sent, never read by the client"
}

// Second is when a second client's request was answered while the first
// client stayed connected.
type Second int

// When a second client is answered.
const (
	AnsweredAtOnce Second = iota + 1
	AnsweredAfterFirstCloses
)

func (s Second) String() string {
	switch s {
	case AnsweredAtOnce:
		return "answered at once"
	case AnsweredAfterFirstCloses:
		return "waits for the 1st to close"
	}
	return "not measured"
}

// payload is n bytes of digits: no '[' in it, so on a stream every '['
// starts a reply's prefix.
func payload(n int) []byte {
	return bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
}

// secondClient has a first client get an answer (the server is alive),
// then a second client send while the first stays connected. A --serial
// stream server cannot answer it until the first goes; the default one, and
// any datagram server, answers at once. "Not answered" is two quiet waits
// with the first client answered again in between, so a slow machine
// cannot pass for a serial server.
func secondClient(ctx context.Context, t transports.Transport, addr string) (Second, error) {
	first, err := echo.Dial(ctx, t, addr, transports.Options{}, echo.ClientConfig{Timeout: Timeout})
	if err != nil {
		return 0, err
	}
	defer first.Close()
	if _, err := first.Exchange([]byte("first")); err != nil {
		return 0, fmt.Errorf("first client: %w", err)
	}
	second, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return 0, fmt.Errorf("second client: %w", err)
	}
	defer second.Close()
	if _, err := second.Write([]byte("second")); err != nil {
		return 0, fmt.Errorf("second client: send: %w", err)
	}
	kind := t.Spec().Kind
	for try := range 2 {
		_, _, err := readEcho(second, kind, []byte("second"), time.Now().Add(QuietWait))
		if err == nil {
			return AnsweredAtOnce, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, fmt.Errorf("second client: %w", err)
		}
		if try == 0 {
			if _, err := first.Exchange([]byte("first again")); err != nil {
				return 0, fmt.Errorf("first client, while the second waited: %w", err)
			}
		}
	}
	first.Close()
	if _, _, err := readEcho(second, kind, []byte("second"), time.Now().Add(Timeout)); err != nil {
		return 0, fmt.Errorf("second client, once the first closed: %w", err)
	}
	return AnsweredAfterFirstCloses, nil
}

// sendSized sends one request of n bytes in a single write and reads the
// replies until they echo it all.
func sendSized(ctx context.Context, t transports.Transport, addr string, n int) (Size, error) {
	c, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return Size{}, err
	}
	defer c.Close()
	msg := payload(n)
	// The write runs beside the reads: a stream server answers while the
	// request is still arriving, and buffers are finite.
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		sent <- err
	}()
	replies, longest, err := readEcho(c, t.Spec().Kind, msg, time.Now().Add(Timeout))
	if werr := <-sent; werr != nil {
		return Size{}, fmt.Errorf("send: %w", werr)
	}
	if err != nil {
		return Size{}, err
	}
	return Size{Sent: n, Replies: replies, Longest: longest, Whole: true}, nil
}

// dropRecord is one "reply dropped" line of a server's log.
type dropRecord struct {
	bytes int
	err   error
}

// dropLogger is a server log that passes every "reply dropped" record to
// drops, so that the probe sees what the server did with a reply.
func dropLogger(drops chan<- dropRecord) *slog.Logger {
	return slog.New(dropHandler{drops})
}

type dropHandler struct{ drops chan<- dropRecord }

func (h dropHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h dropHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h dropHandler) WithGroup(string) slog.Handler                { return h }

func (h dropHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "reply dropped" {
		return nil
	}
	var d dropRecord
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "bytes":
			d.bytes = int(a.Value.Int64())
		case "err":
			d.err, _ = a.Value.Any().(error)
		}
		return true
	})
	select {
	case h.drops <- d:
	default:
	}
	return nil
}

// oversize sends a request of n bytes whose reply cannot fit a datagram,
// and waits for the server to either answer or log the drop. Then the same
// client is answered again, so the server is shown alive and the client
// shown to have received nothing in between.
func oversize(ctx context.Context, t transports.Transport, addr string, n int, drops <-chan dropRecord) (Drop, error) {
	d := Drop{Sent: n, ReplyLen: n + echo.PrefixLen}
	c, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return d, err
	}
	defer c.Close()
	msg := payload(n)
	if _, err := c.Write(msg); err != nil {
		d.SendErr = err
		return d, nil
	}
	c.SetReadDeadline(time.Now().Add(Timeout))
	got := make(chan error, 1)
	go func() {
		_, _, err := readEchoFrom(c, t.Spec().Kind, msg)
		got <- err
	}()
	for !d.Dropped && !d.Replied {
		select {
		case r := <-drops:
			if r.bytes != d.ReplyLen {
				continue
			}
			d.Dropped, d.Err = true, r.err
			c.SetReadDeadline(time.Now()) // stop the read
			if err := <-got; err == nil {
				d.Replied = true
			} else if !errors.Is(err, os.ErrDeadlineExceeded) {
				return d, err
			}
		case err := <-got:
			if err != nil {
				return d, fmt.Errorf("neither a reply nor a drop in the log: %w", err)
			}
			d.Replied = true
		}
	}
	if _, _, err := readEchoAfter(c, t.Spec().Kind, "after"); err != nil {
		return d, fmt.Errorf("the next request: %w", err)
	}
	return d, nil
}

// readEchoAfter sends msg on c and reads its echo.
func readEchoAfter(c net.Conn, kind transports.Kind, msg string) (int, int, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return 0, 0, fmt.Errorf("send: %w", err)
	}
	return readEcho(c, kind, []byte(msg), time.Now().Add(Timeout))
}

// halfClose sends a request, then CloseWrite, and reads what comes back.
func halfClose(ctx context.Context, t transports.Transport, addr string) (HalfClose, error) {
	var h HalfClose
	c, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return h, err
	}
	defer c.Close()
	kind := t.Spec().Kind
	if _, err := c.Write([]byte("bye")); err != nil {
		return h, fmt.Errorf("send: %w", err)
	}
	cw, ok := c.(interface{ CloseWrite() error })
	h.Method = ok
	if ok {
		h.Err = cw.CloseWrite()
	}
	if h.Replies, _, err = readEcho(c, kind, []byte("bye"), time.Now().Add(Timeout)); err != nil {
		return h, fmt.Errorf("the reply after CloseWrite: %w", err)
	}
	if !ok || h.Err != nil {
		return h, nil
	}
	if kind.Connected() {
		// The server saw the end of the stream, answered, and closed.
		c.SetReadDeadline(time.Now().Add(Timeout))
		n, err := c.Read(make([]byte, 64))
		switch {
		case n == 0 && errors.Is(err, io.EOF):
			h.EOF = true
		case err != nil:
			return h, fmt.Errorf("after the reply: %w", err)
		default:
			return h, fmt.Errorf("after the reply, %d more bytes", n)
		}
		return h, nil
	}
	// A datagram socket has no stream to end: the server is never told.
	// What the kernel does to the client's own sends is the fact.
	if _, err := c.Write([]byte("again")); err != nil {
		h.SendAfter = err
		return h, nil
	}
	if _, _, err := readEcho(c, kind, []byte("again"), time.Now().Add(Timeout)); err != nil {
		return h, fmt.Errorf("a send after CloseWrite: %w", err)
	}
	h.AnsweredAfter = true
	return h, nil
}

// stranger has a third socket try to reach the client's own address, then
// checks that the first thing the client reads is its server's reply.
func stranger(ctx context.Context, t transports.Transport, addr string) (Stranger, error) {
	var s Stranger
	c, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return s, err
	}
	defer c.Close()
	kind := t.Spec().Kind
	// One exchange first, so the client surely has its address.
	if _, _, err := readEchoAfter(c, kind, "hello"); err != nil {
		return s, err
	}
	local := c.LocalAddr()
	if local == nil || local.String() == "" || local.String() == "@" {
		s.NoAddress = true
	} else {
		s.Outcome = strangerSends(t, local)
	}
	// If the stranger's datagram had reached the client, it would be the
	// first thing the client reads.
	if _, err := c.Write([]byte("mine")); err != nil {
		return s, fmt.Errorf("send: %w", err)
	}
	if _, _, err := readEcho(c, kind, []byte("mine"), time.Now().Add(Timeout)); err != nil {
		var u *unexpectedReply
		if errors.As(err, &u) && bytes.Contains(u.data, []byte("stranger")) {
			s.ClientSawIt = true
			return s, nil
		}
		return s, err
	}
	return s, nil
}

// strangerSends sends "stranger" to the client's address from a fresh
// socket of Go's net package (the kernel decides, whatever the API under
// test), and reports where that failed.
func strangerSends(t transports.Transport, to net.Addr) Outcome {
	spec := t.Spec()
	network := map[string]string{"tcp": "tcp4", "tcp6": "tcp6", "udp": "udp4", "udp6": "udp6"}[spec.Name]
	if network == "" {
		network = spec.Name
	}
	s, err := net.DialTimeout(network, to.String(), Timeout)
	if err != nil {
		return Outcome{Step: "connect", Err: err}
	}
	defer s.Close()
	if _, err := s.Write([]byte("stranger")); err != nil {
		return Outcome{Step: "send", Err: err}
	}
	if spec.Kind != transports.Datagram {
		return Outcome{}
	}
	// The stranger's socket is connected to the client's address, so an
	// ICMP "port unreachable" for it comes back as ECONNREFUSED here: the
	// kernel's word that it dropped the datagram.
	s.SetReadDeadline(time.Now().Add(Timeout))
	if _, err := s.Read(make([]byte, 64)); err != nil {
		return Outcome{Step: "recv", Err: err}
	}
	return Outcome{}
}

// ownReplies has two clients both send before either reads, then checks
// that each reads the reply to its own request.
func ownReplies(ctx context.Context, t transports.Transport, addr string) (bool, error) {
	a, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return false, err
	}
	defer a.Close()
	b, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return false, err
	}
	defer b.Close()
	for c, msg := range map[net.Conn]string{a: "from A", b: "from B"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			return false, fmt.Errorf("send %q: %w", msg, err)
		}
	}
	kind := t.Spec().Kind
	for _, x := range []struct {
		c   net.Conn
		msg string
	}{{b, "from B"}, {a, "from A"}} {
		if _, _, err := readEcho(x.c, kind, []byte(x.msg), time.Now().Add(Timeout)); err != nil {
			var u *unexpectedReply
			if errors.As(err, &u) {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}
