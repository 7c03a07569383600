package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
	"github.com/urfave/cli/v2"
)

func serveCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the timestamp echo server",
		Description: "Listens on --addr and answers every request with \"[<ctime>] <request>\".\n" +
			"Stops cleanly on Ctrl-C (SIGINT) or SIGTERM; a second signal exits at once.",
		Flags: append(socketFlags(),
			&cli.IntFlag{Name: "bufsize", Value: echo.DefaultBufSize, Usage: "bytes per read under --framing chunk (the article's 1024)"},
			&cli.IntFlag{Name: "max-line", Value: echo.DefaultMaxLine, Usage: "longest line under --framing line; a longer one closes the connection"},
			&cli.BoolFlag{Name: "serial", Usage: "serve one client at a time, as the article's server does"},
			&cli.BoolFlag{Name: "ipv6-only", Usage: "a wildcard IPv6 address ([::]) refuses IPv4 clients"},
			&cli.StringFlag{Name: "socket-mode", Value: "0600", Usage: "permissions of a Unix socket file (octal)"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: echo.DefaultShutdownTimeout, Usage: "how long replies in flight may take after a signal"},
			&cli.IntFlag{Name: "max-conns", Value: 16384, Usage: "most connections open at once; one more is closed at once (0: no cap)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: 5 * time.Minute, Usage: "close a connection that sends nothing for this long (0: never); it may close up to 1/8 of it + 1s sooner"},
			&cli.DurationFlag{Name: "write-timeout", Value: 30 * time.Second, Usage: "drop a client that reads no reply for this long (0: never); it may drop up to 1/8 of it + 1s sooner"},
			&cli.Float64Flag{Name: "udp-rate", Value: 1000, Usage: "datagrams per second answered per source IP (0: no limit)"},
			&cli.BoolFlag{Name: "allow-low-ports", Usage: "answer datagrams from source ports below 1024 (refused by default: loop risk)"},
			&cli.StringFlag{Name: "ready-file", Usage: "write the resolved address to this file once listening (for scripts)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug shows every reply; info, warn, error"},
		),
		Action: func(c *cli.Context) error { return serve(c, env) },
	}
}

func serve(c *cli.Context, env Env) error {
	sock, err := parseSocket(c)
	if err != nil {
		return err
	}
	if err := inRange("bufsize", c.Int("bufsize"), 1, 1<<20); err != nil {
		return err
	}
	if err := inRange("max-line", c.Int("max-line"), 16, 1<<24); err != nil {
		return err
	}
	for _, name := range []string{"max-conns"} {
		if err := inRange(name, c.Int(name), 0, 1<<24); err != nil {
			return err
		}
	}
	for _, name := range []string{"shutdown-timeout", "idle-timeout", "write-timeout"} {
		if c.Duration(name) < 0 {
			return usagef("--%s must not be negative, not %s", name, c.Duration(name))
		}
	}
	if r := c.Float64("udp-rate"); r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return usagef("--udp-rate must be 0 (no limit) or a positive number, not %v", r)
	}
	mode, err := strconv.ParseUint(c.String("socket-mode"), 8, 32)
	if err != nil || mode > 0o777 {
		return usagef("--socket-mode must be octal permissions such as 0600, not %q", c.String("socket-mode"))
	}
	log, err := newLogger(c, env)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	stopSignals := onSignals(env, log, cancel)
	defer stopSignals()

	opt := transports.Options{IPv6Only: c.Bool("ipv6-only"), SocketMode: uint32(mode)}
	if sock.trace {
		opt.Trace = transports.NewTracer(env.Stderr)
	}
	cfg := echo.Config{
		Framing:         sock.framing,
		BufSize:         c.Int("bufsize"),
		MaxLine:         c.Int("max-line"),
		Serial:          c.Bool("serial"),
		ShutdownTimeout: c.Duration("shutdown-timeout"),
		MaxConns:        c.Int("max-conns"),
		IdleTimeout:     c.Duration("idle-timeout"),
		WriteTimeout:    c.Duration("write-timeout"),
		Guard:           echo.Guard{AllowLowPorts: c.Bool("allow-low-ports"), Rate: c.Float64("udp-rate")},
		Log:             log,
	}
	srv, err := echo.Start(ctx, sock.t, sock.addr, opt, cfg)
	if err != nil {
		return badAddr(sock, fmt.Errorf("serve %s: %w", sock, err))
	}
	spec := sock.t.Spec()
	attrs := []any{"transport", spec.Name, "api", sock.t.API(), "addr", srv.Addr.String()}
	if spec.Kind == transports.Stream {
		attrs = append(attrs, "framing", string(sock.framing))
	}
	if cfg.Serial {
		attrs = append(attrs, "serial", true)
	}
	log.Info("listening", attrs...)
	if wildcard(srv.Addr) {
		log.Warn("bound to every interface: any host that can reach this machine can use this server; use 127.0.0.1 or [::1] to keep it local")
	}
	if path := c.String("ready-file"); path != "" {
		if err := writeReadyFile(path, srv.Addr.String()); err != nil {
			cancel()
			srv.Wait()
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	err = srv.Wait()
	log.Info("stopped")
	return err
}

// onSignals cancels the server on the first SIGINT or SIGTERM; a second one
// ends the process at once, for a server stuck finishing its replies.
func onSignals(env Env, log *slog.Logger, cancel func()) (stop func()) {
	done := make(chan struct{})
	sigs := env.Signals
	var ch chan os.Signal
	if sigs == nil {
		ch = make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		forward := make(chan struct{}, 2)
		go func() {
			for {
				select {
				case <-ch:
					select {
					case forward <- struct{}{}:
					default: // a third signal: the second already exits
					}
				case <-done:
					return
				}
			}
		}()
		sigs = forward
	}
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		log.Info("shutting down: finishing replies in flight (signal again to exit at once)")
		cancel()
		select {
		case <-sigs:
			log.Warn("second signal: exiting now")
			if ch != nil {
				os.Exit(exitError)
			}
		case <-done:
		}
	}()
	return func() {
		close(done)
		if ch != nil {
			signal.Stop(ch)
		}
	}
}

func newLogger(c *cli.Context, env Env) (*slog.Logger, error) {
	level, err := parseLogLevel(c.String("log-level"))
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, opts)), nil
	}
	return nil, oneOf("log format", c.String("log-format"), "text", "json")
}

// writeReadyFile writes addr to path all at once (rename is atomic), so a
// script polling for the file never reads half an address.
func writeReadyFile(path, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(addr + "\n"); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// wildcard reports whether a server address accepts traffic from every
// interface (0.0.0.0 or [::]).
func wildcard(a net.Addr) bool {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		return false
	}
	return ip == nil || ip.IsUnspecified()
}
