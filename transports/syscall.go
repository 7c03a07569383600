package transports

import (
	"net"
	"strconv"
)

// APISyscall is the implementation written directly on the system calls
// (golang.org/x/sys/unix): socket, bind, listen, accept, connect, recv,
// send and close, one call at a time, as the article's table lists them.
// It runs on Linux only; elsewhere its transports are registered but every
// call fails with an error that says so.
const APISyscall = "syscall"

// syscallSpecs are the syscall API's transports: the net API's seven, with
// the same names, families and socket types, so that either API can serve
// the other's clients.
var syscallSpecs = []Spec{
	{Name: "tcp", Family: "AF_INET", SockType: "SOCK_STREAM", Kind: Stream, AddrForm: "host:port"},
	{Name: "tcp6", Family: "AF_INET6", SockType: "SOCK_STREAM", Kind: Stream, AddrForm: "[host]:port"},
	{Name: "udp", Family: "AF_INET", SockType: "SOCK_DGRAM", Kind: Datagram, AddrForm: "host:port"},
	{Name: "udp6", Family: "AF_INET6", SockType: "SOCK_DGRAM", Kind: Datagram, AddrForm: "[host]:port"},
	{Name: "unix", Family: "AF_UNIX", SockType: "SOCK_STREAM", Kind: Stream, AddrForm: "/path or @abstract"},
	{Name: "unixgram", Family: "AF_UNIX", SockType: "SOCK_DGRAM", Kind: Datagram, AddrForm: "/path or @abstract"},
	{Name: "unixpacket", Family: "AF_UNIX", SockType: "SOCK_SEQPACKET", Kind: SeqPacket, AddrForm: "/path or @abstract"},
}

// syscallDefaultAddr is where a syscall-API server listens by default: the
// same place as the net API's, so the two are interchangeable.
func syscallDefaultAddr(spec Spec) string {
	switch spec.Family {
	case "AF_INET":
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultPort))
	case "AF_INET6":
		return net.JoinHostPort("::1", strconv.Itoa(DefaultPort))
	}
	// Computed on each call, as the net API does, because it depends on
	// $XDG_RUNTIME_DIR.
	return DefaultSocketPath(spec.Name)
}
