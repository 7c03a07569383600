//go:build unix

package transports

import (
	"net"

	"golang.org/x/sys/unix"
)

// noWaitUnixgram is a unixgram server socket whose sends never wait for
// room in the receiver's queue, as the syscall API's do. A client that
// never reads fills its queue, and a send that waited would keep every
// other client waiting behind it; with a full queue the reply is dropped
// (EAGAIN), as a UDP datagram would be.
type noWaitUnixgram struct {
	*net.UnixConn
}

func (c noWaitUnixgram) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UnixAddr)
	if !ok {
		return c.UnixConn.WriteTo(b, addr)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var sendErr error
	err = rc.Write(func(fd uintptr) bool {
		sendErr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, &unix.SockaddrUnix{Name: ua.Name})
		return true // never wait for the socket to become writable
	})
	if err == nil {
		err = sendErr
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "unixgram", Source: c.LocalAddr(), Addr: addr, Err: err}
	}
	return len(b), nil
}

func noWait(pc net.PacketConn) net.PacketConn {
	if uc, ok := pc.(*net.UnixConn); ok {
		return noWaitUnixgram{uc}
	}
	return pc
}
