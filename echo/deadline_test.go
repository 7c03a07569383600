package echo

import (
	"testing"
	"time"
)

// A deadline moves on once an eighth of its timeout has passed, not
// before, whichever clock judges it: the stamp's ticking clock for long
// timeouts, the monotonic clock for short ones or a given clock.
func TestRearmAfterAnEighth(t *testing.T) {
	fixed := func() time.Time { return time.Date(2026, 11, 1, 9, 5, 3, 0, time.UTC) }
	for _, tt := range []struct {
		name  string
		clock func() time.Time
		d     time.Duration
	}{
		{"ticking clock, long timeout", nil, 5 * time.Minute},
		{"ticking clock, short timeout", nil, time.Second},
		{"given clock", fixed, 5 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &streamServer{stamp: NewStamper(tt.clock)}
			s.stamp.current() // a reply was just made: the clock ticks
			var armed time.Time
			if _, ok := s.rearm(&armed, tt.d); !ok || armed.IsZero() {
				t.Fatal("the first deadline was not set")
			}
			if _, ok := s.rearm(&armed, tt.d); ok {
				t.Fatal("the deadline moved on again at once")
			}
			// Past an eighth even by a clock a second late, with a second
			// to spare for a slow timer.
			armed = time.Now().Add(-tt.d/8 - 2*time.Second)
			before := time.Now()
			now, ok := s.rearm(&armed, tt.d)
			if !ok {
				t.Fatalf("the deadline did not move on after %s", tt.d/8+2*time.Second)
			}
			if now.Before(before) || armed != now {
				t.Fatalf("moved on from %s, recorded %s; want the time now, %s or later", now, armed, before)
			}
		})
	}
}

// Long timeouts are judged by the stamp's clock, not by reading the clock:
// a stamp an hour ahead moves a deadline on at once, a short timeout is
// not fooled.
func TestRearmLongTimeoutsUseTheStamp(t *testing.T) {
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	s := &streamServer{stamp: &Stamper{ticking: true, now: ahead}}
	s.stamp.current()
	armed := time.Now()
	if _, ok := s.rearm(&armed, 5*time.Minute); !ok {
		t.Error("a 5m deadline was judged by another clock than the stamp's")
	}
	armed = time.Now()
	if _, ok := s.rearm(&armed, time.Second); ok {
		t.Error("a 1s deadline was judged by the stamp's clock, which may be a second late")
	}
}
