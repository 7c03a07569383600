package transports

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzSockaddr: the syscall API's address parser never panics; what it
// accepts survives a round trip through the net.Addr it reports (as a peer
// address does on its way to WriteTo); and where
// Go's own resolver also accepts the address, both agree on IP and port.
// Host names are skipped so that fuzzing never asks DNS.
func FuzzSockaddr(f *testing.F) {
	for _, seed := range []string{"127.0.0.1:21567", "[::1]:0", "[fe80::1%1]:80", ":21567", "[::]:http",
		"0.0.0.0:65535", "[::ffff:127.0.0.1]:1", "/tmp/s.sock", "@abstract", "1.2.3.4:65536", "[::1%lo]:7"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		ctx := context.Background()
		for _, name := range []string{"tcp", "tcp6", "udp", "udp6", "unix", "unixgram"} {
			tr := registry[APISyscall][name].(*sysTransport)
			if tr.family != unix.AF_UNIX && !literalHost(addr) {
				continue
			}
			sa, err := tr.sockaddr(ctx, addr, nil)
			if err != nil {
				continue
			}
			back := tr.netAddr(sa)
			if back == nil {
				t.Fatalf("%s: %q parsed to %#v, which has no net.Addr", name, addr, sa)
			}
			if tr.family == unix.AF_UNIX {
				if back.String() != addr {
					t.Fatalf("%s: %q came back as %q", name, addr, back)
				}
				continue
			}
			// Back to the kernel's form, as WriteTo does with a peer.
			var ua *net.UDPAddr
			switch a := back.(type) {
			case *net.TCPAddr:
				ua = &net.UDPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone}
			case *net.UDPAddr:
				ua = a
			}
			again, err := tr.sockaddrOf(ua)
			if err != nil || !reflect.DeepEqual(again, sa) {
				t.Fatalf("%s: %q -> %#v -> %v -> %#v, %v", name, addr, sa, back, again, err)
			}
			goNet := map[string]string{"tcp": "tcp4", "tcp6": "tcp6", "udp": "udp4", "udp6": "udp6"}[name]
			if ga, err := net.ResolveTCPAddr("tcp"+goNet[3:], addr); err == nil {
				gip, _ := netip.AddrFromSlice(ga.IP)
				ip, port := sockaddrIP(sa)
				if len(ga.IP) == 0 { // Go's way of writing "every address"
					gip = ip
				}
				if ga.Port != port || gip.Unmap() != ip.Unmap() {
					t.Fatalf("%s: %q is %v:%d to the syscall API but %v to Go", name, addr, ip, port, ga)
				}
			}
		}
	})
}

// literalHost reports whether addr's host is empty or an IP, zone aside.
func literalHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	host, _, _ = strings.Cut(host, "%")
	_, err = netip.ParseAddr(host)
	return host == "" || err == nil
}

func sockaddrIP(sa unix.Sockaddr) (netip.Addr, int) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr), sa.Port
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr), sa.Port
	}
	return netip.Addr{}, 0
}
