// Package transports opens the sockets that carry socklab's timestamp echo.
//
// Every transport answers to one interface, so the echo server and client in
// package echo never need to know which socket kind they are driving. The
// names are the ones Go's net package uses ("tcp", "udp6", "unixgram", ...).
package transports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
)

// Kind is how a socket carries data, which decides how the echo reads it.
type Kind int

const (
	// Stream is a connected byte stream (SOCK_STREAM): no message boundaries.
	Stream Kind = iota
	// Datagram is connectionless (SOCK_DGRAM): each send is one message.
	Datagram
	// SeqPacket is connected and keeps message boundaries (SOCK_SEQPACKET).
	SeqPacket
)

func (k Kind) String() string {
	switch k {
	case Stream:
		return "stream"
	case Datagram:
		return "datagram"
	case SeqPacket:
		return "seqpacket"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Connected reports whether a client must connect (and a server accept)
// before any data moves.
func (k Kind) Connected() bool { return k != Datagram }

// KeepsBoundaries reports whether each send arrives as its own message.
func (k Kind) KeepsBoundaries() bool { return k != Stream }

// Spec is what a transport is, in the words of the article and of Go.
type Spec struct {
	Name     string // as Go's net package spells it: "tcp", "unixgram", ...
	Family   string // AF_INET, AF_INET6 or AF_UNIX
	SockType string // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
	Kind     Kind
	AddrForm string // how an address for it is written
}

// Options tune the sockets a transport opens. The zero value is the default.
type Options struct {
	// IPv6Only makes a wildcard IPv6 listener refuse IPv4 clients
	// (IPV6_V6ONLY). By default "[::]" accepts both.
	IPv6Only bool
	// SocketMode is the permission of a Unix socket file; 0 means 0600.
	SocketMode uint32
	// Trace, when not nil, is told every socket call as it happens.
	Trace *Tracer
}

// Transport opens the server and client sockets of one socket kind.
// Connected kinds (Stream, SeqPacket) implement Listen; Datagram kinds
// implement ListenPacket; the other returns ErrWrongKind. This mirrors
// net.Listen and net.ListenPacket.
type Transport interface {
	Spec() Spec
	// API names the implementation: "net" for Go's net package.
	API() string
	// DefaultAddr is where the server listens when no address is given.
	DefaultAddr() string
	Listen(ctx context.Context, addr string, opt Options) (net.Listener, error)
	ListenPacket(ctx context.Context, addr string, opt Options) (net.PacketConn, error)
	// Dial connects a client socket. A datagram client is connected too, so
	// the kernel delivers only the server's replies to it.
	Dial(ctx context.Context, addr string, opt Options) (net.Conn, error)
}

// ErrWrongKind is returned by Listen on a datagram transport and by
// ListenPacket on a connected one.
var ErrWrongKind = errors.New("wrong call for this socket kind")

// DefaultPort is the article's port.
const DefaultPort = 21567

// APINet is the implementation on Go's net package.
const APINet = "net"

var registry = map[string]map[string]Transport{}

// Register adds t under its API and name. It is called from init functions.
func Register(t Transport) {
	api := t.API()
	if registry[api] == nil {
		registry[api] = map[string]Transport{}
	}
	if _, dup := registry[api][t.Spec().Name]; dup {
		panic("transports: duplicate " + api + "/" + t.Spec().Name)
	}
	registry[api][t.Spec().Name] = t
}

// Names lists the transports in teaching order: TCP, UDP, then Unix.
func Names() []string {
	return []string{"tcp", "tcp6", "udp", "udp6", "unix", "unixgram", "unixpacket"}
}

// APIs lists the registered implementations, "net" first.
func APIs() []string {
	apis := make([]string, 0, len(registry))
	for api := range registry {
		apis = append(apis, api)
	}
	sort.Slice(apis, func(i, j int) bool {
		if apis[i] == APINet || apis[j] == APINet {
			return apis[i] == APINet
		}
		return apis[i] < apis[j]
	})
	return apis
}

// Lookup finds a transport by API and name. The error lists the valid names.
func Lookup(api, name string) (Transport, error) {
	byName, ok := registry[api]
	if !ok {
		return nil, fmt.Errorf("unknown API %q (valid: %s)", api, strings.Join(APIs(), ", "))
	}
	t, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("unknown transport %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	return t, nil
}

// All returns every transport of an API in teaching order.
func All(api string) []Transport {
	var ts []Transport
	for _, name := range Names() {
		if t, ok := registry[api][name]; ok {
			ts = append(ts, t)
		}
	}
	return ts
}

// IsUnix reports whether name is one of the Unix-domain transports.
func IsUnix(name string) bool {
	return slices.Contains([]string{"unix", "unixgram", "unixpacket"}, name)
}
