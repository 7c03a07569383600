package echo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/socklab/socklab/transports"
)

// ClientConfig is how a client talks to a server.
type ClientConfig struct {
	Kind    transports.Kind
	Framing Framing // stream sockets: Line sends a "\n" after each message
	// Timeout is how long a datagram client waits for a reply before it
	// sends the request again; each retry waits twice as long.
	Timeout time.Duration
	Retries int // datagram resends after the first try
}

// Client sends requests over a connected socket and reads whole replies.
type Client struct {
	conn net.Conn
	cfg  ClientConfig
	buf  []byte
}

// ErrNoReply is returned when a datagram request got no reply after every
// retry.
var ErrNoReply = errors.New("no reply")

// NewClient wraps a connected socket. The client owns conn.
func NewClient(conn net.Conn, cfg ClientConfig) *Client {
	if cfg.Framing == "" {
		cfg.Framing = Chunk
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	size := 4096
	if cfg.Kind != transports.Stream {
		size = MaxMessage + PrefixLen
	}
	return &Client{conn: conn, cfg: cfg, buf: make([]byte, size)}
}

// Close closes the socket.
func (c *Client) Close() error { return c.conn.Close() }

// Conn is the client's socket.
func (c *Client) Conn() net.Conn { return c.conn }

// Exchange sends msg and returns the server's whole reply. Under Line
// framing msg gets a trailing "\n" if it has none.
func (c *Client) Exchange(msg []byte) ([]byte, error) {
	if c.cfg.Kind == transports.Stream && c.cfg.Framing == Line && !bytes.HasSuffix(msg, []byte("\n")) {
		msg = append(msg[:len(msg):len(msg)], '\n')
	}
	switch {
	case len(msg) == 0 && c.cfg.Kind == transports.Stream:
		return nil, errors.New("empty message: a stream carries no empty sends, so the server would never answer")
	case len(msg) == 0 && c.cfg.Kind == transports.SeqPacket:
		return nil, errors.New("empty message: on a seqpacket socket it reads as the end of the connection")
	}
	switch c.cfg.Kind {
	case transports.Datagram:
		return c.exchangeDatagram(msg)
	case transports.SeqPacket:
		if _, err := c.conn.Write(msg); err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		n, err := c.conn.Read(c.buf)
		if err != nil {
			return nil, fmt.Errorf("recv: %w", err)
		}
		return checkReply(c.buf[:n], msg)
	}
	return c.exchangeStream(msg)
}

// exchangeStream reads until the reply holds all of msg. The server may
// have read msg in several pieces and stamped each, so the reply is one or
// more prefixes, each followed by the next piece of msg.
func (c *Client) exchangeStream(msg []byte) ([]byte, error) {
	if _, err := c.conn.Write(msg); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	var reply []byte
	for {
		n, err := c.conn.Read(c.buf)
		reply = append(reply, c.buf[:n]...)
		done, derr := decodeChunks(reply, msg)
		if derr != nil {
			return reply, derr
		}
		if done {
			return reply, nil
		}
		if errors.Is(err, io.EOF) {
			return reply, fmt.Errorf("the server closed the connection after %d of the reply's bytes", len(reply))
		}
		if err != nil {
			return reply, fmt.Errorf("recv after %d of the reply's bytes: %w", len(reply), err)
		}
	}
}

// decodeChunks reports whether reply is the whole echo of msg: one or more
// stamped pieces that together are msg. A piece ends where the next valid
// prefix starts, unless msg itself has those very bytes there. One case is
// undecidable: when the bytes read so far end in a "[" that completes msg,
// the next bytes may still be the rest of a new prefix; it is taken as the
// end, which is right unless the server cut msg just before that "[".
func decodeChunks(reply, msg []byte) (bool, error) {
	p, q := 0, 0
	for {
		if len(reply)-p < PrefixLen {
			return false, nil
		}
		if !IsPrefix(reply[p:]) {
			return false, fmt.Errorf("reply does not start with a timestamp: %q", clip(reply[p:]))
		}
		p += PrefixLen
		start := p
	piece:
		for p < len(reply) && q < len(msg) {
			if p > start && reply[p] == '[' {
				if len(reply)-p < PrefixLen {
					// Too early to tell a new prefix from data, unless
					// the rest completes the message.
					done := len(reply)-p == len(msg)-q && bytes.Equal(reply[p:], msg[q:])
					return done, nil
				}
				if IsPrefix(reply[p:]) && !bytes.HasPrefix(msg[q:], reply[p:p+PrefixLen]) {
					break piece
				}
			}
			if reply[p] != msg[q] {
				return false, fmt.Errorf("reply does not echo the message: %q", clip(reply))
			}
			p++
			q++
		}
		switch {
		case q == len(msg) && p == len(reply):
			return true, nil
		case q == len(msg):
			return false, fmt.Errorf("unexpected bytes after the reply: %q", clip(reply[p:]))
		case p == len(reply):
			return false, nil
		}
	}
}

func (c *Client) exchangeDatagram(msg []byte) ([]byte, error) {
	wait := c.cfg.Timeout
	for try := 0; try <= c.cfg.Retries; try++ {
		if _, err := c.conn.Write(msg); err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		reply, err := c.awaitDatagram(msg, time.Now().Add(wait))
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return reply, err
		}
		wait *= 2
	}
	return nil, fmt.Errorf("%w after %s (timed out)", ErrNoReply, plural(c.cfg.Retries+1, "try", "tries"))
}

// awaitDatagram reads until the reply to msg arrives; a datagram that is not
// it (a late reply to an earlier try) is skipped.
func (c *Client) awaitDatagram(msg []byte, deadline time.Time) ([]byte, error) {
	c.conn.SetReadDeadline(deadline)
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		n, err := c.conn.Read(c.buf)
		if err != nil {
			return nil, fmt.Errorf("recv: %w", err)
		}
		if reply, err := checkReply(c.buf[:n], msg); err == nil {
			return reply, nil
		}
	}
}

// checkReply accepts a message reply: the prefix, then msg exactly.
func checkReply(b, msg []byte) ([]byte, error) {
	if len(b) != PrefixLen+len(msg) || !IsPrefix(b) || !bytes.Equal(b[PrefixLen:], msg) {
		return nil, fmt.Errorf("unexpected reply %q", clip(b))
	}
	return bytes.Clone(b), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
