// Package lab measures how each transport behaves, so that 'socklab demo'
// prints and the tests assert the same facts, taken from real sockets.
package lab

import (
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
	"golang.org/x/sys/unix"
)

// Facts is what one transport did when probed.
type Facts struct {
	Transport transports.Transport
	Addr      string // where the probe's server listened
	// Reply is the server's answer to "hello".
	Reply []byte
	// QuickSendReplies is how many replies two sends ("one", "two") got when
	// both reached the server before it read: 1 means the stream merged them.
	QuickSendReplies int
	// NobodyListening is what a client sees talking to an address where no
	// server is.
	NobodyListening Outcome
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
	var errno syscall.Errno
	if errors.As(o.Err, &errno) {
		return fmt.Sprintf("%s fails: %s (%s)", o.Step, errno.Error(), unix.ErrnoName(errno))
	}
	if errors.Is(o.Err, os.ErrDeadlineExceeded) {
		return o.Step + " times out"
	}
	return fmt.Sprintf("%s fails: %v", o.Step, o.Err)
}

// Errno is the error number behind the outcome, or 0.
func (o Outcome) Errno() syscall.Errno {
	var errno syscall.Errno
	errors.As(o.Err, &errno)
	return errno
}

// Timeout is how long a probe waits for any one answer: generous, so a
// loaded machine is slow rather than wrong.
const Timeout = 10 * time.Second

// TempAddr is an address for t that nothing else uses: port 0 on loopback,
// or a socket path in dir.
func TempAddr(t transports.Transport, dir string) string {
	spec := t.Spec()
	switch {
	case spec.Family == "AF_INET":
		return "127.0.0.1:0"
	case spec.Family == "AF_INET6":
		return "[::1]:0"
	}
	return filepath.Join(dir, spec.Name+".sock")
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

// Probe starts a server of t on a fresh address (socket files go in dir),
// talks to it, and reports what happened.
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
	// Serial, as the article's server: the probe keeps it busy with one
	// client while another sends, so that both sends are queued before the
	// server reads either.
	srv, err := echo.Start(ctx, t, TempAddr(t, dir), transports.Options{}, echo.Config{Serial: true})
	if err != nil {
		return f, err
	}
	defer srv.Wait()
	defer cancel()
	f.Addr = srv.Addr.String()

	if f.Reply, f.QuickSendReplies, err = quickSends(ctx, t, f.Addr); err != nil {
		return f, err
	}
	if f.NobodyListening, err = talkToNobody(ctx, t, dir); err != nil {
		return f, err
	}
	return f, nil
}

// quickSends returns the reply to "hello" and how many replies "one" and
// "two" got when sent back to back before the server read.
func quickSends(ctx context.Context, t transports.Transport, addr string) ([]byte, int, error) {
	first, err := echo.Dial(ctx, t, addr, transports.Options{}, echo.ClientConfig{Timeout: Timeout})
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
	for _, m := range []string{"one", "two"} {
		if _, err := second.Write([]byte(m)); err != nil {
			return nil, 0, fmt.Errorf("send %q: %w", m, err)
		}
	}
	// The serial server is still with the first client; letting it go lets
	// the server accept the second and find both sends waiting.
	first.Close()
	n, err := countReplies(second, t.Spec().Kind, []byte("onetwo"))
	return hello, n, err
}

// countReplies reads the replies that echo want, and counts them.
func countReplies(c net.Conn, kind transports.Kind, want []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(Timeout))
	buf := make([]byte, echo.MaxMessage)
	var got []byte
	replies := 0
	for len(got) < len(want) {
		n, err := c.Read(buf)
		if err != nil {
			return replies, fmt.Errorf("recv: %w", err)
		}
		b := buf[:n]
		for len(b) > 0 {
			if !echo.IsPrefix(b) {
				return replies, fmt.Errorf("unexpected reply %q", b)
			}
			replies++
			b = b[echo.PrefixLen:]
			// A message socket gives one reply per read; on a stream the
			// data runs up to the next prefix.
			end := len(b)
			if kind == transports.Stream {
				end = 0
				for end < len(b) && len(got)+end < len(want) && b[end] == want[len(got)+end] {
					end++
				}
			}
			got = append(got, b[:end]...)
			b = b[end:]
		}
	}
	if string(got) != string(want) {
		return replies, fmt.Errorf("replies echo %q, want %q", got, want)
	}
	return replies, nil
}

// talkToNobody dials an address where no server is and sends one request,
// and reports the first step that failed.
func talkToNobody(ctx context.Context, t transports.Transport, dir string) (Outcome, error) {
	addr, err := closedAddr(t, dir)
	if err != nil {
		return Outcome{}, err
	}
	c, err := t.Dial(ctx, addr, transports.Options{})
	if err != nil {
		return Outcome{Step: "connect", Err: err}, nil
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		return Outcome{Step: "send", Err: err}, nil
	}
	c.SetReadDeadline(time.Now().Add(Timeout))
	if _, err := c.Read(make([]byte, 64)); err != nil {
		return Outcome{Step: "recv", Err: err}, nil
	}
	return Outcome{}, nil
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
