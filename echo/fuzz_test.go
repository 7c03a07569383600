package echo

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

var fuzzStamp = NewStamper(func() time.Time { return time.Date(2026, 11, 1, 9, 5, 3, 0, time.UTC) })

const fuzzPrefix = "[Sun Nov  1 09:05:03 2026] "

// FuzzReply: for any input the reply is the prefix plus the input, whatever
// dst held before.
func FuzzReply(f *testing.F) {
	f.Add([]byte("hello"), []byte(nil))
	f.Add([]byte("\x00\xff\n"), []byte("old"))
	f.Fuzz(func(t *testing.T, data, dst []byte) {
		got := fuzzStamp.AppendReply(bytes.Clone(dst)[:0], data)
		if string(got) != fuzzPrefix+string(data) {
			t.Fatalf("reply %q to %q", got, data)
		}
	})
}

// scriptConn is a net.Conn fed from a reader in reads of at most step
// bytes, recording what the server writes.
type scriptConn struct {
	r    io.Reader
	step int
	out  bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if len(p) > c.step {
		p = p[:c.step]
	}
	return c.r.Read(p)
}
func (c *scriptConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

func fuzzServer(cfg Config) *streamServer {
	cfg = cfg.withDefaults()
	return &streamServer{cfg: cfg, stamp: fuzzStamp, conns: map[net.Conn]struct{}{}}
}

// FuzzLineFraming: each line up to MaxLine bytes (newline not counted) is
// answered in order; the first longer one ends the connection with an
// error; a last line without a newline is answered at end of input.
func FuzzLineFraming(f *testing.F) {
	f.Add([]byte("one\ntwo\nthree"), uint8(16), uint8(3))
	f.Add([]byte("a line far longer than the bound\nshort\n"), uint8(0), uint8(7))
	f.Add([]byte("\n\n\x00\n"), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, bound, step uint8) {
		maxLine := 16 + int(bound)
		c := &scriptConn{r: bytes.NewReader(data), step: 1 + int(step)}
		s := fuzzServer(Config{Framing: Line, MaxLine: maxLine})
		err := s.serveLines(c, &connStats{}, s.cfg.Log)

		var want bytes.Buffer
		tooLong := false
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if len(bytes.TrimSuffix(line, []byte("\n"))) > maxLine {
				tooLong = true
				break
			}
			want.WriteString(fuzzPrefix)
			want.Write(line)
		}
		if !bytes.Equal(c.out.Bytes(), want.Bytes()) {
			t.Fatalf("replies %q, want %q", c.out.Bytes(), want.Bytes())
		}
		if tooLong != (err != nil) {
			t.Fatalf("err %v, a line too long: %v", err, tooLong)
		}
	})
}

// FuzzChunkFraming: each read of up to BufSize bytes gets its own reply.
func FuzzChunkFraming(f *testing.F) {
	f.Add([]byte("hello"), uint8(0), uint8(200))
	f.Add(bytes.Repeat([]byte("x"), 3000), uint8(255), uint8(255))
	f.Fuzz(func(t *testing.T, data []byte, size, step uint8) {
		bufSize, maxRead := 1+int(size), 1+int(step)
		c := &scriptConn{r: bytes.NewReader(data), step: maxRead}
		s := fuzzServer(Config{BufSize: bufSize})
		if err := s.serveChunks(c, bufSize, &connStats{}, s.cfg.Log); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		for rest, n := data, min(bufSize, maxRead); len(rest) > 0; {
			k := min(n, len(rest))
			want.WriteString(fuzzPrefix)
			want.Write(rest[:k])
			rest = rest[k:]
		}
		if !bytes.Equal(c.out.Bytes(), want.Bytes()) {
			t.Fatalf("replies %q, want %q", c.out.Bytes(), want.Bytes())
		}
	})
}

// FuzzDecodeChunks: the client recognises a reply however the server cut
// the message, and never takes part of one for the whole.
func FuzzDecodeChunks(f *testing.F) {
	f.Add([]byte("hello"), []byte{2})
	f.Add([]byte("a[b[c"), []byte{1, 1, 1})
	f.Add([]byte("[Sun Nov  1 09:05:03 2026] inside"), []byte{5})
	f.Fuzz(func(t *testing.T, msg, cuts []byte) {
		if len(msg) == 0 || len(msg) > 512 {
			return
		}
		var reply []byte
		rest := msg
		for i := 0; len(rest) > 0; i++ {
			k := len(rest)
			if i < len(cuts) {
				k = min(k, 1+int(cuts[i]))
			}
			reply = append(reply, fuzzPrefix...)
			reply = append(reply, rest[:k]...)
			rest = rest[k:]
		}
		if done, err := decodeChunks(reply, msg); !done || err != nil {
			if bytes.Contains(msg, []byte(fuzzPrefix[:1])) && bytes.Contains(msg, []byte("2026] ")) {
				return // msg holds a stamp itself: ambiguous by design
			}
			t.Fatalf("decodeChunks(%q) = %v, %v", reply, done, err)
		}
		for k := range len(reply) {
			done, err := decodeChunks(reply[:k], msg)
			// A cut inside a prefix whose first bytes also complete msg is,
			// so far, as much a whole reply as the start of a new prefix:
			// no reader can tell yet.
			j := bytes.LastIndexByte(reply[:k], '[')
			tail := reply[max(j, 0):k]
			ambiguous := j >= 0 && len(tail) < PrefixLen && fuzzPrefix[:len(tail)] == string(tail) && bytes.HasSuffix(msg, tail)
			if err != nil || (done && !ambiguous) {
				t.Fatalf("decodeChunks of the first %d bytes = %v, %v", k, done, err)
			}
		}
	})
}
