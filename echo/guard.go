package echo

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Guard is what a datagram server refuses to answer. Every reply is 27
// bytes bigger than its request and goes wherever the request claims to
// come from, so an open echo can be aimed at a victim (reflection) or at
// another echo, each answering the other forever (CERT CA-1996-01's
// echo/chargen storms, CVE-2024-2169 "Loop DoS"). The zero Guard keeps the
// defences that cost nothing and sets no rate limit.
type Guard struct {
	// AllowLowPorts answers sources below port 1024, where system services
	// (echo, chargen, daytime, DNS) live and would answer back.
	AllowLowPorts bool
	// Rate is how many datagrams per second one source IP is answered; 0
	// is no limit. Burst is how many it may send at once; a Burst below
	// Rate is raised to Rate, rounded up, since a source's allowance grows
	// once a second.
	Rate  float64
	Burst int
}

// Reasons a datagram is dropped. Loop refusals say so in the log.
const (
	dropMulticast = "broadcast or multicast source: replies would go to many hosts"
	dropLowPort   = "loop refused: source port below 1024 is a system service"
	dropOwnPort   = "loop refused: source uses this server's own port"
	dropReply     = "loop refused: the datagram is itself an echo reply"
	dropRate      = "rate limit: too many datagrams from this source"
)

// guard applies a Guard for one server. Only the server's one reading
// goroutine uses it, so it needs no lock.
//
// The rate limit is a token bucket per source IP that is refilled in
// whole seconds of the stamp's clock, so that it reads no clock per
// datagram: over any second a source gets at most Burst + Rate answers,
// as from a bucket refilled continuously.
type guard struct {
	Guard
	ownPort int
	buckets map[netip.Addr]*bucket
	// The last source's bucket: a flood, or one busy client, comes from
	// one source, so most datagrams skip the table.
	lastIP     netip.Addr
	lastBucket *bucket
}

type bucket struct {
	tokens float64
	last   int64 // the second it was last refilled
}

// maxBuckets bounds the rate limiter's memory against floods of sources.
const maxBuckets = 16384

// maxBurst caps a burst that huge rates would make overflow an int: a
// billion datagrams a second from one source is no limit in practice.
const maxBurst = 1 << 30

// fullToken is how much of a token answers a datagram: refills of a
// fractional rate add up with rounding errors (ten of 0.1 make
// 0.9999999999999999), which must not cost a whole second.
const fullToken = 1 - 1e-9

func newGuard(g Guard, local net.Addr) *guard {
	gd := &guard{Guard: g, buckets: map[netip.Addr]*bucket{}}
	if u, ok := local.(*net.UDPAddr); ok {
		gd.ownPort = u.Port
	}
	if gd.Rate > 0 && float64(gd.Burst) < gd.Rate {
		gd.Burst = int(min(math.Ceil(gd.Rate), maxBurst))
	}
	return gd
}

// drop says why the datagram data from addr, received in the second sec,
// must not be answered, or "".
func (g *guard) drop(addr net.Addr, data []byte, sec int64) string {
	if IsPrefix(data) {
		return dropReply
	}
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return ""
	}
	ip, _ := netip.AddrFromSlice(u.IP)
	ip = ip.Unmap()
	switch {
	case ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || ip.IsUnspecified():
		return dropMulticast
	case u.Port < 1024 && !g.AllowLowPorts:
		return dropLowPort
	case u.Port == g.ownPort:
		return dropOwnPort
	case g.Rate > 0 && !g.allow(ip, sec):
		return dropRate
	}
	return ""
}

// allow takes a token from ip's bucket in the second sec.
func (g *guard) allow(ip netip.Addr, sec int64) bool {
	b := g.lastBucket
	if b == nil || ip != g.lastIP {
		var ok bool
		if b, ok = g.buckets[ip]; !ok {
			if len(g.buckets) >= maxBuckets && !g.evictIdle(sec) {
				// Clearing them all would let a flood of forged sources
				// reset every real one's limit; a new source waits for
				// room instead.
				return false
			}
			b = &bucket{tokens: float64(g.Burst), last: sec}
			g.buckets[ip] = b
		}
		g.lastIP, g.lastBucket = ip, b
	}
	if sec > b.last {
		b.tokens = min(float64(g.Burst), b.tokens+float64(sec-b.last)*g.Rate)
	}
	// A clock set back starts the count again from there, neither
	// refilling nor taking away.
	b.last = sec
	if b.tokens < fullToken {
		return false
	}
	b.tokens--
	return true
}

// evictIdle forgets the sources whose buckets have refilled, which is
// all that a new bucket would be, and reports whether any went.
func (g *guard) evictIdle(sec int64) bool {
	full := int64(math.Ceil(float64(g.Burst) / g.Rate))
	n := len(g.buckets)
	for ip, b := range g.buckets {
		// A bucket from later than now is from before the clock was set
		// back: its source may have waited any time.
		if sec-b.last >= full || sec < b.last {
			delete(g.buckets, ip)
		}
	}
	g.lastIP, g.lastBucket = netip.Addr{}, nil
	return len(g.buckets) < n
}

// everySecond lets a log line through at most once a second and counts
// what it held back, so that a flood cannot turn into a flood of logs.
type everySecond struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Allow reports whether to log now, and how many were held back since the
// last line.
func (e *everySecond) Allow() (bool, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if now.Sub(e.last) < time.Second {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// heldBack is the log attribute for lines everySecond held back, if any.
func heldBack(n int) []any {
	if n == 0 {
		return nil
	}
	return []any{"since_last_line", n}
}
