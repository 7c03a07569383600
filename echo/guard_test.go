package echo

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// A full table of sources makes room by forgetting idle ones, never by
// forgetting them all: forged sources must not reset a real one's limit.
func TestRateTableMakesRoomFromIdleSourcesOnly(t *testing.T) {
	g := newGuard(Guard{Rate: 1, Burst: 1}, nil)
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
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
	later := start.Add(2 * time.Second) // every bucket has refilled: all idle
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
		if why := g.drop(net.UDPAddrFromAddrPort(ap), []byte("hi"), time.Now()); why != dropMulticast {
			t.Errorf("%s: %q, want %q", src, why, dropMulticast)
		}
	}
	if why := g.drop(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, []byte("hi"), time.Now()); why != "" {
		t.Errorf("an ordinary source was dropped: %s", why)
	}
}
