//go:build unix

package echo

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendNow sends a datagram to a Unix socket without waiting for room in
// its queue, and reports false where it cannot (the socket is wrapped, or
// the peer is not a Unix address). A full queue is EAGAIN: the reply is
// dropped, as a UDP datagram would be.
func sendNow(pc net.PacketConn, b []byte, addr net.Addr) (bool, error) {
	ua, ok := addr.(*net.UnixAddr)
	if !ok {
		return false, nil
	}
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, nil
	}
	var sendErr error
	err = rc.Write(func(fd uintptr) bool {
		sendErr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, &unix.SockaddrUnix{Name: ua.Name})
		return true // never wait for the socket to become writable
	})
	if err != nil {
		return true, err
	}
	return true, sendErr
}
