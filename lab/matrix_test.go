package lab_test

import (
	"context"
	"sync"
	"syscall"
	"testing"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"

	"github.com/socklab/socklab/internal/testkit"
)

// outcome is an expected lab.Outcome: the step that fails and its errno.
type outcome struct {
	step  string
	errno syscall.Errno
}

// behaviour is what a transport is expected to do. lab.Probe measures; this
// table says what Linux really does, one row per transport, whatever the API.
type behaviour struct {
	// Needs a connection?
	nobody outcome  // a client to an address where nobody listens
	stale  *outcome // the same at a Unix socket file whose socket is gone
	// Boundaries: "one"+"two" sent back to back before the server reads.
	chunkReplies, lineReplies int
	// Big messages: a message socket answers any request in one reply;
	// a stream is answered per read of at most 1024 bytes.
	oneReply bool
	oversize bool // UDP: the reply to the largest datagram is dropped, EMSGSIZE
	// End of stream: CloseWrite gives the replies, then EOF.
	halfCloseEOF bool
	// Datagram only, when the API offers CloseWrite: how the next send
	// fails (0: it is answered as if nothing happened).
	sendAfterShutdown syscall.Errno
	// Who can reply: a stranger sending to the client.
	strangerNoAddress bool
	stranger          outcome
	// A second client while the first stays connected.
	serial, concurrent lab.Second
}

var (
	refused    = outcome{"connect", syscall.ECONNREFUSED}
	noSuchFile = outcome{"connect", syscall.ENOENT}
)

var matrix = map[string]behaviour{
	"tcp": {
		nobody:       refused,
		chunkReplies: 1, lineReplies: 2,
		halfCloseEOF: true,
		stranger:     refused, // the client's port is not listening: RST
		serial:       lab.AnsweredAfterFirstCloses, concurrent: lab.AnsweredAtOnce,
	},
	"udp": {
		nobody:       outcome{"recv", syscall.ECONNREFUSED}, // the send goes; ICMP port unreachable comes back
		chunkReplies: 2, lineReplies: 2,
		oneReply: true, oversize: true,
		sendAfterShutdown: syscall.EPIPE, // the kernel refuses the socket's own sends; the server is not told
		// A connected UDP socket takes datagrams from its peer only; the
		// kernel drops the stranger's and answers it "port unreachable".
		stranger: outcome{"recv", syscall.ECONNREFUSED},
		serial:   lab.AnsweredAtOnce, concurrent: lab.AnsweredAtOnce,
	},
	"unix": {
		nobody:       noSuchFile,
		stale:        &refused,
		chunkReplies: 1, lineReplies: 2,
		halfCloseEOF:      true,
		strangerNoAddress: true, // an unbound Unix client has no name
		serial:            lab.AnsweredAfterFirstCloses, concurrent: lab.AnsweredAtOnce,
	},
	"unixgram": {
		nobody:       noSuchFile,
		stale:        &refused,
		chunkReplies: 2, lineReplies: 2,
		oneReply:          true,
		sendAfterShutdown: syscall.EPIPE,
		// A unixgram socket connected to the server refuses anyone else.
		stranger: outcome{"connect", syscall.EPERM},
		serial:   lab.AnsweredAtOnce, concurrent: lab.AnsweredAtOnce,
	},
	"unixpacket": {
		nobody:       noSuchFile,
		stale:        &refused,
		chunkReplies: 2, lineReplies: 2,
		oneReply:          true,
		halfCloseEOF:      true,
		strangerNoAddress: true,
		serial:            lab.AnsweredAfterFirstCloses, concurrent: lab.AnsweredAtOnce,
	},
}

func init() {
	// IPv6 behaves as IPv4.
	matrix["tcp6"] = matrix["tcp"]
	matrix["udp6"] = matrix["udp"]
}

// TestMatrix probes every transport of every API and checks each fact
// against the table. 'socklab demo' prints the same facts.
func TestMatrix(t *testing.T) {
	// All the probes run at once: they mostly wait (QuietWait), and as
	// parallel subtests only GOMAXPROCS of them would.
	type probed struct {
		api   string
		tr    transports.Transport
		facts lab.Facts
		err   error
	}
	var all []*probed
	var wg sync.WaitGroup
	for _, api := range transports.APIs() {
		for _, tr := range transports.All(api) {
			p := &probed{api: api, tr: tr}
			all = append(all, p)
			dir := testkit.SocketDir(t)
			wg.Go(func() { p.facts, p.err = lab.Probe(context.Background(), tr, dir) })
		}
	}
	wg.Wait()
	for _, p := range all {
		t.Run(p.api+"/"+p.tr.Spec().Name, func(t *testing.T) {
			want, ok := matrix[p.tr.Spec().Name]
			if !ok {
				t.Fatalf("no row in the matrix for %s", p.tr.Spec().Name)
			}
			if p.err != nil {
				t.Fatalf("probe: %v", p.err)
			}
			checkBehaviour(t, p.tr, p.facts, want)
		})
	}
}

func checkBehaviour(t *testing.T, tr transports.Transport, f lab.Facts, want behaviour) {
	if f.Skipped != "" {
		t.Skip(f.Skipped)
	}
	spec := tr.Spec()

	t.Run("NeedsConnection", func(t *testing.T) {
		checkOutcome(t, "talking to nobody", f.NobodyListening, want.nobody)
		switch {
		case want.stale == nil && f.StaleSocketFile != nil:
			t.Errorf("a stale socket file was measured for %s", spec.Name)
		case want.stale != nil && f.StaleSocketFile == nil:
			t.Errorf("no stale socket file measured")
		case want.stale != nil:
			checkOutcome(t, "a stale socket file", *f.StaleSocketFile, *want.stale)
		}
	})

	t.Run("Boundaries", func(t *testing.T) {
		if !echo.IsPrefix(f.Reply) || string(f.Reply[echo.PrefixLen:]) != "hello" {
			t.Errorf("reply to hello: %q", f.Reply)
		}
		if f.QuickSendReplies != want.chunkReplies {
			t.Errorf(`"one"+"two" back to back, --framing chunk: %d replies, want %d`, f.QuickSendReplies, want.chunkReplies)
		}
		if f.LineQuickSendReplies != want.lineReplies {
			t.Errorf(`"one\n"+"two\n" back to back, --framing line: %d replies, want %d`, f.LineQuickSendReplies, want.lineReplies)
		}
	})

	t.Run("BigMessages", func(t *testing.T) {
		for _, s := range []struct {
			name string
			got  lab.Size
			n    int
		}{{"big", f.Big, lab.BigLen}, {"huge", f.Huge, lab.HugeLen(tr)}} {
			if s.got.Sent != s.n || !s.got.Whole {
				t.Errorf("%s: %d bytes sent, came back whole: %v; want %d, whole", s.name, s.got.Sent, s.got.Whole, s.n)
			}
			if want.oneReply {
				// Never cut at 1024 bytes, never truncated.
				if s.got.Replies != 1 || s.got.Longest != s.n+echo.PrefixLen {
					t.Errorf("%s: %d replies, longest read %d bytes; want 1 reply of %d", s.name, s.got.Replies, s.got.Longest, s.n+echo.PrefixLen)
				}
				continue
			}
			// Each read of at most 1024 bytes has its own reply.
			if minimum := (s.n + echo.DefaultBufSize - 1) / echo.DefaultBufSize; s.got.Replies < minimum {
				t.Errorf("%s: %d replies, want at least %d", s.name, s.got.Replies, minimum)
			}
		}
		if spec.Kind == transports.Stream && f.Big.Replies < 3 {
			t.Errorf("3000 bytes on a stream: %d replies, want at least 3", f.Big.Replies)
		}
		if !want.oversize {
			if f.Oversize != nil {
				t.Errorf("oversize datagram measured for %s", spec.Name)
			}
			return
		}
		d := f.Oversize
		switch {
		case d == nil:
			t.Errorf("no oversize datagram measured")
		case d.SendErr != nil || d.Replied || !d.Dropped || lab.ErrnoOf(d.Err) != syscall.EMSGSIZE:
			t.Errorf("largest datagram (%d bytes): %s; want the %d-byte reply dropped by the server with EMSGSIZE", d.Sent, d, d.ReplyLen)
		}
	})

	t.Run("EndOfStream", func(t *testing.T) {
		h := f.HalfClose
		if want.halfCloseEOF {
			if !h.Method || h.Err != nil || h.Replies != 1 || !h.EOF {
				t.Errorf("CloseWrite after a request: %s; want its reply, then EOF", h)
			}
			return
		}
		if h.EOF {
			t.Errorf("a datagram socket gave EOF after CloseWrite: %s", h)
		}
		if !h.Method {
			// The API offers no half-close on this socket (Go's
			// UDPConn has no CloseWrite): nothing more to see.
			return
		}
		if h.Err != nil {
			t.Errorf("CloseWrite: %v", h.Err)
		}
		if got := lab.ErrnoOf(h.SendAfter); got != want.sendAfterShutdown || (got == 0) != h.AnsweredAfter {
			t.Errorf("a send after CloseWrite: %s; want errno %d (%v)", h, want.sendAfterShutdown, want.sendAfterShutdown)
		}
	})

	t.Run("WhoCanReply", func(t *testing.T) {
		s := f.Stranger
		if s.ClientSawIt {
			t.Errorf("the client read a stranger's data")
		}
		if s.NoAddress != want.strangerNoAddress {
			t.Errorf("client has no address: %v, want %v", s.NoAddress, want.strangerNoAddress)
		}
		if !want.strangerNoAddress {
			checkOutcome(t, "a stranger sending to the client", s.Outcome, want.stranger)
		}
		if !f.OwnReplies {
			t.Errorf("two clients did not each get their own reply")
		}
	})

	t.Run("Concurrency", func(t *testing.T) {
		if f.Serial != want.serial {
			t.Errorf("--serial, a second client: %s, want %s", f.Serial, want.serial)
		}
		if f.Concurrent != want.concurrent {
			t.Errorf("default server, a second client: %s, want %s", f.Concurrent, want.concurrent)
		}
	})
}

func checkOutcome(t *testing.T, what string, got lab.Outcome, want outcome) {
	t.Helper()
	if got.Step != want.step || got.Errno() != want.errno {
		t.Errorf("%s: %s; want %s to fail with %s", what, got, want.step, want.errno)
	}
}
