// Package echo is the article's timestamp echo: the one reply function every
// transport shares, the server loops that read requests and write replies,
// and a client that knows what a reply looks like.
package echo

import (
	"sync"
	"sync/atomic"
	"time"
)

// PrefixLen is how many bytes a reply adds to its data: "[", the 24 bytes
// of ctime ("Sat Nov  1 09:05:03 2026"), then "] ".
const PrefixLen = 27

// Stamper builds replies. It formats the timestamp once a second, shares it
// between goroutines, and on the real clock does not read the clock per
// reply either: after a system call that read costs a reply more than the
// whole rest of the server's loop (about 190 ns of a 7 µs round trip on a
// virtual machine, see BENCHMARKS.md). Instead, as HTTP servers do for
// their Date header, a timer moves the stamp on at each second boundary
// for as long as replies are made. A second with no reply stops the timer,
// and the next reply reads the clock and starts it again. A reply made
// just after a boundary may thus carry the second before it, for as long
// as the timer is late: microseconds, or a few milliseconds on a loaded
// machine.
type Stamper struct {
	now     func() time.Time
	ticking bool // now is read once a second, not for every reply
	cached  atomic.Pointer[stamp]

	// The ticking clock.
	used  atomic.Bool // a reply used the stamp since the last tick
	mu    sync.Mutex  // starting and moving the stamp
	timer *time.Timer
}

type stamp struct {
	at     time.Time // when it was made
	unix   int64     // the second it stamps
	prefix []byte
}

func newStamp(t time.Time) *stamp {
	p := make([]byte, 0, PrefixLen)
	p = append(p, '[')
	p = t.AppendFormat(p, time.ANSIC)
	p = append(p, ']', ' ')
	return &stamp{at: t, unix: t.Unix(), prefix: p}
}

// NewStamper returns a Stamper reading the clock now for every reply, or
// the real clock, ticking, when now is nil. The real clock's times are in
// the local zone, as C's ctime() is.
func NewStamper(now func() time.Time) *Stamper {
	if now == nil {
		return &Stamper{now: time.Now, ticking: true}
	}
	return &Stamper{now: now}
}

// AppendReply appends to dst the reply to data: "[" ctime "] " data. Data
// is copied unchanged, NUL and binary bytes included.
func (s *Stamper) AppendReply(dst, data []byte) []byte {
	return s.current().appendReply(dst, data)
}

func (c *stamp) appendReply(dst, data []byte) []byte {
	return append(append(dst, c.prefix...), data...)
}

// current is the stamp for a reply made now.
func (s *Stamper) current() *stamp {
	if !s.ticking {
		t := s.now()
		if c := s.cached.Load(); c != nil && c.unix == t.Unix() {
			return c
		}
		c := newStamp(t)
		s.cached.Store(c)
		return c
	}
	if c := s.cached.Load(); c != nil {
		if !s.used.Load() { // a write a second, not one per reply
			s.used.Store(true)
		}
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cached.Load(); c != nil {
		return c // another reply started it
	}
	s.used.Store(true)
	return s.advance()
}

// recent is the time of the ticking clock's current stamp, if there is
// one: it is then at most a second old, plus the timer's latency.
func (s *Stamper) recent() (time.Time, bool) {
	if !s.ticking {
		return time.Time{}, false
	}
	if c := s.cached.Load(); c != nil {
		return c.at, true
	}
	return time.Time{}, false
}

// tick runs at each second boundary while the stamp is in use.
func (s *Stamper) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.used.Swap(false) {
		s.cached.Store(nil) // idle: the next reply reads the clock
		return
	}
	s.advance()
}

// advance stamps the current second and sets the timer for the next one.
func (s *Stamper) advance() *stamp {
	t := s.now()
	c := newStamp(t)
	s.cached.Store(c)
	next := time.Unix(c.unix+1, 0).Sub(t)
	if s.timer == nil {
		s.timer = time.AfterFunc(next, s.tick)
	} else {
		s.timer.Reset(next)
	}
	return c
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
