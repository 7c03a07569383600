// Package lab measures how each transport behaves, so that 'socklab demo'
// prints and the tests assert the same facts, taken from real sockets.
//
// Probe is the one source of truth: it starts servers on fresh addresses,
// talks to them, and records what happened. The matrix test holds what each
// transport is expected to do and compares it with Probe's facts; the demo
// prints the same facts side by side.
package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
)

// Facts is what one transport did when probed.
type Facts struct {
	Transport transports.Transport
	Addr      string // where the probe's first server listened
	// Reply is the server's answer to "hello".
	Reply []byte

	// QuickSendReplies is how many replies two sends ("one", "two") got when
	// both reached the server before it read, under --framing chunk: 1 means
	// the stream merged them.
	QuickSendReplies int
	// LineQuickSendReplies is the same with "one\n" and "two\n" under
	// --framing line: the server splits at each newline, however the
	// bytes arrived.
	LineQuickSendReplies int

	// Big is a 3000-byte request (BigLen): more than one 1024-byte read.
	Big Size
	// Huge is HugeLen(t) bytes: 65000 over UDP, 100 KiB elsewhere.
	Huge Size
	// Oversize is, for UDP only, a request of the largest size a datagram
	// can carry, whose reply (27 bytes more) no datagram can.
	Oversize *Drop

	// HalfClose is what CloseWrite (shutdown(SHUT_WR)) does after a request.
	HalfClose HalfClose

	// Stranger is what happens when a third socket sends to the client.
	Stranger Stranger
	// OwnReplies reports whether two clients that both sent before either
	// read each got the reply to their own request.
	OwnReplies bool

	// Serial is when a second client is answered by a --serial server
	// while the first one stays connected; Concurrent is the same with the
	// default server.
	Serial, Concurrent Second

	// NobodyListening is what a client sees talking to an address where no
	// server is.
	NobodyListening Outcome
	// StaleSocketFile is the same for a Unix socket file left behind by a
	// socket that is gone (nil for IP transports).
	StaleSocketFile *Outcome

	// Skipped, when not empty, says why the transport was not probed.
	Skipped string
}

// Outcome is where a conversation with nobody failed, and how.
type Outcome struct {
	Step string // "connect", "send" or "recv"; "" when nothing failed
	Err  error
}

func (o Outcome) String() string {
	if o.Step == "" {
		return "no error"
	}
	if errno := o.Errno(); errno != 0 {
		return fmt.Sprintf("%s fails: %s (%s)", o.Step, errno.Error(), errnoName(errno))
	}
	if errors.Is(o.Err, os.ErrDeadlineExceeded) {
		return o.Step + " times out"
	}
	return fmt.Sprintf("%s fails: %v", o.Step, o.Err)
}

// Short is the step and the errno's name only: "connect: ECONNREFUSED".
func (o Outcome) Short() string {
	if o.Step == "" {
		return "no error"
	}
	if errno := o.Errno(); errno != 0 {
		return o.Step + ": " + errnoName(errno)
	}
	if errors.Is(o.Err, os.ErrDeadlineExceeded) {
		return o.Step + ": times out"
	}
	return fmt.Sprintf("%s: %v", o.Step, o.Err)
}

// Errno is the error number behind the outcome, or 0.
func (o Outcome) Errno() syscall.Errno { return ErrnoOf(o.Err) }

// ErrnoOf is the error number behind err, or 0.
func ErrnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	errors.As(err, &errno)
	return errno
}

// Timeout is how long a probe waits for any one answer: generous, so a
// loaded machine is slow rather than wrong.
const Timeout = 10 * time.Second

// QuietWait is how long the probe waits before it calls a request "not
// answered". It is only ever the second check: the same server has just
// answered another client, so it is alive; a reply that does come arrives
// in well under a millisecond on loopback.
const QuietWait = 400 * time.Millisecond

// TempAddr is an address for t that nothing else uses: port 0 on loopback,
// or a socket path in dir.
func TempAddr(t transports.Transport, dir string) string {
	return tempAddr(t, dir, "")
}

func tempAddr(t transports.Transport, dir, tag string) string {
	spec := t.Spec()
	switch {
	case spec.Family == "AF_INET":
		return "127.0.0.1:0"
	case spec.Family == "AF_INET6":
		return "[::1]:0"
	}
	return filepath.Join(dir, spec.Name+tag+".sock")
}

// IPv6Unavailable says why this machine cannot listen on [::1], or "".
// Listening is the test that counts: a kernel with IPv6 support can still
// have no ::1.
func IPv6Unavailable() string {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return "no IPv6 here: " + err.Error()
	}
	ln.Close()
	return ""
}

// Probe starts servers of t on fresh addresses (socket files go in dir),
// talks to them, and reports what happened.
func Probe(ctx context.Context, t transports.Transport, dir string) (Facts, error) {
	f := Facts{Transport: t}
	if t.Spec().Family == "AF_INET6" {
		if why := IPv6Unavailable(); why != "" {
			f.Skipped = why
			return f, nil
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var servers []*echo.Running
	defer func() {
		cancel()
		for _, s := range servers {
			s.Wait()
		}
	}()
	start := func(tag string, cfg echo.Config) (string, error) {
		srv, err := echo.Start(ctx, t, tempAddr(t, dir, tag), transports.Options{}, cfg)
		if err != nil {
			return "", fmt.Errorf("start %s server: %w", t.Spec().Name, err)
		}
		servers = append(servers, srv)
		return srv.Addr.String(), nil
	}

	// Serial, as the article's server: the probe keeps it busy with one
	// client while another sends, so that both sends are queued before the
	// server reads either.
	serial, err := start("", echo.Config{Serial: true})
	if err != nil {
		return f, err
	}
	f.Addr = serial
	if f.Reply, f.QuickSendReplies, err = quickSends(ctx, t, serial, echo.Chunk); err != nil {
		return f, fmt.Errorf("back-to-back sends: %w", err)
	}
	if f.Serial, err = secondClient(ctx, t, serial); err != nil {
		return f, fmt.Errorf("--serial: %w", err)
	}
	serialLines, err := start("-line", echo.Config{Serial: true, Framing: echo.Line})
	if err != nil {
		return f, err
	}
	if _, f.LineQuickSendReplies, err = quickSends(ctx, t, serialLines, echo.Line); err != nil {
		return f, fmt.Errorf("back-to-back lines: %w", err)
	}

	// The default server, concurrent, whose log tells of dropped replies.
	drops := make(chan dropRecord, 16)
	concurrent, err := start("-concurrent", echo.Config{Log: dropLogger(drops)})
	if err != nil {
		return f, err
	}
	if f.Concurrent, err = secondClient(ctx, t, concurrent); err != nil {
		return f, fmt.Errorf("concurrent: %w", err)
	}
	if f.Big, err = sendSized(ctx, t, concurrent, BigLen); err != nil {
		return f, fmt.Errorf("%d bytes: %w", BigLen, err)
	}
	if f.Huge, err = sendSized(ctx, t, concurrent, HugeLen(t)); err != nil {
		return f, fmt.Errorf("%d bytes: %w", HugeLen(t), err)
	}
	if n := OversizeLen(t); n > 0 {
		d, err := oversize(ctx, t, concurrent, n, drops)
		if err != nil {
			return f, fmt.Errorf("%d bytes: %w", n, err)
		}
		f.Oversize = &d
	}
	if f.HalfClose, err = halfClose(ctx, t, concurrent); err != nil {
		return f, fmt.Errorf("half-close: %w", err)
	}
	if f.Stranger, err = stranger(ctx, t, concurrent); err != nil {
		return f, fmt.Errorf("stranger: %w", err)
	}
	if f.OwnReplies, err = ownReplies(ctx, t, concurrent); err != nil {
		return f, fmt.Errorf("two clients: %w", err)
	}

	if f.NobodyListening, err = talkToNobody(ctx, t, dir); err != nil {
		return f, err
	}
	if transports.IsUnix(t.Spec().Name) {
		o, err := talkToStaleFile(ctx, t, dir)
		if err != nil {
			return f, err
		}
		f.StaleSocketFile = &o
	}
	return f, nil
}

// quickSends returns the reply to "hello" and how many replies "one" and
// "two" got when sent back to back before the server read. Under line
// framing each ends in "\n".
func quickSends(ctx context.Context, t transports.Transport, addr string, framing echo.Framing) ([]byte, int, error) {
	first, err := echo.Dial(ctx, t, addr, transports.Options{}, echo.ClientConfig{Timeout: Timeout, Framing: framing})
	if err != nil {
		return nil, 0, err
	}
	defer first.Close()
	hello, err := first.Exchange([]byte("hello"))
	if err != nil {
		return nil, 0, fmt.Errorf("hello: %w", err)
	}

	second, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer second.Close()
	msgs := []string{"one", "two"}
	if framing == echo.Line {
		msgs = []string{"one\n", "two\n"}
	}
	for _, m := range msgs {
		if _, err := second.Write([]byte(m)); err != nil {
			return nil, 0, fmt.Errorf("send %q: %w", m, err)
		}
	}
	// The serial server is still with the first client; letting it go lets
	// the server accept the second and find both sends waiting.
	first.Close()
	n, _, err := readEcho(second, t.Spec().Kind, []byte(msgs[0]+msgs[1]), time.Now().Add(Timeout))
	return hello, n, err
}

// readEcho reads, until deadline, the replies that together echo want,
// and counts them; it also returns the longest single read, which on a
// message socket is the whole reply. On a stream, want must not contain
// '[', so that a '[' always starts the next reply's prefix.
func readEcho(c net.Conn, kind transports.Kind, want []byte, deadline time.Time) (replies, longest int, err error) {
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	return readEchoFrom(c, kind, want)
}

// unexpectedReply is data that is not the echo the reader waited for.
type unexpectedReply struct {
	why  string
	data []byte
}

func (u *unexpectedReply) Error() string { return fmt.Sprintf("%s: %q", u.why, clip(u.data)) }

// readEchoFrom is readEcho under whatever deadline c already has.
func readEchoFrom(c net.Conn, kind transports.Kind, want []byte) (replies, longest int, err error) {
	buf := make([]byte, echo.MaxMessage+echo.PrefixLen)
	var got, pending []byte
	for len(got) < len(want) {
		n, err := c.Read(buf)
		if err != nil {
			return replies, longest, fmt.Errorf("recv after %d of %d bytes: %w", len(got), len(want), err)
		}
		longest = max(longest, n)
		if kind != transports.Stream {
			// A message socket gives one whole reply per read.
			b := buf[:n]
			if !echo.IsPrefix(b) {
				return replies, longest, &unexpectedReply{"not a reply", bytes.Clone(b)}
			}
			replies++
			got = append(got, b[echo.PrefixLen:]...)
			continue
		}
		// On a stream a reply's data runs up to the next prefix; a prefix
		// may be cut between two reads, so unparsed bytes wait in pending.
		pending = append(pending, buf[:n]...)
		for len(pending) > 0 {
			if pending[0] == '[' {
				if len(pending) < echo.PrefixLen {
					break
				}
				if !echo.IsPrefix(pending) {
					return replies, longest, &unexpectedReply{"not a reply", pending}
				}
				replies++
				pending = pending[echo.PrefixLen:]
				continue
			}
			if replies == 0 {
				return replies, longest, &unexpectedReply{"no timestamp first", pending}
			}
			end := bytes.IndexByte(pending, '[')
			if end < 0 {
				end = len(pending)
			}
			got = append(got, pending[:end]...)
			pending = pending[end:]
		}
	}
	if len(pending) > 0 {
		return replies, longest, &unexpectedReply{"more bytes after the replies", pending}
	}
	if !bytes.Equal(got, want) {
		return replies, longest, &unexpectedReply{fmt.Sprintf("replies echo something else than %q", clip(want)), got}
	}
	return replies, longest, nil
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// talkToNobody dials an address where no server is and sends one request,
// and reports the first step that failed.
func talkToNobody(ctx context.Context, t transports.Transport, dir string) (Outcome, error) {
	addr, err := closedAddr(t, dir)
	if err != nil {
		return Outcome{}, err
	}
	return talk(ctx, t, addr), nil
}

// talkToStaleFile does the same at a Unix socket file whose socket was
// closed: the file is there, nobody is behind it.
func talkToStaleFile(ctx context.Context, t transports.Transport, dir string) (Outcome, error) {
	path := filepath.Join(dir, "stale-"+t.Spec().Name+".sock")
	if err := staleSocketFile(path, t.Spec().SockType); err != nil {
		return Outcome{}, fmt.Errorf("making a stale socket file: %w", err)
	}
	defer os.Remove(path)
	return talk(ctx, t, path), nil
}

// staleSocketFile binds a socket of the given type to path and closes it,
// which leaves the file behind, as a server that crashed does.
func staleSocketFile(path, sockType string) error {
	addr := &net.UnixAddr{Name: path}
	if sockType == "SOCK_DGRAM" {
		addr.Net = "unixgram"
		c, err := net.ListenUnixgram("unixgram", addr)
		if err != nil {
			return err
		}
		return c.Close() // a datagram socket never removes its file
	}
	addr.Net = map[string]string{"SOCK_STREAM": "unix", "SOCK_SEQPACKET": "unixpacket"}[sockType]
	ln, err := net.ListenUnix(addr.Net, addr)
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false)
	return ln.Close()
}

func talk(ctx context.Context, t transports.Transport, addr string) Outcome {
	c, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return Outcome{Step: "connect", Err: err}
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		return Outcome{Step: "send", Err: err}
	}
	c.SetReadDeadline(time.Now().Add(Timeout))
	if _, err := c.Read(make([]byte, 64)); err != nil {
		return Outcome{Step: "recv", Err: err}
	}
	return Outcome{}
}

// closedAddr is an address of t's kind where nobody listens: a port that
// was just free, or a socket path that does not exist.
func closedAddr(t transports.Transport, dir string) (string, error) {
	spec := t.Spec()
	if transports.IsUnix(spec.Name) {
		return filepath.Join(dir, "nobody-"+spec.Name+".sock"), nil
	}
	network := map[string]string{"AF_INET": "4", "AF_INET6": "6"}[spec.Family]
	host := map[string]string{"AF_INET": "127.0.0.1:0", "AF_INET6": "[::1]:0"}[spec.Family]
	if spec.Kind == transports.Datagram {
		pc, err := net.ListenPacket("udp"+network, host)
		if err != nil {
			return "", err
		}
		defer pc.Close()
		return pc.LocalAddr().String(), nil
	}
	ln, err := net.Listen("tcp"+network, host)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// SocketDir makes a fresh directory for socket files: in the temp dir
// when its path leaves room for a socket name within sun_path's limit,
// else in /tmp. The caller removes it.
func SocketDir(prefix string) (string, error) {
	parent := os.TempDir()
	// Room for the random suffix and the longest name a probe uses.
	if len(parent)+len(prefix)+12+len("/nobody-unixpacket.sock") > transports.MaxSocketPath {
		parent = "/tmp"
	}
	return os.MkdirTemp(parent, prefix)
}
