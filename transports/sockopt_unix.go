//go:build unix

package transports

import "syscall"

func setIPv6Only(fd uintptr, only bool) error {
	v := 0
	if only {
		v = 1
	}
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, v)
}
