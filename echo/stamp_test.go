package echo

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReplyFormat(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		data string
		want string
	}{
		{"one-digit day is space-padded", time.Date(2026, 11, 1, 9, 5, 3, 0, time.UTC), "hi", "[Sun Nov  1 09:05:03 2026] hi"},
		{"two-digit day", time.Date(2019, 2, 14, 23, 59, 59, 0, time.UTC), "hi", "[Thu Feb 14 23:59:59 2019] hi"},
		{"empty data", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "", "[Fri Jan  2 03:04:05 2026] "},
		{"binary and NUL bytes unchanged", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "a\x00\xff\n", "[Fri Jan  2 03:04:05 2026] a\x00\xff\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStamper(func() time.Time { return tt.at })
			got := string(s.AppendReply(nil, []byte(tt.data)))
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if len(got) != len(tt.data)+PrefixLen {
				t.Fatalf("reply is %d bytes longer than its data, want %d", len(got)-len(tt.data), PrefixLen)
			}
		})
	}
}

// The zone is the clock's: a local time prints local, as ctime() does.
func TestReplyUsesTheClocksZone(t *testing.T) {
	zone := time.FixedZone("X", 5*3600)
	at := time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC)
	got := string(NewStamper(func() time.Time { return at.In(zone) }).AppendReply(nil, nil))
	if want := "[Sun Nov  1 05:30:00 2026] "; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// The clock moves on: a new second gives a new stamp, not the cached one.
func TestStampFollowsTheClock(t *testing.T) {
	at := time.Date(2026, 11, 1, 9, 5, 3, 0, time.UTC)
	s := NewStamper(func() time.Time { return at })
	first := string(s.AppendReply(nil, nil))
	at = at.Add(time.Second)
	second := string(s.AppendReply(nil, nil))
	if first == second || !strings.Contains(second, "09:05:04") {
		t.Fatalf("stamp did not follow the clock: %q then %q", first, second)
	}
}

// The reply path allocates nothing once its buffer is big enough.
func TestAppendReplyAllocatesNothing(t *testing.T) {
	s := NewStamper(func() time.Time { return time.Date(2026, 11, 1, 9, 5, 3, 0, time.UTC) })
	data := []byte("a request of sixty-four bytes, give or take a few, for the test")
	buf := make([]byte, 0, PrefixLen+len(data))
	if n := testing.AllocsPerRun(1000, func() { buf = s.AppendReply(buf[:0], data) }); n != 0 {
		t.Fatalf("AppendReply allocates %.1f times per reply, want 0", n)
	}
}

// waitLimit bounds a wait for the ticking clock; lab.Timeout, which this
// package cannot import.
const waitLimit = 10 * time.Second

// On the real clock, replies do not read the clock: a timer moves the
// stamp on once a second.
func TestTickingStampReadsTheClockOncePerSecond(t *testing.T) {
	t.Parallel()
	var reads atomic.Int32
	s := &Stamper{ticking: true, now: func() time.Time { reads.Add(1); return time.Now() }}
	for range 10000 {
		s.AppendReply(nil, []byte("hi"))
	}
	if n := reads.Load(); n > 2 { // 2: a second boundary may pass meanwhile
		t.Fatalf("10000 replies read the clock %d times", n)
	}
}

// The ticking stamp follows the second: after a boundary, replies carry the
// new second (once the timer has run) without any reply reading the clock.
func TestTickingStampMovesOnWithTheSecond(t *testing.T) {
	t.Parallel()
	s := NewStamper(nil)
	first := s.current().unix
	deadline := time.Now().Add(waitLimit)
	for s.current().unix == first {
		if time.Now().After(deadline) {
			t.Fatalf("the stamp stayed at %s for %s", time.Unix(first, 0), waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
	if got, now := s.current().unix, time.Now().Unix(); got < first+1 || got > now {
		t.Fatalf("the stamp moved from second %d to %d; the clock says %d", first, got, now)
	}
	if reply := s.AppendReply(nil, nil); !IsPrefix(reply) {
		t.Fatalf("reply %q is not a stamp", reply)
	}
}

// An idle stamper stops its timer, and the next reply reads the clock
// again rather than using a stale stamp.
func TestTickingStampStopsWhenIdle(t *testing.T) {
	t.Parallel()
	s := NewStamper(nil)
	s.current()
	deadline := time.Now().Add(waitLimit)
	for s.cached.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the timer still ticks %s after the only reply", waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := time.Now().Unix()
	got := s.current().unix
	if after := time.Now().Unix(); got < before || got > after {
		t.Fatalf("after idling, the stamp is for second %d, not %d..%d", got, before, after)
	}
}

func TestIsPrefix(t *testing.T) {
	for s, want := range map[string]bool{
		"[Sun Nov  1 09:05:03 2026] hello": true,
		"[Sun Nov  1 09:05:03 2026] ":      true,
		"[Sun Nov  1 09:05:03 2026]":       false,
		"[Sun Nov 41 09:05:03 2026] hello": false,
		"hello there, this is not a stamp": false,
	} {
		if got := IsPrefix([]byte(s)); got != want {
			t.Errorf("IsPrefix(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDecodeChunks(t *testing.T) {
	const p = "[Sun Nov  1 09:05:03 2026] "
	tests := []struct {
		reply, msg string
		done       bool
		bad        bool
	}{
		{p + "hello", "hello", true, false},
		{p + "hel", "hello", false, false},
		{p + "hel" + p + "lo", "hello", true, false},
		{p + "hel" + p[:10], "hello", false, false},
		{p + "hello" + p, "hello", false, true},
		{"garbage that is long enough to check", "hello", false, true},
		{p + "world", "hello", false, true},
	}
	for _, tt := range tests {
		done, err := decodeChunks([]byte(tt.reply), []byte(tt.msg))
		if done != tt.done || (err != nil) != tt.bad {
			t.Errorf("decodeChunks(%q, %q) = %v, %v; want done=%v bad=%v", tt.reply, tt.msg, done, err, tt.done, tt.bad)
		}
	}
}
