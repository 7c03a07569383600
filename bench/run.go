// Package bench is socklab's load generator: it drives an echo server with
// many concurrent clients, measures request rate and latency (hdrhistogram),
// counts errors and lost datagrams, and reports them as a table or JSON.
//
// It also holds the bare reference echo (bare.go): the least a server can do
// for the same wire work, so that socklab's own server can be compared with
// it in the same run, with the same client.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"
)

// The servers a run can drive.
const (
	// Socklab is echo.Serve / echo.ServePackets, the server of 'socklab
	// serve', started in this process.
	Socklab = "socklab"
	// Bare is the bare reference echo of this package, in this process.
	Bare = "bare"
	// External is a server the bench did not start, at Config.Addr.
	External = "external"
)

// Config is one run: one server, one transport, a number of clients.
type Config struct {
	Transport transports.Transport
	Server    string // Socklab, Bare or External
	Addr      string // External: where the server listens
	// Echo is the socklab server's configuration (Server == Socklab);
	// Kind is filled in from the transport. A nil Log is replaced by a text
	// logger at info level into io.Discard, the work 'socklab serve' does.
	Echo echo.Config
	// Framing is how the client sends on a stream: Line ends each message
	// with "\n". The socklab server uses it too.
	Framing  echo.Framing
	Clients  int
	Duration time.Duration // how long the clients send, when Messages is 0
	Messages int           // per client; 0 means send for Duration
	Size     int           // bytes per request
	// Timeout bounds every wait: connecting, and each reply. A datagram
	// with no reply by then is counted lost and the client sends the next;
	// on a connected socket it is an error and that client stops.
	Timeout time.Duration
	// Dir is where in-process Unix servers put their socket files; ""
	// makes a temporary directory for the run.
	Dir string
}

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = time.Second

// MaxClients is the most clients one run accepts.
const MaxClients = 10000

// Result is what one run measured.
type Result struct {
	Transport string `json:"transport"`
	API       string `json:"api"`
	Server    string `json:"server"`
	Clients   int    `json:"clients"`
	Size      int    `json:"size"`
	// Served is how many clients got at least one reply.
	Served   int   `json:"clients_served"`
	Messages int64 `json:"messages"` // requests answered in full
	// Errors counts failures: a client that could not connect, a broken
	// connection, a wrong reply, a connected request unanswered in time.
	Errors int64 `json:"errors"`
	// Lost counts datagrams that got no reply within the timeout.
	Lost       int64   `json:"lost"`
	Seconds    float64 `json:"seconds"`
	Rate       float64 `json:"msgs_per_s"`
	MBPerSec   float64 `json:"mb_per_s"` // request and reply bytes together, 10^6 bytes
	P50        float64 `json:"p50_us"`
	P90        float64 `json:"p90_us"`
	P99        float64 `json:"p99_us"`
	Max        float64 `json:"max_us"`
	FirstError string  `json:"first_error,omitempty"`
	// VsTCP is Rate over the rate of tcp with the same API, server and
	// clients, when that ran.
	VsTCP *float64 `json:"vs_tcp,omitempty"`
	// VsBare is Rate over the bare echo's in the same run (socklab rows of
	// a comparison): the median of the rounds' ratios, and a 95%
	// confidence interval for it.
	VsBare   *float64  `json:"vs_bare,omitempty"`
	VsBareCI []float64 `json:"vs_bare_ci95,omitempty"`
	// Rounds is how many runs were merged into this result.
	Rounds int `json:"rounds"`
	// Skipped, when not empty, says why nothing ran.
	Skipped string `json:"skipped,omitempty"`

	hist *hdrhistogram.Histogram
}

// Latency histogram range: 1 ns to a minute, two significant digits (each
// value within 1%), about 30 KiB per client.
const (
	histMin    = 1
	histMax    = int64(time.Minute)
	histDigits = 2
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// MaxSize is the largest request t carries in one message with room for
// its reply: for UDP the protocol's limit less the stamp; for the other
// message sockets socklab's read buffer (the kernel's send buffer may be
// smaller); 0 for streams, which have no limit.
func MaxSize(t transports.Transport) int {
	if n := lab.OversizeLen(t); n > 0 {
		return n - echo.PrefixLen
	}
	if t.Spec().Kind != transports.Stream {
		return echo.MaxMessage
	}
	return 0
}

// Run starts the server cfg names (unless it is External), drives it, stops
// it and returns what it measured. An error means the run could not start:
// no server, or none of the clients could connect.
func Run(ctx context.Context, cfg Config) (Result, error) {
	t := cfg.Transport
	spec := t.Spec()
	res := Result{Transport: spec.Name, API: t.API(), Server: cfg.Server, Clients: cfg.Clients, Size: cfg.Size, Rounds: 1}
	if cfg.Clients < 1 || cfg.Clients > MaxClients {
		return res, fmt.Errorf("clients must be between 1 and %d, not %d", MaxClients, cfg.Clients)
	}
	if cfg.Size < 1 {
		return res, fmt.Errorf("size must be at least 1, not %d", cfg.Size)
	}
	if limit := MaxSize(t); limit > 0 && cfg.Size > limit {
		return res, fmt.Errorf("a %s request holds at most %d bytes, with its reply, not %d", spec.Name, limit, cfg.Size)
	}
	if cfg.Messages <= 0 && cfg.Duration <= 0 {
		return res, errors.New("give a duration or a number of messages")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Framing == "" {
		cfg.Framing = echo.Chunk
	}
	if cfg.Server != External && spec.Family == "AF_INET6" {
		if why := lab.IPv6Unavailable(); why != "" {
			res.Skipped = why
			return res, nil
		}
	}

	addr := cfg.Addr
	if cfg.Server != External {
		dir := cfg.Dir
		if dir == "" && transports.IsUnix(spec.Name) {
			d, err := os.MkdirTemp("", "socklab-bench-")
			if err != nil {
				return res, err
			}
			defer os.RemoveAll(d)
			dir = d
		}
		srvCtx, stopSrv := context.WithCancel(ctx)
		var wait func() error
		var err error
		addr, wait, err = startServer(srvCtx, cfg, lab.TempAddr(t, dir))
		if err != nil {
			stopSrv()
			return res, fmt.Errorf("start the %s %s server: %w", cfg.Server, spec.Name, err)
		}
		defer func() {
			stopSrv()
			wait()
		}()
	}
	return drive(ctx, cfg, addr, res)
}

// startServer starts an in-process server and returns its address and a
// function that waits for it to stop once ctx is done.
func startServer(ctx context.Context, cfg Config, addr string) (string, func() error, error) {
	if cfg.Server == Bare {
		b, err := StartBare(ctx, cfg.Transport, addr)
		if err != nil {
			return "", nil, err
		}
		return b.Addr.String(), b.Wait, nil
	}
	ecfg := cfg.Echo
	ecfg.Framing = cfg.Framing
	if ecfg.Log == nil {
		ecfg.Log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := echo.Start(ctx, cfg.Transport, addr, transports.Options{}, ecfg)
	if err != nil {
		return "", nil, err
	}
	return srv.Addr.String(), srv.Wait, nil
}

// drive connects the clients, starts them together, and collects.
func drive(ctx context.Context, cfg Config, addr string, res Result) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	clients := make([]*client, cfg.Clients)
	for i := range clients {
		clients[i] = newClient(cfg, i)
	}
	// Closing every socket when ctx ends wakes any client blocked in a read.
	stop := context.AfterFunc(ctx, func() {
		for _, c := range clients {
			c.hangUp()
		}
	})
	defer stop()

	// Each client starts as soon as it is connected: waiting for all of
	// them would deadlock a server that serves one at a time, whose listen
	// backlog (5 in the article) holds only a few waiting connects.
	start := time.Now()
	var end time.Time
	if cfg.Messages <= 0 {
		end = start.Add(cfg.Duration)
	}
	var wg sync.WaitGroup
	// A bounded number of connects at a time, so that thousands of clients
	// do not overflow the listen backlog.
	sem := make(chan struct{}, 128)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			ok := c.dial(ctx, cfg.Transport, addr, cfg.Timeout)
			<-sem
			if !ok {
				return
			}
			c.run(ctx, cfg.Messages, end)
			if cfg.Messages > 0 {
				// Done: hang up, so that a serial server moves on to the
				// next. A timed run hangs up all clients together at the
				// end, so that the window is the same for all.
				c.hangUp()
			}
		}()
	}
	wg.Wait()
	// The run lasts from the first connection, so that setting up the
	// socket is not counted as time to answer, until the last reply, so
	// that a request never answered (counted as an error or lost) does not
	// stretch it by the timeout.
	elapsed := time.Since(start)
	var first, last time.Time
	for _, c := range clients {
		if c.last.After(last) {
			last = c.last
		}
		if !c.connected.IsZero() && (first.IsZero() || c.connected.Before(first)) {
			first = c.connected
		}
	}
	if !last.IsZero() {
		elapsed = last.Sub(first)
	}
	connected := 0
	for _, c := range clients {
		if c.hangUp() {
			connected++
		}
	}
	if connected == 0 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		return res, clients[0].firstErr
	}

	res.hist = newHist()
	for _, c := range clients {
		res.Messages += c.msgs
		res.Errors += c.errs
		res.Lost += c.lost
		if c.msgs > 0 {
			res.Served++
		}
		if c.firstErr != nil && res.FirstError == "" {
			res.FirstError = c.firstErr.Error()
		}
		if c.hist != nil {
			res.hist.Merge(c.hist)
		}
	}
	res.Seconds = elapsed.Seconds()
	res.finish()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// finish computes the rates and percentiles from the counts and histogram.
func (r *Result) finish() {
	if r.Seconds > 0 {
		r.Rate = float64(r.Messages) / r.Seconds
		r.MBPerSec = float64(r.Messages) * float64(2*r.Size+echo.PrefixLen) / r.Seconds / 1e6
	}
	if r.hist != nil && r.hist.TotalCount() > 0 {
		us := func(ns int64) float64 { return float64(ns) / 1e3 }
		r.P50 = us(r.hist.ValueAtQuantile(50))
		r.P90 = us(r.hist.ValueAtQuantile(90))
		r.P99 = us(r.hist.ValueAtQuantile(99))
		r.Max = us(r.hist.Max())
	}
}

// merge adds another round of the same run into r.
func (r *Result) merge(o Result) {
	r.Messages += o.Messages
	r.Errors += o.Errors
	r.Lost += o.Lost
	r.Seconds += o.Seconds
	r.Served = min(r.Served, o.Served)
	r.Rounds += o.Rounds
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
	if o.hist != nil {
		if r.hist == nil {
			r.hist = newHist()
		}
		r.hist.Merge(o.hist)
	}
	r.finish()
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
