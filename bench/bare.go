package bench

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
)

// BareServer is the bare reference echo: the same wire work as socklab's
// server and nothing else. A goroutine per connection does one read into
// the buffer just after a prefix, then one write of prefix and data; a
// datagram socket is one loop of ReadFrom and WriteTo. No clock (the prefix
// is formatted once, at start), no logging, no counters, no limits.
//
// It opens its sockets through the same transports as socklab's server, so
// the two differ only in what they do per message.
type BareServer struct {
	Addr net.Addr
	done chan error
}

// Wait blocks until the server has stopped.
func (b *BareServer) Wait() error { return <-b.done }

// BareReadSize is the bare stream server's read size: socklab's default
// --bufsize, the article's recv(1024).
const BareReadSize = echo.DefaultBufSize

// StartBare serves the bare echo of t on addr until ctx is done.
func StartBare(ctx context.Context, t transports.Transport, addr string) (*BareServer, error) {
	prefix := []byte("[" + time.Now().Format(time.ANSIC) + "] ")
	if len(prefix) != echo.PrefixLen {
		return nil, errors.New("the year does not fit ctime's four digits")
	}
	b := &BareServer{done: make(chan error, 1)}
	if t.Spec().Kind == transports.Datagram {
		pc, err := t.ListenPacket(ctx, addr, transports.Options{})
		if err != nil {
			return nil, err
		}
		b.Addr = pc.LocalAddr()
		stop := context.AfterFunc(ctx, func() { pc.Close() })
		go func() {
			defer stop()
			bareDatagrams(pc, prefix)
			pc.Close()
			b.done <- nil
		}()
		return b, nil
	}
	ln, err := t.Listen(ctx, addr, transports.Options{})
	if err != nil {
		return nil, err
	}
	b.Addr = ln.Addr()
	size := BareReadSize
	if t.Spec().Kind == transports.SeqPacket {
		size = echo.MaxMessage // a message is read whole, as socklab does
	}
	go func() { b.done <- bareAccept(ctx, ln, prefix, size) }()
	return b, nil
}

func bareAccept(ctx context.Context, ln net.Listener, prefix []byte, size int) error {
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stop()
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			break
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			bareConn(c, prefix, size)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	ln.Close()
	wg.Wait()
	return nil
}

// bareConn is the whole per-connection work: read, write, repeat.
func bareConn(c net.Conn, prefix []byte, size int) {
	defer c.Close()
	buf := make([]byte, echo.PrefixLen+size)
	copy(buf, prefix)
	for {
		n, err := c.Read(buf[echo.PrefixLen:])
		if n > 0 {
			if _, err := c.Write(buf[:echo.PrefixLen+n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func bareDatagrams(pc net.PacketConn, prefix []byte) {
	buf := make([]byte, echo.PrefixLen+echo.MaxMessage)
	copy(buf, prefix)
	for failures := 0; failures < 100; {
		n, addr, err := pc.ReadFrom(buf[echo.PrefixLen:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			failures++ // an ICMP error and the like; a hundred in a row ends it
			continue
		}
		failures = 0
		if addr == nil {
			continue
		}
		pc.WriteTo(buf[:echo.PrefixLen+n], addr)
	}
}
