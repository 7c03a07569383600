package transports

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The syscall API's sockets once they are set up: a listener that accepts,
// connections that recv and sendall, a datagram socket that recvfroms and
// sendtos, and close for each. All of them stand on sysFD, at the end of
// the file, which makes blocking calls out of nonblocking ones.

var (
	_ net.Listener   = (*sysListener)(nil)
	_ net.Conn       = (*sysConn)(nil)
	_ net.PacketConn = (*sysPacketConn)(nil)
)

// sysListener is a listening socket.
type sysListener struct {
	fd   *sysFD
	t    *sysTransport
	addr net.Addr
}

// Accept is accept(2): it waits for a client and returns a new socket
// connected to it, while the listening socket goes on listening.
func (l *sysListener) Accept() (net.Conn, error) {
	var nfd int
	var peer unix.Sockaddr
	err := l.fd.do(&l.fd.rd, func(fd int) (err error) {
		nfd, peer, err = unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == unix.ECONNABORTED {
			return unix.EAGAIN // that client gave up while queued: wait for the next
		}
		return err
	})
	call := fmt.Sprintf("accept4(%d, SOCK_NONBLOCK|SOCK_CLOEXEC)", l.fd.fd)
	goCall := fmt.Sprintf("unix.Accept4(%d, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)", l.fd.fd)
	if err != nil {
		return nil, fail(l.fd.trace, "accept", call, goCall, err)
	}
	l.fd.trace.Step("accept", fmt.Sprintf("%s = %d from %s", call, nfd, saString(peer)), goCall)
	s, err := newSysFD(nfd, l.fd.trace)
	if err != nil {
		return nil, err
	}
	return &sysConn{fd: s, t: l.t, laddr: s.sockname(l.t), raddr: l.t.netAddr(peer)}, nil
}

// Close closes the listening socket, which wakes a blocked Accept, and
// removes its socket file, if any.
func (l *sysListener) Close() error { return l.fd.close() }

func (l *sysListener) Addr() net.Addr { return l.addr }

// sysConn is a connected socket: a server's accepted one, or a client's.
type sysConn struct {
	fd           *sysFD
	t            *sysTransport
	laddr, raddr net.Addr
}

// Read is recv(2); read(2) on a socket is recv with no flags. On a stream
// it returns what has arrived, up to len(p) bytes; on a message socket,
// one message. Once a stream or seqpacket peer has closed and all it sent
// has been read, recv returns 0, which Read reports as io.EOF.
func (c *sysConn) Read(p []byte) (int, error) {
	if len(p) == 0 && c.t.spec.Kind == Stream {
		return 0, nil // recv would return 0, which would read as EOF
	}
	var n int
	err := c.fd.do(&c.fd.rd, func(fd int) (err error) {
		n, err = unix.Read(fd, p)
		return err
	})
	if err != nil {
		return 0, fail(c.fd.trace, "recv", c.recvCall(p), c.goRead(), err)
	}
	if n == 0 && c.t.spec.Kind.Connected() {
		c.fd.trace.Step("recv", c.recvCall(p)+" = 0: the peer closed (EOF)", c.goRead())
		return 0, io.EOF
	}
	if c.fd.trace != nil {
		c.fd.trace.Step("recv", fmt.Sprintf("%s = %d", c.recvCall(p), n), c.goRead())
	}
	return n, nil
}

func (c *sysConn) recvCall(p []byte) string { return fmt.Sprintf("recv(%d, %d)", c.fd.fd, len(p)) }
func (c *sysConn) goRead() string           { return fmt.Sprintf("unix.Read(%d, p)", c.fd.fd) }

// Write is the article's sendall: send(2) (as write(2)) in a loop until
// every byte is sent, because a stream socket may take only part of p,
// as much as fits in its send buffer. On a message socket one send takes
// the whole message or none of it.
func (c *sysConn) Write(p []byte) (int, error) {
	sent, sends := 0, 0
	err := c.fd.do(&c.fd.wr, func(fd int) error {
		for {
			n, err := unix.Write(fd, p[sent:])
			if err != nil {
				return err // EAGAIN: do waits for room, then calls us again
			}
			sent += n
			sends++
			if sent == len(p) {
				return nil
			}
			if n == 0 {
				return io.ErrShortWrite // never on a socket, but never loop for ever
			}
		}
	})
	if err == nil && c.fd.trace == nil {
		return sent, nil
	}
	step, call := "sendall", fmt.Sprintf("sendall(%d, %d bytes)", c.fd.fd, len(p))
	goCall := fmt.Sprintf("unix.Write(%d, p[sent:]) until all is sent", c.fd.fd)
	if c.t.spec.Kind != Stream {
		step, call = "send", fmt.Sprintf("send(%d, %d bytes)", c.fd.fd, len(p))
		goCall = fmt.Sprintf("unix.Write(%d, p)", c.fd.fd)
	}
	if err != nil {
		return sent, fail(c.fd.trace, step, fmt.Sprintf("%s after %d sent", call, sent), goCall, err)
	}
	plural := "s"
	if sends == 1 {
		plural = ""
	}
	c.fd.trace.Step(step, fmt.Sprintf("%s = %d in %d send%s", call, sent, sends, plural), goCall)
	return sent, nil
}

// CloseRead is shutdown(SHUT_RD): this side will read no more. Linux still
// hands over what had arrived, then end of stream, so a blocked Read wakes
// and a server can answer what it was sent before it closes.
func (c *sysConn) CloseRead() error { return c.fd.shutdown(unix.SHUT_RD, "SHUT_RD", &c.fd.rd) }

// CloseWrite is shutdown(SHUT_WR): the peer reads end of stream (TCP sends
// its FIN) while this side can still read the reply.
func (c *sysConn) CloseWrite() error { return c.fd.shutdown(unix.SHUT_WR, "SHUT_WR", &c.fd.wr) }

// Close is close(2). A Read or Write blocked on the socket returns
// net.ErrClosed.
func (c *sysConn) Close() error { return c.fd.close() }

func (c *sysConn) LocalAddr() net.Addr                { return c.laddr }
func (c *sysConn) RemoteAddr() net.Addr               { return c.raddr }
func (c *sysConn) SetDeadline(t time.Time) error      { return c.fd.setDeadline(t, &c.fd.rd, &c.fd.wr) }
func (c *sysConn) SetReadDeadline(t time.Time) error  { return c.fd.setDeadline(t, &c.fd.rd) }
func (c *sysConn) SetWriteDeadline(t time.Time) error { return c.fd.setDeadline(t, &c.fd.wr) }

// sysPacketConn is a bound datagram socket: a datagram server.
type sysPacketConn struct {
	fd    *sysFD
	t     *sysTransport
	laddr net.Addr
}

// ReadFrom is recvfrom(2): one datagram, and the address of its sender,
// which is where the reply goes. A sender that has no address (an unbound
// unixgram socket) gives a nil one.
func (c *sysPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	var n int
	var from unix.Sockaddr
	err := c.fd.do(&c.fd.rd, func(fd int) (err error) {
		n, from, err = unix.Recvfrom(fd, p, 0)
		return err
	})
	if err != nil || c.fd.trace != nil {
		call := fmt.Sprintf("recvfrom(%d, %d)", c.fd.fd, len(p))
		goCall := fmt.Sprintf("unix.Recvfrom(%d, p, 0)", c.fd.fd)
		if err != nil {
			return 0, nil, fail(c.fd.trace, "recvfrom", call, goCall, err)
		}
		c.fd.trace.Step("recvfrom", fmt.Sprintf("%s = %d from %s", call, n, saString(from)), goCall)
	}
	return n, c.t.netAddr(from), nil
}

// errNoRoom is why WriteTo did not wait for room to send.
var errNoRoom = fmt.Errorf("%w: no room to queue the datagram now; dropped", unix.EAGAIN)

// WriteTo is sendto(2): one datagram to addr, sent whole or not at all, so
// there is nothing to loop over. When there is no room to queue it, it is
// dropped rather than waited for: for unixgram, poll(2) cannot tell when
// the receiver will have room (it watches only a connected peer), so
// waiting would spin; and datagrams may be lost anyway.
func (c *sysPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	sa, err := c.t.sockaddrOf(addr)
	if err != nil {
		return 0, err
	}
	err = c.fd.do(&c.fd.wr, func(fd int) error {
		if err := unix.Sendto(fd, p, 0, sa); err != unix.EAGAIN {
			return err
		}
		return errNoRoom // not EAGAIN itself, so do returns instead of waiting
	})
	if err != nil || c.fd.trace != nil {
		call := fmt.Sprintf("sendto(%d, %d bytes, %s)", c.fd.fd, len(p), saString(sa))
		goCall := fmt.Sprintf("unix.Sendto(%d, p, 0, %s)", c.fd.fd, goSockaddr(sa))
		if err != nil {
			return 0, fail(c.fd.trace, "sendto", call, goCall, err)
		}
		c.fd.trace.Step("sendto", call, goCall)
	}
	return len(p), nil
}

// Close is close(2), and removes the socket file, if any.
func (c *sysPacketConn) Close() error { return c.fd.close() }

func (c *sysPacketConn) LocalAddr() net.Addr { return c.laddr }
func (c *sysPacketConn) SetDeadline(t time.Time) error {
	return c.fd.setDeadline(t, &c.fd.rd, &c.fd.wr)
}
func (c *sysPacketConn) SetReadDeadline(t time.Time) error  { return c.fd.setDeadline(t, &c.fd.rd) }
func (c *sysPacketConn) SetWriteDeadline(t time.Time) error { return c.fd.setDeadline(t, &c.fd.wr) }

// sysFD is a socket's file descriptor, and what it takes to block on it
// without blocking for ever.
//
// The socket is nonblocking: a call that would have to wait returns EAGAIN
// at once. do then sleeps in poll(2) on two descriptors: the socket, until
// it is ready, and an eventfd(2), a kernel counter that Close, CloseRead
// and the deadline setters write to when the sleeper must look again. A
// deadline becomes poll's timeout. So a blocked accept, recv or send costs
// no CPU while it waits, and wakes at once on Close or a new deadline: the
// job Go's net package gives its runtime poller. (Unlike that poller, each
// sleeping call holds an OS thread, which is fine for a lab.)
//
// Reading and writing have an eventfd each, and one caller at a time may
// sleep on each (a second Read waits for the first, as in Go's net), so the
// sleeper that empties an eventfd is the one it was written for. Because of
// them, socket numbers in a trace go up by three.
//
// Close must not close the descriptor while another call still uses its
// number: the next socket opened could get that number, and the call would
// act on it. So every call holds a reference while it uses fd; Close marks
// the socket closing, wakes both sleepers, waits for the references to be
// released, and only then calls close(2). Go's net package does the same.
type sysFD struct {
	fd    int
	trace *Tracer
	// file is the Unix socket file a server's bind created. close removes
	// it: a socket's name on disk outlives the socket.
	file *socketFile

	mu      sync.Mutex     // orders acquire against close
	closing atomic.Bool    // set by close, once
	inUse   sync.WaitGroup // one per call using fd right now
	closed  chan struct{}  // closed when close is over

	rd, wr waiter
}

// waiter is one direction of a socket: what a sleeping call waits for,
// what wakes it, and its deadline.
type waiter struct {
	sync.Mutex              // held by the call in progress
	busy       atomic.Bool  // a call is in progress
	events     int16        // what poll waits for: POLLIN or POLLOUT
	wake       int          // an eventfd; writing to it ends the poll
	deadline   atomic.Int64 // time since sysEpoch; 0: none
}

// sysEpoch is what deadlines count from. An atomic holds a Duration since
// a fixed moment, measured on the monotonic clock, without the allocation
// a *time.Time would cost at every SetDeadline.
var sysEpoch = time.Now()

// setDeadline records t; the zero time means none.
func (w *waiter) setDeadline(t time.Time) {
	var d time.Duration
	if !t.IsZero() {
		// At least 1ns, so that a past deadline is not taken for none:
		// it is still past.
		d = max(t.Sub(sysEpoch), 1)
	}
	w.deadline.Store(int64(d))
}

// timeLeft is how long until the deadline, which has passed when it is
// not positive; ok is false when there is none.
func (w *waiter) timeLeft() (left time.Duration, ok bool) {
	d := time.Duration(w.deadline.Load())
	if d == 0 {
		return 0, false
	}
	return d - time.Since(sysEpoch), true
}

// newSysFD takes over fd: on failure it closes it.
func newSysFD(fd int, tr *Tracer) (*sysFD, error) {
	rd, err := newEventfd(tr)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	wr, err := newEventfd(tr)
	if err != nil {
		unix.Close(rd)
		unix.Close(fd)
		return nil, err
	}
	return &sysFD{
		fd:     fd,
		trace:  tr,
		closed: make(chan struct{}),
		rd:     waiter{events: unix.POLLIN, wake: rd},
		wr:     waiter{events: unix.POLLOUT, wake: wr},
	}, nil
}

// newEventfd is eventfd(2): a counter, 0 to start with, that poll sees as
// readable once something has been added to it. Only its failure is
// traced: it is machinery, not one of the article's socket calls.
func newEventfd(tr *Tracer) (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, fail(tr, "eventfd", "eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC)", "unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)", err)
	}
	return fd, nil
}

// do runs op, one nonblocking call on the socket, until op stops saying
// EAGAIN ("nothing to read yet", "no room to write yet"), sleeping in
// poll(2) between tries. It gives up with net.ErrClosed once Close has
// begun, and with os.ErrDeadlineExceeded once w's deadline has passed.
func (s *sysFD) do(w *waiter, op func(fd int) error) error {
	w.Lock()
	defer w.Unlock()
	w.busy.Store(true) // before the first look at closing and the deadline: see wake
	defer w.busy.Store(false)
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	for {
		if s.closing.Load() {
			return net.ErrClosed
		}
		if left, ok := w.timeLeft(); ok && left <= 0 {
			return os.ErrDeadlineExceeded
		}
		err := op(s.fd)
		if err != unix.EAGAIN && err != unix.EINTR {
			return err
		}
		if err := s.poll(w); err != nil {
			return err
		}
	}
}

// poll sleeps until the socket is ready for w's direction, w's eventfd is
// written to, or w's deadline comes.
func (s *sysFD) poll(w *waiter) error {
	timeout := -1 // no deadline: as long as it takes
	if left, ok := w.timeLeft(); ok {
		// Rounded up to whole milliseconds: waking early would only mean
		// sleeping again.
		ms := (left + time.Millisecond - 1) / time.Millisecond
		timeout = int(min(max(ms, 0), math.MaxInt32))
	}
	fds := []unix.PollFd{
		{Fd: int32(s.fd), Events: w.events},
		{Fd: int32(w.wake), Events: unix.POLLIN},
	}
	// EINTR (Go's scheduler signals its threads now and then) only means
	// look again, as any other return does.
	if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
		return err
	}
	if fds[1].Revents&unix.POLLIN != 0 {
		// Emptied before do looks at closing and the deadline again, so
		// that a wake written after that look is not lost: it leaves the
		// eventfd readable for the next poll.
		var count [8]byte
		unix.Read(w.wake, count[:])
	}
	return nil
}

// wake makes w's call in progress, if any, look again at closing and at
// its deadline, which the caller has just changed. With no call in
// progress there is nobody to wake, and no system call is made: the next
// call will see the change. Nothing is missed in between, because do marks
// w busy before it looks, and wake looks at busy after the change: either
// do sees the change, or wake sees do.
func (s *sysFD) wake(w *waiter) {
	if !w.busy.Load() {
		return
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	// It can only fail when the counter is full, and then it is readable.
	unix.Write(w.wake, one[:])
}

// setDeadline sets the deadline of each direction, and wakes its sleeper
// to take the new one into account. The zero time means none.
func (s *sysFD) setDeadline(t time.Time, ws ...*waiter) error {
	if !s.acquire() {
		return fmt.Errorf("set deadline: %w", net.ErrClosed)
	}
	defer s.release() // the eventfds stay open until we have written to them
	for _, w := range ws {
		w.setDeadline(t)
		s.wake(w)
	}
	return nil
}

// shutdown is shutdown(2): it ends one direction of a connection without
// closing the socket.
func (s *sysFD) shutdown(how int, howName string, w *waiter) error {
	call := fmt.Sprintf("shutdown(%d, %s)", s.fd, howName)
	goCall := fmt.Sprintf("unix.Shutdown(%d, unix.%s)", s.fd, howName)
	if !s.acquire() {
		return &callError{call: call, err: net.ErrClosed}
	}
	defer s.release()
	if err := unix.Shutdown(s.fd, how); err != nil {
		return fail(s.trace, "shutdown", call, goCall, err)
	}
	s.trace.Step("shutdown", call, goCall)
	s.wake(w) // the kernel wakes poll itself; this makes sure of it
	return nil
}

func (s *sysFD) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.inUse.Add(1)
	return true
}

func (s *sysFD) release() { s.inUse.Done() }

// close is close(2), once no call is using the socket. A second close
// waits for the first to be over, so that once any Close has returned the
// socket and its file are gone; then it returns net.ErrClosed, untraced,
// as it made no system call.
func (s *sysFD) close() error {
	call := fmt.Sprintf("close(%d)", s.fd)
	goCall := fmt.Sprintf("unix.Close(%d)", s.fd)
	s.mu.Lock()
	already := s.closing.Swap(true)
	s.mu.Unlock()
	if already {
		<-s.closed
		return &callError{call: call, err: net.ErrClosed}
	}
	defer close(s.closed)
	if s.file != nil {
		// Unlinked first, as Go's UnixListener does, so that no new client
		// finds a server that is closing.
		s.trace.Step("unlink", fmt.Sprintf("unlink(%s)", s.file.path), fmt.Sprintf("os.Remove(%q)", s.file.path))
		s.file.remove()
	}
	s.wake(&s.rd)
	s.wake(&s.wr)
	s.inUse.Wait()
	unix.Close(s.rd.wake)
	unix.Close(s.wr.wake)
	if err := unix.Close(s.fd); err != nil {
		return fail(s.trace, "close", call, goCall, err)
	}
	s.trace.Step("close", call, goCall)
	return nil
}

// callError is a failed call, with its arguments, and why it failed: a
// syscall.Errno, or os.ErrDeadlineExceeded, net.ErrClosed or a context
// error, which it wraps for errors.Is.
type callError struct {
	call string // "connect(3, 127.0.0.1:9)"
	err  error
}

// Error reads like "connect(3, 127.0.0.1:9): connection refused
// (ECONNREFUSED)": the errno's name is what man pages and C programs use.
func (e *callError) Error() string {
	if errno, ok := e.err.(unix.Errno); ok {
		if name := unix.ErrnoName(errno); name != "" {
			return fmt.Sprintf("%s: %v (%s)", e.call, errno, name)
		}
	}
	return e.call + ": " + e.err.Error()
}

func (e *callError) Unwrap() error { return e.err }

// Timeout and Temporary make callError a net.Error, as the net package's
// errors are, for callers that ask err.(net.Error).Timeout().
func (e *callError) Timeout() bool {
	t, ok := e.err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}

func (e *callError) Temporary() bool {
	t, ok := e.err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// fail traces a failed call and returns its error.
func fail(tr *Tracer, step, call, goCall string, err error) error {
	cerr := &callError{call: call, err: err}
	detail := cerr.Error()
	switch {
	case errors.Is(err, net.ErrClosed):
		detail = call + ": interrupted: the socket was closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		detail = call + ": interrupted: the deadline passed"
	}
	tr.Step(step, detail, goCall)
	return cerr
}
