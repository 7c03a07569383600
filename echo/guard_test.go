package echo

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// A full table of sources makes room by forgetting idle ones, never by
// forgetting them all: forged sources must not reset a real one's limit.
func TestRateTableMakesRoomFromIdleSourcesOnly(t *testing.T) {
	g := newGuard(Guard{Rate: 1, Burst: 1}, nil)
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Unix()
	real := netip.MustParseAddr("192.0.2.1")
	if !g.allow(real, start) || g.allow(real, start) {
		t.Fatal("a burst of 1 should allow one datagram, then none")
	}
	for i := range maxBuckets - 1 {
		g.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), start)
	}
	if len(g.buckets) != maxBuckets {
		t.Fatalf("%d buckets, want the table full at %d", len(g.buckets), maxBuckets)
	}
	newcomer := netip.MustParseAddr("198.51.100.7")
	if g.allow(newcomer, start) {
		t.Fatal("a new source got a bucket while the table was full of busy ones")
	}
	if g.allow(real, start) {
		t.Fatal("the real source's limit was reset")
	}
	later := start + 2 // every bucket has refilled: all idle
	if !g.allow(newcomer, later) {
		t.Fatal("no room made from idle sources")
	}
	if len(g.buckets) != 1 {
		t.Fatalf("%d buckets left, want only the newcomer's", len(g.buckets))
	}
}

func TestGuardDropsBroadcastAndMulticastSources(t *testing.T) {
	g := newGuard(Guard{}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21567})
	for _, src := range []string{"255.255.255.255:5000", "224.0.0.1:5000", "[ff02::1]:5000", "0.0.0.0:5000"} {
		ap := netip.MustParseAddrPort(src)
		if why := g.drop(net.UDPAddrFromAddrPort(ap), []byte("hi"), 0); why != dropMulticast {
			t.Errorf("%s: %q, want %q", src, why, dropMulticast)
		}
	}
	if why := g.drop(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, []byte("hi"), 0); why != "" {
		t.Errorf("an ordinary source was dropped: %s", why)
	}
}

// The bucket fills in whole seconds: a source that spent its burst gets
// Rate more answers when the second changes, and never more than Burst.
func TestRateRefillsEachSecond(t *testing.T) {
	g := newGuard(Guard{Rate: 3, Burst: 4}, nil)
	src := netip.MustParseAddr("192.0.2.1")
	answered := func(sec int64, tries int) (n int) {
		for range tries {
			if g.allow(src, sec) {
				n++
			}
		}
		return n
	}
	for _, step := range []struct {
		sec       int64
		tries     int
		want, why string
	}{
		{100, 10, "4", "the burst"},
		{100, 10, "0", "nothing more in the same second"},
		{101, 10, "3", "a second later: Rate more"},
		{110, 10, "4", "after a long pause: the burst, not more"},
	} {
		if got := answered(step.sec, step.tries); fmt.Sprint(got) != step.want {
			t.Errorf("second %d: %d answered, want %s (%s)", step.sec, got, step.want, step.why)
		}
	}
}

// A burst below the rate would cap every second's answers at the burst.
func TestBurstIsAtLeastTheRate(t *testing.T) {
	if g := newGuard(Guard{Rate: 1000, Burst: 10}, nil); g.Burst != 1000 {
		t.Fatalf("burst %d, want the rate, 1000", g.Burst)
	}
	for rate, want := range map[float64]int{0.1: 1, 2.5: 3, 1e19: maxBurst} {
		if g := newGuard(Guard{Rate: rate}, nil); g.Burst != want {
			t.Errorf("rate %g: burst %d, want %d", rate, g.Burst, want)
		}
	}
}

// A fractional rate answers as often as it says: 0.1 a second is one
// answer every ten seconds, whatever rounding the refills make.
func TestFractionalRate(t *testing.T) {
	g := newGuard(Guard{Rate: 0.1}, nil)
	src := netip.MustParseAddr("192.0.2.1")
	answered := 0
	for sec := range int64(100) {
		if g.allow(src, sec) {
			answered++
		}
	}
	if answered != 10 { // the burst of 1 at 0, then at 10, 20, ... 90
		t.Fatalf("%d answers in 100 seconds at 0.1/s, want 10", answered)
	}
}

// A clock set back neither locks a source out nor refills it, and an
// idle table still makes room.
func TestRateAfterTheClockIsSetBack(t *testing.T) {
	g := newGuard(Guard{Rate: 10, Burst: 10}, nil)
	src := netip.MustParseAddr("192.0.2.1")
	for range 10 {
		g.allow(src, 3600)
	}
	if g.allow(src, 0) {
		t.Fatal("setting the clock back refilled the bucket")
	}
	if !g.allow(src, 1) {
		t.Fatal("a second after the clock was set back, no answer: the source is locked out")
	}
	if !g.evictIdle(0) || len(g.buckets) != 0 { // set back again, below the last refill
		t.Fatal("a bucket from before the clock was set back was not made room from")
	}
}

// Two sources in turn each keep their own bucket, through the cache of
// the last one and through an eviction.
func TestRateBucketsStayPerSource(t *testing.T) {
	g := newGuard(Guard{Rate: 1, Burst: 1}, nil)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if !g.allow(a, 0) || !g.allow(b, 0) || g.allow(a, 0) || g.allow(b, 0) {
		t.Fatal("each of two sources should get its one answer, then none")
	}
	g.evictIdle(5)
	if !g.allow(a, 5) || g.allow(a, 5) {
		t.Fatal("after an eviction a source should start from a fresh bucket of 1")
	}
}
