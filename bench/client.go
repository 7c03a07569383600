package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
)

// client is one connection of the load: it sends a request, waits for the
// whole reply, checks it, and records how long that took. Its exchange
// allocates nothing, so that what it measures is the server and the kernel.
type client struct {
	mu     sync.Mutex // guards conn and hungUp between dial and hangUp
	hungUp bool

	kind    transports.Kind
	timeout time.Duration
	conn    net.Conn
	msg     []byte
	buf     []byte
	seq     uint64
	// deadline is the read and write deadline set on conn; it is moved on
	// only when less than half the timeout is left, to keep the timer out
	// of the hot path.
	deadline time.Time

	connected        time.Time // when dial returned
	last             time.Time // when the last reply came
	hist             *hdrhistogram.Histogram
	msgs, errs, lost int64
	firstErr         error
}

// errLost is a datagram that got no reply in time.
var errLost = errors.New("datagram lost")

func newClient(cfg Config, i int) *client {
	kind := cfg.Transport.Spec().Kind
	c := &client{kind: kind, timeout: cfg.Timeout, msg: make([]byte, cfg.Size)}
	// The payload is letters: never "[", so that a stream reply split into
	// several stamped pieces can be told apart from the data.
	for j := range c.msg {
		c.msg[j] = 'a' + byte((i+j)%26)
	}
	if kind == transports.Stream {
		if cfg.Framing == echo.Line {
			c.msg[len(c.msg)-1] = '\n'
		}
		c.buf = make([]byte, 4096)
	} else {
		// One byte more than the reply, to see a reply that is too long.
		c.buf = make([]byte, echo.PrefixLen+cfg.Size+1)
	}
	return c
}

func (c *client) fail(err error) {
	c.errs++
	if c.firstErr == nil {
		c.firstErr = err
	}
}

// dial connects the client; a failure is counted as one error.
func (c *client) dial(ctx context.Context, t transports.Transport, addr string, timeout time.Duration) bool {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := t.Dial(dctx, addr, transports.Options{})
	if err != nil {
		if ctx.Err() == nil {
			c.fail(fmt.Errorf("connect: %w", err))
		}
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hungUp {
		conn.Close()
		return false
	}
	c.conn = conn
	c.connected = time.Now()
	return true
}

// hangUp closes the client's socket, now or as soon as it connects, and
// reports whether it had connected. It may be called from any goroutine.
func (c *client) hangUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hungUp = true
	if c.conn != nil {
		c.conn.Close()
	}
	return c.conn != nil
}

// run exchanges messages requests, or until end when messages is 0.
func (c *client) run(ctx context.Context, messages int, end time.Time) {
	c.hist = newHist()
	for i := 0; messages <= 0 || i < messages; i++ {
		t0 := time.Now()
		if messages <= 0 && !t0.Before(end) {
			return
		}
		c.arm(t0)
		err := c.exchange()
		if err == nil {
			c.last = time.Now()
			c.msgs++
			c.hist.RecordValue(min(int64(c.last.Sub(t0)), histMax))
			continue
		}
		if ctx.Err() != nil {
			return // stopped from outside: not the server's fault
		}
		if errors.Is(err, errLost) {
			c.lost++
			continue
		}
		c.fail(err)
		return
	}
}

// arm moves the socket's deadline on when less than half the timeout is
// left: every wait is then bounded by between half the timeout and all of it.
func (c *client) arm(now time.Time) {
	if now.Add(c.timeout / 2).After(c.deadline) {
		c.deadline = now.Add(c.timeout)
		c.conn.SetDeadline(c.deadline)
	}
}

func (c *client) exchange() error {
	if c.kind == transports.Stream {
		return c.exchangeStream()
	}
	return c.exchangeMessage()
}

// exchangeStream sends the message and reads until the reply holds all of
// it. The server may have read the message in several pieces and stamped
// each, so the reply is one or more prefixes, each followed by a piece.
func (c *client) exchangeStream() error {
	if _, err := c.conn.Write(c.msg); err != nil {
		return c.ioError("send", err)
	}
	size := len(c.msg)
	pre := 0   // bytes of the current prefix seen
	got := 0   // bytes of the message echoed so far
	piece := 0 // bytes echoed since the last prefix
	for {
		n, err := c.conn.Read(c.buf)
		p := c.buf[:n]
		for len(p) > 0 {
			if pre < echo.PrefixLen {
				k := min(echo.PrefixLen-pre, len(p))
				for j := range k {
					if !prefixByteOK(pre+j, p[j]) {
						return fmt.Errorf("reply does not start with a timestamp: %q", clip(p))
					}
				}
				pre += k
				p = p[k:]
				continue
			}
			if p[0] == '[' && piece > 0 && got < size {
				pre, piece = 0, 0 // the next stamped piece
				continue
			}
			if got == size {
				return fmt.Errorf("unexpected bytes after the reply: %q", clip(p))
			}
			k := min(len(p), size-got)
			if i := bytes.IndexByte(p[:k], '['); i >= 0 {
				k = i
			}
			if k == 0 || !bytes.Equal(p[:k], c.msg[got:got+k]) {
				return fmt.Errorf("reply does not echo the message: %q", clip(p))
			}
			got += k
			piece += k
			p = p[k:]
		}
		if got == size && pre == echo.PrefixLen {
			return nil
		}
		if err != nil {
			return c.ioError("recv", err)
		}
	}
}

// prefixByteOK checks the fixed bytes of "[" ctime "] " at position i.
func prefixByteOK(i int, b byte) bool {
	switch i {
	case 0:
		return b == '['
	case echo.PrefixLen - 2:
		return b == ']'
	case echo.PrefixLen - 1:
		return b == ' '
	}
	return b >= ' ' && b < 0x7f && b != '[' && b != ']'
}

// exchangeMessage sends one numbered message and waits for its reply. A
// late reply to an earlier, lost message is skipped.
func (c *client) exchangeMessage() error {
	c.seq++
	var seq [8]byte
	binary.LittleEndian.PutUint64(seq[:], c.seq)
	k := copy(c.msg, seq[:])
	if _, err := c.conn.Write(c.msg); err != nil {
		return c.ioError("send", err)
	}
	for {
		n, err := c.conn.Read(c.buf)
		if err != nil {
			if c.kind == transports.Datagram && isTimeout(err) {
				return errLost
			}
			return c.ioError("recv", err)
		}
		r := c.buf[:n]
		if n == echo.PrefixLen+len(c.msg) && r[0] == '[' && r[echo.PrefixLen-2] == ']' && r[echo.PrefixLen-1] == ' ' {
			data := r[echo.PrefixLen:]
			if bytes.Equal(data, c.msg) {
				return nil
			}
			if bytes.Equal(data[k:], c.msg[k:]) {
				continue // the late reply to an earlier message
			}
		}
		return fmt.Errorf("unexpected reply %q", clip(r))
	}
}

// ioError says what went wrong; a deadline on a connected socket means the
// server did not answer in time.
func (c *client) ioError(op string, err error) error {
	if isTimeout(err) && op == "recv" {
		return fmt.Errorf("recv: no reply within %s", c.timeout)
	}
	if isTimeout(err) {
		return fmt.Errorf("%s: timed out after %s", op, c.timeout)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
