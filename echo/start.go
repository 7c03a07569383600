package echo

import (
	"context"
	"net"

	"github.com/socklab/socklab/transports"
)

// Running is a server answering in the background.
type Running struct {
	Addr net.Addr // where it listens, resolved (port 0 becomes the real port)
	done chan error
}

// Wait blocks until the server has shut down and returns why it stopped;
// nil means its context ended.
func (r *Running) Wait() error { return <-r.done }

// Start opens t's server socket on addr and serves the echo on it until ctx
// is done. cfg.Kind is taken from t.
func Start(ctx context.Context, t transports.Transport, addr string, opt transports.Options, cfg Config) (*Running, error) {
	cfg.Kind = t.Spec().Kind
	r := &Running{done: make(chan error, 1)}
	if cfg.Kind == transports.Datagram {
		pc, err := t.ListenPacket(ctx, addr, opt)
		if err != nil {
			return nil, err
		}
		r.Addr = pc.LocalAddr()
		go func() { r.done <- ServePackets(ctx, pc, cfg) }()
		return r, nil
	}
	ln, err := t.Listen(ctx, addr, opt)
	if err != nil {
		return nil, err
	}
	r.Addr = ln.Addr()
	go func() { r.done <- Serve(ctx, ln, cfg) }()
	return r, nil
}

// Dial connects a client of t to addr.
func Dial(ctx context.Context, t transports.Transport, addr string, opt transports.Options, cfg ClientConfig) (*Client, error) {
	cfg.Kind = t.Spec().Kind
	c, err := t.Dial(ctx, addr, opt)
	if err != nil {
		return nil, err
	}
	return NewClient(c, cfg), nil
}
