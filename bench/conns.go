package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"
)

// ConnsConfig is a measurement of what held connections cost a server:
// the server runs in a child process, so that its memory is its own.
type ConnsConfig struct {
	Transport transports.Transport // a connected kind
	Conns     int
	Size      int
	Timeout   time.Duration
	// Server returns the command that runs the server to measure: it must
	// listen on addr and write its resolved address to readyFile.
	Server func(addr, readyFile string) *exec.Cmd
	// TargetKiB is the most RSS per connection the report calls ok.
	TargetKiB float64
}

// DefaultTargetKiB is the server RSS one held connection may cost.
const DefaultTargetKiB = 12

// ConnsResult is what holding the connections cost.
type ConnsResult struct {
	Transport string `json:"transport"`
	API       string `json:"api"`
	Conns     int    `json:"conns"`
	// Held is how many connections were open and answered at once.
	Held int `json:"held"`
	// Answered is how many of them answered again once all were open.
	Answered   int     `json:"answered_twice"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	RSSBefore  int64   `json:"server_rss_before_bytes"`
	RSSAfter   int64   `json:"server_rss_after_bytes"`
	PerConnKiB float64 `json:"server_rss_per_conn_kib"`
	TargetKiB  float64 `json:"target_kib"`
	// WithinTarget is what the table calls "ok": every connection held
	// and answered twice, at no more than TargetKiB each.
	WithinTarget bool    `json:"within_target"`
	Seconds      float64 `json:"open_seconds"` // to open and answer them all
	Skipped      string  `json:"skipped,omitempty"`
}

// ServeCommand is a ConnsConfig.Server that runs exe's 'serve' command, as
// 'socklab bench --conns' does with its own executable.
func ServeCommand(exe string, t transports.Transport, extra ...string) func(addr, readyFile string) *exec.Cmd {
	return func(addr, readyFile string) *exec.Cmd {
		args := []string{"serve", "--transport", t.Spec().Name, "--api", t.API(), "--addr", addr, "--ready-file", readyFile}
		return exec.Command(exe, append(args, extra...)...)
	}
}

// MeasureConns starts the server, reads its RSS, opens cfg.Conns
// connections that each exchange one message and stay open, has every one
// exchange a second message once all are open, reads the RSS again, and
// closes everything.
func MeasureConns(ctx context.Context, cfg ConnsConfig) (ConnsResult, error) {
	t := cfg.Transport
	spec := t.Spec()
	res := ConnsResult{Transport: spec.Name, API: t.API(), Conns: cfg.Conns, TargetKiB: cfg.TargetKiB}
	if res.TargetKiB <= 0 {
		res.TargetKiB = DefaultTargetKiB
	}
	if !spec.Kind.Connected() {
		return res, fmt.Errorf("%s holds no connections; use tcp, tcp6, unix or unixpacket", spec.Name)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if spec.Family == "AF_INET6" {
		if why := lab.IPv6Unavailable(); why != "" {
			res.Skipped = why
			return res, nil
		}
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		res.Skipped = "no /proc to read a process's memory from"
		return res, nil
	}
	// Each process holds one end of every connection, and the child
	// inherits the limit. Room for several descriptors per connection: the
	// syscall API's sockets each come with two eventfds.
	if err := RaiseNoFile(uint64(4*cfg.Conns+256), uint64(cfg.Conns+64)); err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "socklab-conns-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	srv, addr, err := startChild(ctx, cfg.Server(lab.TempAddr(t, dir), filepath.Join(dir, "ready")), filepath.Join(dir, "ready"))
	if err != nil {
		return res, err
	}
	defer srv.stop()

	ccfg := Config{Transport: t, Size: cfg.Size, Timeout: cfg.Timeout, Framing: echo.Chunk}
	// The server's first connection sets up what every later one shares
	// (the logger's buffers, the stamp): that is not per-connection cost.
	warm := newClient(ccfg, 0)
	if err := warm.connectAndExchange(ctx, t, addr); err != nil {
		return res, fmt.Errorf("no answer from the server: %w", err)
	}
	warm.conn.Close()
	time.Sleep(300 * time.Millisecond)
	if res.RSSBefore, err = vmRSS(srv.cmd.Process.Pid); err != nil {
		return res, err
	}

	start := time.Now()
	conns := make([]net.Conn, cfg.Conns)
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Errors++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	// Open them all, each answered once.
	each(cfg.Conns, func(w *client, i int) {
		if err := w.connectAndExchange(ctx, t, addr); err != nil {
			fail(err)
			return
		}
		conns[i] = w.conn
	}, ccfg)
	res.Seconds = time.Since(start).Seconds()
	for _, c := range conns {
		if c != nil {
			res.Held++
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	// All open at once: each answers again.
	var n int64
	each(cfg.Conns, func(w *client, i int) {
		if conns[i] == nil {
			return
		}
		w.conn, w.deadline = conns[i], time.Time{}
		w.arm(time.Now())
		if err := w.exchange(); err != nil {
			fail(fmt.Errorf("second message: %w", err))
			return
		}
		mu.Lock()
		n++
		mu.Unlock()
	}, ccfg)
	res.Answered = int(n)
	time.Sleep(500 * time.Millisecond)
	if res.RSSAfter, err = vmRSS(srv.cmd.Process.Pid); err != nil {
		return res, err
	}
	if res.Held > 0 {
		res.PerConnKiB = float64(res.RSSAfter-res.RSSBefore) / float64(res.Held) / 1024
	}
	res.WithinTarget = res.Held == cfg.Conns && res.Answered == cfg.Conns && res.PerConnKiB <= res.TargetKiB
	if !srv.alive() {
		return res, fmt.Errorf("the server died: %s", srv.tail())
	}
	return res, nil
}

// connectAndExchange dials and exchanges one message.
func (c *client) connectAndExchange(ctx context.Context, t transports.Transport, addr string) error {
	c.conn, c.deadline, c.hungUp = nil, time.Time{}, false
	if !c.dial(ctx, t, addr, c.timeout) {
		err := c.firstErr
		c.firstErr, c.errs = nil, 0
		if err == nil {
			err = ctx.Err()
		}
		return err
	}
	c.arm(time.Now())
	if err := c.exchange(); err != nil {
		c.conn.Close()
		c.conn = nil
		return err
	}
	return nil
}

// each calls f for 0 <= i < n from 64 workers, each with a client of its
// own whose buffers it reuses.
func each(n int, f func(w *client, i int), cfg Config) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range min(64, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(cfg, w)
			for i := range next {
				f(c, i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// child is the server process.
type child struct {
	cmd    *exec.Cmd
	stderr *tailBuffer
	exited chan struct{}
}

func startChild(ctx context.Context, cmd *exec.Cmd, readyFile string) (*child, string, error) {
	ch := &child{cmd: cmd, stderr: &tailBuffer{max: 4096}, exited: make(chan struct{})}
	cmd.Stdout = ch.stderr
	cmd.Stderr = ch.stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start the server: %w", err)
	}
	go func() {
		cmd.Wait()
		close(ch.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(readyFile)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return ch, strings.TrimSpace(string(b)), nil
		}
		select {
		case <-ch.exited:
			return nil, "", fmt.Errorf("the server exited before listening: %s", ch.tail())
		case <-ctx.Done():
			ch.stop()
			return nil, "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			ch.stop()
			return nil, "", fmt.Errorf("the server did not write %s within 30s: %s", readyFile, ch.tail())
		}
	}
}

func (ch *child) alive() bool {
	select {
	case <-ch.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL if the server is still there after 10s.
func (ch *child) stop() {
	if !ch.alive() {
		return
	}
	ch.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ch.exited:
	case <-time.After(10 * time.Second):
		ch.cmd.Process.Kill()
		<-ch.exited
	}
}

func (ch *child) tail() string {
	s := strings.TrimSpace(ch.stderr.String())
	if s == "" {
		return "(no output)"
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// vmRSS is the resident memory of process pid, from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}
