package bench_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/bench"
	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/internal/app"
	"github.com/socklab/socklab/internal/testpeer"
	"github.com/socklab/socklab/transports"
)

// TestMain lets the test binary be the server that MeasureConns measures:
// run with SOCKLAB_BENCH_CHILD=1 it is 'socklab' with its arguments.
func TestMain(m *testing.M) {
	if os.Getenv("SOCKLAB_BENCH_CHILD") == "1" {
		os.Exit(app.Main(context.Background(), append([]string{"socklab"}, os.Args[1:]...), app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

func quick(t transports.Transport, srv string, clients, messages int) bench.Config {
	return bench.Config{Transport: t, Server: srv, Clients: clients, Messages: messages, Size: 64, Timeout: 10 * time.Second}
}

// Every transport of every API, against both in-process servers: each
// request answered, counted, timed.
func TestRunEveryTransport(t *testing.T) {
	for _, api := range transports.APIs() {
		for _, tr := range transports.All(api) {
			for _, srv := range []string{bench.Socklab, bench.Bare} {
				t.Run(api+"/"+tr.Spec().Name+"/"+srv, func(t *testing.T) {
					t.Parallel()
					res, err := bench.Run(context.Background(), quick(tr, srv, 3, 20))
					if err != nil {
						t.Fatal(err)
					}
					if res.Skipped != "" {
						t.Skip(res.Skipped)
					}
					if res.Messages != 60 || res.Served != 3 || res.Errors != 0 || res.Lost != 0 {
						t.Fatalf("messages %d served %d errors %d lost %d (first error %q); want 60, 3, 0, 0", res.Messages, res.Served, res.Errors, res.Lost, res.FirstError)
					}
					if res.Rate <= 0 || res.MBPerSec <= 0 || res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.Max*1.01 {
						t.Fatalf("rates and latencies do not add up: %+v", res)
					}
				})
			}
		}
	}
}

// A stream request longer than the server's read size comes back as
// several stamped pieces; line framing adds the newline. Both check out.
func TestRunStreamPieces(t *testing.T) {
	tcp, _ := transports.Lookup(transports.APINet, "tcp")
	for _, framing := range []echo.Framing{echo.Chunk, echo.Line} {
		cfg := quick(tcp, bench.Socklab, 2, 10)
		cfg.Size, cfg.Framing = 5000, framing
		res, err := bench.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Messages != 20 || res.Errors != 0 {
			t.Fatalf("%s: %d messages, %d errors (%s)", framing, res.Messages, res.Errors, res.FirstError)
		}
	}
}

// A duration run stops by itself.
func TestRunForDuration(t *testing.T) {
	udp, _ := transports.Lookup(transports.APINet, "udp")
	cfg := quick(udp, bench.Socklab, 2, 0)
	// Long enough that a loaded machine still dials within it: the window
	// opens before the clients connect.
	cfg.Duration = time.Second
	start := time.Now()
	res, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages == 0 || time.Since(start) > 30*time.Second {
		t.Fatalf("%d messages in %s", res.Messages, time.Since(start))
	}
	// The window runs from the first connection to the last reply: inside
	// the run, and no longer than the duration and one reply's wait.
	if limit := cfg.Duration + cfg.Timeout; res.Seconds <= 0 || res.Seconds > limit.Seconds() || res.Seconds > time.Since(start).Seconds() {
		t.Fatalf("a window of %gs for a %s run", res.Seconds, cfg.Duration)
	}
}

// A datagram server that drops half the requests: the losses are counted,
// the rest answered, and the run ends after a bounded wait.
func TestRunCountsLostDatagrams(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for i := 0; ; i++ {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if i%2 == 1 {
				continue
			}
			pc.WriteTo(append([]byte("[Sun Nov  1 09:05:03 2026] "), buf[:n]...), from)
		}
	}()
	udp, _ := transports.Lookup(transports.APINet, "udp")
	cfg := quick(udp, bench.External, 1, 10)
	cfg.Addr, cfg.Timeout = pc.LocalAddr().String(), 200*time.Millisecond
	start := time.Now()
	res, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every other one is dropped; on a slow machine a reply may come too
	// late and count as lost too (and then be skipped as stale).
	if res.Messages+res.Lost != 10 || res.Lost < 5 || res.Messages < 1 || res.Errors != 0 {
		t.Fatalf("messages %d lost %d errors %d (%s); want 5 answered and 5 lost", res.Messages, res.Lost, res.Errors, res.FirstError)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}
}

// A stream server that accepts and never answers: each client counts one
// error after the timeout; nothing hangs.
func TestRunSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	tcp, _ := transports.Lookup(transports.APINet, "tcp")
	cfg := quick(tcp, bench.External, 3, 5)
	cfg.Addr, cfg.Timeout = ln.Addr().String(), 100*time.Millisecond
	res, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 3 || res.Served != 0 || res.Messages != 0 || !strings.Contains(res.FirstError, "no reply within") {
		t.Fatalf("errors %d served %d messages %d (%s); want 3, 0, 0", res.Errors, res.Served, res.Messages, res.FirstError)
	}
}

// Nobody listening: Run fails, saying why.
func TestRunNoServer(t *testing.T) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	tcp, _ := transports.Lookup(transports.APINet, "tcp")
	cfg := quick(tcp, bench.External, 2, 1)
	cfg.Addr = addr
	if _, err := bench.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want connection refused", err)
	}
}

// A comparison plan computes the ratios: to bare on socklab's rows, to tcp
// on every row. Their values are speed, which a test does not judge.
func TestPlanComputesRatios(t *testing.T) {
	p := bench.Plan{
		APIs: []string{transports.APINet}, Transports: []string{"tcp", "unix"}, Clients: []int{1, 2},
		Servers: []string{bench.Socklab, bench.Bare}, Rounds: 6, // the fewest with an interval
		Base: bench.Config{Messages: 60, Size: 64, Timeout: 10 * time.Second},
	}
	var calls int
	p.Progress = func(done, total int, next string) { calls++ }
	res, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 8 || calls != p.Runs()+1 {
		t.Fatalf("%d results, %d progress calls; want 8 and %d", len(res), calls, p.Runs()+1)
	}
	for _, r := range res {
		if r.VsTCP == nil || *r.VsTCP <= 0 {
			t.Errorf("%s %s %d: no ratio to tcp", r.Transport, r.Server, r.Clients)
		}
		if r.Transport == "tcp" && *r.VsTCP != 1 {
			t.Errorf("tcp relative to itself is %v", *r.VsTCP)
		}
		if (r.Server == bench.Socklab) != (r.VsBare != nil) {
			t.Errorf("%s %s: VsBare = %v", r.Transport, r.Server, r.VsBare)
		}
		if r.VsBare != nil && (len(r.VsBareCI) != 2 || r.VsBareCI[0] > *r.VsBare || *r.VsBare > r.VsBareCI[1]) {
			t.Errorf("%s %s: ratio %v outside its interval %v", r.Transport, r.Server, *r.VsBare, r.VsBareCI)
		}
		if r.Rounds != 6 || r.Messages != int64(r.Clients)*60 {
			t.Errorf("%s %s %d: %d rounds, %d messages", r.Transport, r.Server, r.Clients, r.Rounds, r.Messages)
		}
	}
}

// A round that fails fails its row: its figures are not merged into the
// rounds that ran, and no ratio is made of them.
func TestPlanFailedRoundFailsTheRow(t *testing.T) {
	dir := t.TempDir()
	p := bench.Plan{
		APIs: []string{transports.APINet}, Transports: []string{"unix"}, Clients: []int{1},
		Servers: []string{bench.Socklab, bench.Bare}, Rounds: 3,
		Base: bench.Config{Messages: 30, Size: 64, Timeout: 10 * time.Second, Dir: dir},
	}
	p.Progress = func(done, total int, next string) {
		if done == 2 { // the first round has run: the second cannot listen
			os.RemoveAll(dir)
		}
	}
	res, err := p.Run(context.Background())
	if err == nil {
		t.Fatal("no error from a plan whose rounds failed")
	}
	for _, r := range res {
		if !strings.HasPrefix(r.Skipped, "failed: ") || r.VsBare != nil {
			t.Errorf("%s: skipped %q, vs bare %v; want the row failed, without a ratio", r.Server, r.Skipped, r.VsBare)
		}
	}
}

// A row's messages are split between its rounds exactly, and a row has no
// more rounds than messages.
func TestPlanSplitsMessagesExactly(t *testing.T) {
	for _, tt := range []struct{ messages, rounds, wantRounds int }{
		{7, 3, 3},
		{2, 5, 2},
	} {
		p := bench.Plan{
			APIs: []string{transports.APINet}, Transports: []string{"unix"}, Clients: []int{2},
			Servers: []string{bench.Socklab}, Rounds: tt.rounds,
			Base: bench.Config{Messages: tt.messages, Size: 64, Timeout: 10 * time.Second},
		}
		res, err := p.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r := res[0]; r.Messages != int64(2*tt.messages) || r.Rounds != tt.wantRounds || p.RoundsPerRow() != tt.wantRounds {
			t.Errorf("%d messages in %d rounds: %d messages in %d rounds, want %d in %d", tt.messages, tt.rounds, r.Messages, r.Rounds, 2*tt.messages, tt.wantRounds)
		}
	}
}

// MeasureConns against the test binary as 'socklab serve': every
// connection held and answered twice, the memory read.
func TestMeasureConns(t *testing.T) {
	tcp, _ := transports.Lookup(transports.APINet, "tcp")
	res, err := bench.MeasureConns(context.Background(), bench.ConnsConfig{Transport: tcp, Conns: 100, Size: 64, Server: childServer(t, tcp)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != "" {
		t.Skip(res.Skipped)
	}
	if res.Held != 100 || res.Answered != 100 || res.Errors != 0 || res.RSSBefore <= 0 || res.RSSAfter <= 0 {
		t.Fatalf("%+v", res)
	}
	if res.WithinTarget != (res.PerConnKiB <= res.TargetKiB) {
		t.Fatalf("within target %v, with %.2f KiB per connection against %g", res.WithinTarget, res.PerConnKiB, res.TargetKiB)
	}
}

// BenchmarkHold10kConns is the memory target: 10,000 TCP connections held
// by one 'socklab serve' (this test binary, as a child process), each
// answered; the metric is the server's RSS growth per connection. b.N is
// ignored: one measurement is the result.
//
//	go test -run '^$' -bench Hold10k -benchtime 1x ./bench
func BenchmarkHold10kConns(b *testing.B) {
	tcp, _ := transports.Lookup(transports.APINet, "tcp")
	res, err := bench.MeasureConns(context.Background(), bench.ConnsConfig{Transport: tcp, Conns: 10000, Size: 64, Server: childServer(b, tcp)})
	if err != nil {
		b.Fatal(err)
	}
	if res.Skipped != "" {
		b.Skip(res.Skipped)
	}
	if res.Held != 10000 || res.Errors != 0 {
		b.Fatalf("held %d, errors %d: %s", res.Held, res.Errors, res.FirstError)
	}
	b.ReportMetric(res.PerConnKiB*1024, "rss-B/conn")
	b.ReportMetric(float64(res.RSSAfter)/(1<<20), "rss-MiB")
	if res.PerConnKiB > bench.DefaultTargetKiB {
		b.Logf("over the target: %.2f KiB per connection > %d KiB", res.PerConnKiB, bench.DefaultTargetKiB)
	}
}

func childServer(tb testing.TB, t transports.Transport) func(addr, ready string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	serve := bench.ServeCommand(exe, t)
	return func(addr, ready string) *exec.Cmd {
		cmd := serve(addr, ready)
		cmd.Env = append(os.Environ(), "SOCKLAB_BENCH_CHILD=1")
		return cmd
	}
}

// The article's server on Python 3 (testdata/python/server.py) serves one
// client at a time: of four clients sending for a while, one is served;
// given a number of messages each, all are, one after another.
func TestArticleServerServesOneAtATime(t *testing.T) {
	python := testpeer.Need(t, "python3", "python3")
	const script = "../testdata/python/server.py"
	if _, err := os.Stat(script); err != nil {
		t.Skip("no " + script)
	}
	addr := startPython(t, python, script)
	tcp, _ := transports.Lookup(transports.APINet, "tcp")

	cfg := quick(tcp, bench.External, 4, 0)
	cfg.Addr, cfg.Duration, cfg.Timeout = addr, 300*time.Millisecond, 2*time.Second
	res, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Served != 1 || res.Errors != 3 {
		t.Fatalf("for a while: served %d, errors %d; want 1 and 3", res.Served, res.Errors)
	}

	// A fresh server: the article's dies of the first reset connection,
	// and the three clients that timed out above may have left it one.
	cfg = quick(tcp, bench.External, 4, 5)
	cfg.Addr = startPython(t, python, script)
	if res, err = bench.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if res.Served != 4 || res.Messages != 20 {
		t.Fatalf("by messages: served %d, messages %d; want 4 and 20", res.Served, res.Messages)
	}
}

// startPython runs the script on a free loopback port until the test ends
// and returns its address, read from its "listening on HOST PORT" line.
func startPython(t *testing.T, python, script string) string {
	t.Helper()
	cmd := exec.Command(python, script, "127.0.0.1", "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%s said nothing: %v", script, err)
	}
	go io.Copy(io.Discard, out)
	f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "listening on "))
	if len(f) != 2 {
		t.Fatalf("%s: unexpected first line %q", script, line)
	}
	return net.JoinHostPort(f[0], f[1])
}
