// Package echo is the article's timestamp echo: the one reply function every
// transport shares, the server loops that read requests and write replies,
// and a client that knows what a reply looks like.
package echo

import (
	"sync/atomic"
	"time"
)

// PrefixLen is how many bytes a reply adds to its data: "[", the 24 bytes
// of ctime ("Sat Nov  1 09:05:03 2026"), then "] ".
const PrefixLen = 27

// Stamper builds replies. It formats the timestamp at most once per second
// and shares it between goroutines, so a reply costs a clock read and two
// copies.
type Stamper struct {
	now    func() time.Time
	cached atomic.Pointer[stamp]
}

type stamp struct {
	unix   int64
	prefix []byte
}

// NewStamper returns a Stamper reading the clock now; nil means time.Now,
// whose times are in the local zone, as C's ctime() is.
func NewStamper(now func() time.Time) *Stamper {
	if now == nil {
		now = time.Now
	}
	return &Stamper{now: now}
}

// AppendReply appends to dst the reply to data: "[" ctime "] " data. Data
// is copied unchanged, NUL and binary bytes included.
func (s *Stamper) AppendReply(dst, data []byte) []byte {
	dst = append(dst, s.prefix()...)
	return append(dst, data...)
}

func (s *Stamper) prefix() []byte {
	t := s.now()
	sec := t.Unix()
	if c := s.cached.Load(); c != nil && c.unix == sec {
		return c.prefix
	}
	p := make([]byte, 0, PrefixLen)
	p = append(p, '[')
	p = t.AppendFormat(p, time.ANSIC)
	p = append(p, ']', ' ')
	s.cached.Store(&stamp{unix: sec, prefix: p})
	return p
}

// IsPrefix reports whether b begins with a reply prefix: "[" + a valid
// ctime + "] ".
func IsPrefix(b []byte) bool {
	if len(b) < PrefixLen || b[0] != '[' || b[25] != ']' || b[26] != ' ' {
		return false
	}
	_, err := time.Parse(time.ANSIC, string(b[1:25]))
	return err == nil
}
