package echo

import (
	"context"
	"net"

	"github.com/socklab/socklab/transports"
)

// Running is a server answering in the background.
type Running struct {
	Addr net.Addr // where it listens, resolved (port 0 becomes the real port)
	done chan struct{}
	err  error
}

// Wait blocks until the server has shut down and returns why it stopped;
// nil means its context ended. It may be called any number of times.
func (r *Running) Wait() error {
	<-r.done
	return r.err
}

func (r *Running) serve(f func() error) {
	go func() {
		r.err = f()
		close(r.done)
	}()
}

// Start opens t's server socket on addr and serves the echo on it until ctx
// is done. cfg.Kind is taken from t.
func Start(ctx context.Context, t transports.Transport, addr string, opt transports.Options, cfg Config) (*Running, error) {
	cfg.Kind = t.Spec().Kind
	r := &Running{done: make(chan struct{})}
	if cfg.Kind == transports.Datagram {
		pc, err := t.ListenPacket(ctx, addr, opt)
		if err != nil {
			return nil, err
		}
		r.Addr = pc.LocalAddr()
		r.serve(func() error { return ServePackets(ctx, pc, cfg) })
		return r, nil
	}
	ln, err := t.Listen(ctx, addr, opt)
	if err != nil {
		return nil, err
	}
	r.Addr = ln.Addr()
	r.serve(func() error { return Serve(ctx, ln, cfg) })
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
